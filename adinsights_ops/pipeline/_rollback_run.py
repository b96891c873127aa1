"""Rollbacks as runs (runbook §6): each holds the environment's lock, is journaled, and writes the
incident log whatever its outcome. The building blocks (migrations, a snapshot restore, the data
at a release tag) are in `_rollback`.

A rollback never runs over a live deploy or another rollback: it takes the deploy lock first
(EnvironmentLocked, exit 3, before anything is journaled or changed) and gives it back however it
ends, except when it ends needing a person (NeedsHuman, exit 4): then the lock is kept, as a deploy
keeps it, until someone has looked and removed it with `inv deploy.unlock`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import attrs

from adinsights_ops import ecs, lock
from adinsights_ops.errors import NeedsHuman, OpsError, UsageError, describe_error
from adinsights_ops.journal import RunRecord, new_run_id
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.pipeline import _rollback as rb
from adinsights_ops.pipeline._locking import acquire

if TYPE_CHECKING:
    from adinsights_ops import rds

T = TypeVar("T")


@attrs.frozen
class Rolled(Generic[T]):
    """A rollback that ran: its journal record, what it did, and the incident-log file it was
    written to (None when the environment keeps no incident log)."""

    record: RunRecord
    done: T
    incident_log: Path | None


def rollback(
    ops: OpsEnv, *, to_run: str | None = None, on_event: ecs.OnEvent | None = None
) -> tuple[RunRecord, ecs.Rollout]:
    """Put the services back on the revisions deployed before a run (default: the newest deploy).

    Holds the environment's lock while it works, as a deploy does: a rollback never runs over a
    live deploy (EnvironmentLocked, exit 3). Any failure once it has started changing services is
    NeedsHuman (exit 4): the journal says so and the lock is kept until a person has looked.
    `rollback_app` is the same and also writes the incident log.
    """
    return _rollback(ops, to_run=to_run, on_event=on_event)


def _rollback(
    ops: OpsEnv,
    *,
    to_run: str | None,
    on_event: ecs.OnEvent | None,
    started: Callable[[RunRecord], None] | None = None,
) -> tuple[RunRecord, ecs.Rollout]:
    from adinsights_ops.journal import deployed_before

    journal = ops.journal()
    source, targets = deployed_before(journal, to_run)
    run_id = new_run_id()
    held = acquire(ops, journal, run_id, f"rollback to before run {source.run_id}")
    outcome = "failed"
    try:
        record = journal.start("rollback", image_tag=source.image_tag, run_id=run_id)
        if started is not None:
            started(record)
        record.notes.append(f"back to the revisions before run {source.run_id}")
        record.previous_revisions = {
            s.name: s.task_definition
            for s in ecs.status(ops.aws.ecs(), cluster=ops.env.ecs.cluster, services=list(targets))
        }
        record.deployed_revisions = dict(targets)
        try:
            with journal.step(record, "rollback") as step:
                result = ecs.rollback_to(
                    ops.aws.ecs(),
                    cluster=ops.env.ecs.cluster,
                    targets=targets,
                    singletons=ops.env.ecs.singletons,
                    timeout=ops.env.ecs.rollout_timeout,
                    on_event=on_event,
                    clock=ops.clock,
                    backoff=ops.env.ecs.polling(ecs.DEFAULT_POLL),
                )
                step.outputs["services"] = {
                    o.service: ecs.short_arn(o.now) for o in result.outcomes
                }
        except NeedsHuman:
            outcome = "needs-human"
            raise
        except (Exception, KeyboardInterrupt) as exc:
            outcome = "needs-human"
            raise NeedsHuman(
                f"the rollback stopped part-way: {describe_error(exc)}",
                details=[
                    f"check `inv ecs.status --env {ops.name}`; the lock is kept for run {run_id}",
                    f"then: inv deploy.unlock --env {ops.name} --force --reason '<why>'",
                ],
            ) from None
        outcome = "succeeded"
        return record, result
    finally:
        with contextlib.suppress(Exception):
            journal.finish(record, outcome)
        if outcome != "needs-human":
            with contextlib.suppress(Exception):
                lock.release(ops.aws.s3(), bucket=ops.env.state_bucket, lock=held)


def rollback_app(
    ops: OpsEnv, *, to_run: str | None = None, on_event: ecs.OnEvent | None = None
) -> Rolled[ecs.Rollout]:
    """`rollback`, written to the incident log whatever its outcome. A failure raises as `rollback`
    does; once the run was journaled, the error's details name its incident-log entry."""
    started: list[RunRecord] = []
    try:
        record, rollout = _rollback(ops, to_run=to_run, on_event=on_event, started=started.append)
    except (OpsError, KeyboardInterrupt) as exc:
        if started:
            _log_failure(
                exc,
                ops,
                started[0],
                what="app rollback",
                source="deployed revisions",
                target="previous revisions",
            )
        raise
    logged = rb.incident_entry(
        ops,
        record,
        what=f"app rollback ({record.notes[0]})",
        source=", ".join(ecs.short_arn(a) for a in record.previous_revisions.values()),
        target=", ".join(ecs.short_arn(a) for a in record.deployed_revisions.values()),
        outcome="succeeded",
    )
    return Rolled(record, rollout, logged)


@attrs.frozen
class RestorePlan:
    """A snapshot restore as it would be: the snapshot, the instance it replaces, and the writes
    it loses (everything since the snapshot was taken)."""

    snapshot: rds.Snapshot
    instance: str
    data_loss_window: timedelta | None  # None when RDS does not say when the snapshot was taken


def plan_restore(ops: OpsEnv, snapshot_id: str) -> RestorePlan:
    """What restoring `snapshot_id` would do; reads only. UsageError when there is no such snapshot."""
    from adinsights_ops import rds

    found = rds.find_snapshot(ops.aws.client("rds"), snapshot_id)
    if found is None:
        raise UsageError(f"no RDS snapshot {snapshot_id}")
    return RestorePlan(
        snapshot=found,
        instance=ops.env.rds_instance,
        data_loss_window=rb.data_loss_window(found.created) if found.created else None,
    )


@attrs.frozen
class DbRollback:
    """What `rollback_db` did: migrations unapplied, or a snapshot swapped in (the other is None)."""

    record: RunRecord
    migration: rb.MigrationRollback | None
    restore: rds.Restore | None
    incident_log: Path | None


def rollback_db(
    ops: OpsEnv,
    *,
    to_migration: str | None = None,
    restore: RestorePlan | str | None = None,
    on_event: ecs.OnEvent | None = None,
) -> DbRollback:
    """Roll the database back, as a journaled run under the deploy lock, written to the incident log.

    Exactly one of `to_migration` (`app:NNNN`: `migrate app NNNN` as a one-off task, refused when
    Django's plan marks a step IRREVERSIBLE) or `restore` (a snapshot id, or the `plan_restore` the
    caller showed: restore it and swap it in under the instance's name). Bad input is UsageError
    before anything is read or changed. Approval is the caller's business.
    """
    if bool(to_migration) == bool(restore):
        raise UsageError("give exactly one of --to-migration app:NNNN or --restore-snapshot ID")
    if to_migration:
        app, target = rb.parse_migration(to_migration)
        migrated = _journaled(
            ops,
            "rollback-db",
            what=f"migrate {app} back to {target}",
            source="current schema",
            target=f"{app}:{target}",
            body=lambda: rb.migrate_back(ops, app=app, target=target, on_event=on_event),
        )
        return DbRollback(migrated.record, migrated.done, None, migrated.incident_log)
    from adinsights_ops import rds

    assert restore is not None
    planned = plan_restore(ops, restore) if isinstance(restore, str) else restore
    restored = _journaled(
        ops,
        "rollback-db",
        what=f"restore snapshot {planned.snapshot.id}",
        source=planned.instance,
        target=planned.snapshot.id,
        body=lambda: rds.restore(
            ops.aws.client("rds"),
            snapshot_id=planned.snapshot.id,
            instance=planned.instance,
            clock=ops.clock,
        ),
    )
    return DbRollback(restored.record, None, restored.done, restored.incident_log)


def rollback_data(ops: OpsEnv, *, tag: str, repo: Path | None = None) -> Rolled[rb.DataRollback]:
    """Airbyte connections as the manifests at release `tag` say, and dbt rebuilt at `tag`, as a
    journaled run under the deploy lock, written to the incident log.

    `repo` is the git repository holding the tag (default: the one around the environments file).
    A tag that is not a release version, or not in the repository, is UsageError before the lock
    is taken or anything is changed.
    """
    from adinsights_ops.release import parse_version

    version = parse_version(tag)
    where = repo if repo is not None else Path(ops.env.source).resolve().parent
    source = rb.data_source(
        ops, tag=version.given, repo=where
    )  # before the lock: bad input, exit 2
    return _journaled(
        ops,
        "rollback-data",
        tag=version.ecr_tag,
        what=f"data back to {version.given}",
        source="current",
        target=version.given,
        body=lambda: rb.apply_data(ops, source),
    )


def _journaled(
    ops: OpsEnv,
    kind: str,
    *,
    what: str,
    source: str,
    target: str,
    body: Callable[[], T],
    tag: str | None = None,
) -> Rolled[T]:
    """Run `body()` as a journaled rollback of `kind` holding the deploy lock, with an incident-log
    entry whatever the outcome. The lock is released on every path but two: needs-human keeps it
    for a person to look (the error says how to remove it), and a lock lost is no longer ours."""
    journal = ops.journal()
    run_id = new_run_id()
    held = acquire(ops, journal, run_id, what)
    heartbeat = lock.Heartbeat(
        ops.aws.s3(), bucket=ops.env.state_bucket, lock=held, ttl=ops.env.release.lock_ttl
    ).start()
    outcome = "failed"
    try:
        record = journal.start(kind, image_tag=tag, run_id=run_id)
        record.notes.append(what)
        try:
            with journal.step(record, kind) as step:
                heartbeat.ensure()  # the lock is still ours before anything changes
                result = body()
                step.outputs["result"] = _summary(result)
            outcome = "succeeded"
        except (Exception, KeyboardInterrupt) as exc:
            if isinstance(exc, lock.LockLost):
                outcome = "fenced"  # someone removed or took the lock: not ours to release
            elif isinstance(exc, NeedsHuman):
                outcome = "needs-human"
                exc.details = [
                    *exc.details,
                    f"the lock is kept for run {run_id}; once a person has looked: "
                    f"inv deploy.unlock --env {ops.name} --force --reason '<why>'",
                ]
            with contextlib.suppress(Exception):  # the rollback's own error is the one to tell
                journal.finish(record, outcome)
            _log_failure(exc, ops, record, what=what, source=source, target=target, outcome=outcome)
            raise
        journal.finish(record, outcome)
        logged = rb.incident_entry(
            ops, record, what=what, source=source, target=target, outcome=outcome
        )
        return Rolled(record, result, logged)
    finally:
        held = heartbeat.stop()
        if outcome not in ("needs-human", "fenced"):
            with contextlib.suppress(Exception):
                lock.release(ops.aws.s3(), bucket=ops.env.state_bucket, lock=held)


def _summary(result: object) -> str:
    summary = getattr(result, "summary", None)
    return str(summary() or "") if callable(summary) else ""


def _log_failure(
    exc: BaseException,
    ops: OpsEnv,
    record: RunRecord,
    *,
    what: str,
    source: str,
    target: str,
    outcome: str | None = None,
) -> None:
    """Write a failed rollback to the incident log; the error's details then name the entry. A log
    that cannot be written does not hide the rollback's own error."""
    try:
        logged = rb.incident_entry(
            ops, record, what=what, source=source, target=target, outcome=outcome or record.outcome
        )
    except Exception as log_error:
        logged, note = None, f"incident log not written: {describe_error(log_error)}"
    else:
        note = f"incident log: {logged}" if logged is not None else ""
    if note and isinstance(exc, OpsError):
        exc.details = [*exc.details, note]
