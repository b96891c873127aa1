"""The deploy's one failure path: put back what changed, close the journal, release or keep the
lock, announce, log the incident, report. Each part is guarded so that one failing does not stop
the others; what could not be done is said in the report."""

from __future__ import annotations

from adinsights_ops import ecs, lock
from adinsights_ops.errors import NeedsHuman, OpsError, describe_error
from adinsights_ops.pipeline._announce import tell_failure
from adinsights_ops.pipeline._locking import close
from adinsights_ops.pipeline._report import DeployReport, journal_warning, report
from adinsights_ops.pipeline._state import DeployRun, app_state

PUT_BACK = ("rollout", "warm", "smoke")
"""Steps after services were pointed at new revisions: a failure there puts the old ones back."""


def failed(run: DeployRun, step: str, exc: BaseException) -> DeployReport:
    """End the run after step `step` raised `exc`; the report of where things stand."""
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
        outcome = put_back(run) if step in PUT_BACK else "failed"
    run.record.failed_step = step
    run.record.notes.append(f"{step} failed: {error}")
    try:
        run.journal.finish(run.record, outcome)
    except Exception as journal_error:
        warnings.append(journal_warning(run, journal_error))
    held = close(run, outcome)
    warnings += tell_failure(run, outcome, step, error)
    return report(
        run,
        outcome,
        failed_step=step,
        error=error,
        details=tuple(details),
        lock_state=held,
        warnings=tuple(warnings),
    )


def put_back(run: DeployRun) -> str:
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
