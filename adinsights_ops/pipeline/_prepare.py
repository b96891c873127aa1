"""Deploy steps 1-5 (runbook §5): preflight evidence, the lock, the data state, infrastructure and
the RDS snapshot. Nothing here touches the services; a failure leaves the app as it was."""

from __future__ import annotations

from adinsights_ops import ecs
from adinsights_ops.paths import dbt_target
from adinsights_ops.pipeline._state import DeployRun, Outputs, StepFailed, snapshot_name


def preflight(run: DeployRun) -> Outputs:
    # The checks ran before the lock was taken (they only read); this records their evidence.
    return {"image_tag": run.tag.ecr_tag, "checks": list(run.checks)}


def take_lock(run: DeployRun) -> Outputs:
    held = run.lock
    return {"holder": held.who, "expires": held.expires} if held else {"skipped": "no lock"}


def data_state(run: DeployRun) -> Outputs:
    """Airbyte connections as the manifests say; on validating environments a sync and a dbt build."""
    env = run.ops.env
    out: Outputs = {}
    if env.airbyte is not None:
        from adinsights_ops import airbyte

        client = airbyte.client_for(run.ops)
        drifts = airbyte.diff(
            client, airbyte.load_manifests(airbyte.manifests_dir(env)), env.airbyte.connections
        )
        if drifts:
            airbyte.apply(client, drifts)
        out["airbyte_fixed"] = [f"{d.connection}: {d.field}" for d in drifts]
        if env.release.validation_sync:
            outcomes = airbyte.sync_all(
                client,
                connections=env.airbyte.connections,
                timeout=env.airbyte.sync_timeout,
                clock=run.ops.clock,
                backoff=env.airbyte.polling(airbyte.POLL_BACKOFF),
            )
            failed = [f"{o.name}: {o.error}" for o in outcomes if not o.ok]
            if failed:
                raise StepFailed("the validation sync failed", failed)
            out["airbyte_synced"] = {o.name: o.job.job_id for o in outcomes if o.job is not None}
    if env.dbt is not None and env.release.validation_sync:
        from adinsights_ops import dbt

        target = dbt_target(env.name)
        result = dbt.build(
            project_dir=env.path(env.dbt.project_dir),
            profiles_dir=env.path(env.dbt.profiles_dir),
            target=env.dbt.target,
            target_path=target,
            timeout=env.dbt.build_timeout,
        )
        out["dbt"] = result.summary()
        if env.dbt.artifacts_bucket:
            dbt.upload_artifacts(
                run.ops.aws.s3(),
                bucket=env.dbt.artifacts_bucket,
                prefix=env.dbt.artifacts_prefix,
                target_path=target,
            )
    if not out:
        return {"skipped": "no Airbyte or dbt configured"}
    return out


def infrastructure(run: DeployRun) -> Outputs:
    """Plan and apply the environment's infrastructure engine; skipped when none is configured."""
    from adinsights_ops import infra

    def approve(plan: infra.InfraPlan) -> bool:
        # The deploy itself was approved (production: typed confirmation); the change set is shown
        # and journaled before it is applied.
        if run.on_event is not None:
            run.on_event(ecs.Phase("infrastructure", plan.summary()))
        return True

    result = infra.plan_and_apply(run.ops, approve=approve, runner=run.runner)
    if result.outcome == "declined":
        raise StepFailed(f"infrastructure changes declined: {result.detail}")
    return result.journal_outputs()


def snapshot(run: DeployRun) -> Outputs:
    env = run.ops.env
    if not env.release.snapshot_required and env.name != "production":
        return {"skipped": "snapshot_required is off"}
    from adinsights_ops import rds

    # The name is decided and journaled before the snapshot is asked for: a resumed run then finds
    # (and waits for) the snapshot its killed attempt started instead of taking a second one.
    step = run.record.step("snapshot")
    label = str(step.outputs.get("snapshot") or "") if step else ""
    if not label:
        label = rds.snapshot_id(snapshot_name(env.name, run.tag))
        if step is not None:
            step.outputs["snapshot"] = label
            run.save()
    taken = rds.snapshot(
        run.ops.aws.client("rds"),
        instance=env.rds_instance,
        label=label,
        tags={
            "adinsights:environment": env.name,
            "adinsights:release": run.tag.ecr_tag,
            "adinsights:run-id": run.record.run_id,
        },
        clock=run.ops.clock,
    )
    run.snapshot_id = taken.id
    return {"snapshot": taken.id, "status": taken.status}
