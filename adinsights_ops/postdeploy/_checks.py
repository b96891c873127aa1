"""Post-deployment checks (runbook section 7), each a `CheckReport` of items with their evidence.

    report = postdeploy.post_deploy(ops, window=parse_window("30m"))     # all of them
    postdeploy.check_metrics(ops)   check_airbyte(ops)   check_dbt(ops)
    postdeploy.check_audit(ops)     check_activity_log(ops)

- metrics: ALB 5xx count, target response time p95 and Celery queue depth in the window after the
  newest succeeded deploy (its journal record's `finished`), compared with the window before it;
- Airbyte: each connection's newest succeeded sync ended within its interval plus grace;
- dbt: run_results.json recent and clean (artifacts bucket, else the local target folder);
- audit: CloudTrail's Secrets Manager and KMS events, and the services' recent log events scanned
  for the environment's current secret values (a finding names the secret and the log stream only);
- the release's line in the activity log.

Every check only reads. Thresholds are `PostDeploySettings` (defaults here); an environment's own
values come from its `checks` section once the environments file has one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.checks_report import CheckItem, CheckReport, failed, not_available, report
from adinsights_ops.postdeploy import _audit as pa
from adinsights_ops.postdeploy import _data as pd
from adinsights_ops.postdeploy import _metrics as pm
from adinsights_ops.postdeploy._settings import (
    PostDeploySettings,
    settings_for,
    span,
    stamp,
)

if TYPE_CHECKING:
    from adinsights_ops.journal import Journal
    from adinsights_ops.opsenv import OpsEnv


@attrs.frozen
class DeployRef:
    """The newest succeeded deploy: the run the checks are about."""

    run_id: str
    image_tag: str | None
    finished: datetime


def last_deploy(journal: Journal, *, limit: int = 50) -> DeployRef | None:
    """The newest deploy of the journal that succeeded (None: there is none)."""
    for record in journal.runs(kind="deploy", limit=limit):
        if record.outcome == "succeeded" and record.finished:
            finished = datetime.fromisoformat(record.finished.replace("Z", "+00:00"))
            return DeployRef(record.run_id, record.image_tag, finished)
    return None


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def guarded(name: str, body: Callable[[], tuple[CheckItem, ...]]) -> tuple[CheckItem, ...]:
    """Run one check; an OpsError or an AWS refusal becomes a failed item, not a crash of them all."""
    from adinsights_ops.errors import OpsError

    try:
        return body()
    except OpsError as exc:
        return (failed(name, str(exc)),)
    except Exception as exc:
        code = _client_error_code(exc)
        if code is None:
            raise
        return (failed(name, f"AWS refused a call: {code}"),)


def _client_error_code(exc: BaseException) -> str | None:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        operation = getattr(exc, "operation_name", "a call")
        return f"{operation}: {response['Error'].get('Code', 'error')}"
    return None


# -- the checks ---------------------------------------------------------------------------------


def metric_items(
    ops: OpsEnv, *, window: float, settings: PostDeploySettings, now: datetime
) -> tuple[CheckItem, ...]:

    deploy = last_deploy(ops.journal())
    if deploy is not None:
        split = deploy.finished
        basis = f"deploy {deploy.run_id} finished {stamp(split)}"
    else:
        split = now - timedelta(seconds=window)
        basis = f"no succeeded deploy in the journal: the last {span(window)} vs the {span(window)} before"
    return pm.compare(
        ops.aws.client("cloudwatch"),
        environment=ops.name,
        split=split,
        window=window,
        basis=basis,
        settings=settings,
        now=now,
    )


def check_metrics(
    ops: OpsEnv,
    *,
    window: float | None = None,
    settings: PostDeploySettings | None = None,
    now: datetime | None = None,
) -> CheckReport:
    """5xx, p95 latency and queue depth after the deploy, compared with before it."""
    chosen = settings or settings_for(ops.env)
    items = guarded(
        "metrics",
        lambda: metric_items(ops, window=window or chosen.window, settings=chosen, now=_now(now)),
    )
    return report("Post-deploy: metrics", ops.name, items)


def airbyte_items(
    ops: OpsEnv, *, settings: PostDeploySettings, now: datetime
) -> tuple[CheckItem, ...]:

    if ops.env.airbyte is None:
        return (not_available("airbyte", f"environment {ops.name} has no airbyte section"),)
    from adinsights_ops.airbyte._client import client_for

    return pd.airbyte_syncs(
        client_for(ops),
        connections=ops.env.airbyte.connections,
        max_age=settings.sync_interval + settings.sync_grace,
        now=now,
    )


def check_airbyte(
    ops: OpsEnv, *, settings: PostDeploySettings | None = None, now: datetime | None = None
) -> CheckReport:
    """Each Airbyte connection's newest succeeded sync is within its interval plus grace."""
    chosen = settings or settings_for(ops.env)
    items = guarded("airbyte", lambda: airbyte_items(ops, settings=chosen, now=_now(now)))
    return report("Post-deploy: Airbyte syncs", ops.name, items)


def dbt_items(ops: OpsEnv, *, settings: PostDeploySettings, now: datetime) -> tuple[CheckItem, ...]:

    env = ops.env
    if env.dbt is None:
        return (not_available("dbt", f"environment {env.name} has no dbt section"),)
    from adinsights_ops.dbt import artifact_key
    from adinsights_ops.paths import dbt_target

    bucket = env.dbt.artifacts_bucket or f"adinsights-{env.name}-dbt-artifacts"
    return (
        pd.dbt_results(
            ops.aws.s3(),
            bucket=bucket,
            key=artifact_key(env.dbt.artifacts_prefix, "run_results.json"),
            local=dbt_target(env.name) / "run_results.json",
            max_age=settings.dbt_max_age,
            now=now,
        ),
    )


def check_dbt(
    ops: OpsEnv, *, settings: PostDeploySettings | None = None, now: datetime | None = None
) -> CheckReport:
    """run_results.json generated within the expected window and without errors."""
    chosen = settings or settings_for(ops.env)
    items = guarded("dbt", lambda: dbt_items(ops, settings=chosen, now=_now(now)))
    return report("Post-deploy: dbt", ops.name, items)


def audit_items(
    ops: OpsEnv, *, window: float, settings: PostDeploySettings, now: datetime
) -> tuple[CheckItem, ...]:

    start = now - timedelta(seconds=window)
    activity = guarded(
        "audit: credential activity",
        lambda: (
            pa.credential_activity(
                pa.cloudtrail_client(ops.aws),
                start=start,
                end=now,
                max_pages=settings.cloudtrail_max_pages,
            ),
        ),
    )
    leaks = guarded(
        "audit: leaked secrets",
        lambda: (
            pa.leaked_secrets(
                ops.aws.ecs(),
                ops.aws.client("secretsmanager"),
                ops.aws.client("ssm"),
                ops.aws.logs(),
                cluster=ops.env.ecs.cluster,
                services=[ref.name for ref in ops.env.ecs.services.values()],
                start=start,
                end=now,
                max_events=settings.log_scan_max_events,
            ),
        ),
    )
    return activity + leaks


def check_audit(
    ops: OpsEnv,
    *,
    window: float | None = None,
    settings: PostDeploySettings | None = None,
    now: datetime | None = None,
) -> CheckReport:
    """Credential activity in CloudTrail, and no current secret value in the recent log events."""
    chosen = settings or settings_for(ops.env)
    items = audit_items(ops, window=window or chosen.window, settings=chosen, now=_now(now))
    return report("Post-deploy: audit", ops.name, items)


def activity_log_items(ops: OpsEnv) -> tuple[CheckItem, ...]:

    deploy = last_deploy(ops.journal())
    target = ops.env.notifications.activity_log
    return (
        pd.activity_log_entry(
            ops.env.path(target) if target else None,
            run_id=deploy.run_id if deploy else None,
            environment=ops.name,
        ),
    )


def check_activity_log(ops: OpsEnv) -> CheckReport:
    """The newest succeeded deploy's run id is in the environment's activity log."""
    items = guarded("activity log", lambda: activity_log_items(ops))
    return report("Post-deploy: activity log", ops.name, items)


def post_deploy(
    ops: OpsEnv,
    *,
    window: float | None = None,
    settings: PostDeploySettings | None = None,
    now: datetime | None = None,
) -> CheckReport:
    """Every post-deploy check in one report (runbook section 7)."""
    chosen = settings or settings_for(ops.env)
    moment = _now(now)
    length = window or chosen.window
    items = (
        *check_metrics(ops, window=length, settings=chosen, now=moment).items,
        *check_airbyte(ops, settings=chosen, now=moment).items,
        *check_dbt(ops, settings=chosen, now=moment).items,
        *check_audit(ops, window=length, settings=chosen, now=moment).items,
        *check_activity_log(ops).items,
    )
    return report("Post-deploy checks", ops.name, items)
