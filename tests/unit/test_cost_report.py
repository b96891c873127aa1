"""The monthly bill by the runbook's lines: month parsing, the service mapping, Cost Explorer reads."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from adinsights_ops import cost
from adinsights_ops.aws import is_mutating
from adinsights_ops.errors import EXIT_USAGE, UsageError
from adinsights_ops.sandbox import blueprint_cost
from tests.simulated import Simulated

TODAY = date(2026, 11, 26)


def queue(account: str, *results: dict[str, Any]) -> None:
    """Queue Cost Explorer results in this process's moto (what POST /moto-api/... does)."""
    from moto.moto_api._internal.models import moto_api_backend

    for result in results:
        moto_api_backend.set_ce_cost_usage(result=result, account_id=account)


def result(groups: dict[str, str], *, estimated: bool = False) -> dict[str, Any]:
    return {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-10-01", "End": "2026-11-01"},
                "Total": {},
                "Groups": [
                    {"Keys": [k], "Metrics": {"UnblendedCost": {"Amount": v, "Unit": "USD"}}}
                    for k, v in groups.items()
                ],
                "Estimated": estimated,
            }
        ],
        "DimensionValueAttributes": [],
    }


# -- month_period --------------------------------------------------------------------------------


def test_no_month_is_this_month_to_date_including_today() -> None:
    assert cost.month_period(None, today=TODAY) == (
        "2026-11",
        date(2026, 11, 1),
        date(2026, 11, 27),
        True,
    )


def test_a_past_month_is_the_whole_month() -> None:
    assert cost.month_period("2026-02", today=TODAY) == (
        "2026-02",
        date(2026, 2, 1),
        date(2026, 3, 1),
        False,
    )
    assert cost.month_period("2025-12", today=TODAY)[2] == date(2026, 1, 1)


def test_the_current_month_given_explicitly_is_to_date() -> None:
    assert cost.month_period("2026-11", today=TODAY)[2:] == (date(2026, 11, 27), True)


def test_the_first_of_the_month_still_has_a_one_day_period() -> None:
    _, start, end, _ = cost.month_period(None, today=date(2026, 12, 1))
    assert (start, end) == (date(2026, 12, 1), date(2026, 12, 2))


@pytest.mark.parametrize(
    "bad", ["2026-13", "2026-00", "26-11", "2026/11", "november", "2026-1", ""]
)
def test_a_malformed_month_is_a_usage_error(bad: str) -> None:
    if not bad:  # empty means "this month", not an error
        assert cost.month_period(bad, today=TODAY)[3] is True
        return
    with pytest.raises(UsageError) as caught:
        cost.month_period(bad, today=TODAY)
    assert caught.value.exit_code == EXIT_USAGE
    assert "YYYY-MM" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_future_month_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="has not begun"):
        cost.month_period("2026-12", today=TODAY)


def test_a_bad_month_makes_no_aws_call(sim: Simulated) -> None:
    sim.calls.clear()
    with pytest.raises(UsageError):
        cost.monthly_report(sim.ops, month="2027-01", today=TODAY)
    with pytest.raises(UsageError):
        cost.monthly_report(sim.ops, month="2026-13", today=TODAY)
    assert sum(sim.calls.values()) == 0


# -- the mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "line"),
    [
        ("Amazon Relational Database Service", "RDS"),
        ("Amazon Elastic Container Service", "ECS"),
        ("Amazon Elastic Compute Cloud - Compute", "Airbyte/EC2"),
        ("EC2 - Other", "Airbyte/EC2"),
        ("Amazon ElastiCache", "Redis (ElastiCache)"),
        ("AmazonCloudWatch", "CloudWatch"),
        ("Amazon Simple Storage Service", "other"),
        ("Tax", "other"),
    ],
)
def test_service_names_map_to_the_runbooks_lines(service: str, line: str) -> None:
    assert cost.line_for(service) == line


def test_report_groups_services_into_lines_and_lists_the_unmapped(sim: Simulated) -> None:
    queue(
        sim.env.account,
        result(
            {
                "Amazon Relational Database Service": "140.25",
                "Amazon Elastic Container Service": "100.5",
                "Amazon Elastic Compute Cloud - Compute": "60",
                "EC2 - Other": "9.75",
                "Amazon ElastiCache": "24.4",
                "AmazonCloudWatch": "11.1",
                "Amazon Simple Storage Service": "3.3",
                "Amazon Bedrock": "0.7",
            }
        ),
    )
    rep = cost.monthly_report(sim.ops, month="2026-10", today=TODAY)

    assert rep.month == "2026-10" and not rep.month_to_date and not rep.estimated
    assert [line.name for line in rep.lines] == list(cost.LINES)
    amounts = {line.name: line.amount for line in rep.lines}
    assert amounts == {
        "RDS": Decimal("140.25"),
        "ECS": Decimal("100.5"),
        "Airbyte/EC2": Decimal("69.75"),
        "Redis (ElastiCache)": Decimal("24.4"),
        "CloudWatch": Decimal("11.1"),
        "other": Decimal("4.0"),
    }
    assert rep.total == Decimal("350.00")
    assert [s.service for s in rep.unmapped] == [
        "Amazon Simple Storage Service",
        "Amazon Bedrock",
    ]
    assert {s.service for s in rep.line("Airbyte/EC2").services} == {
        "Amazon Elastic Compute Cloud - Compute",
        "EC2 - Other",
    }
    data = cost.as_dict(rep)
    assert data["total"] == 350.0
    assert [line["name"] for line in data["lines"]] == list(cost.LINES)
    assert data["lines"][5]["services"] == {
        "Amazon Simple Storage Service": 3.3,
        "Amazon Bedrock": 0.7,
    }
    rows = cost.as_rows(rep)
    assert rows[6] == {"line": "total", "service": "", "amount": "350.00"}
    assert {"line": "other", "service": "Amazon Bedrock", "amount": "0.70"} in rows


def test_report_asks_cost_explorer_for_the_month_grouped_by_service(sim: Simulated) -> None:
    seen: list[dict[str, Any]] = []
    sim.client("ce").meta.events.register(
        "provide-client-params.ce.GetCostAndUsage", lambda params, **_: seen.append(params)
    )
    rep = cost.monthly_report(sim.ops, month="2026-02", today=TODAY)
    assert seen == [
        {
            "TimePeriod": {"Start": "2026-02-01", "End": "2026-03-01"},
            "Granularity": "MONTHLY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        }
    ]
    assert rep.total == 0  # nothing queued, nothing simulated: moto's empty answer
    assert not [op for op in sim.calls if is_mutating(op)]


class PagedCostExplorer:
    """Two pages of groups, as Cost Explorer pages a long list of services."""

    def __init__(self) -> None:
        self.tokens: list[str | None] = []

    def get_cost_and_usage(self, **kwargs: Any) -> dict[str, Any]:
        self.tokens.append(kwargs.get("NextPageToken"))
        if kwargs.get("NextPageToken") is None:
            page = result({"Amazon Relational Database Service": "10"}, estimated=True)
            return {**page, "NextPageToken": "page-2"}
        return result({"Amazon Relational Database Service": "5", "AmazonCloudWatch": "1"})


def test_every_page_is_read_and_summed() -> None:
    ce = PagedCostExplorer()
    rep = cost.report(ce, environment="staging", month="2026-10", today=TODAY)
    assert ce.tokens == [None, "page-2"]
    assert rep.line("RDS").amount == Decimal(15)
    assert rep.line("CloudWatch").amount == Decimal(1)
    assert rep.estimated  # one page said so


def test_the_sandbox_simulator_answers_any_month_pro_rated(sim: Simulated) -> None:
    blueprint_cost.seed_cost(sim.client, sim.env)
    today = date.today()
    so_far = cost.monthly_report(sim.ops)
    again = cost.monthly_report(sim.ops)
    assert so_far.total == again.total  # the same answer every time, not one queued result
    spent, forecast = blueprint_cost.month_to_date(today)
    assert round(so_far.total, 2) == spent
    assert spent <= forecast
    assert so_far.estimated and so_far.month_to_date
    assert all(line.amount > 0 for line in so_far.lines)

    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    days = [first + timedelta(days=i) for i in range((today.replace(day=1) - first).days)]
    previous = cost.monthly_report(sim.ops, month=f"{first:%Y-%m}")
    whole_month = sum(
        (blueprint_cost.daily_cost(s, d) for s in blueprint_cost.DAILY_RATES for d in days),
        Decimal(0),
    )
    assert previous.total == whole_month
    assert not previous.estimated and not previous.month_to_date
    assert {s.service for s in previous.unmapped} == {
        s for s in blueprint_cost.DAILY_RATES if s not in cost.SERVICE_LINES
    }
