"""Deploys against a sandbox whose AWS fails: at 30 % faults of every kind, and with retries
exhausted on the calls that broke deploys before (UpdateService, CreateDBSnapshot, RunTask,
RegisterTaskDefinition, the journal's PutObject).

Each must end in a documented state (succeeded; rolled back, exit 1; resumable, exit 1; needs a
human, exit 4), with every service settled, the lock released unless a human is needed and the
journal closed, and no side effect done more often than a clean run does it beyond what AWS itself
would repeat (see tests/rehearsal/faulted.py). One sandbox server for the module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adinsights_ops.sandbox.faults import AFTER, BEFORE, RESET, FaultPlan, Rule
from tests.rehearsal.faulted import Rehearsal


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    with Rehearsal.running(tmp_path_factory.mktemp("faults-home")) as running:
        yield running


@pytest.fixture
def sandbox(rehearsal: Rehearsal, monkeypatch: pytest.MonkeyPatch) -> Rehearsal:
    for key, value in rehearsal.variables().items():
        monkeypatch.setenv(key, value)  # the autouse fixture gave this test a home of its own
    monkeypatch.delenv("ADINSIGHTS_SANDBOX_FAULTS", raising=False)
    return rehearsal


def test_a_clean_deploy_does_each_side_effect_once(sandbox: Rehearsal) -> None:
    judged = sandbox.deploy(None)
    assert judged.code == 0 and judged.converged, judged.summary()
    effects = judged.effects
    one_each = {label: 1 for label in sandbox._one_off_labels()}
    assert (
        effects["db_snapshots"],
        effects["task_definitions"],
        effects["run_task"],
        effects["slack_messages"],
        effects["emails"],
    ) == (1, 4, one_each, 1, 1), judged.summary()
    assert effects["update_service"] == {name: 1 for name in sandbox.services()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_deploy_at_30_percent_faults_ends_in_a_documented_state(
    sandbox: Rehearsal, seed: int
) -> None:
    judged = sandbox.deploy(FaultPlan(rate=0.3, seed=seed, read_timeout=1.0), seed=seed)
    assert sum(judged.faults.values()) > 0
    assert judged.converged, judged.summary()
    assert not judged.duplicates, judged.summary()


EXHAUSTED = {
    "the 3rd UpdateService fails 9 times": Rule("UpdateService", BEFORE, nth=3, times=9),
    "CreateDBSnapshot fails always": Rule("CreateDBSnapshot", BEFORE),
    "PutObject on journal/ keys fails 9 times": Rule(
        "PutObject", BEFORE, times=9, key_prefix="journal/"
    ),
    "the 2nd RegisterTaskDefinition fails 9 times after acting": Rule(
        "RegisterTaskDefinition", AFTER, nth=2, times=9
    ),
    "the 1st RunTask's connection is reset 9 times": Rule("RunTask", RESET, nth=1, times=9),
}


@pytest.mark.parametrize("rule", list(EXHAUSTED.values()), ids=list(EXHAUSTED))
def test_exhausted_retries_end_in_a_documented_state(sandbox: Rehearsal, rule: Rule) -> None:
    judged = sandbox.deploy(FaultPlan(rules=(rule,), read_timeout=1.0))
    assert judged.faults, judged.summary()
    assert judged.outcome != "succeeded" or rule.times is not None, judged.summary()
    assert judged.converged, judged.summary()
    assert not judged.duplicates, judged.summary()
