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

from collections.abc import Callable

import attrs

from adinsights_ops import ecs, lock, preflight
from adinsights_ops.deploy_steps import STEPS, DeployRun, Plan, app_state, plan_deploy, restore
from adinsights_ops.errors import NeedsHuman, OpsError, UsageError
from adinsights_ops.journal import RunRecord, new_run_id
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.release import ImageTag

resolve_tag = preflight.resolve_tag
FINAL = ("succeeded", "rolled-back", "failed")
AFTER_REGISTER = ("one-off", "rollout", "warm", "smoke")

__all__ = ["DeployReport", "Plan", "StepSummary", "deploy", "plan", "resolve_tag", "rollback"]


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
    outcome: str  # succeeded | rolled-back | failed | needs-human
    steps: tuple[StepSummary, ...]
    services: dict[str, str] = attrs.field(factory=dict)  # service -> revision it runs now
    snapshot: str | None = None
    failed_step: str | None = None
    error: str = ""
    details: tuple[str, ...] = ()
    next_command: str = ""
    rollout: ecs.Rollout | None = None


def plan(ops: OpsEnv, tag: ImageTag) -> Plan:
    """Everything a deploy would do, read-only (the dry run)."""
    return plan_deploy(ops, tag)


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

    Raises only before anything changed: UsageError for a refused preflight, EnvironmentLocked when
    another run holds the lock. Approval is the caller's business (it happens before this).
    """
    journal = ops.journal()
    if resume is not None:
        record = journal.load(resume)
        if record.kind != "deploy":
            raise UsageError(f"run {resume} is a {record.kind}, not a deploy")
        if record.outcome in FINAL:
            raise UsageError(f"run {resume} already ended ({record.outcome}): nothing to resume")
        tag = resolve_tag(ops.env, record.image_tag)
        run_id = record.run_id
    else:
        tag = resolve_tag(ops.env, image_tag)
        run_id = new_run_id()
    checked = preflight.run(ops, tag, open_source=open_source)
    held = lock.acquire(
        ops.aws.s3(),
        bucket=ops.env.state_bucket,
        environment=ops.name,
        run_id=run_id,
        reason=reason or f"deploy {tag.ecr_tag}",
        ttl=ops.env.release.lock_ttl,
    )
    if resume is None:
        record = journal.start("deploy", image_tag=tag.ecr_tag, run_id=run_id)
    else:
        record.notes.append(f"resumed by {held.who}")
        record.outcome = "running"
    run = DeployRun(
        ops=ops,
        tag=tag,
        record=record,
        journal=journal,
        lock=held,
        checks=checked.checks,
        on_event=on_event,
    )
    return _carry_out(run, on_step)


def _carry_out(run: DeployRun, on_step: Callable[[str], None] | None) -> DeployReport:
    journal, record = run.journal, run.record
    for name, body in STEPS:
        done = record.step(name)
        if done is not None and done.outcome in ("done", "skipped"):
            restore(run, name, done.outputs)
            continue
        if on_step is not None:
            on_step(name)
        try:
            with journal.step(record, name) as step:
                outputs = body(run)
                step.outputs.update(outputs)
                if "skipped" in outputs:
                    step.outcome = "skipped"
        except (OpsError, KeyboardInterrupt) as exc:
            return _failed(run, name, exc)
    journal.finish(record, "succeeded")
    return _report(run, "succeeded")


def _failed(run: DeployRun, step: str, exc: BaseException) -> DeployReport:
    details = list(getattr(exc, "details", []))
    result = getattr(exc, "result", None)  # a failed one-off task carries its log tail
    if result is not None and getattr(result, "log_tail", None):
        details += [f"log tail of {result.log_stream}:"] + [
            f"  | {line}" for line in result.log_tail
        ]
    error = str(exc) or type(exc).__name__
    outcome = "failed"
    if isinstance(exc, ecs.RollbackFailed | NeedsHuman):
        outcome = "needs-human"
    elif isinstance(exc, ecs.RolloutFailed):
        outcome = "rolled-back"
        run.rollout = exc.rollout
    elif step in AFTER_REGISTER:
        outcome = _put_back(run)
    run.record.notes.append(f"{step} failed: {error}")
    run.journal.finish(run.record, outcome)
    if outcome != "needs-human" and run.lock is not None:
        lock.release(run.ops.aws.s3(), bucket=run.ops.env.state_bucket, lock=run.lock)
    return _report(run, outcome, failed_step=step, error=error, details=tuple(details))


def _put_back(run: DeployRun) -> str:
    """After a failure past registration: every service back on the revision it ran before."""
    if not run.record.previous_revisions:
        return "failed"
    try:
        run.rollout = ecs.rollback_to(
            run.ops.aws.ecs(),
            cluster=run.ops.env.ecs.cluster,
            targets=run.record.previous_revisions,
            singletons=run.ops.env.ecs.singletons,
            timeout=run.ops.env.ecs.rollout_timeout,
            on_event=run.on_event,
            clock=run.ops.clock,
        )
    except OpsError as exc:
        run.record.notes.append(f"rollback did not settle: {exc}")
        return "needs-human"
    return "rolled-back"


def _report(
    run: DeployRun,
    outcome: str,
    *,
    failed_step: str | None = None,
    error: str = "",
    details: tuple[str, ...] = (),
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
    except OpsError as exc:  # the report must come out even when AWS answers badly now
        services = {"?": f"could not read the services: {exc}"}
    nexts = {
        "succeeded": "",
        "rolled-back": f"fix what failed, then: inv deploy --env {env.name} --image-tag {run.tag.given}",
        "failed": (f"fix what failed, then: inv deploy --env {env.name} --resume {record.run_id}"),
        "needs-human": (
            f"check `inv ecs.status --env {env.name}`; the lock is kept: "
            f"`inv deploy.unlock --env {env.name} --force` once the services are sound"
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
    )


def rollback(
    ops: OpsEnv, *, to_run: str | None = None, on_event: ecs.OnEvent | None = None
) -> tuple[RunRecord, ecs.Rollout]:
    """Put the services back on the revisions deployed before a run (default: the newest deploy)."""
    from adinsights_ops.journal import deployed_before

    journal = ops.journal()
    source, targets = deployed_before(journal, to_run)
    record = journal.start("rollback", image_tag=source.image_tag)
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
            )
            step.outputs["services"] = {o.service: ecs.short_arn(o.now) for o in result.outcomes}
    except NeedsHuman:
        journal.finish(record, "needs-human")
        raise
    journal.finish(record, "succeeded")
    return record, result
