"""The bodies of the deploy steps (runbook §5), each returning the outputs the journal keeps.

`pipeline.py` runs them in order, journals them and handles failure; this module only says what
each step does. Outputs are plain JSON values: they are what a resumed run reads back (`restore`).
"""

from __future__ import annotations

import contextlib
import functools
import shlex
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from adinsights_ops import ecs
from adinsights_ops.ecs import _oneoff as oneoff
from adinsights_ops.ecs._taskdefs import RevisionPlan
from adinsights_ops.errors import OpsError
from adinsights_ops.journal import Journal, RunRecord
from adinsights_ops.lock import Heartbeat, Lock
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
    heartbeat: Heartbeat | None = None

    @property
    def cluster(self) -> str:
        return self.ops.env.ecs.cluster

    def fence(self) -> None:
        """Raise LockLost unless this run still holds the environment's lock (before every step)."""
        if self.heartbeat is not None:
            self.lock = self.heartbeat.ensure()

    def save(self) -> None:
        """Journal the record now (progress inside a step, so a resume knows what was done)."""
        self.journal.save(self.record)

    def task_key(self, step: str, index: int) -> str:
        """The idempotency key of a one-off task of this run (ECS startedBy: at most 36 chars)."""
        return f"{self.record.run_id}:{step}:{index}"[-36:]


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
        from adinsights_ops.paths import home

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


RUN_TAG = "adinsights:run-id"


def register(run: DeployRun) -> Outputs:
    """One new revision per service, tagged with the run id; a resumed run reuses what it registered."""
    client = run.ops.aws.ecs()
    plans = ecs.plan_rollout(
        client,
        cluster=run.cluster,
        services=run.ops.env.service_images(),
        image_tag=run.tag.ecr_tag,
    )
    tag = {"key": RUN_TAG, "value": run.record.run_id}
    plans = [
        attrs.evolve(
            p,
            register_input={
                **p.register_input,
                "tags": [
                    *(t for t in p.register_input.get("tags", []) if t.get("key") != RUN_TAG),
                    tag,
                ],
            },
        )
        for p in plans
    ]
    run.record.previous_revisions = {p.service: p.current for p in plans}
    resumed = run.record.step("register")
    earlier = _registered_earlier(client, run, plans) if resumed and resumed.started else {}
    targets = {p.service: earlier[p.service] for p in plans if p.service in earlier}
    targets.update(ecs.register_revisions(client, [p for p in plans if p.service not in earlier]))
    run.record.deployed_revisions = run.targets = {p.service: targets[p.service] for p in plans}
    return {
        "revisions": {s: ecs.short_arn(a) for s, a in run.targets.items()},
        "changes": {
            p.service: [f"{c.field}: {c.old} -> {c.new}" for c in p.changes] for p in plans
        },
    }


def _registered_earlier(client: Any, run: DeployRun, plans: list[RevisionPlan]) -> dict[str, str]:
    """Service -> the revision an earlier attempt of this run registered (the family's newest, when
    it carries this run's tag), so that a resumed run does not register twice."""
    found = {}
    for plan in plans:
        if not plan.changed:
            continue
        try:
            got = client.describe_task_definition(taskDefinition=plan.family, include=["TAGS"])
        except client.exceptions.ClientException:
            continue
        tags = {t.get("key"): t.get("value") for t in got.get("tags", [])}
        if tags.get(RUN_TAG) == run.record.run_id:
            found[plan.service] = got["taskDefinition"]["taskDefinitionArn"]
    return found


def _run_once(
    run: DeployRun, step: str, index: int, command: str, task_definition: str, container: str | None
) -> str:
    """Run a one-off command of a step once per run: a resume adopts a task still running or done."""
    env = run.ops.env
    result = ecs.run_task(
        run.ops.aws.ecs(),
        cluster=run.cluster,
        task_definition=task_definition,
        command=shlex.split(command),
        network=_network(run),
        container=container,
        timeout=env.ecs.task_timeout,
        logs=run.ops.aws.logs(),
        idempotency_key=run.task_key(step, index),
        on_event=run.on_event,
        clock=run.ops.clock,
        backoff=env.ecs.polling(ecs.TASK_POLL),
    )
    return f"{command}: exit {result.exit_code} in {result.elapsed:.1f}s"


def one_off(run: DeployRun) -> Outputs:
    """migrate, seed_roles, enable_rls on the NEW backend revision; each must exit 0, once per run."""
    env = run.ops.env
    backend = env.ecs.services["backend"].name
    step = run.record.step("one-off")
    done: list[str] = list(step.outputs.get("commands", [])) if step else []
    for index, command in enumerate(env.release.one_off_commands):
        if index < len(done):
            continue  # finished by an earlier attempt of this run
        done.append(
            _run_once(
                run, "one-off", index, command, run.targets[backend], env.ecs.one_off_container
            )
        )
        if step is not None:
            step.outputs["commands"] = list(done)
            run.save()
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
        backoff=run.ops.env.ecs.polling(ecs.DEFAULT_POLL),
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
    ran = _run_once(run, "warm", 0, env.release.warm_command, run.targets[worker.name], None)
    return {
        "aggregate_snapshot": f"{warmed.status} in {warmed.latency_ms:.0f} ms",
        "sync_meta_metrics": ran.rsplit(": ", 1)[-1].split(" in ", 1)[0],
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
    """Slack, SES, the activity log. A failed channel is reported, not fatal; a resumed run does not
    announce twice. The pipeline releases the lock once the run is journaled as ended."""
    env = run.ops.env
    text = (
        f"ADinsights {run.tag.given} deployed to {env.name} (run {run.record.run_id}, "
        f"by {run.record.who})"
    )
    channels = announce_run(
        run, "succeeded", text=text, subject=f"[{env.name}] {run.tag.given} deployed"
    )
    return {
        "channels": channels,
        "summary": ", ".join(f"{c} {o}" for c, o in channels.items()),
    }


CHANNELS = ("slack", "email", "activity-log")


def announce_run(run: DeployRun, key: str, *, text: str, subject: str) -> dict[str, str]:
    """Announce on each configured channel that has not yet had announcement `key` for this run.

    What was sent is journaled after each channel, so a resumed run never sends it twice. Raises
    nothing: a channel that fails is reported as failed.
    """
    from adinsights_ops import notify

    env, notes = run.ops.env, run.ops.env.notifications
    sent = run.record.announced.setdefault(key, {})
    for channel in CHANNELS:
        if sent.get(channel) in ("sent", "skipped"):
            continue
        webhook: Callable[[], Any] | None = None
        if channel == "slack" and notes.slack_webhook_secret:
            webhook = functools.partial(
                notify.webhook_url_from_secret,
                run.ops.aws.client("secretsmanager"),
                secret_id=notes.slack_webhook_secret,
            )
        try:
            announcement = notify.announce(
                None,
                run_id=run.record.run_id,
                text=text,
                subject=subject,
                slack_webhook=webhook,
                ses=run.ops.aws.client("ses") if channel == "email" and notes.email_from else None,
                sender=notes.email_from,
                recipients=notes.email_to,
                activity_log=(
                    env.path(notes.activity_log)
                    if channel == "activity-log" and notes.activity_log
                    else None
                ),
                log_line=text,
                clock=run.ops.clock,
            )
            outcome = announcement.outcome(channel)
            sent[channel] = outcome.outcome + (
                f": {outcome.detail}" if outcome.outcome == "failed" else ""
            )
        except Exception as exc:  # reported, never raised: the deploy's outcome stands
            sent[channel] = f"failed: {type(exc).__name__}"
        with contextlib.suppress(
            Exception
        ):  # the journal's own failure is the pipeline's to report
            run.save()
    return dict(sent)


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
    from adinsights_ops import lock
    from adinsights_ops.pipeline import _preflight as preflight

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
