"""Every failure after the lock ends in a documented state, whatever failed: ours, AWS's, Ctrl-C.

AWS calls fail past their retries through the sandbox server's fault rules (the 3rd UpdateService
answered 503 nine times, CreateDBSnapshot always, ...). Each case asserts the whole end state: the
outcome and its exit code, one clear error line naming the call, every service on one release (the
old one after a rollback), the lock released (or kept, and why), the journal closed, the failure
announced once and in the incident log, and a next command that the tool then accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adinsights_ops import pipeline
from adinsights_ops.sandbox.faults import plan_from
from tests.rehearsal.inprocess import Rehearsal, rehearsal

ROLLED_BACK, FAILED = "rolled-back", "failed"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    with rehearsal(tmp_path_factory.mktemp("failures")) as sandbox:
        assert sandbox.deploy(sandbox.other_tag()).outcome == "succeeded"
        yield sandbox


@pytest.fixture(autouse=True)
def _no_faults_after(sandbox: Rehearsal) -> Iterator[None]:
    yield
    sandbox.server.set_faults(None)
    sandbox.scenario("none")


def faults(sandbox: Rehearsal, *rules: dict[str, Any]) -> None:
    sandbox.server.set_faults(plan_from({"rules": list(rules)}))


def ends_documented(sandbox: Rehearsal, report: pipeline.DeployReport, before: set[str]) -> None:
    """The invariants of every failed deploy."""
    assert report.outcome in (ROLLED_BACK, FAILED), (report.outcome, report.error)
    assert report.error and "\n" not in report.error and "Traceback" not in report.error
    assert sandbox.images() == before  # no mixed versions: everything on what ran before
    assert sandbox.lock() is None and report.lock == "released"
    record = sandbox.record(report.run_id)
    assert record.outcome == report.outcome and record.failed_step == report.failed_step
    assert report.next_command
    log = (sandbox.folder / "incident_log.md").read_text()
    assert report.run_id in log and report.outcome.upper() in log
    effects = sandbox.effects()["effects"]
    assert effects["slack_messages"] == 1 and effects["emails"] == 1  # announced once


CASES = [
    # (operation failing past its retries, rule, step it hits, outcome)
    ("UpdateService", {"operation": "UpdateService", "nth": 3, "times": 9}, "rollout", ROLLED_BACK),
    ("CreateDBSnapshot", {"operation": "CreateDBSnapshot"}, "snapshot", FAILED),
    ("RunTask", {"operation": "RunTask", "nth": 1, "times": 9}, "one-off", FAILED),
    (
        "RegisterTaskDefinition",
        {"operation": "RegisterTaskDefinition", "nth": 2, "times": 9},
        "register",
        FAILED,
    ),
    (
        "PutObject on the journal",
        {"operation": "PutObject", "key_prefix": "journal/", "nth": 6, "times": 9},
        None,
        FAILED,
    ),
    (
        "connection resets on UpdateService",
        {"operation": "UpdateService", "kind": "reset", "nth": 2, "times": 9},
        "rollout",
        ROLLED_BACK,
    ),
]


@pytest.mark.parametrize(("name", "rule", "step", "outcome"), CASES, ids=[c[0] for c in CASES])
def test_exhausted_retries_end_in_a_documented_state_and_the_next_command_works(
    sandbox: Rehearsal, name: str, rule: dict[str, Any], step: str | None, outcome: str
) -> None:
    before = sandbox.images()
    tag = sandbox.other_tag()
    sandbox.reset_effects()
    faults(sandbox, rule)
    report = sandbox.deploy(tag)
    sandbox.server.set_faults(None)
    assert report.outcome == outcome, (report.error, report.details)
    if step is not None:
        assert report.failed_step == step
    named = (rule["operation"], "journal", "Connection was closed")
    assert any(word in report.error for word in named), report.error
    ends_documented(sandbox, report, before)
    # The next command the report prints is one the tool accepts, and it finishes the job.
    if outcome == FAILED:
        assert report.next_command.endswith(f"--resume {report.run_id}")
        again = sandbox.deploy(resume=report.run_id)
    else:
        assert f"--image-tag {tag}" in report.next_command
        again = sandbox.deploy(tag)
    assert again.outcome == "succeeded", again.error
    assert sandbox.lock() is None


def test_a_journal_that_cannot_be_written_at_all_changes_nothing_and_frees_the_lock(
    sandbox: Rehearsal,
) -> None:
    before = sandbox.revisions()
    sandbox.reset_effects()
    faults(sandbox, {"operation": "PutObject", "key_prefix": "journal/"})
    with pytest.raises(Exception, match="could not write the journal") as raised:
        sandbox.deploy(sandbox.other_tag())
    assert "\n" not in str(raised.value)
    sandbox.server.set_faults(None)
    assert sandbox.lock() is None and sandbox.revisions() == before
    assert sandbox.effects()["effects"]["task_definitions"] == 0


def test_a_lock_release_whose_answer_was_lost_is_a_success(sandbox: Rehearsal) -> None:
    tag = sandbox.other_tag()
    sandbox.reset_effects()
    faults(sandbox, {"operation": "DeleteObject", "kind": "5xx-after", "times": 1})
    report = sandbox.deploy(tag)
    assert report.outcome == "succeeded", report.error
    assert report.lock == "released" and sandbox.lock() is None
    effects = sandbox.effects()["effects"]
    assert effects["slack_messages"] == 1 and effects["emails"] == 1


def test_ctrl_c_in_the_rollout_rolls_back_and_is_announced(sandbox: Rehearsal) -> None:
    before = sandbox.images()
    sandbox.reset_effects()

    pressed: list[Any] = []

    def interrupt(event: Any) -> None:  # Ctrl-C once, while the rollout waits
        if getattr(event, "name", "") == "waiting" and not pressed:
            pressed.append(event)
            raise KeyboardInterrupt

    report = sandbox.deploy(sandbox.other_tag(), on_event=interrupt)
    assert (report.outcome, report.failed_step) == (ROLLED_BACK, "rollout")
    assert "interrupted" in report.error
    ends_documented(sandbox, report, before)


@pytest.mark.parametrize("scenario", ["failing-smoke", "failing-rollout", "failing-migration"])
def test_a_failed_deploy_is_announced_once_and_logged(sandbox: Rehearsal, scenario: str) -> None:
    before = sandbox.images()
    sandbox.reset_effects()
    sandbox.scenario(scenario)
    report = sandbox.deploy(sandbox.other_tag())
    ends_documented(sandbox, report, before)
    record = sandbox.record(report.run_id)
    (key,) = record.announced
    assert key == f"{report.outcome}:{report.failed_step}"
    assert set(record.announced[key].values()) == {"sent"}
