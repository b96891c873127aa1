"""Infrastructure (runbook section 2, deploy step 4): plan, show, apply; and verify the blueprint.

Two engines behind one interface (`Engine`: plan -> InfraPlan, apply(plan) -> InfraResult,
discard(plan)): CloudFormation change sets (`_cloudformation`) and Terraform plan files
(`_terraform`, its commands run by the caller's `shell.Runner`). Which one an environment uses,
and with what, is `_settings`. `plan_and_apply` is the deploy pipeline's step 4; `verify` checks
the live environment against the runbook's blueprint (`_verify`); `describe` says what a deploy
would do without calling anything that changes state (for `--dry-run`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adinsights_ops.config._infra import InfraSettings
from adinsights_ops.errors import ConfigError, UsageError
from adinsights_ops.infra._cloudformation import (
    CloudFormationEngine,
    parse_template,
    read_template,
    template_parameters,
)
from adinsights_ops.infra._model import (
    Engine,
    InfraPlan,
    InfraResult,
    OnPhase,
)
from adinsights_ops.infra._settings import for_environment
from adinsights_ops.infra._terraform import TerraformEngine
from adinsights_ops.shell import LocalRunner, Runner

if TYPE_CHECKING:
    from adinsights_ops.opsenv import OpsEnv


ENV_TAG = "adinsights:environment"


def cloudformation_parameters(
    ops: OpsEnv, settings: InfraSettings, template: Path
) -> dict[str, str]:
    """EnvironmentName (when the template declares it), then the configured parameters.

    A configured parameter the template does not declare is a configuration error: CloudFormation
    would refuse it anyway, and saying so before any call names the key to fix.
    """
    declared = template_parameters(template)
    params: dict[str, str] = {}
    if "EnvironmentName" in declared:
        params["EnvironmentName"] = ops.env.name
    for key, value in settings.parameters.items():
        if key not in declared:
            raise ConfigError(
                ops.env.source,
                f"{ops.env.name}.infra.parameters.{key}",
                f"a parameter of {template.name} (it declares: {', '.join(declared) or 'none'})",
            )
        params[key] = value
    return params


def engine_for(
    ops: OpsEnv,
    settings: InfraSettings | None = None,
    *,
    runner: Runner | None = None,
    on_event: OnPhase | None = None,
) -> Engine | None:
    """The engine `settings` (default: the environment's) name, ready to plan; None for "none".

    Terraform's commands go through `runner` (a task passes its Invoke context `c`); without one
    they run in a local shell (`shell.LocalRunner`).
    """
    s = settings or for_environment(ops.env)
    if s.engine == "cloudformation":
        template = ops.env.path(s.template)
        return CloudFormationEngine(
            ops.aws.client("cloudformation"),
            stack_name=s.stack_name,
            template=template,
            parameters=cloudformation_parameters(ops, s, template),
            tags={ENV_TAG: ops.env.name},
            capabilities=s.capabilities,
            change_set_timeout=s.change_set_timeout,
            timeout=s.timeout,
            clock=ops.clock,
            on_event=on_event,
        )
    if s.engine == "terraform":
        from adinsights_ops.paths import home

        working_dir = ops.env.path(s.terraform_dir)
        if not working_dir.is_dir():
            raise UsageError(f"Terraform directory {working_dir} does not exist")
        return TerraformEngine(
            runner if runner is not None else LocalRunner(),
            working_dir=working_dir,
            plan_dir=home() / "terraform" / ops.env.name,
            variables=s.parameters,
            var_file=ops.env.path(s.terraform_var_file) if s.terraform_var_file else None,
            init=s.terraform_init,
            timeout=s.timeout,
            plan_stem=ops.env.name,
            clock=ops.clock,
            on_event=on_event,
        )
    return None


def plan_and_apply(
    ops: OpsEnv,
    *,
    approve: Callable[[InfraPlan], bool],
    settings: InfraSettings | None = None,
    engine: Engine | None = None,
    runner: Runner | None = None,
    on_event: OnPhase | None = None,
) -> InfraResult:
    """Plan; when there are changes and `approve(plan)` says yes, apply them.

    `approve` is asked only when there is something to change. Returns outcome "skipped" (no engine
    configured), "no changes", "declined" (the change set or plan file is discarded; nothing
    changed) or "applied". A failed apply raises (`StackUpdateFailed` after a rollback,
    `StackRollbackFailed` / `TerraformApplyIncomplete` when a human must look). `engine` is one
    already made by `engine_for` (a caller that validates before taking a lock); by default it is
    made from `settings`, its commands run by `runner` (see `engine_for`).
    """
    if engine is None:
        engine = engine_for(
            ops, settings or for_environment(ops.env), runner=runner, on_event=on_event
        )
    if engine is None:
        return InfraResult(
            "none", "skipped", f"skipped: no infrastructure engine configured for {ops.env.name}"
        )
    plan = engine.plan()
    if plan.no_changes:
        return InfraResult(engine.name, "no changes", f"{plan.target}: no changes", plan)
    try:
        approved = approve(plan)
    except BaseException:
        engine.discard(plan)
        raise
    if not approved:
        engine.discard(plan)
        return InfraResult(
            engine.name, "declined", f"{plan.target}: {plan.summary()} not approved", plan
        )
    return engine.apply(plan)


def describe(ops: OpsEnv, settings: InfraSettings | None = None) -> str:
    """What step 4 would do, read without changing anything (for a deploy's dry run)."""
    s = settings or for_environment(ops.env)
    if s.engine == "none":
        return "none configured"
    if s.engine == "terraform":
        return (
            f"terraform in {ops.env.path(s.terraform_dir)}: a dry run does not run terraform; "
            f"`inv infra.plan --env {ops.env.name}` shows its plan"
        )
    template = ops.env.path(s.template)
    _, local = read_template(template)
    params = cloudformation_parameters(ops, s, template)
    engine = engine_for(ops, s)
    assert isinstance(engine, CloudFormationEngine)
    stack = engine.stack()
    if stack is None:
        return f"cloudformation: stack {s.stack_name} does not exist yet; step 4 creates it"
    live = _live_template(engine.cloudformation, s.stack_name)
    live_params = {
        str(p["ParameterKey"]): str(p.get("ParameterValue", ""))
        for p in stack.get("Parameters", [])
    }
    same = live == local and all(live_params.get(k) == v for k, v in params.items())
    verdict = (
        "template and parameters unchanged: no changes expected"
        if same
        else "template or parameters differ: step 4 will show a change set"
    )
    return f"cloudformation: stack {s.stack_name} ({stack.get('StackStatus')}), {verdict}"


def _live_template(cloudformation: Any, stack: str) -> Any:
    body = cloudformation.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    return parse_template(body) if isinstance(body, str) else body
