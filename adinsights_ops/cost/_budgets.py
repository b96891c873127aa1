"""The monthly cost budget and its alerts (runbook section 8: "AWS Budgets with 80% and 100%").

One COST budget per environment, `adinsights-<env>-monthly`, with three notifications: ACTUAL spend
above 80% and above 100% of the limit, and FORECASTED spend above 100%, each sent to the configured
subscribers (email addresses, and an SNS topic when one is set).

Converge, in the invocations style: `plan_budget` only reads and returns the changes; `apply_budget`
makes them; `ensure_budget` does both (or only plans, for a dry run) and reads the spend back. A
budget equal to the spec produces no change and no mutating call. Notifications the spec does not
name (someone added a 50% alert by hand) are left alone and reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from adinsights_ops.errors import UsageError

# AWS Budgets has no type stubs in this project; its client is passed as Any.
BudgetsClient = Any

THRESHOLDS: tuple[tuple[str, float], ...] = (
    ("ACTUAL", 80.0),
    ("ACTUAL", 100.0),
    ("FORECASTED", 100.0),
)
MAX_EMAIL_SUBSCRIBERS = 10  # per notification (AWS Budgets' limit); and one SNS topic


def budget_name(environment: str) -> str:
    return f"adinsights-{environment}-monthly"


@attrs.frozen
class Subscriber:
    """Who a notification goes to: EMAIL (an address) or SNS (a topic ARN)."""

    kind: str
    address: str

    def api(self) -> dict[str, str]:
        return {"SubscriptionType": self.kind, "Address": self.address}


@attrs.frozen
class BudgetSpec:
    """The budget an environment should have."""

    name: str
    amount: Decimal
    subscribers: tuple[Subscriber, ...]
    currency: str = "USD"
    thresholds: tuple[tuple[str, float], ...] = THRESHOLDS


def spec_for(
    environment: str,
    *,
    amount: float | Decimal | str | None,
    emails: Sequence[str] = (),
    sns_topic: str | None = None,
) -> BudgetSpec:
    """Validate the inputs into a BudgetSpec; UsageError (exit 2) for a bad amount or no subscriber."""
    if amount is None:
        raise UsageError(
            f"no budget amount for {environment}: pass --amount or set cost.monthly_budget"
        )
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise UsageError(f"--amount must be a number of USD, got {amount!r}") from None
    if not value.is_finite() or value <= 0:
        raise UsageError(f"--amount must be more than 0 USD, got {amount}")
    if len(emails) > MAX_EMAIL_SUBSCRIBERS:
        raise UsageError(
            f"AWS Budgets takes at most {MAX_EMAIL_SUBSCRIBERS} email subscribers per alert, "
            f"notifications.email_to has {len(emails)}"
        )
    subscribers = [Subscriber("EMAIL", e) for e in dict.fromkeys(emails)]
    if sns_topic:
        subscribers.append(Subscriber("SNS", sns_topic))
    if not subscribers:
        raise UsageError(
            f"nobody to alert for {environment}: set notifications.email_to or cost.budget_sns_topic"
        )
    return BudgetSpec(budget_name(environment), value.quantize(Decimal("0.01")), tuple(subscribers))


@attrs.frozen
class BudgetChange:
    """One change a plan makes: what, to which notification (when any), and in words."""

    action: (
        str  # create-budget | update-limit | add-notification | add-subscriber | remove-subscriber
    )
    detail: str
    notification: tuple[str, float] | None = None
    subscriber: Subscriber | None = None


@attrs.frozen
class BudgetPlan:
    """What `apply_budget` would do to reach the spec; `current` is the budget as described."""

    spec: BudgetSpec
    account: str
    current: Mapping[str, Any] | None
    changes: tuple[BudgetChange, ...]
    extra_notifications: tuple[str, ...]  # existing notifications the spec does not name: kept


@attrs.frozen
class BudgetResult:
    """The budget after `ensure_budget`: what changed (or would have), and the spend against it."""

    name: str
    amount: Decimal
    currency: str
    changes: tuple[BudgetChange, ...]
    dry_run: bool
    actual_spend: Decimal | None
    forecasted_spend: Decimal | None
    extra_notifications: tuple[str, ...] = ()

    @property
    def created(self) -> bool:
        return any(c.action == "create-budget" for c in self.changes)

    @property
    def unchanged(self) -> bool:
        return not self.changes

    @property
    def spent_share(self) -> float | None:
        """Actual spend as a percentage of the limit."""
        if self.actual_spend is None or not self.amount:
            return None
        return float(self.actual_spend / self.amount * 100)


def notification_key(notification: Mapping[str, Any]) -> tuple[str, float] | None:
    """(ACTUAL|FORECASTED, threshold) for a notification of ours; None for any other shape."""
    if notification.get("ComparisonOperator") != "GREATER_THAN":
        return None
    if notification.get("ThresholdType", "PERCENTAGE") != "PERCENTAGE":
        return None
    return str(notification.get("NotificationType")), float(notification.get("Threshold", 0))


def describe_notification(notification: Mapping[str, Any]) -> str:
    kind = notification.get("NotificationType", "?")
    op = {"GREATER_THAN": ">", "LESS_THAN": "<", "EQUAL_TO": "="}.get(
        str(notification.get("ComparisonOperator")), "?"
    )
    unit = "%" if notification.get("ThresholdType", "PERCENTAGE") == "PERCENTAGE" else " USD"
    return f"{kind} {op} {float(notification.get('Threshold', 0)):g}{unit}"


def _notification(key: tuple[str, float]) -> dict[str, Any]:
    return {
        "NotificationType": key[0],
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": key[1],
        "ThresholdType": "PERCENTAGE",
    }


def _label(key: tuple[str, float]) -> str:
    return describe_notification(_notification(key))


def read_budget(budgets: BudgetsClient, *, account: str, name: str) -> dict[str, Any] | None:
    """The budget as describe_budget returns it, or None when there is none."""
    try:
        found: dict[str, Any] = budgets.describe_budget(AccountId=account, BudgetName=name)[
            "Budget"
        ]
    except budgets.exceptions.NotFoundException:
        return None
    return found


def _notifications(budgets: BudgetsClient, *, account: str, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"AccountId": account, "BudgetName": name}
    while True:
        page = budgets.describe_notifications_for_budget(**kwargs)
        found.extend(page.get("Notifications", []))
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def _subscribers(
    budgets: BudgetsClient, *, account: str, name: str, notification: Mapping[str, Any]
) -> set[Subscriber]:
    found: set[Subscriber] = set()
    kwargs: dict[str, Any] = {
        "AccountId": account,
        "BudgetName": name,
        "Notification": dict(notification),
    }
    while True:
        page = budgets.describe_subscribers_for_notification(**kwargs)
        found.update(Subscriber(s["SubscriptionType"], s["Address"]) for s in page["Subscribers"])
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def plan_budget(budgets: BudgetsClient, *, account: str, spec: BudgetSpec) -> BudgetPlan:
    """Read the budget and its notifications; return the changes that reach `spec`. Reads only."""
    current = read_budget(budgets, account=account, name=spec.name)
    wanted = set(spec.subscribers)
    if current is None:
        changes = [
            BudgetChange(
                "create-budget", f"create {spec.name}: {spec.amount} {spec.currency}/month"
            )
        ]
        changes += [
            BudgetChange("add-notification", f"alert at {_label(k)}", notification=k)
            for k in spec.thresholds
        ]
        return BudgetPlan(spec, account, None, tuple(changes), ())
    if current.get("BudgetType") != "COST":
        raise UsageError(
            f"budget {spec.name} exists but is a {current.get('BudgetType')} budget, not COST: "
            "delete it in the console or rename it"
        )
    changes = []
    limit = current.get("BudgetLimit") or {}
    old_amount = Decimal(str(limit.get("Amount", "0")))
    if old_amount != spec.amount or limit.get("Unit", spec.currency) != spec.currency:
        changes.append(
            BudgetChange(
                "update-limit",
                f"limit {old_amount:.2f} -> {spec.amount:.2f} {spec.currency}/month",
            )
        )
    if current.get("TimeUnit") != "MONTHLY":
        changes.append(BudgetChange("update-limit", f"period {current.get('TimeUnit')} -> MONTHLY"))
    existing = {}
    extra = []
    for notification in _notifications(budgets, account=account, name=spec.name):
        key = notification_key(notification)
        if key is not None and key in spec.thresholds:
            existing[key] = notification
        else:
            extra.append(describe_notification(notification))
    for key in spec.thresholds:
        if key not in existing:
            changes.append(
                BudgetChange("add-notification", f"alert at {_label(key)}", notification=key)
            )
            continue
        have = _subscribers(budgets, account=account, name=spec.name, notification=existing[key])
        changes += [
            BudgetChange("add-subscriber", f"{_label(key)}: add {s.address}", key, s)
            for s in sorted(wanted - have, key=attrs.astuple)
        ]
        changes += [
            BudgetChange("remove-subscriber", f"{_label(key)}: remove {s.address}", key, s)
            for s in sorted(have - wanted, key=attrs.astuple)
        ]
    return BudgetPlan(spec, account, current, tuple(changes), tuple(extra))


def apply_budget(budgets: BudgetsClient, plan: BudgetPlan) -> None:
    """Make the plan's changes (nothing at all for an empty plan)."""
    spec, account = plan.spec, plan.account
    limit = {"Amount": f"{spec.amount:.2f}", "Unit": spec.currency}
    subscribers = [s.api() for s in spec.subscribers]
    actions = {c.action for c in plan.changes}
    if "create-budget" in actions:
        budgets.create_budget(
            AccountId=account,
            Budget={
                "BudgetName": spec.name,
                "BudgetLimit": limit,
                "TimeUnit": "MONTHLY",
                "BudgetType": "COST",
            },
            NotificationsWithSubscribers=[
                {"Notification": _notification(k), "Subscribers": subscribers}
                for k in spec.thresholds
            ],
        )
        return
    if "update-limit" in actions and plan.current is not None:
        # Read-modify-write keeps what we do not manage (cost types, time period, and the spend
        # AWS has calculated) as it is.
        new = {k: v for k, v in plan.current.items() if k != "LastUpdatedTime"}
        new.update(BudgetLimit=limit, TimeUnit="MONTHLY")
        budgets.update_budget(AccountId=account, NewBudget=new)
    for change in plan.changes:
        if change.notification is None:
            continue
        notification = _notification(change.notification)
        common = {"AccountId": account, "BudgetName": spec.name, "Notification": notification}
        if change.action == "add-notification":
            budgets.create_notification(**common, Subscribers=subscribers)
        elif change.action == "add-subscriber" and change.subscriber is not None:
            budgets.create_subscriber(**common, Subscriber=change.subscriber.api())
        elif change.action == "remove-subscriber" and change.subscriber is not None:
            budgets.delete_subscriber(**common, Subscriber=change.subscriber.api())


def _spend(budget: Mapping[str, Any] | None, kind: str) -> Decimal | None:
    if budget is None:
        return None
    amount = (budget.get("CalculatedSpend") or {}).get(kind, {}).get("Amount")
    return Decimal(str(amount)) if amount is not None else None


def ensure_budget(
    budgets: BudgetsClient, *, account: str, spec: BudgetSpec, dry_run: bool = False
) -> BudgetResult:
    """Create the budget when missing, update it when different, leave it when equal.

    Returns the changes made (or, with dry_run, those that would be) and the current spend
    (describe_budget's CalculatedSpend: actual and forecasted, this month).
    """
    plan = plan_budget(budgets, account=account, spec=spec)
    after = plan.current
    if plan.changes and not dry_run:
        apply_budget(budgets, plan)
        after = read_budget(budgets, account=account, name=spec.name)
    return BudgetResult(
        name=spec.name,
        amount=spec.amount,
        currency=spec.currency,
        changes=plan.changes,
        dry_run=dry_run,
        actual_spend=_spend(after, "ActualSpend"),
        forecasted_spend=_spend(after, "ForecastedSpend"),
        extra_notifications=plan.extra_notifications,
    )
