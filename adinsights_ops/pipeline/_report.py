"""What a deploy hands back: the steps, where each service stands, the lock, and what to run next."""

from __future__ import annotations

import attrs

from adinsights_ops import ecs
from adinsights_ops.errors import describe_error
from adinsights_ops.pipeline._state import DeployRun, app_state


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


def journal_warning(run: DeployRun, exc: BaseException) -> str:
    """The warning for a journal that could not be written (the record is kept locally if it can)."""
    copy = run.journal.keep_locally(run.record)
    return f"the journal could not be written ({describe_error(exc)})" + (
        f"; the record is kept at {copy}" if copy else ""
    )


def report(
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
