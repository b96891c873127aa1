"""Deploys through the command line against a sandbox whose AWS fails: at 30 % faults of every
kind (throttling, 5xx before and after the server acts, connection resets, read timeouts), and
with the retries of a call that already happened exhausted.

Each must end in a documented state (succeeded; rolled back, exit 1; resumable, exit 1; needs a
human, exit 4), with every service settled, the lock released unless a human is needed and the
journal closed, and no side effect done more often than a clean run does it beyond what AWS itself
would repeat (see tests/rehearsal/faulted.py). One sandbox server for the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adinsights_ops.sandbox.faults import AFTER, FaultPlan, Rule
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


@pytest.mark.parametrize("seed", [1, 2])
def test_a_deploy_at_30_percent_faults_ends_in_a_documented_state(
    sandbox: Rehearsal, seed: int
) -> None:
    judged = sandbox.deploy(FaultPlan(rate=0.3, seed=seed, read_timeout=1.0), seed=seed)
    assert sum(judged.faults.values()) > 0
    assert judged.converged, judged.summary()
    assert not judged.duplicates, judged.summary()


def test_retries_of_calls_that_already_happened_are_allowed_what_aws_allows(
    sandbox: Rehearsal,
) -> None:
    """Every RegisterTaskDefinition of the 2nd service is carried out, then answered 500, 9 times.

    AWS registers a revision at each retry too: those registrations are allowed, nothing else is.
    (Faults before the server acts, past the retries, are in test_failure_paths.py.)
    """
    rule = Rule("RegisterTaskDefinition", AFTER, nth=2, times=9)
    judged = sandbox.deploy(FaultPlan(rules=(rule,), read_timeout=1.0))
    assert judged.faults == {AFTER: 9}, judged.summary()
    assert judged.outcome != "succeeded", judged.summary()
    assert judged.converged, judged.summary()
    assert not judged.duplicates, judged.summary()
    assert judged.effects["task_definitions"] >= 9  # each retry registered one, as on AWS


def test_the_judge_finds_duplicates_beyond_what_aws_repeats() -> None:
    """The duplicate check itself can fail: a clean run's counts pass, one more does not."""
    from tests.rehearsal.faulted import _duplicates

    def report(**changes: Any) -> dict[str, Any]:
        effects: dict[str, Any] = {
            "db_snapshots": 1,
            "task_definitions": 4,
            "stacks_executed": 1,
            "slack_messages": 1,
            "emails": 1,
            "run_task": {"migrate": 1},
            "update_service": {"backend-service": 1},
        }
        faulted: dict[str, Any] = {"run_task": {}, "update_service": {}}
        for key, value in changes.items():
            target, _, name = key.partition("__")
            (faulted if target == "faulted" else effects)[name] = value
        return {"effects": effects, "faulted_after_acting": faulted}

    args: dict[str, Any] = {"changed": 4, "commands": ["migrate"]}
    assert _duplicates(report(), "succeeded", **args) == []
    assert _duplicates(report(effects__run_task={"migrate": 2}), "succeeded", **args) == [
        "RunTask migrate: 2 (a clean run: 1)"
    ]
    allowed = report(effects__run_task={"migrate": 2}, faulted__run_task={"migrate": 1})
    assert _duplicates(allowed, "succeeded", **args) == []
    assert _duplicates(report(effects__slack_messages=2), "rolled-back", **args)
    twice = report(effects__update_service={"backend-service": 2})
    assert _duplicates(twice, "succeeded", **args)
    assert _duplicates(twice, "rolled-back", **args) == []  # deployed, then put back
