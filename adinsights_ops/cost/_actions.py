"""Cost monitoring (runbook section 8): the bill by service, budgets, off-hours scaling, right-sizing.

The primitives live in `cost_report`, `cost_budgets`, `cost_scaling`, `cost_schedule` and
`cost_rightsize` and take their clients first; this module re-exports them with their errors and
adds the environment-level operations the `inv cost.*` tasks call (each takes an `OpsEnv`):

    monthly_report(ops, month=None)        -> CostReport      Cost Explorer by the runbook's lines
    ensure_budget_for(ops, amount=None)    -> BudgetResult    adinsights-<env>-monthly, 80/100/100F
    scale_down(ops) / scale_up(ops)        -> ScaleResult     counts remembered in SSM; staging only
    schedule_offhours(ops, down, up, ...)  -> ScheduleResult  Application Auto Scaling actions
    rightsize_services(ops, days=None)     -> RightsizeReport CloudWatch CPU/memory vs task size

Everything that refuses (a production environment, a bad month, cron or time zone) does so before
any AWS call.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import attrs

from adinsights_ops.config import load
from adinsights_ops.cost._budgets import (
    BudgetResult,
    ensure_budget,
    spec_for,
)
from adinsights_ops.cost._report import (
    CostReport,
    month_period,
    report,
)
from adinsights_ops.cost._rightsize import (
    RightsizeReport,
    rightsize,
)
from adinsights_ops.cost._scaling import (
    read_remembered,
    state_parameter,
)
from adinsights_ops.cost._schedule import (
    ScheduleChange,
    apply_schedule,
    aws_cron,
    check_timezone,
    plan_schedule,
)
from adinsights_ops.cost._settings import (
    refuse_production,
    settings_for,
)
from adinsights_ops.ecs._views import describe

if TYPE_CHECKING:
    from adinsights_ops.config import Environment
    from adinsights_ops.opsenv import OpsEnv


@attrs.frozen
class ScheduleResult:
    """What `schedule_offhours` did (or, for a dry run, would do)."""

    environment: str
    down: str  # the AWS cron(...) expressions
    up: str
    timezone: str
    removed: bool
    dry_run: bool
    changes: tuple[ScheduleChange, ...]
    unchanged: tuple[str, ...]
    counts: Mapping[str, int]


def _service_names(ops: OpsEnv) -> list[str]:
    return [ref.name for ref in ops.env.ecs.services.values()]


def monthly_report(
    ops: OpsEnv, *, month: str | None = None, today: date | None = None
) -> CostReport:
    """The environment's bill for `month` (YYYY-MM; default this month to date) by line."""
    today = today or datetime.now(UTC).date()
    month_period(month, today=today)  # a malformed or future month fails before the client is made
    return report(ops.aws.client("ce"), environment=ops.name, month=month, today=today)


def ensure_budget_for(
    ops: OpsEnv, *, amount: float | str | None = None, dry_run: bool = False
) -> BudgetResult:
    """Ensure `adinsights-<env>-monthly` (amount: the argument, else cost.monthly_budget)."""
    settings = settings_for(ops.env)
    spec = spec_for(
        ops.name,
        amount=amount if amount else settings.monthly_budget,
        emails=ops.env.notifications.email_to,
        sns_topic=settings.budget_sns_topic,
    )
    return ensure_budget(
        ops.aws.client("budgets"), account=ops.env.account, spec=spec, dry_run=dry_run
    )


def budget_recipients(env: Environment) -> list[str]:
    """Who gets the budget's alerts: the environment's e-mail addresses, then its SNS topic."""
    topic = settings_for(env).budget_sns_topic
    return [*env.notifications.email_to, *([topic] if topic else [])]


def load_guarded(name: str, action: str) -> Environment:
    """Load the environment for `action`, refusing production by name first (no AWS call)."""
    refuse_production(name, action)
    environment = load(name)
    refuse_production(environment, action)
    return environment


def check_offhours(
    env: Environment, *, down: str | None = None, up: str | None = None, timezone: str | None = None
) -> None:
    """Refuse a bad cron or time zone (the given one, else the environment's), before AWS."""
    settings = settings_for(env)
    aws_cron(down or settings.offhours_down)
    aws_cron(up or settings.offhours_up)
    check_timezone(timezone or settings.offhours_timezone)


def schedule_offhours(
    ops: OpsEnv,
    *,
    down: str | None = None,
    up: str | None = None,
    timezone: str | None = None,
    remove: bool = False,
    dry_run: bool = False,
) -> ScheduleResult:
    """Put (or remove) the off-hours scheduled actions of every service; idempotent.

    Refuses production (ProductionRefused) and bad cron or time zone (UsageError), all exit 2,
    before any AWS call.
    """
    refuse_production(ops.env, "cost.schedule")
    settings = settings_for(ops.env)
    down_cron = aws_cron(down or settings.offhours_down)
    up_cron = aws_cron(up or settings.offhours_up)
    zone = check_timezone(timezone or settings.offhours_timezone)
    aas = ops.aws.client("application-autoscaling")
    names = _service_names(ops)
    if remove:
        desired = dict.fromkeys(names, 0)
        remembered = None
    else:
        states = describe(ops.aws.ecs(), cluster=ops.env.ecs.cluster, services=names)
        desired = {n: s.desired for n, s in states.items()}
        found = read_remembered(ops.aws.client("ssm"), parameter=state_parameter(ops.name))
        remembered = found.counts if found else None
    plan = plan_schedule(
        aas,
        environment=ops.name,
        cluster=ops.env.ecs.cluster,
        desired=desired,
        remembered=remembered,
        down=down_cron,
        up=up_cron,
        timezone=zone,
        remove=remove,
    )
    if not dry_run:
        apply_schedule(aas, plan)
    return ScheduleResult(
        environment=ops.name,
        down=down_cron,
        up=up_cron,
        timezone=zone,
        removed=remove,
        dry_run=dry_run,
        changes=plan.changes,
        unchanged=plan.unchanged,
        counts=plan.counts,
    )


def rightsize_services(
    ops: OpsEnv, *, days: int | None = None, now: datetime | None = None
) -> RightsizeReport:
    """CPU and memory use of each service over `days` (default cost.rightsize_days) with advice."""
    return rightsize(
        ops.aws.client("cloudwatch"),
        ops.aws.ecs(),
        environment=ops.name,
        cluster=ops.env.ecs.cluster,
        services=_service_names(ops),
        days=days or settings_for(ops.env).rightsize_days,
        now=now,
    )
