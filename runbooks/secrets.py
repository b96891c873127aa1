"""Runbook section 3 (secrets and configuration) and 10 (emergency DEK rotation)."""

from __future__ import annotations

from invoke import Collection, Context, task

from runbooks import options
from runbooks.common import (
    ALWAYS_EXIT_CODE_HELP,
    ENV_HELP,
    JSON_HELP,
    ProgressPrinter,
    confirm,
    ops_task,
    say,
    short,
    to_json,
)


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

    from invoke.exceptions import Exit

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
    if json:
        print(to_json(result))
    elif result.findings:
        width = max(len(f.check) for f in result.findings)
        subject = min(max(len(f.subject) for f in result.findings), 48)
        print(f"{'check':<{width}}  {'subject':<{subject}}  detail")
        for f in result.findings:
            print(f"{f.check:<{width}}  {f.subject:<{subject}}  {f.detail}")
    checked = ", ".join(result.task_definitions)
    if result.findings:
        raise Exit(f"error: {len(result.findings)} findings in {checked}", 1)
    say(f"ok: {len(result.variables)} variables in {checked} match {sample}; secrets and key fine")


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
    from invoke.exceptions import Exit

    from adinsights_ops import config, kms
    from adinsights_ops.loader import open_environment

    environment = config.load(env)
    if environment.approval_required and not confirm(environment.name, yes, "rotate tenant DEKs"):
        raise Exit("error: not confirmed; nothing was changed", 2)
    with open_environment(environment) as ops:
        say(f"rotating tenant DEKs in {ops.name}: celery-beat is paused while it runs")
        printer = ProgressPrinter()
        try:
            result = kms.rotate_deks(ops, on_event=printer)
        except kms.TaskFailed as exc:
            printer.close()
            for line in exc.result.log_tail:
                print(f"  | {line}")
            say("celery-beat was restored to its previous count")
            raise
        printer.close()
    if json:
        print(to_json(result))
        return
    for note in result.recovered:
        print(f"recovered: {note}")
    task_result = result.task
    print(
        f"rotate_deks ({short(task_result.task_arn)}) exited {task_result.exit_code} "
        f"after {task_result.elapsed:.0f}s; run {result.run_id}"
    )
    for line in task_result.log_tail:
        print(f"  | {line}")
    print(f"{result.beat_service} restored to {result.beat_restored} tasks")


ns = Collection("secrets")
for t in (audit, rotate_deks):
    ns.add_task(t)
