"""Infrastructure (runbook section 2; deploy step 4): plan, apply and verify.

`infra.plan` shows what would change and discards its change set (or plan file); with
`--exit-code` it exits 1 when there are changes (as `git diff --exit-code`); `infra.apply`
plans, shows, asks, and applies under the environment's lock; `infra.verify` checks the live
environment against the runbook's blueprint and exits 1 when an item fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoke import Collection, Context, task

from runbooks import options
from runbooks.common import (
    ALWAYS_EXIT_CODE_HELP,
    DRIFT_FOUND,
    ENV_HELP,
    EXIT_CODE_HELP,
    JSON_HELP,
    confirm,
    ops_task,
    render_checks,
    say,
    to_json,
)

if TYPE_CHECKING:
    from adinsights_ops.infra import InfraPlan, InfraSettings
    from adinsights_ops.opsenv import OpsEnv

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


def _settings(
    ops: OpsEnv, engine: str | None, template: str | None, stack: str | None
) -> InfraSettings:
    """The environment's settings with the command line's choices on top (CLI > config > default)."""
    from pathlib import Path

    from adinsights_ops import infra

    return infra.for_environment(
        ops.env,
        engine=engine or None,
        template=str(Path(template).resolve()) if template else None,
        stack_name=stack or None,
    )


def _progress(phase: Any) -> None:
    say(f"-- {phase.name}" + (f": {phase.detail}" if phase.detail else ""))


def _print_plan(plan: InfraPlan, environment: str) -> None:
    kind = getattr(plan.handle, "change_set_type", "")
    print(
        f"infrastructure plan for {environment}: {plan.engine} {plan.target}"
        + (f" ({kind} change set)" if kind else "")
    )
    for change in plan.changes:
        print(f"  {'!' if change.destructive else ' '} {change.line()}")
    print(plan.summary())
    if any(c.destructive for c in plan.changes):
        print("! = removes or replaces a resource (data in it may be lost)")


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
    from adinsights_ops import infra
    from adinsights_ops.loader import open_environment

    _check_options(engine, template, stack)
    with open_environment(env) as ops:
        settings = _settings(ops, engine, template, stack)
        engine_ = infra.engine_for(ops, settings, runner=c, on_event=_progress)
        if engine_ is None:
            if json:
                print(to_json({"engine": None, "changes": [], "no_changes": True}))
            else:
                print(f"no infrastructure engine configured for {ops.name}: nothing to plan")
            return
        found = engine_.plan()
        try:
            if json:
                print(to_json(found))
            else:
                _print_plan(found, ops.name)
        finally:
            engine_.discard(found)
    if exit_code and found.changes:
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
    import sys

    from adinsights_ops import infra, lock
    from adinsights_ops.errors import UsageError
    from adinsights_ops.journal import new_run_id
    from adinsights_ops.loader import open_environment

    _check_options(engine, template, stack)
    if not yes and not sys.stdin.isatty():
        # Refused before anything is opened or called: a refusal changes nothing.
        raise UsageError(f"infra.apply on {env} needs approval: pass --yes (not interactive)")

    def approve(found: InfraPlan) -> bool:
        if json:
            say(f"{found.engine} {found.target}: {found.summary()}")
        else:
            _print_plan(found, env)
        return confirm(env, yes, f"apply {found.summary()} to {found.target}")

    with open_environment(env) as ops:
        settings = _settings(ops, engine, template, stack)
        # Made (template, parameters, directory checked) before the lock: a refusal changes nothing.
        engine_ = infra.engine_for(ops, settings, runner=c, on_event=_progress)
        if engine_ is None:
            print(f"no infrastructure engine configured for {ops.name}: nothing to apply")
            return
        s3 = ops.aws.s3()
        held = lock.acquire(
            s3,
            bucket=ops.env.state_bucket,
            environment=ops.name,
            run_id=new_run_id(),
            reason=reason or "infra.apply",
            ttl=settings.timeout + 600,
        )
        try:
            result = infra.plan_and_apply(ops, approve=approve, engine=engine_)
        finally:
            lock.release(s3, bucket=ops.env.state_bucket, lock=held)
    if result.outcome == "declined":
        raise UsageError("not confirmed; nothing was changed")
    if json:
        print(to_json(result))
        return
    print(result.detail)
    for key, value in sorted(result.outputs.items()):
        print(f"  {key} = {value}")


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

    with open_environment(env) as ops:
        found = infra.verify(ops)
    render_checks(found, json)


ns = Collection("infra")
for t in (plan, apply, verify):
    ns.add_task(t)
