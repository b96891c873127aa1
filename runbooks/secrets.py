"""Runbook section 3 (secrets and configuration) and 10 (emergency DEK rotation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoke import Collection, Context, task

from runbooks import lazy, options, render
from runbooks.common import ALWAYS_EXIT_CODE_HELP, ENV_HELP, JSON_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _kms
    from runbooks.render import _secrets as show
else:
    _kms = lazy.module("runbooks.render._kms")
    show = lazy.module("runbooks.render._secrets")


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "env_sample": "the app's .env.sample (default: .env.sample beside environments.yaml)",
        "json": JSON_HELP,
        "exit_code": ALWAYS_EXIT_CODE_HELP,
    },
)
@ops_task
def audit(
    c: Context,
    env: str = options.ENV_DEFAULT,
    env_sample: str = "",
    json: bool = False,
    exit_code: bool = False,
) -> None:
    """Check task definitions vs .env.sample, plaintext secrets, secret references, the KMS key.

    Exit 1 on any finding. Never prints a secret's value.
    """
    from pathlib import Path

    from adinsights_ops import secrets
    from adinsights_ops.loader import open_environment

    if env_sample:
        options.readable_file(env_sample, "--env-sample", what="the app's .env.sample")
    with open_environment(env) as ops:
        sample = Path(env_sample) if env_sample else Path(ops.env.source).parent / ".env.sample"
        result = secrets.audit(
            ops.aws.ecs(),
            ops.aws.client("secretsmanager"),
            ops.aws.client("ssm"),
            ops.aws.client("kms"),
            cluster=ops.env.ecs.cluster,
            services=[ref.name for ref in ops.env.ecs.services.values()],
            env_sample=sample,
            kms_key=ops.env.kms_key,
        )
    show.audit(result, sample, json)


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "yes": "approve without the typed confirmation (production)",
        "json": JSON_HELP,
    },
)
@ops_task
def rotate_deks(
    c: Context, env: str = options.ENV_DEFAULT, yes: bool = False, json: bool = False
) -> None:
    """Emergency rotation: pause celery-beat, run `manage.py rotate_deks`, restore beat (runbook 10)."""
    from adinsights_ops import config, kms
    from adinsights_ops.loader import open_environment

    environment = config.load(env)
    render.check_approval(environment, yes, "rotate tenant DEKs")
    with open_environment(environment) as ops:
        render.approve(environment, yes, "rotate tenant DEKs", lambda: _rotate_deks_plan(ops))
        render.say(f"rotating tenant DEKs in {ops.name}: celery-beat is paused while it runs")
        with render.Progress() as progress:
            try:
                result = kms.rotate_deks(ops, on_event=progress)
            except kms.TaskFailed as exc:
                progress.close()
                _kms.task_log(exc.result.log_tail)
                render.say("celery-beat was restored to its previous count")
                raise
    _kms.deks_rotated(result, json)


def _rotate_deks_plan(ops: Any) -> list[str]:
    """The services as they run now: what the rotation pauses, runs on and restores."""
    from adinsights_ops import ecs, kms

    services = ops.env.ecs.services
    beat, backend = services["beat"].name, services["backend"].name
    states = ecs.describe(ops.aws.ecs(), cluster=ops.env.ecs.cluster, services=[beat, backend])
    return _kms.rotate_deks_plan(ops.name, states[beat], states[backend], kms.COMMAND)


ns = Collection("secrets")
for t in (audit, rotate_deks):
    ns.add_task(t)
