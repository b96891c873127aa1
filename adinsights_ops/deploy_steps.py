"""The bodies of the deploy steps (runbook §5), each returning the outputs the journal keeps.

`pipeline.py` runs them in order, journals them and handles failure; this module only says what
each step does. Outputs are plain JSON values: they are what a resumed run reads back (`restore`).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from adinsights_ops import ecs, oneoff
from adinsights_ops.ecs_taskdefs import RevisionPlan
from adinsights_ops.errors import OpsError
from adinsights_ops.journal import Journal, RunRecord
from adinsights_ops.lock import Lock
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.release import ImageTag

Outputs = dict[str, Any]


class StepFailed(OpsError):
    """A step found something wrong (carries lines worth showing the operator)."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


@attrs.define
class DeployRun:
    """The state a deploy carries from step to step."""

    ops: OpsEnv
    tag: ImageTag
    record: RunRecord
    journal: Journal
    lock: Lock | None = None
    checks: tuple[str, ...] = ()
    on_event: ecs.OnEvent | None = None
    targets: dict[str, str] = attrs.field(factory=dict)
    snapshot_id: str | None = None
    rollout: ecs.Rollout | None = None

    @property
    def cluster(self) -> str:
        return self.ops.env.ecs.cluster


def snapshot_name(env: str, tag: ImageTag, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"pre-deploy-{env}-{tag.ecr_tag.replace('.', '-')}-{stamp}"


# -- steps ---------------------------------------------------------------------------------------


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
            )
            failed = [f"{o.name}: {o.error}" for o in outcomes if not o.ok]
            if failed:
                raise StepFailed("the validation sync failed", failed)
            out["airbyte_synced"] = {o.name: o.job.job_id for o in outcomes if o.job is not None}
    if env.dbt is not None and env.release.validation_sync:
        from adinsights_ops import dbt
        from adinsights_ops.sandbox import home

        target = home() / "dbt" / env.name / "target"
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

    result = infra.plan_and_apply(run.ops, approve=approve)
    if result.outcome == "declined":
        raise StepFailed(f"infrastructure changes declined: {result.detail}")
    return result.journal_outputs()


def snapshot(run: DeployRun) -> Outputs:
    env = run.ops.env
    if not env.release.snapshot_required and env.name != "production":
        return {"skipped": "snapshot_required is off"}
    from adinsights_ops import rds

    taken = rds.snapshot(
        run.ops.aws.client("rds"),
        instance=env.rds_instance,
        label=snapshot_name(env.name, run.tag),
        tags={
            "adinsights:environment": env.name,
            "adinsights:release": run.tag.ecr_tag,
            "adinsights:run-id": run.record.run_id,
        },
        clock=run.ops.clock,
    )
    run.snapshot_id = taken.id
    return {"snapshot": taken.id, "status": taken.status}


def register(run: DeployRun) -> Outputs:
    client = run.ops.aws.ecs()
    plans = ecs.plan_rollout(
        client,
        cluster=run.cluster,
        services=run.ops.env.service_images(),
        image_tag=run.tag.ecr_tag,
    )
    run.record.previous_revisions = {p.service: p.current for p in plans}
    run.record.deployed_revisions = run.targets = ecs.register_revisions(client, plans)
    return {
        "revisions": {s: ecs.short_arn(a) for s, a in run.targets.items()},
        "changes": {
            p.service: [f"{c.field}: {c.old} -> {c.new}" for c in p.changes] for p in plans
        },
    }


def one_off(run: DeployRun) -> Outputs:
    """migrate, seed_roles, enable_rls on the NEW backend revision; each must exit 0."""
    env = run.ops.env
    backend = env.ecs.services["backend"].name
    network = _network(run)
    done = []
    for command in env.release.one_off_commands:
        result = ecs.run_task(
            run.ops.aws.ecs(),
            cluster=run.cluster,
            task_definition=run.targets[backend],
            command=shlex.split(command),
            network=network,
            container=env.ecs.one_off_container,
            timeout=env.ecs.task_timeout,
            logs=run.ops.aws.logs(),
            on_event=run.on_event,
            clock=run.ops.clock,
        )
        done.append(f"{command}: exit {result.exit_code} in {result.elapsed:.1f}s")
    return {"commands": done}


def rollout(run: DeployRun) -> Outputs:
    plans_changes: Mapping[str, Any] = {}
    run.rollout = ecs.deploy_revisions(
        run.ops.aws.ecs(),
        cluster=run.cluster,
        targets=run.targets,
        previous=run.record.previous_revisions,
        changes=plans_changes,
        singletons=run.ops.env.ecs.singletons,
        timeout=run.ops.env.ecs.rollout_timeout,
        on_event=run.on_event,
        clock=run.ops.clock,
    )
    return {"services": {o.service: o.state for o in run.rollout.outcomes}}


def warm(run: DeployRun) -> Outputs:
    """Aggregate snapshot for the sample tenant; `sync_meta_metrics` on the new worker revision."""
    from adinsights_ops import health

    env = run.ops.env
    base = run.ops.health_base_url or env.health_base_url
    warmed = health.warm_cache(None, base_url=base, tenant=env.sample_tenant, clock=run.ops.clock)
    if not warmed.ok:
        raise StepFailed(f"warming the aggregate snapshot failed: {warmed.detail}")
    worker = env.ecs.services["worker"]
    result = ecs.run_task(
        run.ops.aws.ecs(),
        cluster=run.cluster,
        task_definition=run.targets[worker.name],
        command=shlex.split(env.release.warm_command),
        network=_network(run),
        timeout=env.ecs.task_timeout,
        logs=run.ops.aws.logs(),
        on_event=run.on_event,
        clock=run.ops.clock,
    )
    return {
        "aggregate_snapshot": f"{warmed.status} in {warmed.latency_ms:.0f} ms",
        "sync_meta_metrics": f"exit {result.exit_code}",
    }


def smoke(run: DeployRun) -> Outputs:
    from adinsights_ops import health

    base = run.ops.health_base_url or run.ops.env.health_base_url
    report = health.smoke(
        None,
        base_url=base,
        expected_version=health.release_version(run.tag.ecr_tag),
        clock=run.ops.clock,
    )
    checks = {
        c.path: f"{c.status} {c.latency_ms:.0f} ms" + ("" if c.ok else f" FAILED: {c.detail}")
        for c in report.checks
    }
    if not report.ok:
        raise StepFailed("smoke checks failed", [f"{c.path}: {c.detail}" for c in report.failures])
    return {"checks": checks, "version": report.version}


def announce(run: DeployRun) -> Outputs:
    """Slack, SES, the activity log; then release the lock. A failed channel is reported, not fatal."""
    from adinsights_ops import lock, notify

    env, notes = run.ops.env, run.ops.env.notifications
    text = (
        f"ADinsights {run.tag.given} deployed to {env.name} (run {run.record.run_id}, "
        f"by {run.record.who})"
    )
    webhook: Callable[[], Any] | None = None
    if notes.slack_webhook_secret:
        secret_id = notes.slack_webhook_secret
        webhook = lambda: notify.webhook_url_from_secret(  # noqa: E731
            run.ops.aws.client("secretsmanager"), secret_id=secret_id
        )
    announcement = notify.announce(
        None,
        run_id=run.record.run_id,
        text=text,
        subject=f"[{env.name}] {run.tag.given} deployed",
        slack_webhook=webhook,
        ses=run.ops.aws.client("ses") if notes.email_from else None,
        sender=notes.email_from,
        recipients=notes.email_to,
        activity_log=env.path(notes.activity_log) if notes.activity_log else None,
        log_line=text,
        clock=run.ops.clock,
    )
    if run.lock is not None:
        lock.release(run.ops.aws.s3(), bucket=env.state_bucket, lock=run.lock)
    return {
        "channels": {c.channel: c.outcome for c in announcement.channels},
        "summary": announcement.summary(),
    }


STEPS: tuple[tuple[str, Callable[[DeployRun], Outputs]], ...] = (
    ("preflight", preflight),
    ("lock", take_lock),
    ("data-state", data_state),
    ("infrastructure", infrastructure),
    ("snapshot", snapshot),
    ("register", register),
    ("one-off", one_off),
    ("rollout", rollout),
    ("warm", warm),
    ("smoke", smoke),
    ("announce", announce),
)


def restore(run: DeployRun, name: str, outputs: Mapping[str, Any]) -> None:
    """Bring back what a finished step of a resumed run established."""
    if name == "snapshot":
        run.snapshot_id = outputs.get("snapshot")
    elif name == "register":
        run.targets = dict(run.record.deployed_revisions)


def _network(run: DeployRun) -> dict[str, Any]:
    return oneoff.network(run.ops)


def app_state(run: DeployRun) -> dict[str, str]:
    """Service -> the revision its PRIMARY deployment runs now."""
    names = [ref.name for ref in run.ops.env.ecs.services.values()]
    states = ecs.status(run.ops.aws.ecs(), cluster=run.cluster, services=names)
    return {
        s.name: ecs.short_arn(s.primary.task_definition if s.primary else s.task_definition)
        for s in states
    }


# -- the dry run ---------------------------------------------------------------------------------


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
    from adinsights_ops import lock, preflight

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
