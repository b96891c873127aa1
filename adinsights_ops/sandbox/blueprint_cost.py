"""The sandbox's cost data: a simulated bill, the monthly budget, and 14 days of ECS utilisation.

What moto does not model, simulated here and honestly named:

- **Cost Explorer.** moto's get_cost_and_usage answers nothing unless results are queued (POST
  `/moto-api/static/ce/cost-and-usage-results`), hands each queued result to the first request
  with a new body, and answers that same body with it forever after. A queue cannot know which
  month an operator will ask for, so `seed_cost` replaces the CE backend's get_cost_and_usage (in
  this process: the sandbox server and `mock_aws` both run moto here) with `simulate` below, which
  answers ANY period, granularity and cost metric from fixed daily rates per AWS service: every
  `inv cost.report` gets data, month-correct, pro-rated to the day. Only when the moto server
  runs in another process (the simulator cannot reach it) are results queued instead, through
  `endpoint`: the current month to date and the 12 before, handed out in request order.
- **Budgets.** moto 5.2 lacks UpdateBudget and the subscriber APIs (Describe/Create/Delete
  Subscriber(s)); `install_budget_actions` adds them to moto's Budgets responses, in this process.
  The budget `adinsights-<env>-monthly` is seeded as `inv cost.budgets` would make it, with a
  CalculatedSpend equal to the simulated bill so far (and its month-end forecast).
- **CloudWatch.** Hourly AWS/ECS CPUUtilization and MemoryUtilization for each service for the
  last 14 days (moto keeps what put_metric_data sends), shaped so that `inv cost.rightsize` has
  one service to shrink, one to grow and one to keep.
"""

from __future__ import annotations

import json
import math
import random
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from adinsights_ops.config import Environment
from adinsights_ops.cost._budgets import THRESHOLDS, budget_name, spec_for
from adinsights_ops.cost._settings import settings_for
from adinsights_ops.errors import UsageError

# USD per day: a small staging-sized ADinsights (Multi-AZ db.t3.medium, 7 Fargate tasks, a
# t3.large Airbyte host with EBS and a NAT gateway, a cache.t3.small).
DAILY_RATES: Mapping[str, float] = {
    "Amazon Relational Database Service": 4.76,
    "Amazon Elastic Container Service": 3.95,
    "Amazon Elastic Compute Cloud - Compute": 2.00,
    "EC2 - Other": 1.58,
    "Amazon ElastiCache": 0.82,
    "AmazonCloudWatch": 0.39,
    "Amazon Simple Storage Service": 0.11,
    "AWS Key Management Service": 0.14,
    "AWS Secrets Manager": 0.05,
    "Amazon Virtual Private Cloud": 0.12,
    "Amazon EC2 Container Registry (ECR)": 0.03,
}
COST_METRICS = (
    "UnblendedCost",
    "BlendedCost",
    "AmortizedCost",
    "NetUnblendedCost",
    "NetAmortizedCost",
)

# Per role: (CPU average, CPU peak, memory average, memory peak), in percent.
UTILISATION: Mapping[str, tuple[float, float, float, float]] = {
    "backend": (14.0, 41.0, 38.0, 52.0),  # CPU barely used: halve it
    "worker": (48.0, 91.0, 62.0, 88.0),  # peaks near the ceiling: grow it
    "beat": (3.0, 8.0, 12.0, 15.0),  # idle, and already as small as Fargate goes
    "frontend": (25.0, 55.0, 22.0, 30.0),  # about right: keep it
}
METRIC_DAYS = 14


@attrs.frozen
class CostSeed:
    """What seed_cost made: the budget, its seeded spend, how CE answers, datapoints written."""

    budget: str
    month_to_date: Decimal
    forecast: Decimal
    cost_explorer: str  # simulated | queued
    datapoints: int


def daily_cost(service: str, day: date) -> Decimal:
    """What `service` costs on `day`: its daily rate, give or take 6%, the same every time."""
    rate = DAILY_RATES.get(service, 0.0)
    phase = zlib.crc32(service.encode()) % 360
    wobble = 1 + 0.06 * math.sin(math.radians(day.toordinal() * 47 + phase))
    return Decimal(str(round(rate * wobble, 6)))


def _periods(start: date, end: date, granularity: str) -> list[tuple[date, date]]:
    periods, cursor = [], start
    while cursor < end:
        if granularity == "DAILY":
            following = cursor + timedelta(days=1)
        else:
            following = (cursor.replace(day=1) + timedelta(days=32)).replace(day=1)
        periods.append((cursor, min(following, end)))
        cursor = following
    return periods


def simulate(request: Mapping[str, Any], *, today: date | None = None) -> dict[str, Any]:
    """A get_cost_and_usage answer for any request: grouped by SERVICE or as totals.

    Days after `today` cost nothing; a period not yet over is Estimated. Filters are ignored.
    """
    today = today or datetime.now(UTC).date()
    start = date.fromisoformat(request["TimePeriod"]["Start"])
    end = date.fromisoformat(request["TimePeriod"]["End"])
    metrics = list(request.get("Metrics") or ["UnblendedCost"])
    grouped = any(g.get("Key") == "SERVICE" for g in request.get("GroupBy") or [])
    results = []
    for first, stop in _periods(start, end, request.get("Granularity", "MONTHLY")):
        days = [first + timedelta(days=i) for i in range((stop - first).days)]
        costs = {
            s: sum((daily_cost(s, d) for d in days if d <= today), Decimal(0)) for s in DAILY_RATES
        }

        def amounts(value: Decimal) -> dict[str, dict[str, str]]:
            return {
                m: {
                    "Amount": f"{value:.10f}" if m in COST_METRICS else "0",
                    "Unit": "USD" if m in COST_METRICS else "N/A",
                }
                for m in metrics
            }

        item: dict[str, Any] = {
            "TimePeriod": {"Start": first.isoformat(), "End": stop.isoformat()},
            "Total": {} if grouped else amounts(sum(costs.values(), Decimal(0))),
            "Groups": [{"Keys": [s], "Metrics": amounts(c)} for s, c in costs.items() if c]
            if grouped
            else [],
            "Estimated": stop > today,
        }
        results.append(item)
    return {
        "ResultsByTime": results,
        "DimensionValueAttributes": [],
        "GroupDefinitions": request.get("GroupBy") or [],
    }


def month_to_date(today: date) -> tuple[Decimal, Decimal]:
    """(the simulated bill from the 1st through today, its forecast for the whole month)."""
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    days = [first + timedelta(days=i) for i in range((following - first).days)]
    spent = sum((daily_cost(s, d) for s in DAILY_RATES for d in days if d <= today), Decimal(0))
    forecast = sum((daily_cost(s, d) for s in DAILY_RATES for d in days), Decimal(0))
    return spent.quantize(Decimal("0.01")), forecast.quantize(Decimal("0.01"))


def install_cost_explorer(account: str) -> None:
    """Answer this process's moto Cost Explorer (for `account`) with `simulate`."""
    from moto.ce.models import ce_backends

    backend = ce_backends[account]["aws"]
    setattr(backend, "get_cost_and_usage", lambda body: simulate(json.loads(body or "{}")))  # noqa: B010


def queue_results(endpoint: str, account: str, *, today: date, months: int = 13) -> int:
    """Queue simulated results at a moto server's endpoint: this month to date, then earlier months."""
    request = {
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    results = []
    first = today.replace(day=1)
    for i in range(months):
        start = first if i == 0 else (first - timedelta(days=1)).replace(day=1)
        end = today + timedelta(days=1) if i == 0 else first
        results.append(
            simulate(
                {**request, "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()}},
                today=today,
            )
        )
        first = start
    body = json.dumps({"results": results, "account_id": account}).encode()
    post = urllib.request.Request(
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(post, timeout=10):
        pass
    return len(results)


# moto 5.2's Budgets lacks these; they are added to its response class (this process only).
def _notification_of(response: Any) -> Any:
    from moto.budgets.exceptions import NotFoundException

    account, name = response._get_param("AccountId"), response._get_param("BudgetName")
    wanted = response._get_param("Notification") or {}
    budget = response.backend.budgets[account].get(name)
    if budget is None:
        raise NotFoundException(f"Unable to find budget {name}: the budget doesn't exist.")
    for notification in budget.notifications:
        have = notification.details
        if all(
            have.get(k) == wanted.get(k) for k in ("NotificationType", "ComparisonOperator")
        ) and float(have.get("Threshold", 0)) == float(wanted.get("Threshold", 0)):
            return notification
    raise NotFoundException(f"Unable to find the notification of budget {name}.")


def _update_budget(self: Any) -> str:
    from moto.budgets.exceptions import NotFoundException
    from moto.core.utils import unix_time

    account, new = self._get_param("AccountId"), dict(self._get_param("NewBudget") or {})
    budget = self.backend.budgets[account].get(new.get("BudgetName"))
    if budget is None:
        raise NotFoundException(
            f"Unable to update budget: {new.get('BudgetName')} - the budget doesn't exist."
        )
    kept = {
        k: v
        for k, v in budget.budget.items()
        if k in ("CalculatedSpend", "TimePeriod", "CostTypes")
    }
    budget.budget = {**kept, **new, "LastUpdatedTime": unix_time()}
    return json.dumps({})


def _describe_subscribers(self: Any) -> str:
    return json.dumps({"Subscribers": list(_notification_of(self).subscribers), "NextToken": None})


def _create_subscriber(self: Any) -> str:
    from moto.budgets.exceptions import DuplicateRecordException

    notification, subscriber = _notification_of(self), self._get_param("Subscriber")
    if subscriber in notification.subscribers:
        raise DuplicateRecordException("subscriber", subscriber.get("Address", ""))
    notification.subscribers.append(subscriber)
    return json.dumps({})


def _delete_subscriber(self: Any) -> str:
    notification, subscriber = _notification_of(self), self._get_param("Subscriber")
    notification.subscribers[:] = [s for s in notification.subscribers if s != subscriber]
    return json.dumps({})


BUDGET_ACTIONS: Mapping[str, Callable[[Any], str]] = {
    "update_budget": _update_budget,
    "describe_subscribers_for_notification": _describe_subscribers,
    "create_subscriber": _create_subscriber,
    "delete_subscriber": _delete_subscriber,
}


def install_budget_actions() -> None:
    """Add the Budgets actions moto lacks (idempotent; an action moto gains later is kept as is)."""
    from moto.budgets.responses import BudgetsResponse

    for name, action in BUDGET_ACTIONS.items():
        if not hasattr(BudgetsResponse, name):
            setattr(BudgetsResponse, name, action)


def seed_budget(budgets: Any, env: Environment, *, today: date) -> tuple[str, Decimal, Decimal]:
    """The monthly budget as `inv cost.budgets` makes it, spend seeded; kept when it exists."""
    name = budget_name(env.name)
    spent, forecast = month_to_date(today)
    try:
        budgets.describe_budget(AccountId=env.account, BudgetName=name)
        return name, spent, forecast
    except budgets.exceptions.NotFoundException:
        pass
    settings = settings_for(env)
    amount = settings.monthly_budget or 450.0
    try:
        spec = spec_for(
            env.name,
            amount=amount,
            emails=env.notifications.email_to,
            sns_topic=settings.budget_sns_topic,
        )
        subscribers = [s.api() for s in spec.subscribers]
    except UsageError:  # nobody to alert: a budget without notifications is still a budget
        subscribers = []
    notifications = [
        {
            "Notification": {
                "NotificationType": kind,
                "ComparisonOperator": "GREATER_THAN",
                "Threshold": threshold,
                "ThresholdType": "PERCENTAGE",
            },
            "Subscribers": subscribers,
        }
        for kind, threshold in THRESHOLDS
        if subscribers
    ]
    budgets.create_budget(
        AccountId=env.account,
        Budget={
            "BudgetName": name,
            "BudgetLimit": {"Amount": f"{Decimal(str(amount)):.2f}", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
            "CalculatedSpend": {
                "ActualSpend": {"Amount": str(spent), "Unit": "USD"},
                "ForecastedSpend": {"Amount": str(forecast), "Unit": "USD"},
            },
        },
        NotificationsWithSubscribers=notifications,
    )
    return name, spent, forecast


def utilisation_value(role: str, metric: str, at: datetime, start: datetime) -> float:
    """The simulated utilisation (percent) of `role`'s `metric` (cpu|memory) at `at`."""
    cpu_avg, cpu_peak, mem_avg, mem_peak = UTILISATION.get(role, (30.0, 60.0, 30.0, 60.0))
    average, peak = (cpu_avg, cpu_peak) if metric == "cpu" else (mem_avg, mem_peak)
    hours = int((at - start).total_seconds() // 3600)
    if hours == 4 * 24 + 15:  # one busy afternoon
        return peak
    daily = 0.5 - 0.5 * math.cos(2 * math.pi * (at.hour - 3) / 24)  # low at 03:00, high at 15:00
    noise = random.Random(f"{role}-{metric}-{hours}").uniform(-0.05, 0.05)
    return round(max(0.0, min(100.0, average * (0.5 + daily) * (1 + noise))), 2)


def seed_metrics(
    cloudwatch: Any, env: Environment, *, now: datetime, days: int = METRIC_DAYS
) -> int:
    """Hourly CPU/memory utilisation datapoints of each service for `days` days; skipped if present."""
    names = {"cpu": "CPUUtilization", "memory": "MemoryUtilization"}
    existing = cloudwatch.list_metrics(Namespace="AWS/ECS", MetricName="CPUUtilization")["Metrics"]
    clusters = {
        d["Value"] for m in existing for d in m.get("Dimensions", []) if d["Name"] == "ClusterName"
    }
    if env.ecs.cluster in clusters:
        return 0
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    data: list[dict[str, Any]] = []
    for role, ref in env.ecs.services.items():
        dimensions = [
            {"Name": "ClusterName", "Value": env.ecs.cluster},
            {"Name": "ServiceName", "Value": ref.name},
        ]
        for hour in range(1, days * 24 + 1):
            at = start + timedelta(hours=hour)
            data.extend(
                {
                    "MetricName": metric,
                    "Dimensions": dimensions,
                    "Timestamp": at,
                    "Value": utilisation_value(role, key, at, start),
                    "Unit": "Percent",
                }
                for key, metric in names.items()
            )
    for i in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/ECS", MetricData=data[i : i + 500])
    return len(data)


def seed_cost(
    clients: Callable[[str], Any], env: Environment, endpoint: str | None = None
) -> CostSeed:
    """Seed the sandbox's bill, budget and utilisation; safe to run again on the same moto.

    `clients(service)` makes boto3 clients (as for `blueprint.seed`); `endpoint` is the moto
    server's address when there is one (only used if the Cost Explorer simulator cannot be
    installed in its process: then results are queued there).
    """
    now = datetime.now(UTC)
    install_budget_actions()
    install_cost_explorer(env.account)
    ce = clients("ce")
    probe = ce.get_cost_and_usage(
        TimePeriod={
            "Start": now.date().replace(day=1).isoformat(),
            "End": (now.date() + timedelta(days=1)).isoformat(),
        },
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
    )
    mode = "simulated"
    if not probe.get("ResultsByTime"):
        if endpoint is None:
            raise RuntimeError("moto's Cost Explorer is not in this process: pass its endpoint")
        queue_results(endpoint, env.account, today=now.date())
        mode = "queued"
    name, spent, forecast = seed_budget(clients("budgets"), env, today=now.date())
    points = seed_metrics(clients("cloudwatch"), env, now=now)
    return CostSeed(name, spent, forecast, mode, points)
