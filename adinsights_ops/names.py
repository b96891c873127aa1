"""The names of what the blueprint provisions and the checks look for: one place, so the sandbox
seeds exactly what `golive` and `checks` read."""

from __future__ import annotations

# The alarms docs/ops/slo-sli.md names, one per SLI, as adinsights-{env}-<sli>.
SLI_ALARMS = (
    "api-availability",
    "api-latency-p95",
    "celery-queue-depth",
    "airbyte-sync-freshness",
    "dbt-freshness",
)


def alerts_topic(env: str) -> str:
    """The SNS topic every alarm and reminder notifies (Slack and email subscribe to it)."""
    return f"adinsights-{env}-alerts"


def dbt_schedule(env: str) -> str:
    return f"adinsights-{env}-dbt-daily"


def dbt_notify_rule(env: str) -> str:
    return f"adinsights-{env}-dbt-notify"


def rotation_schedule(env: str) -> str:
    return f"adinsights-{env}-credential-rotation-reminder"


def airbyte_alarm(env: str, connection: str) -> str:
    return f"adinsights-{env}-airbyte-{connection.replace('_', '-')}-sync-failures"


def sli_alarm(env: str, sli: str) -> str:
    return f"adinsights-{env}-{sli}"
