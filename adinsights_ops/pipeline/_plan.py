"""The deploy's dry run: everything a deploy would do, read without changing anything."""

from __future__ import annotations

import attrs

from adinsights_ops import ecs, lock
from adinsights_ops.ecs._taskdefs import RevisionPlan
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.pipeline import _preflight as preflight
from adinsights_ops.pipeline._state import snapshot_name
from adinsights_ops.release import ImageTag


@attrs.frozen
class Plan:
    """What a deploy would do, read without changing anything."""

    environment: str
    image: ImageTag
    checks: tuple[str, ...]
    revisions: tuple[RevisionPlan, ...]
    one_off_commands: tuple[str, ...]
    warm_command: str
    snapshot: str
    airbyte_drift: tuple[str, ...]
    data_validation: bool
    infrastructure: str
    lock: str


def plan_deploy(ops: OpsEnv, tag: ImageTag) -> Plan:
    checked = preflight.run(ops, tag)
    revisions = ecs.plan_rollout(
        ops.aws.ecs(),
        cluster=ops.env.ecs.cluster,
        services=ops.env.service_images(),
        image_tag=tag.ecr_tag,
    )
    drift: tuple[str, ...] = ()
    if ops.env.airbyte is not None:
        from adinsights_ops import airbyte

        client = airbyte.client_for(ops)
        found = airbyte.diff(
            client,
            airbyte.load_manifests(airbyte.manifests_dir(ops.env)),
            ops.env.airbyte.connections,
        )
        drift = tuple(f"{d.connection}: {d.field}: {d.live} -> {d.desired}" for d in found)
    held = lock.read(ops.aws.s3(), bucket=ops.env.state_bucket, environment=ops.name)
    return Plan(
        environment=ops.name,
        image=tag,
        checks=checked.checks,
        revisions=tuple(revisions),
        one_off_commands=ops.env.release.one_off_commands,
        warm_command=ops.env.release.warm_command,
        snapshot=snapshot_name(ops.name, tag),
        airbyte_drift=drift,
        data_validation=ops.env.release.validation_sync,
        infrastructure=_infra_plan(ops),
        lock=f"held by {held.who} (run {held.run_id})" if held else "free",
    )


def _infra_plan(ops: OpsEnv) -> str:
    from adinsights_ops import infra

    return infra.describe(ops)
