"""Right-sizing (runbook section 8: "right-size instances quarterly"): is each service's size used?

For each service, CloudWatch's AWS/ECS CPUUtilization and MemoryUtilization (dimensions ClusterName,
ServiceName) over the last N days, in daily periods: the average of the daily Averages and the
highest daily Maximum, beside the task definition's cpu and memory. The rule, per resource:

    average < 20% and maximum < 50%  -> halve it
    maximum > 85%                    -> grow it (double)
    otherwise                        -> keep it

A resource with no datapoints is "not available", with the reason; a suggested Fargate size is
snapped to a combination Fargate accepts. One get_metric_data call for all services.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.ecs._views import describe
from adinsights_ops.errors import UsageError

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

# CloudWatch has no type stubs in this project; its client is passed as Any.
CloudWatchClient = Any

METRICS = {"cpu": "CPUUtilization", "memory": "MemoryUtilization"}
DAY = 86400
MAX_DAYS = 455  # CloudWatch keeps hourly (and so daily) statistics for 455 days

# Fargate's task sizes: cpu units -> (lowest memory MiB, highest, step).
FARGATE_SIZES: Mapping[int, tuple[int, int, int]] = {
    256: (512, 2048, 512),
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}


@attrs.frozen
class Thresholds:
    halve_below_average: float = 20.0
    halve_below_maximum: float = 50.0
    grow_above_maximum: float = 85.0


@attrs.frozen
class Utilisation:
    """One resource's use over the window, in percent; None when CloudWatch had no datapoint."""

    metric: str
    average: float | None
    maximum: float | None
    days_with_data: int

    @property
    def available(self) -> bool:
        return self.average is not None and self.maximum is not None


@attrs.frozen
class Sizing:
    """One service: its size now, how much of it was used, and what to do."""

    service: str
    task_definition: str
    cpu: int | None  # task-level cpu units
    memory: int | None  # task-level MiB
    cpu_use: Utilisation
    memory_use: Utilisation
    cpu_action: str  # halve | grow | keep | not available
    memory_action: str
    suggested_cpu: int | None
    suggested_memory: int | None
    reason: str  # the figures judged, or why there are none
    notes: tuple[str, ...] = ()  # why a suggestion was held back (Fargate's size limits)

    @property
    def action(self) -> str:
        """The suggestion in a few words, e.g. "halve CPU", "grow CPU and memory", "keep"."""
        acts = {"cpu": self.cpu_action, "memory": self.memory_action}
        if all(a == "not available" for a in acts.values()):
            return "not available"
        parts = []
        for verb in ("halve", "grow"):
            what = [("CPU" if k == "cpu" else k) for k, a in acts.items() if a == verb]
            if what:
                parts.append(f"{verb} {' and '.join(what)}")
        return "; ".join(parts) or "keep"


@attrs.frozen
class RightsizeReport:
    environment: str
    cluster: str
    days: int
    start: datetime
    end: datetime
    services: tuple[Sizing, ...]


def judge(use: Utilisation, thresholds: Thresholds | None = None) -> str:
    """halve | grow | keep | not available, by the module's rule."""
    thresholds = thresholds or Thresholds()
    if use.average is None or use.maximum is None:
        return "not available"
    if use.maximum > thresholds.grow_above_maximum:
        return "grow"
    if (
        use.average < thresholds.halve_below_average
        and use.maximum < thresholds.halve_below_maximum
    ):
        return "halve"
    return "keep"


def fargate_size(cpu: int, memory: int) -> tuple[int, int]:
    """The Fargate size nearest (cpu, memory): cpu clamped to a size, memory into its range."""
    sizes = sorted(FARGATE_SIZES)
    chosen = min(sizes, key=lambda s: (abs(s - cpu), s))
    low, high, step = FARGATE_SIZES[chosen]
    mem = min(max(memory, low), high)
    mem = low + ((mem - low + step - 1) // step) * step  # round up: never less memory than asked
    return chosen, min(mem, high)


def _scaled(value: int | None, action: str) -> int | None:
    if value is None:
        return None
    return {"halve": value // 2, "grow": value * 2}.get(action, value)


def _edge(action: str) -> str:
    return "smallest" if action == "halve" else "largest"


def check_days(days: int) -> int:
    """`days` when CloudWatch can answer for it; UsageError (exit 2) otherwise."""
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days must be between 1 and {MAX_DAYS}, got {days}")
    return days


def _window(days: int, now: datetime | None) -> tuple[datetime, datetime]:
    check_days(days)
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    return end - timedelta(days=days), end


def _queries(cluster: str, services: Sequence[str]) -> list[dict[str, Any]]:
    queries = []
    for i, service in enumerate(services):
        for key, metric in METRICS.items():
            for stat in ("Average", "Maximum"):
                queries.append(
                    {
                        "Id": f"{key}{stat.lower()}{i}",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/ECS",
                                "MetricName": metric,
                                "Dimensions": [
                                    {"Name": "ClusterName", "Value": cluster},
                                    {"Name": "ServiceName", "Value": service},
                                ],
                            },
                            "Period": DAY,
                            "Stat": stat,
                        },
                        "ReturnData": True,
                    }
                )
    return queries


def utilisation(
    cloudwatch: CloudWatchClient,
    *,
    cluster: str,
    services: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[str, dict[str, Utilisation]]:
    """service -> {"cpu": Utilisation, "memory": Utilisation} from get_metric_data (all pages)."""
    values: dict[str, list[float]] = {}
    kwargs: dict[str, Any] = {
        "MetricDataQueries": _queries(cluster, services),
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    while True:
        page = cloudwatch.get_metric_data(**kwargs)
        for result in page.get("MetricDataResults", []):
            values.setdefault(result["Id"], []).extend(float(v) for v in result.get("Values", []))
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    found: dict[str, dict[str, Utilisation]] = {}
    for i, service in enumerate(services):
        found[service] = {}
        for key in METRICS:
            averages = values.get(f"{key}average{i}", [])
            maxima = values.get(f"{key}maximum{i}", [])
            found[service][key] = Utilisation(
                metric=METRICS[key],
                average=sum(averages) / len(averages) if averages else None,
                maximum=max(maxima) if maxima else None,
                days_with_data=len(averages),
            )
    return found


def _size(ecs: ECSClient, task_definition: str) -> tuple[int | None, int | None, bool]:
    """(cpu, memory, fargate?) of a task definition: task level, else the containers' sum."""
    td: Mapping[str, Any] = ecs.describe_task_definition(taskDefinition=task_definition)[
        "taskDefinition"
    ]
    containers = td.get("containerDefinitions", [])

    def number(task_level: Any, key: str) -> int | None:
        if task_level not in (None, ""):
            return int(task_level)
        total = sum(int(c.get(key) or 0) for c in containers)
        return total or None

    fargate = "FARGATE" in (td.get("requiresCompatibilities") or [])
    return number(td.get("cpu"), "cpu"), number(td.get("memory"), "memory"), fargate


def _reason(service: str, cluster: str, days: int, uses: Mapping[str, Utilisation]) -> str:
    missing = [u.metric for u in uses.values() if not u.available]
    if not missing:
        return ", ".join(
            f"{'CPU' if k == 'cpu' else k} avg {u.average:.0f}% max {u.maximum:.0f}%"
            for k, u in uses.items()
        )
    return (
        f"no {' or '.join(missing)} datapoints for {service} in {cluster} in the last {days} days "
        "(CloudWatch has them only while tasks run)"
    )


def rightsize(
    cloudwatch: CloudWatchClient,
    ecs: ECSClient,
    *,
    environment: str,
    cluster: str,
    services: Sequence[str],
    days: int = 14,
    now: datetime | None = None,
    thresholds: Thresholds | None = None,
) -> RightsizeReport:
    """Each service's CPU and memory use over `days` days with a halve/grow/keep suggestion.

    UsageError (exit 2) for days outside 1..455, before any AWS call.
    """
    start, end = _window(days, now)
    states = describe(ecs, cluster=cluster, services=list(services))
    uses = utilisation(cloudwatch, cluster=cluster, services=list(services), start=start, end=end)
    sizings = []
    for service in services:
        task_definition = states[service].task_definition
        cpu, memory, fargate = _size(ecs, task_definition)
        cpu_action = judge(uses[service]["cpu"], thresholds)
        memory_action = judge(uses[service]["memory"], thresholds)
        new_cpu, new_memory = _scaled(cpu, cpu_action), _scaled(memory, memory_action)
        notes = []
        if fargate and new_cpu is not None and new_memory is not None:
            new_cpu, new_memory = fargate_size(new_cpu, new_memory)
            if cpu_action in ("halve", "grow") and new_cpu == cpu:
                notes.append(f"{cpu} CPU units is already Fargate's {_edge(cpu_action)} size")
                cpu_action = "keep"
            if memory_action in ("halve", "grow") and new_memory == memory:
                notes.append(
                    f"{memory} MiB is the {_edge(memory_action)} Fargate allows with {new_cpu} CPU units"
                )
                memory_action = "keep"
        sizings.append(
            Sizing(
                service=service,
                task_definition=task_definition,
                cpu=cpu,
                memory=memory,
                cpu_use=uses[service]["cpu"],
                memory_use=uses[service]["memory"],
                cpu_action=cpu_action,
                memory_action=memory_action,
                suggested_cpu=new_cpu,
                suggested_memory=new_memory,
                reason=_reason(service, cluster, days, uses[service]),
                notes=tuple(notes),
            )
        )
    return RightsizeReport(environment, cluster, days, start, end, tuple(sizings))
