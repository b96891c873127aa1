"""Every rehearsal scenario, on a fresh sandbox and after a deploy, ends as the docs say.

docs/runbooks/deployment.md documents, per outcome: the exit code, what each service runs, the lock,
the journal, the snapshot (kept on failure), the announcement and the incident log. A fresh sandbox
runs the blueprint's release; "after a deploy" runs one that this tool deployed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from adinsights_ops.errors import EXIT_FAILED, EXIT_OK
from adinsights_ops.sandbox.scenarios import names
from tests.rehearsal.inprocess import Rehearsal, rehearsal


@attrs.frozen
class Expected:
    outcome: str
    step: str | None
    code: int

    @property
    def deployed(self) -> bool:
        return self.outcome == "succeeded"


EXPECTED = {
    "none": Expected("succeeded", None, EXIT_OK),
    "throttled": Expected("succeeded", None, EXIT_OK),
    "failing-rollout": Expected("rolled-back", "rollout", EXIT_FAILED),
    "failing-migration": Expected("failed", "one-off", EXIT_FAILED),
    "failing-smoke": Expected("rolled-back", "smoke", EXIT_FAILED),
}


def test_every_scenario_has_a_documented_end_state() -> None:
    assert set(EXPECTED) == set(names())


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def scenario(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Rehearsal]]:
    with rehearsal(tmp_path_factory.mktemp("scenario")) as sandbox:
        yield request.param, sandbox


def rehearse(sandbox: Rehearsal, name: str, folder: Path) -> None:
    expected = EXPECTED[name]
    before, tag = sandbox.images(), sandbox.other_tag()
    sandbox.reset_effects()
    sandbox.scenario(name)
    try:
        report = sandbox.deploy(tag)
    finally:
        sandbox.scenario("none")
    assert (report.outcome, report.failed_step) == (expected.outcome, expected.step), (
        report.error,
        report.details,
    )
    ecr_tag = tag if tag.startswith("main-") else tag.replace("v", "release-", 1)
    assert sandbox.images() == ({ecr_tag} if expected.deployed else before)
    assert sandbox.lock() is None
    record = sandbox.record(report.run_id)
    assert record.outcome == expected.outcome
    effects = sandbox.effects()["effects"]
    assert effects["db_snapshots"] == 1 and report.snapshot  # taken, and kept on failure
    assert effects["slack_messages"] == 1 and effects["emails"] == 1
    incidents = folder / "incident_log.md"
    if expected.deployed:
        assert not incidents.exists() or report.run_id not in incidents.read_text()
        assert report.next_command == ""
    else:
        assert report.run_id in incidents.read_text()
        assert report.next_command


def test_on_a_fresh_sandbox(scenario: tuple[str, Rehearsal]) -> None:
    name, sandbox = scenario
    rehearse(sandbox, name, sandbox.folder)


def test_after_a_deploy(scenario: tuple[str, Rehearsal]) -> None:
    name, sandbox = scenario
    assert sandbox.deploy(sandbox.other_tag()).outcome == "succeeded"
    rehearse(sandbox, name, sandbox.folder)
