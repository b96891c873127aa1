"""The go-live checklist's items 4 and 5: the dbt build's and the rotation reminders' schedules.

Each returns CheckItems whose evidence says what was read: a schedule's expression and time zone,
its target, the task definition revision it runs. `target_exists` is shared with the alarms of
item 3: a schedule, rule or alarm pointing at something gone fails silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from adinsights_ops import names
from adinsights_ops.checks_report import CheckItem, failed, passed

if TYPE_CHECKING:
    from adinsights_ops.golive._settings import GoLiveSettings
    from adinsights_ops.opsenv import OpsEnv


def _code(exc: Exception) -> str | None:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return str(response["Error"].get("Code", "error"))
    return None


# -- 4 and 5: schedules ------------------------------------------------------------------------


def target_exists(
    ops: OpsEnv, arn: str, ecs_parameters: Mapping[str, Any] | None
) -> tuple[bool, str]:
    """Whether a schedule's, rule's or alarm's target exists; (ok, what was checked)."""
    parts = arn.split(":")
    service = parts[2] if len(parts) > 2 else "?"
    try:
        if service == "sns":
            ops.aws.client("sns").get_topic_attributes(TopicArn=arn)
            return True, f"SNS topic {parts[-1]}"
        if service == "ecs":
            ecs = ops.aws.ecs()
            clusters = ecs.describe_clusters(clusters=[arn]).get("clusters", [])
            if not clusters or clusters[0].get("status") != "ACTIVE":
                return False, f"ECS cluster {arn.rsplit('/', 1)[-1]} is not active"
            what = f"ECS cluster {clusters[0]['clusterName']}"
            task = (ecs_parameters or {}).get("TaskDefinitionArn")
            if task:
                ok, found = task_definition_active(ops, str(task))
                what += f", {found}"
                if not ok:
                    return False, what
            return True, what
        if service == "lambda":
            ops.aws.client("lambda").get_function(FunctionName=arn)
            return True, f"Lambda {parts[-1]}"
        if service == "sqs":
            ops.aws.client("sqs").get_queue_url(QueueName=parts[-1])
            return True, f"SQS queue {parts[-1]}"
    except Exception as exc:
        code = _code(exc)
        if code is None:
            raise
        return False, f"{service} target {arn}: {code}"
    return True, f"a {service} target ({arn}), not verified here"


def task_definition_active(ops: OpsEnv, reference: str) -> tuple[bool, str]:
    """Whether the task definition a schedule or rule runs exists and is ACTIVE; (ok, evidence).

    A deregistered (INACTIVE) revision still describes, but ECS refuses to start it: the job would
    silently never run."""
    short = reference.rsplit("/", 1)[-1]
    try:
        td = ops.aws.ecs().describe_task_definition(taskDefinition=short)
    except Exception as exc:
        code = _code(exc)
        if code is None:
            raise
        return False, f"task definition {short} does not exist ({code})"
    definition = td["taskDefinition"]
    name = f"{definition['family']}:{definition['revision']}"
    status = definition.get("status", "ACTIVE")
    if status != "ACTIVE":
        return False, f"task definition {name} is {status} (deregistered: ECS will not start it)"
    return True, f"task definition {name}"


def stale_scheduled_revisions(ops: OpsEnv) -> list[str]:
    """For every schedule (all groups) and rule (all buses) that runs an ECS task: its revision
    when that is missing or not ACTIVE, with who runs it."""
    from adinsights_ops.ecs._taskdefs import scheduled_task_definitions

    references = scheduled_task_definitions(ops.aws.client("scheduler"), ops.aws.client("events"))
    problems = []
    for reference, where in sorted(references.items()):
        ok, what = task_definition_active(ops, reference)
        if not ok:
            problems.append(f"{where}: {what}")
    return problems


def _schedule(ops: OpsEnv, name: str) -> dict[str, Any] | None:
    scheduler = ops.aws.client("scheduler")
    try:
        found: dict[str, Any] = scheduler.get_schedule(Name=name)
    except scheduler.exceptions.ResourceNotFoundException:
        return None
    return found


def daily_at_five(expression: str) -> bool:
    """`cron(0 5 * * ? *)` and its equivalents: every day at 05:00."""
    match = re.fullmatch(r"cron\((.*)\)", expression.strip())
    if match is None:
        return False
    fields = match.group(1).split()
    if len(fields) != 6:
        return False
    minute, hour, dom, month, dow, year = fields
    return (
        minute in ("0", "00")
        and hour in ("5", "05")
        and dom in ("*", "?")
        and month == "*"
        and dow in ("*", "?")
        and year == "*"
    )


def app_timezone(ops: OpsEnv) -> str | None:
    """The time zone the app reports at /api/timezone/ (None: no usable answer)."""
    import requests

    from adinsights_ops import health

    base = (ops.health_base_url or ops.env.health_base_url).rstrip("/")
    with requests.Session() as session:
        answer = health.send(
            session,
            "GET",
            base + "/api/timezone/",
            timeout=10,
            attempts=2,
            budget=20,
            clock=ops.clock,
        )
    if answer.status != 200:
        return None
    try:
        data = answer.json()
    except ValueError:
        return None
    zone = data.get("timezone") if isinstance(data, dict) else None
    return str(zone) if zone else None


def dbt_schedule_items(ops: OpsEnv, settings: GoLiveSettings) -> tuple[CheckItem, ...]:
    env = ops.name
    name = "4. dbt daily build"
    schedule_name = names.dbt_schedule(env)
    found = _schedule(ops, schedule_name)
    # Every other scheduled ECS job too: a revision pruned from under a schedule fails silently.
    stale = stale_scheduled_revisions(ops)
    items = []
    if found is None:
        hint = "an EventBridge Scheduler schedule (rules run in UTC and take no time zone)"
        events = ops.aws.client("events")
        try:
            events.describe_rule(Name=schedule_name)
            why = f"{schedule_name} is an EventBridge rule, not {hint}"
        except events.exceptions.ResourceNotFoundException:
            why = f"no schedule {schedule_name}: create {hint}"
        items.append(failed(name, "; ".join([why, *stale])))
    else:
        expected = settings.timezone or app_timezone(ops)
        expression = str(found.get("ScheduleExpression", ""))
        zone = str(found.get("ScheduleExpressionTimezone") or "UTC")
        target = found.get("Target") or {}
        ok, what = target_exists(ops, str(target.get("Arn", "")), target.get("EcsParameters"))
        wrong = []
        if not daily_at_five(expression):
            wrong.append(f"{expression} is not daily at 05:00")
        if expected and zone != expected:
            wrong.append(f"time zone {zone}, the app's is {expected}")
        if found.get("State") != "ENABLED":
            wrong.append(f"state {found.get('State')}")
        if not ok:
            wrong.append(what)
        wrong.extend(p for p in stale if not p.startswith(f"schedule {schedule_name}:"))
        evidence = f"{schedule_name}: {expression} {zone}, {found.get('State')}, target {what}"
        items.append(failed(name, "; ".join(wrong), evidence) if wrong else passed(name, evidence))
    items.append(_rule(ops, "4. dbt notifications", names.dbt_notify_rule(env)))
    return tuple(items)


def _rule(ops: OpsEnv, name: str, rule: str) -> CheckItem:
    events = ops.aws.client("events")
    try:
        described = events.describe_rule(Name=rule)
    except events.exceptions.ResourceNotFoundException:
        return failed(name, f"no EventBridge rule {rule}")
    targets = events.list_targets_by_rule(Rule=rule).get("Targets", [])
    checked = [target_exists(ops, t["Arn"], t.get("EcsParameters")) for t in targets]
    evidence = f"rule {rule} {described.get('State')}, targets: " + (
        ", ".join(w for _, w in checked) or "none"
    )
    if described.get("State") != "ENABLED" or not targets or not all(ok for ok, _ in checked):
        return failed(name, evidence)
    return passed(name, evidence)


def rotation(ops: OpsEnv) -> tuple[CheckItem, ...]:
    from adinsights_ops.ecs._views import describe

    env = ops.env
    name = "5. rotation reminders"
    schedule_name = names.rotation_schedule(env.name)
    found = _schedule(ops, schedule_name)
    beat = env.ecs.services["beat"].name
    state = describe(ops.aws.ecs(), cluster=env.ecs.cluster, services=[beat])[beat]
    beat_note = f"{beat} runs {state.running}/{state.desired}"
    if found is None:
        return (failed(name, f"no schedule {schedule_name}", beat_note),)
    target = found.get("Target") or {}
    ok, what = target_exists(ops, str(target.get("Arn", "")), target.get("EcsParameters"))
    evidence = (
        f"{schedule_name}: {found.get('ScheduleExpression')} "
        f"{found.get('ScheduleExpressionTimezone') or 'UTC'}, {found.get('State')}, target {what}; "
        + beat_note
    )
    if found.get("State") != "ENABLED" or not ok or state.running < 1:
        return (failed(name, evidence),)
    return (passed(name, evidence),)
