"""The go-live checklist's items 1 to 3, one function each (`golive.evaluate` puts them in order).

Items 4 and 5 (the schedules, and the targets schedules, rules and alarms point at) are in
`_schedules`; 6 and 7 (documents) in `_docs`.

Each returns CheckItems whose evidence says what was read and where: a task definition revision,
a parameter, a schedule's expression and time zone, an alarm's actions, a file's date and whether
that date came from git or from the file system.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from adinsights_ops import names
from adinsights_ops.checks_report import CheckItem, failed, passed
from adinsights_ops.golive._schedules import target_exists

if TYPE_CHECKING:
    from adinsights_ops.golive._settings import GoLiveSettings
    from adinsights_ops.opsenv import OpsEnv

FALSE = (False, 0, "false", "off", "0", "no", "disabled")


def guarded(name: str, body: Callable[[], tuple[CheckItem, ...]]) -> tuple[CheckItem, ...]:
    from adinsights_ops.postdeploy._checks import guarded as run

    return run(name, body)


# -- 1 -----------------------------------------------------------------------------------------


def snapshot(ops: OpsEnv, settings: GoLiveSettings, now: datetime) -> tuple[CheckItem, ...]:
    from adinsights_ops import health

    name = "1. aggregate snapshot"
    env = ops.env
    base = ops.health_base_url or env.health_base_url
    answer = health.warm_cache(
        None, base_url=base, tenant=env.sample_tenant, attempts=2, budget=30.0, clock=ops.clock
    )
    where = f"POST {health.AGGREGATE_SNAPSHOT} for tenant {env.sample_tenant}"
    if not answer.ok:
        return (failed(name, f"{where}: {answer.detail}"),)
    if answer.generated_at is None:
        return (failed(name, f"{where}: HTTP {answer.status} without generated_at"),)
    try:
        made = datetime.fromisoformat(answer.generated_at.replace("Z", "+00:00"))
    except ValueError:
        return (failed(name, f"{where}: generated_at {answer.generated_at!r} is not a time"),)
    if made.tzinfo is None:
        made = made.replace(tzinfo=UTC)
    age = (now - made).total_seconds() / 3600
    evidence = (
        f"{where}: HTTP {answer.status} in {answer.latency_ms:.0f} ms, generated_at "
        f"{answer.generated_at} ({age:.1f}h old; limit {settings.snapshot_max_age_hours:g}h)"
    )
    if age > settings.snapshot_max_age_hours:
        return (failed(name, "stale: " + evidence),)
    return (passed(name, evidence),)


# -- 2 -----------------------------------------------------------------------------------------


def _api_base(url: str) -> str:
    base = url.strip().rstrip("/")
    return base.removesuffix("/api").rstrip("/")


def frontend(ops: OpsEnv, settings: GoLiveSettings) -> tuple[CheckItem, ...]:
    from adinsights_ops.ecs._views import describe

    env = ops.env
    service = env.ecs.services["frontend"].name
    state = describe(ops.aws.ecs(), cluster=env.ecs.cluster, services=[service])[service]
    td = ops.aws.ecs().describe_task_definition(taskDefinition=state.task_definition)
    definition = td["taskDefinition"]
    revision = f"{definition['family']}:{definition['revision']}"
    variables = {
        v["name"]: v.get("value", "")
        for c in definition.get("containerDefinitions", [])
        for v in c.get("environment", [])
    }
    wanted = {_api_base(env.health_base_url)}
    if ops.health_base_url:
        wanted.add(_api_base(ops.health_base_url))
    found = next((n for n in settings.frontend_api_variables if n in variables), None)
    items = []
    name = "2. frontend API"
    if found is None:
        items.append(
            failed(
                name,
                f"{service} ({revision}) sets none of {', '.join(settings.frontend_api_variables)}: "
                "the build cannot be shown to call this environment's API",
                f"expected {env.health_base_url}",
            )
        )
    elif _api_base(variables[found]) in wanted:
        items.append(passed(name, f"{service} ({revision}): {found}={variables[found]}"))
    else:
        items.append(
            failed(
                name,
                f"{service} ({revision}): {found}={variables[found]}, "
                f"expected {env.health_base_url}",
            )
        )
    items.append(_flags(ops, settings))
    return tuple(items)


def _flags(ops: OpsEnv, settings: GoLiveSettings) -> CheckItem:
    name = "2. feature flags off"
    parameter = settings.feature_flags_parameter.format(env=ops.name)
    ssm = ops.aws.client("ssm")
    try:
        value = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return failed(name, f"SSM parameter {parameter} does not exist")
    try:
        flags = json.loads(value)
    except ValueError:
        return failed(name, f"SSM parameter {parameter} is not JSON")
    if not isinstance(flags, dict):
        return failed(name, f"SSM parameter {parameter} is not a JSON object of flags")
    on = sorted(
        k for k, v in flags.items() if (v.lower() if isinstance(v, str) else v) not in FALSE
    )
    listing = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(flags.items())) or "no flags"
    if on:
        return failed(name, f"{parameter}: on: {', '.join(on)}", listing)
    return passed(name, f"{parameter}: all {len(flags)} off ({listing})")


# -- 3 -----------------------------------------------------------------------------------------


def hourly(schedule: Mapping[str, Any]) -> bool:
    """An Airbyte schedule that runs every hour (Quartz cron, or basic `Every 1 HOURS`)."""
    kind = schedule.get("scheduleType")
    if kind == "basic":
        timing = str(schedule.get("basicTiming", ""))
        return re.fullmatch(r"(?i)every\s+1\s+hours?", timing.strip()) is not None
    if kind != "cron":
        return False
    fields = str(schedule.get("cronExpression", "")).split()
    if len(fields) not in (6, 7):
        return False
    sec, minute, hour, dom, month, dow = fields[:6]
    year = fields[6] if len(fields) == 7 else "*"
    return (
        sec.isdigit()
        and minute.isdigit()
        and hour in ("*", "0/1", "*/1")
        and dom in ("*", "?")
        and month == "*"
        and dow in ("*", "?")
        and year == "*"
    )


def alarm_problems(ops: OpsEnv, alarm_names: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """(alarm -> why it does not alert, empty when it does; "name STATE" of each found)."""
    cloudwatch = ops.aws.client("cloudwatch")
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(alarm_names), 100):
        answer = cloudwatch.describe_alarms(AlarmNames=list(alarm_names[start : start + 100]))
        found.update({a["AlarmName"]: a for a in answer.get("MetricAlarms", [])})
    problems: dict[str, str] = {}
    states = []
    for alarm in alarm_names:
        seen = found.get(alarm)
        if seen is None:
            problems[alarm] = "does not exist"
            continue
        states.append(f"{alarm} {seen.get('StateValue', '?')}")
        actions = list(seen.get("AlarmActions", []))
        if not seen.get("ActionsEnabled", False):
            problems[alarm] = "has its actions disabled"
        elif not actions:
            problems[alarm] = "notifies nobody (no alarm actions)"
        else:
            missing = [a for a in actions if not target_exists(ops, a, None)[0]]
            problems[alarm] = (
                f"notifies {', '.join(missing)}, which does not exist" if missing else ""
            )
    return problems, states


def airbyte(ops: OpsEnv) -> tuple[CheckItem, ...]:
    from adinsights_ops.airbyte._client import AirbyteError, client_for

    env = ops.env
    if env.airbyte is None:
        return (failed("3. airbyte", f"environment {env.name} has no airbyte section"),)
    client = client_for(ops)
    connections = env.airbyte.connections
    alarms = {n: names.airbyte_alarm(env.name, n) for n in connections}
    problems, _ = alarm_problems(ops, list(alarms.values()))
    items = []
    for conn, connection_id in connections.items():
        name = f"3. airbyte {conn}"
        try:
            live = client.get_connection(connection_id)
        except AirbyteError as exc:
            items.append(failed(name, f"the Airbyte API did not answer: {exc}"))
            continue
        schedule = live.get("schedule") or {}
        shown = schedule.get("cronExpression") or schedule.get("basicTiming") or "manual"
        wrong = []
        if not hourly(schedule):
            wrong.append(f"schedule {shown} is not hourly")
        if live.get("status") != "active":
            wrong.append(f"status {live.get('status')}")
        if problems[alarms[conn]]:
            wrong.append(f"alarm {alarms[conn]} {problems[alarms[conn]]}")
        evidence = f"{connection_id}: {live.get('status')}, {schedule.get('scheduleType')} {shown}"
        if wrong:
            items.append(failed(name, "; ".join(wrong), evidence))
        else:
            items.append(passed(name, f"{evidence}; alarm {alarms[conn]} has actions"))
    return tuple(items)
