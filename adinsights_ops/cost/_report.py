"""The monthly AWS bill by the runbook's lines (section 8): RDS, ECS, Airbyte/EC2, Redis, CloudWatch.

One Cost Explorer `get_cost_and_usage` call (MONTHLY, UnblendedCost, grouped by SERVICE; paginated)
for a calendar month, or for the current month to date. Every AWS service name is mapped to one of
the runbook's lines by `SERVICE_LINES`; a name the table does not know goes to "other" and is listed,
so a new cost never disappears into a total.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from adinsights_ops.errors import UsageError

# Cost Explorer has no type stubs in this project; its client is passed as Any.
CostExplorerClient = Any

RDS = "RDS"
ECS = "ECS"
AIRBYTE = "Airbyte/EC2"
REDIS = "Redis (ElastiCache)"
CLOUDWATCH = "CloudWatch"
OTHER = "other"
LINES = (RDS, ECS, AIRBYTE, REDIS, CLOUDWATCH, OTHER)

# Cost Explorer's SERVICE dimension values -> the runbook's line. Airbyte runs on its own EC2 host
# (t3.large + EBS); EBS volumes, NAT gateways and EC2 data transfer are billed as "EC2 - Other".
SERVICE_LINES: Mapping[str, str] = {
    "Amazon Relational Database Service": RDS,
    "Amazon Elastic Container Service": ECS,
    "Amazon EC2 Container Service": ECS,  # the older name, still in old months' data
    "Amazon Elastic Compute Cloud - Compute": AIRBYTE,
    "EC2 - Other": AIRBYTE,
    "Amazon ElastiCache": REDIS,
    "AmazonCloudWatch": CLOUDWATCH,
    "Amazon CloudWatch": CLOUDWATCH,
    "CloudWatch Events": CLOUDWATCH,
}

METRIC = "UnblendedCost"
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@attrs.frozen
class ServiceCost:
    """What one AWS service (Cost Explorer's SERVICE dimension) cost in the period."""

    service: str
    amount: Decimal
    line: str


@attrs.frozen
class CostLine:
    """One line of the runbook's breakdown and the services it is made of."""

    name: str
    amount: Decimal
    services: tuple[ServiceCost, ...]


@attrs.frozen
class CostReport:
    """An environment's bill for a month (or the month so far), by the runbook's lines."""

    environment: str
    month: str  # YYYY-MM
    start: date
    end: date  # exclusive, as Cost Explorer takes it
    month_to_date: bool
    estimated: bool  # Cost Explorer says the figures may still change (an open month)
    currency: str
    lines: tuple[CostLine, ...]  # always every line of LINES, in that order
    unmapped: tuple[ServiceCost, ...]  # services SERVICE_LINES does not know (counted in "other")

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    def line(self, name: str) -> CostLine:
        return next(line for line in self.lines if line.name == name)


def line_for(service: str) -> str:
    """The runbook line a Cost Explorer service name belongs to ("other" when unknown)."""
    return SERVICE_LINES.get(service, OTHER)


def month_period(month: str | None, *, today: date) -> tuple[str, date, date, bool]:
    """(YYYY-MM, start, exclusive end, month to date?) for `month`; None means this month so far.

    Raises UsageError for a malformed month or one that has not begun.
    """
    if not month:
        start = today.replace(day=1)
        return f"{start:%Y-%m}", start, today + timedelta(days=1), True
    matched = MONTH.match(month.strip())
    if not matched or not 1 <= int(matched.group(2)) <= 12 or int(matched.group(1)) < 2000:
        raise UsageError(f"--month must be YYYY-MM (e.g. {today:%Y-%m}), got {month!r}")
    start = date(int(matched.group(1)), int(matched.group(2)), 1)
    this_month = today.replace(day=1)
    if start > this_month:
        raise UsageError(f"--month {month} has not begun yet (this month is {today:%Y-%m})")
    if start == this_month:
        return month, start, today + timedelta(days=1), True
    following = (start + timedelta(days=32)).replace(day=1)
    return month, start, following, False


def cost_by_service(
    ce: CostExplorerClient, *, start: date, end: date
) -> tuple[dict[str, Decimal], str, bool]:
    """({service: amount}, currency, estimated) from get_cost_and_usage, every page read."""
    amounts: dict[str, Decimal] = {}
    currency, estimated = "USD", False
    kwargs: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "MONTHLY",
        "Metrics": [METRIC],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    while True:
        response = ce.get_cost_and_usage(**kwargs)
        for period in response.get("ResultsByTime", []):
            estimated = estimated or bool(period.get("Estimated", False))
            for group in period.get("Groups", []):
                service = (group.get("Keys") or ["(no service)"])[0]
                metric = group.get("Metrics", {}).get(METRIC, {})
                amounts[service] = amounts.get(service, Decimal(0)) + Decimal(
                    str(metric.get("Amount", "0"))
                )
                currency = metric.get("Unit") or currency
        token = response.get("NextPageToken")
        if not token:
            return amounts, currency, estimated
        kwargs["NextPageToken"] = token


def report(
    ce: CostExplorerClient,
    *,
    environment: str,
    month: str | None = None,
    today: date | None = None,
) -> CostReport:
    """The bill of `month` (YYYY-MM; default this month to date) by the runbook's lines.

    Raises UsageError for a malformed or future month, before any AWS call.
    """
    label, start, end, to_date = month_period(month, today=today or datetime.now(UTC).date())
    amounts, currency, estimated = cost_by_service(ce, start=start, end=end)
    services = sorted(
        (ServiceCost(name, amount, line_for(name)) for name, amount in amounts.items()),
        key=lambda s: (-s.amount, s.service),
    )
    lines = tuple(
        CostLine(
            name,
            sum((s.amount for s in services if s.line == name), Decimal(0)),
            tuple(s for s in services if s.line == name),
        )
        for name in LINES
    )
    return CostReport(
        environment=environment,
        month=label,
        start=start,
        end=end,
        month_to_date=to_date,
        estimated=estimated or to_date,
        currency=currency,
        lines=lines,
        unmapped=tuple(s for s in services if s.service not in SERVICE_LINES),
    )


def as_rows(rep: CostReport) -> list[dict[str, Any]]:
    """The report as flat rows (line, service, amount), the lines' totals first: for CSV."""
    rows: list[dict[str, Any]] = [
        {"line": line.name, "service": "", "amount": f"{line.amount:.2f}"} for line in rep.lines
    ]
    rows.append({"line": "total", "service": "", "amount": f"{rep.total:.2f}"})
    for line in rep.lines:
        rows.extend(
            {"line": line.name, "service": s.service, "amount": f"{s.amount:.2f}"}
            for s in line.services
        )
    return rows


def as_dict(rep: CostReport) -> dict[str, Any]:
    """The report as plain JSON-ready data (amounts rounded to cents, as numbers)."""

    def money(value: Decimal) -> float:
        return float(round(value, 2))

    return {
        "environment": rep.environment,
        "month": rep.month,
        "start": rep.start.isoformat(),
        "end": rep.end.isoformat(),
        "month_to_date": rep.month_to_date,
        "estimated": rep.estimated,
        "currency": rep.currency,
        "total": money(rep.total),
        "lines": [  # a list, in the runbook's order (JSON objects are printed with sorted keys)
            {
                "name": line.name,
                "amount": money(line.amount),
                "services": {s.service: money(s.amount) for s in line.services},
            }
            for line in rep.lines
        ],
        "unmapped": [s.service for s in rep.unmapped],
    }
