"""Deploy steps 1-5 (runbook §5): preflight evidence, the lock, the data state, infrastructure and
the RDS snapshot. Nothing here touches the services; a failure leaves the app as it was."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adinsights_ops import ecs
from adinsights_ops.config import Environment
from adinsights_ops.errors import UsageError
from adinsights_ops.paths import dbt_target
from adinsights_ops.pipeline._state import DeployRun, Outputs, StepFailed, snapshot_name

if TYPE_CHECKING:
    from adinsights_ops.dbt import BuildResult, PreparedBuild


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
        result = _dbt_build(run)
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


def _dbt_options(env: Environment) -> dict[str, Any]:
    """What the data-state step builds: the environment's project, profiles, target and folder."""
    assert env.dbt is not None
    return {
        "project_dir": env.path(env.dbt.project_dir),
        "profiles_dir": env.path(env.dbt.profiles_dir),
        "target": env.dbt.target,
        "target_path": dbt_target(env.name),
    }


@contextlib.contextmanager
def prepare_data_state(env: Environment) -> Iterator[PreparedBuild | None]:
    """The data-state step's dbt build, prepared now (`dbt.prepare`), for `deploy(dbt_prepared=)`.

    Yields None when the step builds nothing (no dbt settings, or no `release.validation_sync`).
    dbt starts and parses the project in a process of its own while the deploy does everything
    before the step; on leaving the block the process is stopped if the build was not reached
    (a failure, a refused lock, a resume past the step, Ctrl-C). A project that cannot even be
    prepared (missing, unwritable target folder) yields None: the step meets it and reports it.
    """
    if env.dbt is None or not env.release.validation_sync:
        yield None
        return
    from adinsights_ops import dbt

    try:
        prepared = dbt.prepare(**_dbt_options(env))
    except (UsageError, OSError):
        prepared = None
    if prepared is None:
        yield None
        return
    with prepared:
        yield prepared


def _dbt_build(run: DeployRun) -> BuildResult:
    """The build of the prepared dbt process when it was prepared for this build, else a new one."""
    from adinsights_ops import dbt  # through the package: what a test or script replaced there

    env = run.ops.env
    assert env.dbt is not None
    options = _dbt_options(env)
    prepared, run.dbt_prepared = run.dbt_prepared, None  # one build per prepared process
    if prepared is not None:
        wanted = (
            Path(options["project_dir"]).resolve(),
            Path(options["profiles_dir"]).resolve(),
            options["target"],
            Path(options["target_path"]).resolve(),
        )
        if wanted == (prepared.project, prepared.profiles, prepared.target, prepared.target_path):
            return prepared.build(timeout=env.dbt.build_timeout)
        prepared.cancel()  # prepared for something other than what this step builds
    return dbt.build(**options, timeout=env.dbt.build_timeout)


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
