"""Infrastructure (runbook section 2; deploy step 4): plan, apply and verify.

`infra.plan` shows what would change and discards its change set (or plan file); with
`--exit-code` it exits 1 when there are changes (as `git diff --exit-code`); `infra.apply`
plans, shows, asks, and applies under the environment's lock; `infra.verify` checks the live
environment against the runbook's blueprint and exits 1 when an item fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, Context, task

from runbooks import lazy, options
from runbooks.common import (
    ALWAYS_EXIT_CODE_HELP,
    DRIFT_FOUND,
    ENV_HELP,
    EXIT_CODE_HELP,
    JSON_HELP,
    confirm,
    ops_task,
)

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _infra as render
else:
    render = lazy.module("runbooks.render._infra")

if TYPE_CHECKING:
    from adinsights_ops.infra import InfraPlan

ENGINES = ("cloudformation", "terraform", "none")
ENGINE_HELP = "cloudformation, terraform or none (default: the environment's infra.engine)"
TEMPLATE_HELP = "CloudFormation template (default: infrastructure/cloudformation/network-data.yaml)"
STACK_HELP = "CloudFormation stack name (default: adinsights-<env>-network-data)"


def _check_options(engine: str | None, template: str | None, stack: str | None) -> None:
    """What the command line alone can refuse, before the environment is opened.

    Each option left out takes its default; given empty, it is refused (never the default). An
    unknown engine or a missing template is infra's to say (before any call)."""
    from pathlib import Path

    if engine is not None:
        options.text(engine, "--engine", what=f"one of {', '.join(ENGINES)}")
    if template is not None:
        options.text(template, "--template", what="a CloudFormation template file")
        if Path(template).exists():
            options.readable_file(template, "--template", what="a CloudFormation template file")
    if stack is not None:
        options.text(stack, "--stack", what="a CloudFormation stack name")


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "engine": ENGINE_HELP,
        "template": TEMPLATE_HELP,
        "stack": STACK_HELP,
        "json": JSON_HELP,
        "exit_code": EXIT_CODE_HELP,
    },
)
@ops_task
def plan(
    c: Context,
    env: str = options.ENV_DEFAULT,
    engine: str | None = None,
    template: str | None = None,
    stack: str | None = None,
    json: bool = False,
    exit_code: bool = False,
) -> None:
    """Show what `infra.apply` would change; its change set (or plan file) is then discarded."""
    from adinsights_ops.infra import preview, settings_with
    from adinsights_ops.loader import open_environment

    _check_options(engine, template, stack)
    with open_environment(env) as ops:
        settings = settings_with(ops, engine=engine, template=template, stack=stack)
        found = preview(ops, settings, runner=c, on_event=render.phase)
    render.plan(found, ops.name, json)
    if exit_code and found is not None and found.changes:
        from invoke.exceptions import Exit

        raise Exit(f"drift: {found.summary()}", DRIFT_FOUND)


@task(
    klass=options.OpsTask,
    short={"reason": ""},
    help={
        "env": ENV_HELP,
        "engine": ENGINE_HELP,
        "template": TEMPLATE_HELP,
        "stack": STACK_HELP,
        "yes": "apply without asking (the plan is still shown)",
        "reason": "why (recorded with the lock)",
        "json": JSON_HELP,
    },
)
@ops_task
def apply(
    c: Context,
    env: str = options.ENV_DEFAULT,
    engine: str | None = None,
    template: str | None = None,
    stack: str | None = None,
    yes: bool = False,
    reason: str = "",
    json: bool = False,
) -> None:
    """Plan, show the changes, and apply them once approved (holding the environment's lock)."""
    from adinsights_ops.infra import apply_locked, settings_with
    from adinsights_ops.loader import open_environment
    from runbooks.render._prompt import needs_terminal

    _check_options(engine, template, stack)
    # No terminal to ask on and no --yes: refused before anything is opened or called.
    needs_terminal(env, yes, "infra.apply")

    def approve(found: InfraPlan) -> bool:
        render.to_approve(found, env, json)
        return confirm(env, yes, f"apply {found.summary()} to {found.target}")

    with open_environment(env) as ops:
        settings = settings_with(ops, engine=engine, template=template, stack=stack)
        result = apply_locked(
            ops, settings, approve=approve, reason=reason, runner=c, on_event=render.phase
        )
    render.applied(result, ops.name, json)


@task(
    klass=options.OpsTask,
    help={"env": ENV_HELP, "json": JSON_HELP, "exit_code": ALWAYS_EXIT_CODE_HELP},
)
@ops_task
def verify(
    c: Context, env: str = options.ENV_DEFAULT, json: bool = False, exit_code: bool = False
) -> None:
    """Check the live environment against the runbook's blueprint (section 2), with evidence."""
    from adinsights_ops import infra
    from adinsights_ops.loader import open_environment
    from runbooks.render import checks

    with open_environment(env) as ops:
        found = infra.verify(ops)
    checks(found, json)


ns = Collection("infra")
for t in (plan, apply, verify):
    ns.add_task(t)
