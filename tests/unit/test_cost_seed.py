"""The sandbox's cost seeding: the Cost Explorer simulator, the queued fallback, budget, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from adinsights_ops import config, cost
from adinsights_ops.aws import Aws
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.sandbox import blueprint_cost
from tests.simulated import ENVIRONMENTS, Simulated

SERVICE = {"GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}]}


def request(start: str, end: str, granularity: str = "MONTHLY", **extra: Any) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Granularity": granularity,
        "Metrics": ["UnblendedCost"],
        **extra,
    }


def test_simulate_daily_gives_one_result_per_day_and_nothing_after_today() -> None:
    today = date(2026, 11, 26)
    answer = blueprint_cost.simulate(
        request("2026-11-25", "2026-11-28", "DAILY", **SERVICE), today=today
    )
    periods = answer["ResultsByTime"]
    assert [p["TimePeriod"]["Start"] for p in periods] == ["2026-11-25", "2026-11-26", "2026-11-27"]
    assert [p["Estimated"] for p in periods] == [False, True, True]  # today is not over yet
    assert len(periods[0]["Groups"]) == len(blueprint_cost.DAILY_RATES)
    assert periods[2]["Groups"] == []  # tomorrow has cost nothing yet
    rds = next(
        g for g in periods[0]["Groups"] if g["Keys"] == ["Amazon Relational Database Service"]
    )
    amount = Decimal(rds["Metrics"]["UnblendedCost"]["Amount"])
    assert amount == blueprint_cost.daily_cost(
        "Amazon Relational Database Service", date(2026, 11, 25)
    )
    assert Decimal("4.4") < amount < Decimal("5.1")  # 4.76 a day, give or take 6%


def test_simulate_monthly_splits_at_month_boundaries_and_totals_without_groups() -> None:
    answer = blueprint_cost.simulate(request("2026-09-15", "2026-11-01"), today=date(2026, 11, 26))
    periods = answer["ResultsByTime"]
    assert [(p["TimePeriod"]["Start"], p["TimePeriod"]["End"]) for p in periods] == [
        ("2026-09-15", "2026-10-01"),
        ("2026-10-01", "2026-11-01"),
    ]
    october = Decimal(periods[1]["Total"]["UnblendedCost"]["Amount"])
    days = [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]
    expected = sum(
        (blueprint_cost.daily_cost(s, d) for s in blueprint_cost.DAILY_RATES for d in days),
        Decimal(0),
    )
    assert october == expected.quantize(Decimal("0.0000000001"))
    assert periods[1]["Groups"] == []


def test_seeding_twice_is_safe(sim: Simulated) -> None:
    first = blueprint_cost.seed_cost(sim.client, sim.env)
    second = blueprint_cost.seed_cost(sim.client, sim.env)

    assert first.cost_explorer == second.cost_explorer == "simulated"
    assert first.datapoints == 4 * 2 * 14 * 24 and second.datapoints == 0
    budgets = sim.client("budgets").describe_budgets(AccountId=sim.env.account)["Budgets"]
    assert [b["BudgetName"] for b in budgets] == ["adinsights-sandbox-monthly"]
    spend = budgets[0]["CalculatedSpend"]
    assert Decimal(spend["ActualSpend"]["Amount"]) == first.month_to_date
    assert Decimal(spend["ForecastedSpend"]["Amount"]) == first.forecast
    assert first.month_to_date <= first.forecast


def test_the_budget_actions_moto_lacks_behave_like_aws(sim: Simulated) -> None:
    blueprint_cost.seed_cost(sim.client, sim.env)
    client = sim.client("budgets")
    with pytest.raises(client.exceptions.NotFoundException):
        client.update_budget(
            AccountId=sim.env.account,
            NewBudget={
                "BudgetName": "nope",
                "BudgetLimit": {"Amount": "1", "Unit": "USD"},
                "TimeUnit": "MONTHLY",
                "BudgetType": "COST",
            },
        )
    notification = client.describe_notifications_for_budget(
        AccountId=sim.env.account, BudgetName="adinsights-sandbox-monthly"
    )["Notifications"][0]
    subscriber = {"SubscriptionType": "EMAIL", "Address": "ops@adinsights.example"}
    with pytest.raises(ClientError, match="DuplicateRecord"):
        client.create_subscriber(
            AccountId=sim.env.account,
            BudgetName="adinsights-sandbox-monthly",
            Notification=notification,
            Subscriber=subscriber,
        )
    unknown = {**notification, "Threshold": 42.0}
    with pytest.raises(client.exceptions.NotFoundException):
        client.describe_subscribers_for_notification(
            AccountId=sim.env.account, BudgetName="adinsights-sandbox-monthly", Notification=unknown
        )


@pytest.fixture
def server() -> Iterator[str]:
    """A moto server in this process whose Cost Explorer has no simulator: as if elsewhere."""
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1").list_buckets()
        yield endpoint
    finally:
        moto_server.stop()


def test_without_the_simulator_results_are_queued_at_the_endpoint(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.request

    with urllib.request.urlopen(
        urllib.request.Request(f"{server}/moto-api/reset", method="POST"), timeout=5
    ):
        pass
    monkeypatch.setattr(blueprint_cost, "install_cost_explorer", lambda account: None)
    env = config.load("sandbox", ENVIRONMENTS)
    session = boto3.Session(region_name=env.region)

    def clients(service: str) -> Any:
        return session.client(service, endpoint_url=server)  # type: ignore[call-overload]

    seeded = blueprint_cost.seed_cost(clients, env, endpoint=server)

    assert seeded.cost_explorer == "queued"
    ops = OpsEnv(env, Aws(region=env.region, endpoint_url=server))
    today = datetime.now(UTC).date()
    rep = cost.monthly_report(ops, today=today)
    assert round(rep.total, 2) == seeded.month_to_date
    assert cost.monthly_report(ops, today=today).total == rep.total  # moto keeps the answer
    assert rep.line("RDS").amount > 0


def test_no_endpoint_and_no_simulator_is_an_error(
    sim: Simulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blueprint_cost, "install_cost_explorer", lambda account: None)
    with pytest.raises(RuntimeError, match="pass its endpoint"):
        blueprint_cost.seed_cost(sim.client, sim.env)
