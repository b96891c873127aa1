"""The monthly budget: created when missing, updated when different, untouched when equal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import attrs
import boto3
import moto
import pytest

from adinsights_ops import config, cost
from adinsights_ops.aws import Aws, is_mutating
from adinsights_ops.config import Notifications
from adinsights_ops.errors import EXIT_USAGE, UsageError
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.sandbox import blueprint_cost
from tests.simulated import ENVIRONMENTS

NAME = "adinsights-sandbox-monthly"
EXPECTED_ALERTS = {("ACTUAL", 80.0), ("ACTUAL", 100.0), ("FORECASTED", 100.0)}


@attrs.define
class Light:
    """The sandbox environment under mock_aws without the blueprint (budgets need none of it)."""

    ops: OpsEnv
    calls: Counter[str]

    @property
    def env(self) -> config.Environment:
        return self.ops.env

    def client(self, service: str) -> Any:
        return self.ops.aws.client(service)


@pytest.fixture
def box() -> Iterator[Light]:
    # moto 5.2 lacks UpdateBudget and the subscriber APIs; the sandbox adds them.
    blueprint_cost.install_budget_actions()
    env = config.load("sandbox", ENVIRONMENTS)
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    with moto.mock_aws():
        aws = Aws(region=env.region, hooks=(("before-call", count),))
        yield Light(OpsEnv(env, aws), calls)


def seed(box: Light) -> blueprint_cost.CostSeed:
    session = boto3.Session(region_name=box.env.region)
    return blueprint_cost.seed_cost(session.client, box.env)  # type: ignore[arg-type]


def mutating(box: Light) -> list[str]:
    return sorted(op for op in box.calls if is_mutating(op))


def budget(box: Light) -> dict[str, Any]:
    found: dict[str, Any] = box.client("budgets").describe_budget(
        AccountId=box.env.account, BudgetName=NAME
    )["Budget"]
    return found


def alerts(box: Light) -> dict[tuple[str, float], set[tuple[str, str]]]:
    """(type, threshold) -> {(subscription type, address)} as AWS Budgets has them."""
    client = box.client("budgets")
    found = {}
    for n in client.describe_notifications_for_budget(AccountId=box.env.account, BudgetName=NAME)[
        "Notifications"
    ]:
        subscribers = client.describe_subscribers_for_notification(
            AccountId=box.env.account, BudgetName=NAME, Notification=n
        )["Subscribers"]
        assert n["ComparisonOperator"] == "GREATER_THAN"
        assert n["ThresholdType"] == "PERCENTAGE"
        found[(n["NotificationType"], float(n["Threshold"]))] = {
            (s["SubscriptionType"], s["Address"]) for s in subscribers
        }
    return found


def with_settings(box: Light, **notify: Any) -> Any:
    env = attrs.evolve(box.env, notifications=attrs.evolve(box.env.notifications, **notify))
    return attrs.evolve(box.ops, env=env)


def test_creates_the_budget_with_three_alerts_when_missing(box: Light) -> None:
    result = cost.ensure_budget_for(box.ops, amount="500")

    assert result.created
    assert [c.action for c in result.changes] == ["create-budget"] + ["add-notification"] * 3
    made = budget(box)
    assert made["BudgetLimit"] == {"Amount": "500.00", "Unit": "USD"}
    assert made["TimeUnit"] == "MONTHLY" and made["BudgetType"] == "COST"
    assert alerts(box) == {key: {("EMAIL", "ops@adinsights.example")} for key in EXPECTED_ALERTS}
    assert result.actual_spend == Decimal(0)  # what AWS (moto) says of a new budget


def test_equal_budget_makes_no_mutating_call(box: Light) -> None:
    cost.ensure_budget_for(box.ops, amount=500)
    box.calls.clear()

    again = cost.ensure_budget_for(box.ops, amount=500)

    assert again.unchanged and not again.created
    assert mutating(box) == []
    assert box.calls["DescribeBudget"] == 1


def test_a_new_amount_updates_the_limit_and_keeps_the_spend(box: Light) -> None:
    seeded = seed(box)  # the sandbox's budget: 450, spend seeded
    box.calls.clear()

    result = cost.ensure_budget_for(box.ops, amount="900")

    assert [c.action for c in result.changes] == ["update-limit"]
    assert result.changes[0].detail == "limit 450.00 -> 900.00 USD/month"
    assert mutating(box) == ["UpdateBudget"]
    after = budget(box)
    assert after["BudgetLimit"]["Amount"] == "900.00"
    assert Decimal(after["CalculatedSpend"]["ActualSpend"]["Amount"]) == seeded.month_to_date
    assert result.actual_spend == seeded.month_to_date
    assert result.forecasted_spend == seeded.forecast
    assert result.spent_share == pytest.approx(float(seeded.month_to_date / 900 * 100))
    assert alerts(box) == {key: {("EMAIL", "ops@adinsights.example")} for key in EXPECTED_ALERTS}


def test_the_seeded_sandbox_budget_is_already_as_configured(box: Light) -> None:
    seed(box)
    box.calls.clear()
    result = cost.ensure_budget_for(box.ops)  # amount from the sandbox's cost settings
    assert result.unchanged
    assert result.amount == Decimal("450.00")
    assert mutating(box) == []


def test_subscribers_follow_the_configuration(box: Light) -> None:
    cost.ensure_budget_for(box.ops, amount=500)
    ops = with_settings(box, email_to=("oncall@adinsights.example",))
    box.calls.clear()

    result = cost.ensure_budget_for(ops, amount=500)

    actions = sorted({c.action for c in result.changes})
    assert actions == ["add-subscriber", "remove-subscriber"]
    assert len(result.changes) == 6
    assert alerts(box) == {key: {("EMAIL", "oncall@adinsights.example")} for key in EXPECTED_ALERTS}
    assert mutating(box) == ["CreateSubscriber", "DeleteSubscriber"]
    assert box.calls["CreateSubscriber"] == 3 and box.calls["DeleteSubscriber"] == 3
    assert cost.ensure_budget_for(ops, amount=500).unchanged


def test_an_sns_topic_is_a_subscriber_too(box: Light) -> None:
    topic = f"arn:aws:sns:{box.env.region}:{box.env.account}:cost-alerts"
    settings = cost.CostSettings(monthly_budget=300.0, budget_sns_topic=topic)
    # The environment's own `cost:` section, as the environments file would give it.
    ops = attrs.evolve(box.ops, env=attrs.evolve(box.env, cost=settings))

    cost.ensure_budget_for(ops)

    assert budget(box)["BudgetLimit"]["Amount"] == "300.00"
    assert alerts(box) == {
        key: {("EMAIL", "ops@adinsights.example"), ("SNS", topic)} for key in EXPECTED_ALERTS
    }


def test_a_missing_alert_is_added_and_a_foreign_one_left_alone(box: Light) -> None:
    cost.ensure_budget_for(box.ops, amount=500)
    client = box.client("budgets")
    ours = {
        "NotificationType": "FORECASTED",
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": 100.0,
        "ThresholdType": "PERCENTAGE",
    }
    client.delete_notification(AccountId=box.env.account, BudgetName=NAME, Notification=ours)
    theirs = {**ours, "NotificationType": "ACTUAL", "Threshold": 50.0}
    client.create_notification(
        AccountId=box.env.account,
        BudgetName=NAME,
        Notification=theirs,
        Subscribers=[{"SubscriptionType": "EMAIL", "Address": "finance@adinsights.example"}],
    )

    result = cost.ensure_budget_for(box.ops, amount=500)

    assert [c.detail for c in result.changes] == ["alert at FORECASTED > 100%"]
    assert result.extra_notifications == ("ACTUAL > 50%",)
    assert set(alerts(box)) == EXPECTED_ALERTS | {("ACTUAL", 50.0)}


def test_dry_run_says_what_it_would_do_and_changes_nothing(box: Light) -> None:
    box.calls.clear()
    result = cost.ensure_budget_for(box.ops, amount=500, dry_run=True)
    assert result.dry_run and result.created
    assert result.actual_spend is None
    assert mutating(box) == []
    with pytest.raises(box.client("budgets").exceptions.NotFoundException):
        budget(box)


def test_a_usage_budget_of_that_name_is_refused(box: Light) -> None:
    box.client("budgets").create_budget(
        AccountId=box.env.account,
        Budget={
            "BudgetName": NAME,
            "BudgetLimit": {"Amount": "100", "Unit": "GB"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "USAGE",
        },
    )
    box.calls.clear()
    with pytest.raises(UsageError, match="USAGE budget"):
        cost.ensure_budget_for(box.ops, amount=500)
    assert mutating(box) == []


@pytest.mark.parametrize(
    ("amount", "message"),
    [("abc", "a number"), ("-5", "more than 0"), ("0.0", "more than 0"), ("nan", "more than 0")],
)
def test_a_bad_amount_is_a_usage_error_before_any_call(
    box: Light, amount: str, message: str
) -> None:
    box.calls.clear()
    with pytest.raises(UsageError, match=message) as caught:
        cost.ensure_budget_for(box.ops, amount=amount)
    assert caught.value.exit_code == EXIT_USAGE
    assert sum(box.calls.values()) == 0


def test_no_amount_outside_the_sandbox_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"pass --amount or set cost\.monthly_budget"):
        cost.spec_for("staging", amount=None, emails=("ops@example.com",))


def test_nobody_to_alert_is_a_usage_error(box: Light) -> None:
    ops = attrs.evolve(box.ops, env=attrs.evolve(box.env, notifications=Notifications()))
    box.calls.clear()
    with pytest.raises(UsageError, match="nobody to alert"):
        cost.ensure_budget_for(ops, amount=500)
    assert sum(box.calls.values()) == 0


def test_too_many_email_subscribers_is_a_usage_error() -> None:
    emails = tuple(f"person{i}@example.com" for i in range(11))
    with pytest.raises(UsageError, match="at most 10"):
        cost.spec_for("staging", amount=100, emails=emails)
