"""Off-hours schedules: Application Auto Scaling scheduled actions that stop staging at night.

Each service becomes a scalable target (`ecs:service:DesiredCount`, ResourceId
`service/<cluster>/<service>`) with two scheduled actions in a time zone:
`adinsights-<env>-<service>-offhours-down` (Min 0, Max 0) and `...-offhours-up` (Min and Max the
service's normal count). AWS runs them; moto stores them and never does, so in the sandbox the
schedule is only ever checked, not seen to act.

The normal count of a service is, in order: its desired count now (when above 0), the count
`cost.scale-down` remembered, the count of an existing up action. A service at 0 with none of those
is an error: nobody knows what to bring it back to.

Converge: `plan_schedule` only reads; `apply_schedule` registers the missing targets and puts the
actions that differ; equal actions are not touched. `--remove` deletes the actions (the scalable
targets stay registered: deregistering one would also delete any scaling policy on it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from adinsights_ops.errors import UsageError

# Application Auto Scaling has no type stubs in this project; its client is passed as Any.
AutoScalingClient = Any

NAMESPACE = "ecs"
DIMENSION = "ecs:service:DesiredCount"
FIELD = re.compile(r"^[0-9A-Za-z*?,/#-]+$")
NUMERIC_FIELD = re.compile(r"^[0-9*,/-]+$")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def aws_cron(expression: str) -> str:
    """A 5-field cron ("0 20 * * MON-FRI") as Application Auto Scaling's `cron(0 20 ? * MON-FRI *)`.

    An expression already in the `cron(...)` form (6 fields) is checked and kept. Unix day-of-week
    numbers (0-7, Sunday = 0 or 7) become names, since AWS counts Sunday as 1. UsageError (exit 2)
    for anything else.
    """
    text = expression.strip()
    if text.startswith("cron(") and text.endswith(")"):
        fields = text[5:-1].split()
        if len(fields) != 6 or not all(FIELD.match(f) for f in fields):
            raise UsageError(f"{expression!r} is not an AWS cron(...) expression of 6 fields")
        return f"cron({' '.join(fields)})"
    fields = text.split()
    if len(fields) != 5:
        raise UsageError(
            f"{expression!r} is not a cron expression: expected 5 fields "
            '(minute hour day-of-month month day-of-week), e.g. "0 20 * * MON-FRI"'
        )
    minute, hour, dom, month, dow = fields
    for name, value in zip(
        ("minute", "hour", "day-of-month", "month", "day-of-week"), fields, strict=True
    ):
        if not FIELD.match(value):
            raise UsageError(f"cron {name} field {value!r} has characters cron does not take")
    for name, value in (("minute", minute), ("hour", hour)):
        if not NUMERIC_FIELD.match(value):
            raise UsageError(f"cron {name} field {value!r} must be numbers, *, ranges or steps")
    dow = re.sub(r"(?<![/#\d])[0-7](?!\d)", lambda m: DAY_NAMES[int(m.group())], dow)
    if dow in ("*", "?"):
        dow = "?"
    elif dom in ("*", "?"):
        dom = "?"
    else:
        raise UsageError(
            f"{expression!r} sets both day-of-month and day-of-week; AWS cron takes only one"
        )
    return f"cron({minute} {hour} {dom} {month} {dow} *)"


def check_timezone(name: str) -> str:
    """The IANA time zone name, or UsageError (exit 2) when this machine does not know it."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {name!r} (an IANA name such as America/Jamaica)"
        ) from None
    return name


def resource_id(cluster: str, service: str) -> str:
    return f"service/{cluster}/{service}"


def action_name(environment: str, service: str, direction: str) -> str:
    return f"adinsights-{environment}-{service}-offhours-{direction}"


@attrs.frozen
class ScheduledAction:
    """A scheduled action as we want it (or as AWS has it)."""

    name: str
    service: str
    schedule: str
    timezone: str
    min_capacity: int
    max_capacity: int

    def api(self, cluster: str) -> dict[str, Any]:
        return {
            "ServiceNamespace": NAMESPACE,
            "ScheduledActionName": self.name,
            "ResourceId": resource_id(cluster, self.service),
            "ScalableDimension": DIMENSION,
            "Schedule": self.schedule,
            "Timezone": self.timezone,
            "ScalableTargetAction": {
                "MinCapacity": self.min_capacity,
                "MaxCapacity": self.max_capacity,
            },
        }


@attrs.frozen
class ScheduleChange:
    """One change: register-target | put-action (new or different) | delete-action."""

    action: str
    service: str
    name: str
    detail: str
    scheduled: ScheduledAction | None = None
    capacity: int = 0


@attrs.frozen
class SchedulePlan:
    environment: str
    cluster: str
    remove: bool
    changes: tuple[ScheduleChange, ...]
    unchanged: tuple[str, ...]  # names of actions already as wanted
    counts: Mapping[str, int]  # service -> the count the up action restores


def _existing_actions(
    aas: AutoScalingClient, cluster: str, services: Sequence[str]
) -> dict[str, dict[str, Any]]:
    wanted = {resource_id(cluster, s) for s in services}
    found: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"ServiceNamespace": NAMESPACE, "ScalableDimension": DIMENSION}
    while True:
        page = aas.describe_scheduled_actions(**kwargs)
        for action in page.get("ScheduledActions", []):
            if action.get("ResourceId") in wanted:
                found[action["ScheduledActionName"]] = action
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def _targets(
    aas: AutoScalingClient, cluster: str, services: Sequence[str]
) -> dict[str, dict[str, Any]]:
    ids = [resource_id(cluster, s) for s in services]
    found: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {
        "ServiceNamespace": NAMESPACE,
        "ResourceIds": ids,
        "ScalableDimension": DIMENSION,
    }
    while True:
        page = aas.describe_scalable_targets(**kwargs)
        for target in page.get("ScalableTargets", []):
            found[target["ResourceId"]] = target
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def _same(existing: Mapping[str, Any] | None, want: ScheduledAction) -> bool:
    if existing is None:
        return False
    capacity = existing.get("ScalableTargetAction") or {}
    return (
        existing.get("Schedule") == want.schedule
        and (existing.get("Timezone") or "UTC") == want.timezone
        and capacity.get("MinCapacity") == want.min_capacity
        and capacity.get("MaxCapacity") == want.max_capacity
    )


def plan_schedule(
    aas: AutoScalingClient,
    *,
    environment: str,
    cluster: str,
    desired: Mapping[str, int],
    remembered: Mapping[str, int] | None = None,
    down: str,
    up: str,
    timezone: str,
    remove: bool = False,
) -> SchedulePlan:
    """The changes that put (or, with `remove`, take away) the off-hours actions. Reads only.

    `desired` is each service's desired count now (service -> count); `remembered` what
    `cost.scale-down` remembered, if anything.
    """
    services = list(desired)
    existing = _existing_actions(aas, cluster, services)
    if remove:
        removals = tuple(
            ScheduleChange("delete-action", s, name, f"delete {name}")
            for s in services
            for name in (action_name(environment, s, d) for d in ("down", "up"))
            if name in existing
        )
        return SchedulePlan(environment, cluster, True, removals, (), {})
    down_cron, up_cron, zone = aws_cron(down), aws_cron(up), check_timezone(timezone)
    targets = _targets(aas, cluster, services)
    changes: list[ScheduleChange] = []
    unchanged: list[str] = []
    counts: dict[str, int] = {}
    missing = []
    for service in services:
        up_name = action_name(environment, service, "up")
        old_up = (existing.get(up_name) or {}).get("ScalableTargetAction") or {}
        count = (
            desired[service]
            or (remembered or {}).get(service, 0)
            or int(old_up.get("MinCapacity") or 0)
        )
        if count <= 0:
            missing.append(service)
            continue
        counts[service] = count
        target = targets.get(resource_id(cluster, service))
        if target is None:
            changes.append(
                ScheduleChange(
                    "register-target",
                    service,
                    resource_id(cluster, service),
                    f"register {service} as a scalable target (min {count}, max {count})",
                    capacity=count,
                )
            )
        ceiling = max(
            count, int((target or {}).get("MaxCapacity") or 0), int(old_up.get("MaxCapacity") or 0)
        )
        wanted = (
            ScheduledAction(
                action_name(environment, service, "down"), service, down_cron, zone, 0, 0
            ),
            ScheduledAction(up_name, service, up_cron, zone, count, ceiling),
        )
        for want in wanted:
            if _same(existing.get(want.name), want):
                unchanged.append(want.name)
                continue
            verb = "update" if want.name in existing else "create"
            changes.append(
                ScheduleChange(
                    "put-action",
                    service,
                    want.name,
                    f"{verb} {want.name}: {want.schedule} {want.timezone} -> "
                    f"min {want.min_capacity} max {want.max_capacity}",
                    scheduled=want,
                )
            )
    if missing:
        raise UsageError(
            f"{', '.join(missing)} run 0 tasks and no normal count is known (none remembered by "
            "cost.scale-down, no up action): scale them up first (`inv cost.scale-up` or `inv ecs.scale`)"
        )
    return SchedulePlan(environment, cluster, False, tuple(changes), tuple(unchanged), counts)


def apply_schedule(aas: AutoScalingClient, plan: SchedulePlan) -> None:
    """Make the plan's changes; an empty plan makes no call."""
    for change in plan.changes:
        rid = resource_id(plan.cluster, change.service)
        if change.action == "register-target":
            aas.register_scalable_target(
                ServiceNamespace=NAMESPACE,
                ResourceId=rid,
                ScalableDimension=DIMENSION,
                MinCapacity=change.capacity,
                MaxCapacity=change.capacity,
            )
        elif change.action == "put-action" and change.scheduled is not None:
            aas.put_scheduled_action(**change.scheduled.api(plan.cluster))
        elif change.action == "delete-action":
            aas.delete_scheduled_action(
                ServiceNamespace=NAMESPACE,
                ScheduledActionName=change.name,
                ResourceId=rid,
                ScalableDimension=DIMENSION,
            )
