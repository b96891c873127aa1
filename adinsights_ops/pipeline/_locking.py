"""The environment's lock as the pipeline uses it: taking it (a lock left by a run that has ended
is stale and taken over), giving it back when a run ends, removing it on purpose, and reading the
journal's runs in its light."""

from __future__ import annotations

import contextlib

from adinsights_ops import lock
from adinsights_ops.errors import EnvironmentLocked, OpsError, UsageError, describe_error
from adinsights_ops.journal import Journal, RunRecord
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.pipeline._state import DeployRun

OVER = ("succeeded", "rolled-back", "failed", "fenced")
"""Outcomes after which a lock left behind by the run is stale (needs-human keeps its lock on purpose)."""


def acquire(ops: OpsEnv, journal: Journal, run_id: str, reason: str) -> lock.Lock:
    """Take the lock; a lock left by a run that has ended is stale and taken over."""

    def is_over(holder: lock.Lock) -> bool:
        try:
            return journal.load(holder.run_id).outcome in OVER
        except OpsError:  # not a deploy of this journal (a rotation, a scaling): its lease decides
            return holder.gone

    try:
        return lock.acquire(
            ops.aws.s3(),
            bucket=ops.env.state_bucket,
            environment=ops.name,
            run_id=run_id,
            reason=reason,
            ttl=ops.env.release.lock_ttl,
            is_over=is_over,
        )
    except lock.HolderAlive:
        raise
    except EnvironmentLocked as exc:
        if exc.gone:
            holder = exc.holder.get("run_id", "?")
            exc.details = [
                f"its holder is gone: if run {holder} is a deploy, resume it: "
                f"inv deploy --env {ops.name} --resume {holder}",
                "or, once you know what it left behind: "
                f"inv deploy.unlock --env {ops.name} --force --reason '<why>'",
            ]
        raise


def close(run: DeployRun, outcome: str) -> str:
    """Stop the heartbeat; release the lock unless a human must look first; say what became of it."""
    if run.heartbeat is not None:
        run.lock = run.heartbeat.stop()
    if run.lock is None:
        return "none"
    if outcome == "fenced":
        return "not ours any more"
    if outcome == "needs-human":
        return "kept for this run until a person has looked"
    try:
        released = lock.release(run.ops.aws.s3(), bucket=run.ops.env.state_bucket, lock=run.lock)
    except Exception as exc:
        run.record.notes.append(f"lock not released: {describe_error(exc)}")
        return (
            f"not released ({describe_error(exc)}); this run has ended, so the next deploy takes "
            "it over"
        )
    return "released" if released else "held by another run now"


def unlock(ops: OpsEnv, *, reason: str) -> lock.Lock | None:
    """Remove the environment's lock on purpose, recording who and why; what was removed, if any.

    The removal is journaled as a run of its own (kind `unlock`), noted in the holder's record and
    written to the activity log. A holder that is still working finds its lock gone at its next
    step and stops there (fencing). A holder that is gone has its record closed as needs-human, so
    the journal never says "running" for a process that no longer exists.
    """
    from adinsights_ops import notify
    from adinsights_ops.journal import utcnow, who

    if not reason.strip():
        raise UsageError("removing a lock needs a reason")
    removed = lock.force_unlock(ops.aws.s3(), bucket=ops.env.state_bucket, environment=ops.name)
    if removed is None:
        return None
    by = who()
    note = f"lock of run {removed.run_id} removed by {by} at {utcnow()}: {reason}"
    journal = ops.journal()
    record = journal.start("unlock")
    record.notes.append(note)
    record.notes.append(f"the holder was {removed.describe()}")
    journal.finish(record, "succeeded")
    with contextlib.suppress(OpsError):
        holder = journal.load(removed.run_id)
        holder.notes.append(note)
        if removed.gone and holder.outcome == "running":
            holder.outcome, holder.finished = "needs-human", utcnow()
        journal.save(holder)
    if ops.env.notifications.activity_log:
        with contextlib.suppress(OSError):
            notify.append_activity_log(
                ops.env.path(ops.env.notifications.activity_log), line=note, run_id=record.run_id
            )
    return removed


def runs_as_they_stand(ops: OpsEnv, *, limit: int = 20) -> list[RunRecord]:
    """The newest runs, with a run whose record says "running" but whose process is gone (no lock,
    another run's lock, or a lock whose holder is gone) shown as `interrupted`: the journal on S3
    is left as the run wrote it, for its resume."""
    records = ops.journal().runs(limit=limit)
    held = lock.read(ops.aws.s3(), bucket=ops.env.state_bucket, environment=ops.name)
    for record in records:
        alive = held is not None and held.run_id == record.run_id and not held.gone
        if record.outcome == "running" and not alive:
            record.outcome = "interrupted"
    return records
