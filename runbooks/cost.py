"""Runbook section 8, cost monitoring: the bill by service, budgets, off-hours scaling, right-sizing.

inv cost.report     --env E [--month YYYY-MM] [--json | --format table|csv|json]
inv cost.budgets    --env E [--amount N] [--dry-run] [--json]
inv cost.scale-down --env staging [--json]          (never production)
inv cost.scale-up   --env staging [--json]          (never production)
inv cost.schedule   --env staging [--down CRON] [--up CRON] [--timezone TZ] [--remove] [--dry-run]
inv cost.rightsize  --env E [--days 14] [--json]
"""

from __future__ import annotations

from typing import Any

from invoke import Collection, Context, task

from runbooks import options
from runbooks.common import ENV_HELP, JSON_HELP, ProgressPrinter, ops_task, say, to_json

FORMATS = ("table", "csv", "json")
COST_ENV_HELP = "staging or the sandbox (production is refused); default: $ADINSIGHTS_ENV"


def _money(value: Any) -> str:
    return f"{value:,.2f}"


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "month": "calendar month YYYY-MM (default: this month to date)",
        "format": "table (default), csv or json (--format json is the same as --json)",
        "json": JSON_HELP,
    },
)
@ops_task
def report(
    c: Context, env: str | None = None, month: str = "", format: str = "table", json: bool = False
) -> None:
    """The AWS bill for a month by the runbook's lines: RDS, ECS, Airbyte/EC2, Redis, CloudWatch."""
    from datetime import UTC, datetime

    from adinsights_ops import cost
    from adinsights_ops.loader import open_environment

    options.choice(format, "--format", FORMATS)
    if json and format == "csv":
        options.refuse("--format", format, "table or json with --json (or leave --json out)")
    if json:
        format = "json"
    today = datetime.now(UTC).date()
    if month:
        options.ascii_text(month, "--month", what="a month YYYY-MM")
        cost.month_period(month, today=today)  # bad or future month: exit 2 before anything starts
    with open_environment(env) as ops:
        rep = cost.monthly_report(ops, month=month or None, today=today)
    if format == "json":
        print(to_json(cost.as_dict(rep)))
    elif format == "csv":
        _print_csv(cost.as_rows(rep))
    else:
        _print_report(rep)


def _print_csv(rows: list[dict[str, Any]]) -> None:
    import csv
    import sys

    writer = csv.DictWriter(
        sys.stdout, fieldnames=["line", "service", "amount"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)


def _print_report(rep: Any) -> None:
    from datetime import timedelta

    span = f"{rep.start} to {rep.end - timedelta(days=1)}"
    kind = "month to date" if rep.month_to_date else "whole month"
    estimated = ", estimated" if rep.estimated else ""
    print(f"{rep.environment}: AWS cost {rep.month} ({kind}: {span}{estimated}), {rep.currency}")
    total = rep.total
    for line in rep.lines:
        share = f"{line.amount / total * 100:5.1f}%" if total else "    -"
        print(f"  {line.name:<22} {_money(line.amount):>12}  {share}")
    print(f"  {'total':<22} {_money(total):>12}")
    if rep.unmapped:
        listed = ", ".join(f"{s.service} {_money(s.amount)}" for s in rep.unmapped)
        print(f"other is made of services the runbook's lines do not name: {listed}")
    if not total:
        say("Cost Explorer returned nothing for this period (is Cost Explorer enabled?)")


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "amount": "monthly limit in USD (default: cost.monthly_budget of the environment)",
        "dry_run": "only say what would be created or changed",
        "json": JSON_HELP,
    },
)
@ops_task
def budgets(
    c: Context,
    env: str | None = None,
    amount: str | None = None,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Ensure the monthly budget (alerts at 80%/100% actual, 100% forecast); show spend vs limit."""
    from adinsights_ops import cost
    from adinsights_ops.loader import open_environment

    limit = None
    if amount is not None:
        limit = options.number(amount, "--amount", above=True, maximum=1e9, unit="USD")
    with open_environment(env) as ops:
        result = cost.ensure_budget_for(ops, amount=limit, dry_run=dry_run)
        subscribers = list(ops.env.notifications.email_to)
        topic = cost.settings_for(ops.env).budget_sns_topic
    if json:
        print(to_json(result))
        return
    alerts = ", ".join(f"{kind} > {threshold:g}%" for kind, threshold in cost.THRESHOLDS)
    to = ", ".join([*subscribers, *([topic] if topic else [])])
    print(
        f"budget {result.name}: {_money(result.amount)} {result.currency}/month; alerts {alerts} to {to}"
    )
    verb = "would " if dry_run else ""
    if result.unchanged:
        print("  already as configured: nothing to do")
    for change in result.changes:
        print(f"  {verb}{change.detail}")
    for extra in result.extra_notifications:
        print(f"  left alone: an alert this task does not manage ({extra})")
    if result.actual_spend is not None:
        share = result.spent_share
        forecast = (
            f", forecast {_money(result.forecasted_spend)}"
            if result.forecasted_spend is not None
            else ""
        )
        print(
            f"spend this month: {_money(result.actual_spend)} {result.currency}"
            + (f" ({share:.1f}% of the limit)" if share is not None else "")
            + forecast
        )


def _guarded(env: str, action: str) -> Any:
    """Load the environment, refusing production by name before anything else (no AWS call)."""
    from adinsights_ops import config, cost

    cost.refuse_production(env, action)
    environment = config.load(env)
    cost.refuse_production(environment, action)
    return environment


def _print_scale(result: Any, as_json: bool) -> None:
    if as_json:
        print(to_json(result))
        return
    for s in result.services:
        what = f"{s.before} -> {s.after}" if s.changed else f"already {s.after}"
        print(f"  {s.service:<18} {what}")
    for note in result.notes:
        print(f"  note: {note}")
    if result.direction == "down":
        counts = ", ".join(f"{k}={v}" for k, v in result.remembered.items()) or "nothing"
        kept = " (kept from an earlier scale-down)" if result.kept_remembered else ""
        print(f"remembered in {result.parameter}: {counts}{kept}")
        print(f"bring it back with: inv cost.scale-up --env {result.environment}")
    else:
        print(f"restored; {result.parameter} deleted")


@task(klass=options.OpsTask, help={"env": COST_ENV_HELP, "json": JSON_HELP})
@ops_task
def scale_down(c: Context, env: str | None = None, json: bool = False) -> None:
    """Scale every service to 0, remembering the counts (SSM); not for production."""
    from adinsights_ops import cost
    from adinsights_ops.loader import open_environment

    environment = _guarded(env, "cost.scale-down")
    with open_environment(environment) as ops:
        say(f"scaling {ops.env.ecs.cluster} down to 0 (waits for each service)")
        printer = ProgressPrinter()
        try:
            result = cost.scale_down(ops, on_event=printer)
        finally:
            printer.close()
    _print_scale(result, json)


@task(klass=options.OpsTask, help={"env": COST_ENV_HELP, "json": JSON_HELP})
@ops_task
def scale_up(c: Context, env: str | None = None, json: bool = False) -> None:
    """Scale every service back to the counts scale-down remembered; not for production."""
    from adinsights_ops import cost
    from adinsights_ops.loader import open_environment

    environment = _guarded(env, "cost.scale-up")
    with open_environment(environment) as ops:
        say(f"scaling {ops.env.ecs.cluster} back up (waits for each service)")
        printer = ProgressPrinter()
        try:
            result = cost.scale_up(ops, on_event=printer)
        finally:
            printer.close()
    _print_scale(result, json)


@task(
    klass=options.OpsTask,
    short={"down": "", "dry_run": "d"},
    help={
        "env": COST_ENV_HELP,
        "down": 'cron of the scale-down (default "0 20 * * MON-FRI")',
        "up": 'cron of the scale-up (default "0 7 * * MON-FRI")',
        "timezone": "IANA time zone of both crons (default America/Jamaica)",
        "remove": "delete the off-hours scheduled actions instead",
        "dry_run": "only say what would change",
        "json": JSON_HELP,
    },
)
@ops_task
def schedule(
    c: Context,
    env: str | None = None,
    down: str = "",
    up: str = "",
    timezone: str = "",
    remove: bool = False,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Off-hours scale-down/up as Application Auto Scaling scheduled actions; not for production."""
    from adinsights_ops import cost
    from adinsights_ops.loader import open_environment

    options.cron(down or None, "--down")
    options.cron(up or None, "--up")
    environment = _guarded(env, "cost.schedule")
    settings = cost.settings_for(environment)
    # Bad crons and time zones are refused before the sandbox starts or AWS is called.
    cost.aws_cron(down or settings.offhours_down)
    cost.aws_cron(up or settings.offhours_up)
    cost.check_timezone(timezone or settings.offhours_timezone)
    with open_environment(environment) as ops:
        result = cost.schedule_offhours(
            ops,
            down=down or None,
            up=up or None,
            timezone=timezone or None,
            remove=remove,
            dry_run=dry_run,
        )
    if json:
        print(to_json(result))
        return
    verb = "would " if dry_run else ""
    if not remove:
        print(
            f"off-hours for {result.environment}: down {result.down}, up {result.up}, in {result.timezone}"
        )
        counts = ", ".join(f"{k}={v}" for k, v in result.counts.items())
        print(f"  up restores: {counts}")
    for change in result.changes:
        print(f"  {verb}{change.detail}")
    for name in result.unchanged:
        print(f"  unchanged: {name}")
    if not result.changes:
        print("  nothing to do" + ("" if not remove else ": no off-hours actions exist"))


@task(
    klass=options.OpsTask,
    short={"days": ""},
    help={
        "env": ENV_HELP,
        "days": "days of CloudWatch data to judge by (default 14)",
        "json": JSON_HELP,
    },
)
@ops_task
def rightsize(
    c: Context, env: str | None = None, days: str | None = None, json: bool = False
) -> None:
    """CPU and memory use of each service over N days, with a halve/grow/keep suggestion."""
    from adinsights_ops import cost
    from adinsights_ops.cost_rightsize import MAX_DAYS
    from adinsights_ops.loader import open_environment

    span = None  # left out: the environment's cost.rightsize_days
    if days is not None:  # out of range: exit 2 before anything starts
        span = cost.check_days(options.whole(days, "--days", minimum=1, maximum=MAX_DAYS))
    with open_environment(env) as ops:
        rep = cost.rightsize_services(ops, days=span)
    if json:
        print(to_json(rep))
        return
    print(
        f"{rep.environment}: utilisation over {rep.days} days ({rep.start:%Y-%m-%d} to {rep.end:%Y-%m-%d})"
    )
    print(
        f"  {'service':<18} {'cpu/MiB':<10} {'CPU avg/max':<12} {'mem avg/max':<12} {'suggestion':<24} suggested"
    )
    for s in rep.services:
        size = f"{s.cpu or '?'}/{s.memory or '?'}"
        suggested = (
            f"{s.suggested_cpu}/{s.suggested_memory}"
            if s.action not in ("keep", "not available")
            else "-"
        )
        print(
            f"  {s.service:<18} {size:<10} {_pct(s.cpu_use):<12} {_pct(s.memory_use):<12} "
            f"{s.action:<24} {suggested}"
        )
    for s in rep.services:
        for why in [s.reason] if not s.cpu_use.available or not s.memory_use.available else []:
            print(f"  {s.service}: {why}")
        for note in s.notes:
            print(f"  {s.service}: {note}")


def _pct(use: Any) -> str:
    if not use.available:
        return "n/a"
    return f"{use.average:.0f}%/{use.maximum:.0f}%"


ns = Collection("cost")
for t in (report, budgets, scale_down, scale_up, schedule, rightsize):
    ns.add_task(t)
