"""Runbook section 8, cost monitoring: the bill by service, budgets, off-hours scaling, right-sizing.

inv cost.report     --env E [--month YYYY-MM] [--json | --format table|csv|json]
inv cost.budgets    --env E [--amount N] [--dry-run] [--json]
inv cost.scale-down --env staging [--json]          (never production)
inv cost.scale-up   --env staging [--json]          (never production)
inv cost.schedule   --env staging [--down CRON] [--up CRON] [--timezone TZ] [--remove] [--dry-run]
inv cost.rightsize  --env E [--days 14] [--json]
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from invoke import Collection, Context, task

from runbooks import lazy, options
from runbooks.common import ENV_HELP, JSON_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from adinsights_ops.opsenv import OpsEnv
    from runbooks.render import _cost as render
    from runbooks.render import _progress
else:
    _progress = lazy.module("runbooks.render._progress")
    render = lazy.module("runbooks.render._cost")

FORMATS = ("table", "csv", "json")
COST_ENV_HELP = "staging or the sandbox (production is refused); default: $ADINSIGHTS_ENV"


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
    c: Context,
    env: str = options.ENV_DEFAULT,
    month: str = "",
    format: str = "table",
    json: bool = False,
) -> None:
    """The AWS bill for a month by the runbook's lines: RDS, ECS, Airbyte/EC2, Redis, CloudWatch."""
    from adinsights_ops import cost
    from adinsights_ops.loader import open_environment

    format, today = _report_options(month, format, json)
    with open_environment(env) as ops:
        rep = cost.monthly_report(ops, month=month or None, today=today)
    render.report(rep, format)


def _report_options(month: str, format: str, json: bool) -> tuple[str, date]:
    """The output format (`--json` is `--format json`) and today; a bad month refused (exit 2)."""
    from datetime import UTC, datetime

    from adinsights_ops import cost

    options.choice(format, "--format", FORMATS)
    if json and format == "csv":
        options.refuse("--format", format, "table or json with --json (or leave --json out)")
    today = datetime.now(UTC).date()
    if month:
        options.ascii_text(month, "--month", what="a month YYYY-MM")
        cost.month_period(month, today=today)  # bad or future month: exit 2 before anything starts
    return ("json" if json else format), today


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
    env: str = options.ENV_DEFAULT,
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
    recipients = cost.budget_recipients(ops.env)
    render.budget(result, recipients=recipients, dry_run=dry_run, as_json=json)


@task(
    klass=options.OpsTask,
    help={
        "env": COST_ENV_HELP,
        "yes": "approve without the typed confirmation (environments that require approval)",
        "json": JSON_HELP,
    },
)
@ops_task
def scale_down(
    c: Context, env: str = options.ENV_DEFAULT, yes: bool = False, json: bool = False
) -> None:
    """Scale every service to 0, remembering the counts (SSM); not for production."""
    from adinsights_ops import cost
    from adinsights_ops.loader import open_environment
    from runbooks.render import _prompt

    environment = cost.load_guarded(env, "cost.scale-down")
    _prompt.check_approval(environment, yes, "scale to 0")
    with open_environment(environment) as ops, _progress.Progress() as progress:
        # The plan, then the question (approval_required): a "no" has changed nothing.
        _prompt.approve(environment, yes, "scale to 0", lambda: _scale_down_plan(ops))
        render.scaling(ops.env.ecs.cluster, "down")
        result = cost.scale_down(ops, on_event=progress)
    render.scaled(result, json)


def _scale_down_plan(ops: OpsEnv) -> list[str]:
    from adinsights_ops import ecs
    from runbooks.render import _ecs

    names = [ref.name for ref in ops.env.ecs.services.values()]
    return _ecs.scale_down_plan(
        ops.name, ecs.status(ops.aws.ecs(), cluster=ops.env.ecs.cluster, services=names)
    )


@task(klass=options.OpsTask, help={"env": COST_ENV_HELP, "json": JSON_HELP})
@ops_task
def scale_up(c: Context, env: str = options.ENV_DEFAULT, json: bool = False) -> None:
    """Scale every service back to the counts scale-down remembered; not for production."""
    from adinsights_ops import cost
    from adinsights_ops.loader import open_environment

    environment = cost.load_guarded(env, "cost.scale-up")
    with open_environment(environment) as ops, _progress.Progress() as progress:
        render.scaling(ops.env.ecs.cluster, "up")
        result = cost.scale_up(ops, on_event=progress)
    render.scaled(result, json)


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
    env: str = options.ENV_DEFAULT,
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
    environment = cost.load_guarded(env, "cost.schedule")
    # Bad crons and time zones are refused before the sandbox starts or AWS is called.
    cost.check_offhours(environment, down=down, up=up, timezone=timezone)
    with open_environment(environment) as ops:
        result = cost.schedule_offhours(
            ops,
            down=down or None,
            up=up or None,
            timezone=timezone or None,
            remove=remove,
            dry_run=dry_run,
        )
    render.schedule(result, remove=remove, dry_run=dry_run, as_json=json)


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
    c: Context, env: str = options.ENV_DEFAULT, days: str | None = None, json: bool = False
) -> None:
    """CPU and memory use of each service over N days, with a halve/grow/keep suggestion."""
    from adinsights_ops import cost
    from adinsights_ops.cost._rightsize import MAX_DAYS
    from adinsights_ops.loader import open_environment

    span = None  # left out: the environment's cost.rightsize_days
    if days is not None:  # out of range: exit 2 before anything starts
        span = cost.check_days(options.whole(days, "--days", minimum=1, maximum=MAX_DAYS))
    with open_environment(env) as ops:
        rep = cost.rightsize_services(ops, days=span)
    render.rightsize(rep, json)


ns = Collection("cost")
for t in (report, budgets, scale_down, scale_up, schedule, rightsize):
    ns.add_task(t)
