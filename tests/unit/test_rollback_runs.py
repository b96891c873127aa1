"""Database and data rollbacks as library runs (runbook §6): they take the deploy lock, journal the
run, write the incident log, and give the lock back however they end.

Measured before: `rollback.db` and `rollback.data` took no lock at all, so a migration could be
unapplied under a deploy that was running its own; and the journaling lived in the task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adinsights_ops import lock, pipeline
from adinsights_ops.errors import EXIT_LOCKED, EXIT_USAGE, EnvironmentLocked, OpsError, UsageError
from adinsights_ops.journal import new_run_id
from adinsights_ops.pipeline._rollback import IrreversibleMigration
from tests.simulated import Simulated


def held(sim: Simulated) -> lock.Lock | None:
    return lock.read(sim.ops.aws.s3(), bucket=sim.env.state_bucket, environment=sim.env.name)


def rollbacks(sim: Simulated, kind: str) -> list[Any]:
    return sim.ops.journal().runs(kind=kind, limit=10)


def take_lock(sim: Simulated) -> lock.Lock:
    """The lock as a live deploy holds it (this process, a fresh lease)."""
    return lock.acquire(
        sim.ops.aws.s3(),
        bucket=sim.env.state_bucket,
        environment=sim.env.name,
        run_id=new_run_id(),
        reason="deploy v1.3.0",
        ttl=sim.env.release.lock_ttl,
    )


def incident_log(sim: Simulated) -> str:
    assert sim.env.notifications.incident_log is not None  # the sandbox keeps one
    path = sim.env.path(sim.env.notifications.incident_log)
    return path.read_text() if path.exists() else ""


def test_a_migration_rollback_holds_the_lock_while_it_works_then_gives_it_back(
    sim: Simulated,
) -> None:
    seen: list[lock.Lock | None] = []

    def on_event(event: object) -> None:
        if not seen:
            seen.append(held(sim))

    done = pipeline.rollback_db(sim.ops, to_migration="analytics:0042", on_event=on_event)
    assert seen and seen[0] is not None and seen[0].run_id == done.record.run_id
    assert held(sim) is None
    assert done.migration is not None and done.restore is None
    assert any("0043" in line for line in done.migration.plan.operations)
    (record,) = rollbacks(sim, "rollback-db")
    assert record.run_id == done.record.run_id and record.outcome == "succeeded"
    assert record.notes == ["migrate analytics back to 0042"]
    assert done.incident_log is not None
    assert f"rollback {record.run_id}" in incident_log(sim)
    assert "outcome succeeded" in incident_log(sim)


def test_a_rollback_refuses_to_run_over_a_live_deploy(sim: Simulated, tmp_path: Path) -> None:
    theirs = take_lock(sim)
    sim.calls.clear()
    with pytest.raises(EnvironmentLocked) as locked:
        pipeline.rollback_db(sim.ops, to_migration="analytics:0042")
    assert locked.value.exit_code == EXIT_LOCKED
    with pytest.raises(EnvironmentLocked):
        pipeline.rollback_db(sim.ops, restore=pipeline.plan_restore(sim.ops, _snapshot(sim)))
    with pytest.raises(EnvironmentLocked):
        pipeline.rollback_data(without_data_plane(sim), tag="v1.2.0", repo=tagged_repo(tmp_path))
    assert sim.calls["RunTask"] == 0 and sim.calls["RestoreDBInstanceFromDBSnapshot"] == 0
    assert rollbacks(sim, "rollback-db") == [] and rollbacks(sim, "rollback-data") == []
    still = held(sim)
    assert still is not None and still.run_id == theirs.run_id


def test_a_refused_migration_is_journaled_logged_and_the_lock_released(sim: Simulated) -> None:
    with pytest.raises(IrreversibleMigration) as refused:
        pipeline.rollback_db(sim.ops, to_migration="analytics:0040")
    assert held(sim) is None
    (record,) = rollbacks(sim, "rollback-db")
    assert record.outcome == "failed"
    assert f"rollback {record.run_id}" in incident_log(sim) and "outcome failed" in incident_log(
        sim
    )
    assert any(d.startswith("incident log: ") for d in refused.value.details)


def test_ctrl_c_part_way_releases_the_lock_and_closes_the_record(sim: Simulated) -> None:
    def interrupt(event: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.rollback_db(sim.ops, to_migration="analytics:0042", on_event=interrupt)
    assert held(sim) is None
    (record,) = rollbacks(sim, "rollback-db")
    assert record.outcome == "failed"


def test_a_rollback_that_needs_a_person_keeps_the_lock_and_says_how_to_remove_it(
    sim: Simulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adinsights_ops.errors import NeedsHuman
    from adinsights_ops.pipeline import _rollback as rb

    def half_done(*args: object, **kwargs: object) -> object:
        raise NeedsHuman("restore stopped while renaming", details=["adinsights-sandbox: gone"])

    monkeypatch.setattr(rb, "migrate_back", half_done)
    with pytest.raises(NeedsHuman) as stopped:
        pipeline.rollback_db(sim.ops, to_migration="analytics:0042")
    (record,) = rollbacks(sim, "rollback-db")
    assert record.outcome == "needs-human"
    kept = held(sim)
    assert kept is not None and kept.run_id == record.run_id
    assert any("inv deploy.unlock" in d for d in stopped.value.details)


def test_bad_input_is_refused_before_the_lock_is_taken(sim: Simulated, tmp_path: Path) -> None:
    sim.calls.clear()
    for call in (
        lambda: pipeline.rollback_db(sim.ops),
        lambda: pipeline.rollback_db(sim.ops, to_migration="analytics:42"),
        lambda: pipeline.rollback_db(sim.ops, to_migration="analytics:0042", restore="snap"),
        lambda: pipeline.rollback_data(sim.ops, tag="not-a-version", repo=tmp_path),
        lambda: pipeline.rollback_data(sim.ops, tag="v1.2.0", repo=tmp_path),  # not a repository
    ):
        with pytest.raises(UsageError) as refused:
            call()
        assert refused.value.exit_code == EXIT_USAGE
    assert sum(sim.calls.values()) == 0, dict(sim.calls)
    with pytest.raises(UsageError, match="no RDS snapshot nosuch"):
        pipeline.plan_restore(sim.ops, "nosuch")
    assert held(sim) is None and rollbacks(sim, "rollback-db") == []


def test_a_snapshot_restore_swaps_it_in_under_the_lock(sim: Simulated) -> None:
    plan = pipeline.plan_restore(sim.ops, _snapshot(sim))
    assert plan.instance == sim.env.rds_instance and plan.data_loss_window is not None
    done = pipeline.rollback_db(sim.ops, restore=plan)
    assert done.restore is not None and done.migration is None
    assert done.restore.instance == sim.env.rds_instance
    assert done.restore.old_instance.startswith(f"{sim.env.rds_instance}-old-")
    assert held(sim) is None
    (record,) = rollbacks(sim, "rollback-db")
    assert record.outcome == "succeeded" and record.notes == [
        f"restore snapshot {plan.snapshot.id}"
    ]


def test_the_app_rollback_writes_the_incident_log_of_its_own_run_only(sim: Simulated) -> None:
    with pytest.raises(OpsError):  # nothing deployed yet through the journal: nothing to go back to
        pipeline.rollback_app(sim.ops)
    assert incident_log(sim) == "" and held(sim) is None


def test_a_data_rollback_is_a_journaled_run_under_the_lock(
    sim: Simulated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adinsights_ops.pipeline import _rollback as rb

    ops = without_data_plane(sim)
    seen: list[lock.Lock | None] = []
    real = rb.apply_data

    def watched(ops: Any, source: Any) -> Any:
        seen.append(held(sim))
        return real(ops, source)

    monkeypatch.setattr(rb, "apply_data", watched)
    rolled = pipeline.rollback_data(ops, tag="v1.2.0", repo=tagged_repo(tmp_path))
    assert rolled.done.tag == "v1.2.0" and rolled.done.dbt == "no dbt project configured"
    assert seen and seen[0] is not None and seen[0].run_id == rolled.record.run_id
    assert held(sim) is None
    (record,) = rollbacks(sim, "rollback-data")
    assert record.outcome == "succeeded" and record.notes == ["data back to v1.2.0"]
    assert "data back to v1.2.0" in incident_log(sim)


def without_data_plane(sim: Simulated) -> Any:
    """The sandbox with neither Airbyte nor dbt: a data rollback then only checks git."""
    import attrs

    return attrs.evolve(sim.ops, env=attrs.evolve(sim.env, airbyte=None, dbt=None))


def tagged_repo(folder: Path) -> Path:
    import subprocess

    repo = folder / "repo"
    repo.mkdir()
    for args in (
        ("init", "-q"),
        ("commit", "-q", "--allow-empty", "-m", "release"),
        ("tag", "v1.2.0"),
    ):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    return repo


def _snapshot(sim: Simulated) -> str:
    from adinsights_ops import rds

    taken = rds.snapshot(
        sim.ops.aws.client("rds"),
        instance=sim.env.rds_instance,
        label="before-rollback-test",
        clock=sim.ops.clock,
    )
    return taken.id
