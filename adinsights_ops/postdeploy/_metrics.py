"""The metrics part of the post-deploy checks: CloudWatch after the deploy compared with before it.

Three items: ALB 5xx responses (HTTPCode_Target_5XX_Count + HTTPCode_ELB_5XX_Count, summed), the
p95 of TargetResponseTime, and the Celery queue depth (a custom metric, maximum per queue). Each is
read for the `window` seconds before the split (the deploy's end) and the `window` after it.

The load balancer is the one whose `LoadBalancer` dimension is `app/adinsights-<env>[-suffix]/<id>`
(found with list_metrics), unless the settings name it. The p95 comes from CloudWatch's own percentile
(get_metric_statistics with ExtendedStatistics); an endpoint that aggregates but computes no
percentiles (moto) gets it computed here from the one-minute samples, and the evidence says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.checks_report import CheckItem, failed, passed

if TYPE_CHECKING:
    from adinsights_ops.postdeploy._settings import PostDeploySettings

ALB = "AWS/ApplicationELB"
ERRORS_5XX = ("HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count")
LATENCY = "TargetResponseTime"
ENVIRONMENT_DIMENSION = "Environment"
QUEUE_DIMENSION = "Queue"


@attrs.frozen
class Window:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def period(self) -> int:
        """The window as one CloudWatch period (a multiple of 60 seconds)."""
        return max(60, math.ceil(self.seconds / 60) * 60)


def windows(split: datetime, length: float) -> tuple[Window, Window]:
    """(before, after) the split, which is rounded down to the minute (CloudWatch's resolution)."""
    at = split.astimezone(UTC).replace(second=0, microsecond=0)
    delta = timedelta(seconds=math.ceil(length / 60) * 60)
    return Window(at - delta, at), Window(at, at + delta)


@attrs.frozen
class Reading:
    """A statistic over one window; `value` None when CloudWatch had no datapoint in it."""

    value: float | None
    datapoints: int
    computed_here: bool = False
    approximate: bool = False


def load_balancers(cloudwatch: Any, *, environment: str, override: str | None) -> tuple[str, ...]:
    """The `LoadBalancer` dimensions of the environment's ALB (app/adinsights-<env>[-x]/<id>)."""
    if override:
        return (override,)
    found: set[str] = set()
    for page in cloudwatch.get_paginator("list_metrics").paginate(
        Namespace=ALB, MetricName=LATENCY
    ):
        for metric in page.get("Metrics", []):
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            if set(dims) == {"LoadBalancer"} and names_environment(
                dims["LoadBalancer"], environment
            ):
                found.add(dims["LoadBalancer"])
    return tuple(sorted(found))


def names_environment(dimension: str, environment: str) -> bool:
    """`app/adinsights-<env>/<id>` or `app/adinsights-<env>-<suffix>/<id>` (e.g. -alb)."""
    parts = dimension.split("/")
    stem = f"adinsights-{environment}"
    return len(parts) == 3 and (parts[1] == stem or parts[1].startswith(stem + "-"))


def queue_metrics(
    cloudwatch: Any, *, namespace: str, metric: str, environment: str
) -> dict[str, list[dict[str, str]]]:
    """Queue name -> the dimensions of its queue-depth metric, for this environment."""
    queues: dict[str, list[dict[str, str]]] = {}
    for page in cloudwatch.get_paginator("list_metrics").paginate(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": ENVIRONMENT_DIMENSION, "Value": environment}],
    ):
        for found in page.get("Metrics", []):
            dims = found.get("Dimensions", [])
            names = {d["Name"]: d["Value"] for d in dims}
            if names.get(ENVIRONMENT_DIMENSION) == environment:
                queues[names.get(QUEUE_DIMENSION, "all")] = [
                    {"Name": d["Name"], "Value": d["Value"]} for d in dims
                ]
    return dict(sorted(queues.items()))


def aggregate(
    cloudwatch: Any,
    *,
    namespace: str,
    metric: str,
    dimensions: Sequence[Mapping[str, str]],
    window: Window,
    stat: str,
) -> Reading:
    """Sum or Maximum of a metric over the window (get_metric_data, one period per window)."""
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m0",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": [dict(d) for d in dimensions],
                    },
                    "Period": window.period,
                    "Stat": stat,
                },
            }
        ],
        StartTime=window.start,
        EndTime=window.end,
    )
    values = [float(v) for r in answer.get("MetricDataResults", []) for v in r.get("Values", [])]
    if not values:
        return Reading(None, 0)
    return Reading(sum(values) if stat == "Sum" else max(values), len(values))


def p95(
    cloudwatch: Any,
    *,
    namespace: str,
    metric: str,
    dimensions: Sequence[Mapping[str, str]],
    window: Window,
) -> Reading:
    """The 95th percentile of a metric over the window."""
    common = {
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [dict(d) for d in dimensions],
        "StartTime": window.start,
        "EndTime": window.end,
    }
    points = cloudwatch.get_metric_statistics(
        **common, Period=window.period, ExtendedStatistics=["p95"]
    ).get("Datapoints", [])
    if not points:
        return Reading(None, 0)
    given = [
        float(p["ExtendedStatistics"]["p95"])
        for p in points
        if "p95" in p.get("ExtendedStatistics", {})
    ]
    if given:
        return Reading(max(given), len(points))
    # Aggregates without percentiles (moto): rank the one-minute samples here.
    samples: list[float] = []
    approximate = False
    fine = cloudwatch.get_metric_statistics(
        **common, Period=60, Statistics=["SampleCount", "Average"]
    ).get("Datapoints", [])
    for point in fine:
        count = int(point.get("SampleCount", 0))
        approximate = approximate or count > 1
        samples.extend([float(point["Average"])] * count)
    if not samples:
        return Reading(None, 0)
    samples.sort()
    rank = max(math.ceil(0.95 * len(samples)) - 1, 0)
    return Reading(samples[rank], len(samples), computed_here=True, approximate=approximate)


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "no data"
    text = f"{value:.3f}".rstrip("0").rstrip(".") if unit == "s" else f"{value:g}"
    return text + unit


def _window_note(after: Window, now: datetime) -> str:
    if after.end <= now:
        return ""
    seen = max((now - after.start).total_seconds(), 0)
    return f"window still open: {seen // 60:.0f}m of {after.seconds // 60:.0f}m observed"


def errors_5xx(
    cloudwatch: Any, balancers: Sequence[str], before: Window, after: Window
) -> tuple[float, float]:
    """5xx responses (target + ELB) in the windows before and after; (before, after)."""
    totals = []
    for window in (before, after):
        total = 0.0
        for balancer in balancers:
            for metric in ERRORS_5XX:
                reading = aggregate(
                    cloudwatch,
                    namespace=ALB,
                    metric=metric,
                    dimensions=[{"Name": "LoadBalancer", "Value": balancer}],
                    window=window,
                    stat="Sum",
                )
                total += reading.value or 0.0
        totals.append(total)
    return totals[0], totals[1]


def compare(
    cloudwatch: Any,
    *,
    environment: str,
    split: datetime,
    window: float,
    basis: str,
    settings: PostDeploySettings,
    now: datetime,
) -> tuple[CheckItem, ...]:
    """The three metric items, after the split compared with before it."""
    before, after = windows(split, window)
    note = "; ".join(n for n in (basis, _window_note(after, now)) if n)
    balancers = load_balancers(cloudwatch, environment=environment, override=settings.load_balancer)
    items: list[CheckItem] = []
    if not balancers:
        why = (
            f"no {ALB} {LATENCY} metrics for a load balancer named adinsights-{environment} "
            "(set checks.load_balancer to its app/<name>/<id>)"
        )
        items += [
            failed("metrics: 5xx errors", why, note),
            failed("metrics: p95 latency", why, note),
        ]
    else:
        items.append(_errors(cloudwatch, balancers, before, after, settings, note))
        items.append(_latency(cloudwatch, balancers, before, after, settings, note))
    items.append(_queues(cloudwatch, environment, before, after, settings, note))
    return tuple(items)


def _errors(
    cloudwatch: Any,
    balancers: Sequence[str],
    before: Window,
    after: Window,
    settings: PostDeploySettings,
    note: str,
) -> CheckItem:
    was, now_ = errors_5xx(cloudwatch, balancers, before, after)
    limit = max(settings.errors_5xx_max, settings.errors_5xx_factor * was)
    evidence = (
        f"ALB 5xx {now_:g} in the {span_of(after)} after vs {was:g} before "
        f"({', '.join(balancers)}; fails above {settings.errors_5xx_max:g} "
        f"and {settings.errors_5xx_factor:g}x before)"
    )
    if now_ > limit:
        return failed("metrics: 5xx errors", "spike: " + evidence, note)
    return passed("metrics: 5xx errors", evidence, note)


def _latency(
    cloudwatch: Any,
    balancers: Sequence[str],
    before: Window,
    after: Window,
    settings: PostDeploySettings,
    note: str,
) -> CheckItem:
    worst_after: Reading | None = None
    worst_before: Reading | None = None
    for balancer in balancers:
        dims = [{"Name": "LoadBalancer", "Value": balancer}]
        a = p95(cloudwatch, namespace=ALB, metric=LATENCY, dimensions=dims, window=after)
        b = p95(cloudwatch, namespace=ALB, metric=LATENCY, dimensions=dims, window=before)
        if a.value is not None and (worst_after is None or a.value > (worst_after.value or 0)):
            worst_after = a
        if b.value is not None and (worst_before is None or b.value > (worst_before.value or 0)):
            worst_before = b
    name = "metrics: p95 latency"
    if worst_after is None:
        return failed(
            name,
            f"no {LATENCY} datapoints in the {span_of(after)} after the deploy: "
            "is traffic reaching the targets?",
            note,
        )
    how = ""
    if worst_after.computed_here:
        how = (
            f"; p95 computed here from {worst_after.datapoints} one-minute samples "
            "(CloudWatch gave no ExtendedStatistics)"
            + (", approximate" if worst_after.approximate else "")
        )
    after_v = worst_after.value or 0.0
    before_v = worst_before.value if worst_before else None
    evidence = (
        f"p95 {_num(after_v, 's')} in the {span_of(after)} after vs {_num(before_v, 's')} before "
        f"(fails above {settings.latency_p95_max:g}s, or {settings.latency_regression:g}x before "
        f"when above {settings.latency_floor:g}s){how}"
    )
    regressed = (
        before_v is not None
        and after_v > before_v * settings.latency_regression
        and after_v > settings.latency_floor
    )
    if after_v > settings.latency_p95_max or regressed:
        return failed(name, "slower: " + evidence, note)
    return passed(name, evidence, note)


def _queues(
    cloudwatch: Any,
    environment: str,
    before: Window,
    after: Window,
    settings: PostDeploySettings,
    note: str,
) -> CheckItem:
    name = "metrics: celery queue depth"
    queues = queue_metrics(
        cloudwatch,
        namespace=settings.celery_namespace,
        metric=settings.queue_metric,
        environment=environment,
    )
    if not queues:
        return failed(
            name,
            f"no {settings.celery_namespace} {settings.queue_metric} metrics with "
            f"{ENVIRONMENT_DIMENSION}={environment}: is the worker publishing them?",
            note,
        )
    parts, over, seen = [], [], 0
    for queue, dims in queues.items():
        readings = [
            aggregate(
                cloudwatch,
                namespace=settings.celery_namespace,
                metric=settings.queue_metric,
                dimensions=dims,
                window=w,
                stat="Maximum",
            )
            for w in (before, after)
        ]
        was, now_ = readings
        seen += now_.datapoints
        parts.append(f"{queue} {_num(now_.value)} (before {_num(was.value)})")
        if now_.value is not None and now_.value > settings.queue_depth_max:
            over.append(queue)
    evidence = (
        f"max depth after vs before: {', '.join(parts)}; fails above {settings.queue_depth_max:g}"
    )
    if over:
        return failed(name, f"backlog in {', '.join(over)}: " + evidence, note)
    if seen == 0:
        return failed(
            name, f"no datapoints in the {span_of(after)} after the deploy: " + evidence, note
        )
    return passed(name, evidence, note)


def span_of(window: Window) -> str:
    from adinsights_ops.postdeploy._settings import span

    return span(window.seconds)
