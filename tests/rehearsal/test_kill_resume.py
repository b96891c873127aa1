"""A deploy killed anywhere converges: by `--resume`, or by a plain re-run after a recorded unlock.

Each case deploys another release in a forked child, SIGKILLs it at a step boundary or inside the
one-off and rollout steps (no cleanup at all, as when a laptop dies), then finishes the job. The
resume must do exactly what a clean run does, counted by the sandbox server: one snapshot, four
registrations, each one-off task once, one UpdateService per service, one Slack message, one email.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adinsights_ops import pipeline
from tests.rehearsal.inprocess import Rehearsal, at_step, inside, killed_at, rehearsal

STEPS = [name for name, _ in pipeline.STEPS]
KILLS = [
    *((f"before {name}", at_step(name)) for name in STEPS),
    ("inside one-off (migrate running)", inside("one-off", "task started")),
    ("inside rollout (services updating)", inside("rollout", "waiting")),
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    with rehearsal(tmp_path_factory.mktemp("kills")) as sandbox:
        first = sandbox.deploy(sandbox.other_tag())  # creates the stack: later runs change none
        assert first.outcome == "succeeded", first.error
        yield sandbox


@pytest.fixture(scope="module")
def clean_effects(sandbox: Rehearsal) -> dict[str, Any]:
    """What one clean deploy does, counted by the server."""
    sandbox.reset_effects()
    report = sandbox.deploy(sandbox.other_tag())
    assert report.outcome == "succeeded", report.error
    effects: dict[str, Any] = sandbox.effects()["effects"]
    assert effects["db_snapshots"] == 1 and effects["task_definitions"] == 4
    assert effects["slack_messages"] == 1 and effects["emails"] == 1
    return effects


def _kill(sandbox: Rehearsal, when: Any) -> tuple[str, str]:
    """Kill a deploy of another release; (its run id, the tag it deployed)."""
    tag = sandbox.other_tag()
    sandbox.reset_effects()
    killed_at(sandbox, tag, when)
    record = sandbox.newest_run()
    assert record.outcome == "running"  # what a kill leaves: nobody closed it
    held = sandbox.lock()
    assert held is not None and held.run_id == record.run_id and held.gone
    return record.run_id, tag


def _converged(sandbox: Rehearsal, tag: str) -> None:
    ecr_tag = tag if tag.startswith("main-") else tag.replace("v", "release-", 1)
    assert sandbox.images() == {ecr_tag}
    assert sandbox.lock() is None


@pytest.mark.parametrize(("where", "when"), KILLS, ids=[k[0] for k in KILLS])
def test_a_killed_deploy_resumes_to_what_a_clean_run_does(
    sandbox: Rehearsal, clean_effects: dict[str, Any], where: str, when: Any
) -> None:
    run_id, tag = _kill(sandbox, when)
    report = sandbox.deploy(resume=run_id)
    assert report.outcome == "succeeded", (where, report.error, report.details)
    _converged(sandbox, tag)
    assert sandbox.record(run_id).outcome == "succeeded"
    assert sandbox.effects()["effects"] == clean_effects, where
    with pytest.raises(Exception, match="already ended"):
        sandbox.deploy(resume=run_id)
