"""Runbook section 1: environments (`inv env.list`, `inv env.show --env E`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, Context, task

from runbooks import lazy, options
from runbooks.common import ALWAYS_EXIT_CODE_HELP, ENV_HELP, JSON_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _environments as render
else:
    render = lazy.module("runbooks.render._environments")


@task(klass=options.OpsTask, help={"json": JSON_HELP})
@ops_task
def list_(c: Context, json: bool = False) -> None:
    """List the environments in environments.yaml and whether each is ready to use."""
    from adinsights_ops.config import list_environments

    render.listing(list_environments(), json)


@task(klass=options.OpsTask, help={"env": ENV_HELP, "json": JSON_HELP})
@ops_task
def show(c: Context, env: str = options.ENV_DEFAULT, json: bool = False) -> None:
    """Show one environment as the tool sees it, after validation."""
    from adinsights_ops import config

    render.environment(config.load(env), json)


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "image_tag": "the tag to check (default: the environment's default)",
        "json": JSON_HELP,
        "exit_code": ALWAYS_EXIT_CODE_HELP,
    },
)
@ops_task
def check(
    c: Context,
    env: str = options.ENV_DEFAULT,
    image_tag: str = "",
    json: bool = False,
    exit_code: bool = False,
) -> None:
    """Would this tag be allowed here? The section-1 rules, each with why it passes or not."""
    from adinsights_ops import config
    from adinsights_ops.loader import open_environment
    from adinsights_ops.pipeline._envcheck import check_environment
    from runbooks.render import checks

    report = check_environment(config.load(env), open_environment, image_tag or None)
    checks(report, json)


ns = Collection("env")
ns.add_task(list_, name="list")
ns.add_task(show)
ns.add_task(check)
