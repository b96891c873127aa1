"""The deploy runbook (section 5) as ordered, journaled steps built on the primitives.

Steps so far: preflight (tag rules, account, approval, images in ECR), register the new revisions,
roll the four services out together. Each is journaled with its elapsed time and outputs; a failed
rollout leaves every service on the revision it ran before, and the record says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from adinsights_ops import ecs
from adinsights_ops.config import Environment
from adinsights_ops.ecs_taskdefs import RevisionPlan
from adinsights_ops.errors import AccountMismatch, NeedsHuman, OpsError, UsageError
from adinsights_ops.journal import RunRecord
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.release import ImageTag, check_branch_rule, parse_image_tag


@attrs.frozen
class StepSummary:
    name: str
    outcome: str
    elapsed: float
    detail: str = ""


@attrs.frozen
class DeployPlan:
    """What a deploy would do (the dry-run output)."""

    environment: str
    image: ImageTag
    revisions: tuple[RevisionPlan, ...]


@attrs.frozen
class DeployReport:
    run_id: str
    environment: str
    image_tag: str
    outcome: str
    steps: tuple[StepSummary, ...]
    rollout: ecs.Rollout | None = None
    error: str = ""


class ImagesMissing(UsageError):
    def __init__(self, tag: str, missing: list[str]) -> None:
        super().__init__(f"image tag {tag} is not in ECR for: {', '.join(missing)}")
        self.missing = missing


def resolve_tag(env: Environment, image_tag: str | None) -> ImageTag:
    """The tag to deploy, checked against the environment's branch rule. Reads nothing remote."""
    given = image_tag or env.default_image_tag
    if not given:
        raise UsageError(
            f"{env.name} needs an image tag: --image-tag vX.Y.Z"
            + (" (or main-<gitsha>)" if env.branch_rule != "tags" else "")
        )
    tag = parse_image_tag(given)
    check_branch_rule(env.name, env.branch_rule, tag)
    return tag


def check_images(ops: OpsEnv, tag: ImageTag) -> None:
    """Every repository the services run has an image with this tag."""
    ecr = ops.aws.client("ecr")
    missing = []
    for repository in sorted(set(ops.env.repositories.values())):
        try:
            ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag.ecr_tag}])
        except (ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException):
            missing.append(repository)
    if missing:
        raise ImagesMissing(tag.ecr_tag, missing)


def check_account(ops: OpsEnv) -> None:
    from adinsights_ops.aws import caller_account

    actual = caller_account(ops.aws)
    if actual != ops.env.account:
        raise AccountMismatch(ops.name, ops.env.account, actual)


def plan(ops: OpsEnv, tag: ImageTag) -> DeployPlan:
    """Everything a deploy would change, read-only."""
    revisions = ecs.plan_rollout(
        ops.aws.ecs(),
        cluster=ops.env.ecs.cluster,
        services=ops.env.service_images(),
        image_tag=tag.ecr_tag,
    )
    return DeployPlan(ops.name, tag, tuple(revisions))


def deploy(
    ops: OpsEnv,
    *,
    image_tag: str | None,
    approve: Callable[[], bool],
    on_event: ecs.OnEvent | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DeployReport:
    """Carry out the deploy steps; returns the report (raising only for usage errors before step 1).

    Failures after preflight come back as a report with outcome `rolled-back` or `needs-human`.
    """
    tag = resolve_tag(ops.env, image_tag)
    check_account(ops)
    check_images(ops, tag)
    if ops.env.approval_required and not approve():
        raise UsageError(f"deploying to {ops.name} needs approval: refused")
    journal = ops.journal()
    record = journal.start("deploy", image_tag=tag.ecr_tag)
    client = ops.aws.ecs()
    cluster = ops.env.ecs.cluster

    def begin(name: str) -> Any:
        if on_step is not None:
            on_step(name)
        return journal.step(record, name)

    rollout: ecs.Rollout | None = None
    try:
        with begin("preflight") as step:
            step.outputs.update(image_tag=tag.ecr_tag, account=ops.env.account)
        with begin("register") as step:
            plans = ecs.plan_rollout(
                client, cluster=cluster, services=ops.env.service_images(), image_tag=tag.ecr_tag
            )
            record.previous_revisions = {p.service: p.current for p in plans}
            targets = ecs.register_revisions(client, plans)
            record.deployed_revisions = dict(targets)
            step.outputs["revisions"] = {s: ecs.short_arn(a) for s, a in targets.items()}
        with begin("rollout") as step:
            rollout = ecs.deploy_revisions(
                client,
                cluster=cluster,
                targets=targets,
                previous=record.previous_revisions,
                changes={p.service: p.changes for p in plans},
                singletons=ops.env.ecs.singletons,
                timeout=ops.env.ecs.rollout_timeout,
                on_event=on_event,
                clock=ops.clock,
            )
            step.outputs["services"] = _outcomes(rollout)
    except ecs.RollbackFailed as exc:
        return _failed(journal, record, "needs-human", exc, exc.rollout)
    except ecs.RolloutFailed as exc:
        return _failed(journal, record, "rolled-back", exc, exc.rollout)
    except NeedsHuman as exc:
        return _failed(journal, record, "needs-human", exc, None)
    except OpsError as exc:
        return _failed(journal, record, "failed", exc, None)
    journal.finish(record, "succeeded")
    return _report(record, "succeeded", rollout)


def _outcomes(rollout: ecs.Rollout) -> dict[str, Mapping[str, str]]:
    return {
        o.service: {
            "state": o.state,
            "now": ecs.short_arn(o.now),
            "previous": ecs.short_arn(o.previous),
        }
        for o in rollout.outcomes
    }


def _failed(
    journal: Any, record: RunRecord, outcome: str, exc: OpsError, rollout: ecs.Rollout | None
) -> DeployReport:
    record.notes.append(str(exc))
    journal.finish(record, outcome)
    return _report(record, outcome, rollout, error=str(exc))


def _report(
    record: RunRecord, outcome: str, rollout: ecs.Rollout | None, error: str = ""
) -> DeployReport:
    steps = tuple(
        StepSummary(s.name, s.outcome, s.elapsed, s.outputs.get("error", "")) for s in record.steps
    )
    return DeployReport(
        record.run_id, record.environment, record.image_tag or "", outcome, steps, rollout, error
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
            step.outputs["services"] = _outcomes(result)
    except NeedsHuman:
        journal.finish(record, "needs-human")
        raise
    journal.finish(record, "succeeded")
    return record, result
