"""Runbook section 1: environments (`inv env.list`, `inv env.show --env E`)."""

from __future__ import annotations

from invoke import Collection, Context, task

from runbooks import options
from runbooks.common import ALWAYS_EXIT_CODE_HELP, ENV_HELP, JSON_HELP, ops_task, to_json


@task(klass=options.OpsTask, help={"json": JSON_HELP})
@ops_task
def list_(c: Context, json: bool = False) -> None:
    """List the environments in environments.yaml and whether each is ready to use."""
    from typing import Any

    from adinsights_ops import config
    from adinsights_ops.errors import ConfigError

    source, data = config.read_file()
    found: list[dict[str, Any]] = []
    for name in data:
        try:
            env = config.parse_environment(str(name), data[name], source)
            kind = "sandbox (embedded)" if env.sandbox else f"account {env.account} {env.region}"
            found.append(
                {
                    "name": str(name),
                    "ready": True,
                    "sandbox": env.sandbox,
                    "account": env.account,
                    "region": env.region,
                    "branch_rule": env.branch_rule,
                }
            )
            line = f"{name:<12} ready     {kind}, branch rule {env.branch_rule}"
        except ConfigError as exc:
            found.append(
                {"name": str(name), "ready": False, "problem": f"{exc.key}: {exc.expected}"}
            )
            line = f"{name:<12} not ready {exc.key}: {exc.expected}"
        if not json:
            print(line)
    if json:
        print(to_json({"source": str(source), "environments": found}))


@task(klass=options.OpsTask, help={"env": ENV_HELP, "json": JSON_HELP})
@ops_task
def show(c: Context, env: str = options.ENV_DEFAULT, json: bool = False) -> None:
    """Show one environment as the tool sees it, after validation."""
    from adinsights_ops import config

    environment = config.load(env)
    if json:
        print(to_json(environment))
        return
    e = environment
    print(f"{e.name}  ({e.source})")
    print(f"  account {e.account}  region {e.region}  profile {e.profile or '-'}")
    print(f"  branch rule {e.branch_rule}  approval {'required' if e.approval_required else 'no'}")
    print(f"  cluster {e.ecs.cluster}")
    for role, ref in e.ecs.services.items():
        print(f"    {role:<9} {ref.name:<18} image {e.repositories[ref.image]}")
    print(f"  one-off tasks: family {e.ecs.one_off_family}, container {e.ecs.one_off_container}")
    print(f"  rds {e.rds_instance}  kms {e.kms_key}  state bucket {e.state_bucket}")
    print(f"  health {e.health_base_url}  sample tenant {e.sample_tenant}")


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
    from contextlib import ExitStack

    from adinsights_ops import checks_report as cr
    from adinsights_ops import config
    from adinsights_ops.errors import OpsError
    from adinsights_ops.loader import open_environment
    from adinsights_ops.pipeline import _preflight as preflight
    from runbooks.common import render_checks

    environment = config.load(env)
    items = []
    rule = environment.branch_rule
    try:
        tag = preflight.resolve_tag(environment, image_tag or None)
        items.append(
            cr.passed("branch rule", f"rule {rule!r} allows {tag.given} ({tag.kind} build)")
        )
    except OpsError as exc:
        items.append(cr.failed("branch rule", f"rule {rule!r}", str(exc)))
        render_checks(cr.report("environment check", env, items), json)
        return
    with ExitStack() as stack, open_environment(environment) as ops:
        source = lambda name: stack.enter_context(open_environment(name))  # noqa: E731
        for name, probe in (
            ("account", lambda: f"credentials are for {preflight.check_account(ops)}"),
            ("images in ECR", lambda: "; ".join(preflight.check_images(ops, tag))),
            ("promotion", lambda: preflight.check_promotion(ops, tag, source)),
        ):
            try:
                items.append(cr.passed(name, probe()))
            except OpsError as exc:
                items.append(cr.failed(name, name, str(exc)))
    render_checks(cr.report("environment check", env, items), json)


ns = Collection("env")
ns.add_task(list_, name="list")
ns.add_task(show)
ns.add_task(check)
