"""The deploy runbook (section 5) as ordered, journaled, resumable steps built on the primitives.

    preflight -> lock -> data-state -> infrastructure -> snapshot -> register -> one-off
    -> rollout -> warm -> smoke -> announce

Preflight's checks read only, so a refusal changes nothing. The lock is the first change. Every step
is journaled (start, end, outcome, elapsed, outputs) as it happens, so a crashed run can be resumed
from its first unfinished step. A failure after the new revisions are registered puts the app back
on the revisions it ran before; the RDS snapshot is kept; the report says what state each service is
in and what to run next.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import attrs

from adinsights_ops import ecs, lock
from adinsights_ops.errors import (
    EnvironmentLocked,
    NeedsHuman,
    OpsError,
    UsageError,
    describe_error,
)
from adinsights_ops.journal import Journal, RunRecord, check_run_id, new_run_id
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.pipeline import _preflight as preflight
from adinsights_ops.pipeline._steps import (
    STEPS,
    DeployRun,
    Plan,
    announce_run,
    app_state,
    plan_deploy,
    restore,
)
from adinsights_ops.release import ImageTag

resolve_tag = preflight.resolve_tag
FINAL = ("succeeded", "rolled-back", "fenced")
"""Outcomes a run cannot be resumed from (a new deploy is the way on)."""
OVER = ("succeeded", "rolled-back", "failed", "fenced")
"""Outcomes after which a lock left behind by the run is stale (needs-human keeps its lock on purpose)."""
PUT_BACK = ("rollout", "warm", "smoke")
"""Steps after services were pointed at new revisions: a failure there puts the old ones back."""

__all__ = [
    "STEPS",
    "DeployReport",
    "Plan",
    "StepSummary",
    "deploy",
    "plan",
    "resolve_tag",
    "rollback",
    "runs_as_they_stand",
    "unlock",
]


@attrs.frozen
class StepSummary:
    name: str
    outcome: str
    elapsed: float
    detail: str = ""


@attrs.frozen
class DeployReport:
    """What a deploy did, and where things stand."""

    run_id: str
    environment: str
    image_tag: str
    outcome: str  # succeeded | rolled-back | failed | needs-human | fenced
    steps: tuple[StepSummary, ...]
    services: dict[str, str] = attrs.field(factory=dict)  # service -> revision it runs now
    snapshot: str | None = None
    failed_step: str | None = None
    error: str = ""
    details: tuple[str, ...] = ()
    next_command: str = ""
    rollout: ecs.Rollout | None = None
    lock: str = ""  # released | kept (why) | not ours
    warnings: tuple[str, ...] = ()


def plan(ops: OpsEnv, tag: ImageTag) -> Plan:
    """Everything a deploy would do, read-only (the dry run)."""
    return plan_deploy(ops, tag)


def resumable(journal: Journal, run_id: str) -> RunRecord:
    """The record of run `run_id` if a deploy can be resumed from it; UsageError saying why not."""
    record = journal.load(check_run_id(run_id))
    if record.kind != "deploy":
        raise UsageError(f"run {run_id} is a {record.kind}, not a deploy")
    if record.outcome in FINAL:
        how = {
            "succeeded": "it succeeded",
            "rolled-back": "it was rolled back; deploy again with a new run",
            "fenced": "it lost its lock to another run; start a new deploy",
        }[record.outcome]
        raise UsageError(
            f"run {run_id} already ended ({record.outcome}): nothing to resume ({how})"
        )
    return record


def deploy(
    ops: OpsEnv,
    *,
    image_tag: str | None = None,
    resume: str | None = None,
    open_source: Callable[[str], OpsEnv] | None = None,
    reason: str = "",
    on_event: ecs.OnEvent | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DeployReport:
    """Carry out the deploy (or resume run `resume`); returns the report.

    Raises only before anything changed: UsageError for a refused preflight or resume,
    EnvironmentLocked when another run holds the lock (or the resumed run's holder is alive).
    Approval is the caller's business (it happens before this). Once the lock is held, every error
    of any kind ends in the report: rolled back, resumable, or needing a human, never a traceback.
    """
    journal = ops.journal()
    if resume is not None:
        record: RunRecord | None = resumable(journal, resume)
        assert record is not None
        tag = resolve_tag(ops.env, record.image_tag)
        run_id = record.run_id
    else:
        record = None
        tag = resolve_tag(ops.env, image_tag)
        run_id = new_run_id()
    checked = preflight.run(ops, tag, open_source=open_source)
    if record is not None:
        _check_unchanged_since(ops, record)
    held = _acquire(ops, journal, run_id, reason or f"deploy {tag.ecr_tag}")
    heartbeat = lock.Heartbeat(
        ops.aws.s3(), bucket=ops.env.state_bucket, lock=held, ttl=ops.env.release.lock_ttl
    ).start()
    try:
        if record is None:
            record = journal.start("deploy", image_tag=tag.ecr_tag, run_id=run_id)
        else:
            record.notes.append(f"resumed by {held.who}")
            record.outcome = "running"
            record.finished = None
            journal.save(record)
    except Exception as exc:  # nothing changed yet but the lock: give it back, say why
        heartbeat.stop()
        with contextlib.suppress(Exception):
            lock.release(ops.aws.s3(), bucket=ops.env.state_bucket, lock=held)
        raise OpsError(
            f"could not write the journal, so nothing was done: {describe_error(exc)}"
        ) from None
    run = DeployRun(
        ops=ops,
        tag=tag,
        record=record,
        journal=journal,
        lock=held,
        checks=checked.checks,
        on_event=on_event,
        heartbeat=heartbeat,
    )
    try:
        return _carry_out(run, on_step)
    finally:
        heartbeat.stop()  # already stopped on every path but a bug's; never left renewing


def _acquire(ops: OpsEnv, journal: Journal, run_id: str, reason: str) -> lock.Lock:
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


def _check_unchanged_since(ops: OpsEnv, record: RunRecord) -> None:
    """A resume past registration goes on only if no one else changed the services meanwhile."""
    started = record.step("rollout")
    if not record.previous_revisions or (started is not None and started.started):
        return
    names = list(record.previous_revisions)
    now = {
        s.name: (s.primary.task_definition if s.primary else s.task_definition)
        for s in ecs.status(ops.aws.ecs(), cluster=ops.env.ecs.cluster, services=names)
    }
    moved = [n for n in names if now.get(n) != record.previous_revisions[n]]
    if moved:
        raise UsageError(
            f"run {record.run_id} cannot be resumed: {', '.join(moved)} changed since it registered "
            f"its revisions (another deploy?); start a new deploy: inv deploy --env {ops.name} "
            f"--image-tag {record.image_tag}"
        )


def _carry_out(run: DeployRun, on_step: Callable[[str], None] | None) -> DeployReport:
    journal, record = run.journal, run.record
    for name, body in STEPS:
        done = record.step(name)
        if done is not None and done.outcome in ("done", "skipped"):
            restore(run, name, done.outputs)
            continue
        try:
            if on_step is not None:
                on_step(name)
            run.fence()  # a run that lost its lock changes nothing more
            with journal.step(record, name) as step:
                outputs = body(run)
                step.outputs.update(outputs)
                if "skipped" in outputs:
                    step.outcome = "skipped"
        except (Exception, KeyboardInterrupt) as exc:
            return _failed(run, name, exc)
    warnings = []
    try:
        journal.finish(record, "succeeded")
    except Exception as exc:
        warnings.append(_journal_warning(run, exc))
    held = _close(run, "succeeded")
    return _report(run, "succeeded", lock_state=held, warnings=tuple(warnings))


def _failed(run: DeployRun, step: str, exc: BaseException) -> DeployReport:
    """The one failure path: put back what changed, close the journal, release or keep the lock,
    announce, log the incident, report. Each part is guarded so that one failing does not stop the
    others; what could not be done is said in the report."""
    details = list(exc.details) if isinstance(exc, OpsError) else []
    result = getattr(exc, "result", None)  # a failed one-off task carries its log tail
    if result is not None and getattr(result, "log_tail", None):
        details += [f"log tail of {result.log_stream}:"] + [
            f"  | {line}" for line in result.log_tail
        ]
    error = describe_error(exc)
    warnings: list[str] = []
    if isinstance(exc, lock.LockLost):
        outcome = "fenced"
    elif isinstance(exc, NeedsHuman):
        outcome = "needs-human"
    else:
        if isinstance(exc, ecs.RolloutFailed):
            run.rollout = exc.rollout
        outcome = _put_back(run, step) if step in PUT_BACK else "failed"
    run.record.failed_step = step
    run.record.notes.append(f"{step} failed: {error}")
    try:
        run.journal.finish(run.record, outcome)
    except Exception as journal_error:
        warnings.append(_journal_warning(run, journal_error))
    held = _close(run, outcome)
    warnings += _tell(run, outcome, step, error)
    return _report(
        run,
        outcome,
        failed_step=step,
        error=error,
        details=tuple(details),
        lock_state=held,
        warnings=tuple(warnings),
    )


def _put_back(run: DeployRun, step: str) -> str:
    """After a failure once services were updated: every service back on the revision it ran before."""
    previous = run.record.previous_revisions
    if not previous:
        return "failed"
    try:
        if app_state(run) == {n: ecs.short_arn(a) for n, a in previous.items()}:
            return "rolled-back"  # ECS's circuit breaker (and our rollout) already put them back
    except Exception:  # reading failed: put back anyway, which reads again
        pass
    try:
        run.rollout = ecs.rollback_to(
            run.ops.aws.ecs(),
            cluster=run.ops.env.ecs.cluster,
            targets=previous,
            singletons=run.ops.env.ecs.singletons,
            timeout=run.ops.env.ecs.rollout_timeout,
            on_event=run.on_event,
            clock=run.ops.clock,
            backoff=run.ops.env.ecs.polling(ecs.DEFAULT_POLL),
        )
    except (Exception, KeyboardInterrupt) as exc:
        run.record.notes.append(f"rollback did not settle: {describe_error(exc)}")
        return "needs-human"
    return "rolled-back"


def _close(run: DeployRun, outcome: str) -> str:
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


def _tell(run: DeployRun, outcome: str, step: str, error: str) -> list[str]:
    """Announce a failed deploy (Slack, email, activity log) and write the incident log."""
    env = run.ops.env
    state = {
        "rolled-back": "every service is back on the revision it ran before",
        "failed": "the services were not changed",
        "needs-human": "the rollback did not settle: a person must look",
        "fenced": "another run took the lock; this run stopped",
    }[outcome]
    text = (
        f"ADinsights {run.tag.given} deploy to {env.name} {outcome.upper()} at step {step} "
        f"(run {run.record.run_id}, by {run.record.who}): {error}. State: {state}."
    )
    warnings = []
    channels = announce_run(
        run,
        f"{outcome}:{step}",
        text=text,
        subject=f"[{env.name}] deploy of {run.tag.given} {outcome} at {step}",
    )
    failed = [f"{c} {o}" for c, o in channels.items() if o.startswith("failed")]
    if failed:
        warnings.append("announcement: " + "; ".join(failed))
    if env.notifications.incident_log:
        from adinsights_ops import notify

        try:
            notify.append_activity_log(
                env.path(env.notifications.incident_log),
                line=f"deploy {run.record.run_id} on {env.name} by {run.record.who}: {text}",
                run_id=f"{run.record.run_id} {outcome}:{step}",
                heading="# Operations and incident log\n\n",
            )
        except Exception as exc:
            warnings.append(f"incident log not written: {describe_error(exc)}")
    return warnings


def _journal_warning(run: DeployRun, exc: BaseException) -> str:
    copy = run.journal.keep_locally(run.record)
    return f"the journal could not be written ({describe_error(exc)})" + (
        f"; the record is kept at {copy}" if copy else ""
    )


def _report(
    run: DeployRun,
    outcome: str,
    *,
    failed_step: str | None = None,
    error: str = "",
    details: tuple[str, ...] = (),
    lock_state: str = "",
    warnings: tuple[str, ...] = (),
) -> DeployReport:
    record, env = run.record, run.ops.env
    steps = tuple(
        StepSummary(
            s.name,
            s.outcome,
            s.elapsed,
            str(s.outputs.get("error") or s.outputs.get("skipped") or ""),
        )
        for s in record.steps
    )
    try:
        services = app_state(run)
    except Exception as exc:  # the report must come out even when AWS answers badly now
        services = {"?": f"could not read the services: {describe_error(exc)}"}
    resume = f"inv deploy --env {env.name} --resume {record.run_id}"
    nexts = {
        "succeeded": "",
        "rolled-back": f"fix what failed, then deploy again: inv deploy --env {env.name} "
        f"--image-tag {run.tag.given}",
        "failed": f"fix what failed, then: {resume}",
        "needs-human": (
            f"check `inv ecs.status --env {env.name}` and the services above; the lock is kept for "
            f"run {record.run_id}: once they are sound, `{resume}` to carry on, or "
            f"`inv deploy.unlock --env {env.name} --force --reason '<why>'`"
        ),
        "fenced": (
            f"nothing more was changed by run {record.run_id}; see who holds the environment: "
            f"inv deploy.lock-status --env {env.name}"
        ),
    }
    return DeployReport(
        run_id=record.run_id,
        environment=env.name,
        image_tag=run.tag.ecr_tag,
        outcome=outcome,
        steps=steps,
        services=services,
        snapshot=run.snapshot_id,
        failed_step=failed_step,
        error=error,
        details=details,
        next_command=nexts[outcome],
        rollout=run.rollout,
        lock=lock_state,
        warnings=warnings,
    )


def rollback(
    ops: OpsEnv, *, to_run: str | None = None, on_event: ecs.OnEvent | None = None
) -> tuple[RunRecord, ecs.Rollout]:
    """Put the services back on the revisions deployed before a run (default: the newest deploy).

    Holds the environment's lock while it works, as a deploy does: a rollback never runs over a
    live deploy (EnvironmentLocked, exit 3). Any failure once it has started changing services is
    NeedsHuman (exit 4): the journal says so and the lock is kept until a person has looked.
    """
    from adinsights_ops.journal import deployed_before

    journal = ops.journal()
    source, targets = deployed_before(journal, to_run)
    run_id = new_run_id()
    held = _acquire(ops, journal, run_id, f"rollback to before run {source.run_id}")
    outcome = "failed"
    try:
        record = journal.start("rollback", image_tag=source.image_tag, run_id=run_id)
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
