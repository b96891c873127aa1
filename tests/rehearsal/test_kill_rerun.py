"""A deploy killed anywhere and re-run plainly: refused with the way on, converged after an unlock.

The kills are those of test_kill_resume.py (its own module, so that the two run side by side).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adinsights_ops import pipeline
from adinsights_ops.errors import EXIT_LOCKED, EnvironmentLocked
from tests.rehearsal.inprocess import Rehearsal, rehearsal
from tests.rehearsal.test_kill_resume import KILLS, _converged, _kill


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    with rehearsal(tmp_path_factory.mktemp("reruns")) as sandbox:
        first = sandbox.deploy(sandbox.other_tag())
        assert first.outcome == "succeeded", first.error
        yield sandbox


@pytest.mark.parametrize(("where", "when"), KILLS, ids=[k[0] for k in KILLS])
def test_a_plain_rerun_after_a_kill_is_refused_then_converges_after_unlock(
    sandbox: Rehearsal, where: str, when: Any
) -> None:
    run_id, tag = _kill(sandbox, when)
    with pytest.raises(EnvironmentLocked) as refused:
        sandbox.deploy(tag)
    assert refused.value.exit_code == EXIT_LOCKED
    hints = " ".join(refused.value.details)
    assert f"inv deploy --env sandbox --resume {run_id}" in hints
    assert "inv deploy.unlock --env sandbox --force --reason" in hints
    (shown,) = [r for r in pipeline.runs_as_they_stand(sandbox.ops()) if r.run_id == run_id]
    assert shown.outcome == "interrupted"  # deploy.status never says "running" for a dead process
    removed = pipeline.unlock(sandbox.ops(), reason=f"killed {where}")
    assert removed is not None and removed.run_id == run_id
    killed = sandbox.record(run_id)
    assert killed.outcome == "needs-human" and "killed" in killed.notes[-1]
    report = sandbox.deploy(tag)
    assert report.outcome == "succeeded", (where, report.error)
    _converged(sandbox, tag)
    unlocks = sandbox.ops().journal().runs(kind="unlock", limit=1)
    assert unlocks and f"killed {where}" in unlocks[0].notes[0]
