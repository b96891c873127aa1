"""Runbook section 7, post-deployment checks: `inv checks.post-deploy --env E [--window 30m]`.

Each part runs on its own too: checks.metrics, checks.airbyte, checks.dbt, checks.audit,
checks.activity-log. Every one prints a table of items (pass / FAIL / n/a with their evidence), or
JSON with --json, and exits 1 when an item failed (with or without `--exit-code`, which they
accept like every drift-reporting task). They only read.
"""

from __future__ import annotations

from typing import Any

from invoke import Collection, Context, task

from runbooks import options, render
from runbooks.common import ALWAYS_EXIT_CODE_HELP, ENV_HELP, JSON_HELP, ops_task

WINDOW_HELP = "how long after the deploy to compare with as long before it (30m, 1h, 1h30m)"


def _run(env: str, check: Any, as_json: bool, **options: Any) -> None:
    """Open the environment, run one check of adinsights_ops.postdeploy, render it."""
    import logging

    from adinsights_ops import config
    from adinsights_ops.loader import open_environment

    environment = config.load(env)
    with open_environment(environment) as ops:
        # An embedded sandbox's HTTP server logs moto's traceback for an API it lacks
        # (CloudTrail LookupEvents); the check reports that itself, as "not available".
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        result = check(ops, **options)
    render.checks(result, as_json)


def _window(window: str) -> float:
    from adinsights_ops.errors import UsageError
    from adinsights_ops.postdeploy import parse_window
    from runbooks import options

    options.text(window, "--window", what="a duration")
    try:
        return parse_window(window)
    except UsageError:
        options.refuse("--window", window, "a duration from 1m to 24h, e.g. 30m, 1h or 1h30m")


@task(
    klass=options.OpsTask,
    name="post-deploy",
    help={
        "env": ENV_HELP,
        "window": WINDOW_HELP,
        "json": JSON_HELP,
        "exit_code": ALWAYS_EXIT_CODE_HELP,
    },
)
@ops_task
def post_deploy(
    c: Context,
    env: str = options.ENV_DEFAULT,
    window: str = "30m",
    json: bool = False,
    exit_code: bool = False,
) -> None:
    """All post-deployment checks of runbook section 7; exit 1 when one failed."""
    from adinsights_ops import postdeploy

    _run(env, postdeploy.post_deploy, json, window=_window(window))


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "window": WINDOW_HELP,
        "json": JSON_HELP,
        "exit_code": ALWAYS_EXIT_CODE_HELP,
    },
)
@ops_task
def metrics(
    c: Context,
    env: str = options.ENV_DEFAULT,
    window: str = "30m",
    json: bool = False,
    exit_code: bool = False,
) -> None:
    """ALB 5xx, p95 latency and Celery queue depth after the last deploy vs before it."""
    from adinsights_ops import postdeploy

    _run(env, postdeploy.check_metrics, json, window=_window(window))


@task(
    klass=options.OpsTask,
    help={"env": ENV_HELP, "json": JSON_HELP, "exit_code": ALWAYS_EXIT_CODE_HELP},
)
@ops_task
def airbyte(
    c: Context, env: str = options.ENV_DEFAULT, json: bool = False, exit_code: bool = False
) -> None:
    """Each Airbyte connection synced successfully within the hour (plus grace)."""
    from adinsights_ops import postdeploy

    _run(env, postdeploy.check_airbyte, json)


@task(
    klass=options.OpsTask,
    help={"env": ENV_HELP, "json": JSON_HELP, "exit_code": ALWAYS_EXIT_CODE_HELP},
)
@ops_task
def dbt(
    c: Context, env: str = options.ENV_DEFAULT, json: bool = False, exit_code: bool = False
) -> None:
    """dbt's run_results.json is recent and has no failed node."""
    from adinsights_ops import postdeploy

    _run(env, postdeploy.check_dbt, json)


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "window": "how far back to read CloudTrail and logs",
        "json": JSON_HELP,
        "exit_code": ALWAYS_EXIT_CODE_HELP,
    },
)
@ops_task
def audit(
    c: Context,
    env: str = options.ENV_DEFAULT,
    window: str = "30m",
    json: bool = False,
    exit_code: bool = False,
) -> None:
    """Credential activity (CloudTrail), and no current secret value in the services' logs."""
    from adinsights_ops import postdeploy

    _run(env, postdeploy.check_audit, json, window=_window(window))


@task(
    klass=options.OpsTask,
    name="activity-log",
    help={"env": ENV_HELP, "json": JSON_HELP, "exit_code": ALWAYS_EXIT_CODE_HELP},
)
@ops_task
def activity_log(
    c: Context, env: str = options.ENV_DEFAULT, json: bool = False, exit_code: bool = False
) -> None:
    """The newest succeeded deploy is recorded in the environment's activity log."""
    from adinsights_ops import postdeploy

    _run(env, postdeploy.check_activity_log, json)


ns = Collection("checks")
for t in (post_deploy, metrics, airbyte, dbt, audit, activity_log):
    ns.add_task(t)
