"""Runbook section 5: `inv deploy --env E [--image-tag T] [--dry-run] [--yes] [--resume RUN_ID]`."""

from __future__ import annotations

from typing import Any

from invoke import Collection, Context, task

from runbooks import options
from runbooks.common import (
    ENV_HELP,
    JSON_HELP,
    SCENARIO_HELP,
    ProgressPrinter,
    confirm,
    ops_task,
    say,
    short,
    to_json,
)


@task(
    klass=options.OpsTask,
    short={"reason": ""},
    default=True,
    help={
        "env": ENV_HELP,
        "image_tag": "vX.Y.Z (release) or main-<gitsha>; the sandbox defaults to its current release",
        "dry_run": "print the plan (diffs, commands, snapshot name, drift) and change nothing",
        "yes": "approve without the typed confirmation (production)",
        "resume": "continue run RUN_ID from its first unfinished step",
        "reason": "why (recorded with the lock and in the journal)",
        "json": JSON_HELP,
        "scenario": SCENARIO_HELP,
    },
)
@ops_task
def deploy(
    c: Context,
    env: str | None = None,
    image_tag: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    resume: str | None = None,
    reason: str | None = None,
    json: bool = False,
    scenario: str | None = None,
) -> None:
    """Deploy a release to an environment (runbook section 5), every step journaled."""
    # Left out is None; given, a value must mean something (never '' for "the default").
    if resume is not None:
        options.run_id(resume, "--resume")
    image_tag = options.optional_text(image_tag, "--image-tag", what="an image tag like v1.4.0")
    reason = options.optional_text(reason, "--reason", what="a reason") or ""
    scenario = options.optional_text(scenario, "--scenario", what="a sandbox scenario")
    from invoke.exceptions import Exit

    from adinsights_ops import config, pipeline
    from adinsights_ops.errors import EXIT_FAILED, EXIT_NEEDS_HUMAN, EXIT_USAGE, UsageError
    from adinsights_ops.loader import open_environment

    environment = config.load(env)
    if resume and (image_tag or dry_run):
        raise UsageError("--resume continues a run with its own tag: drop --image-tag/--dry-run")
    tag = pipeline.resolve_tag(environment, image_tag or None) if not resume else None
    if environment.approval_required and not dry_run:
        # Asked before anything is opened or called: a refusal changes nothing.
        what = f"deploy {tag.given}" if tag else f"resume run {resume or ''}"
        if not confirm(environment.name, yes, what):
            raise Exit("error: not confirmed; nothing was changed", EXIT_USAGE)

    def open_source(name: str) -> Any:
        return stack.enter_context(open_environment(name))

    from contextlib import ExitStack

    with ExitStack() as stack, open_environment(environment, scenario=scenario or None) as ops:
        if dry_run:
            assert tag is not None
            _print_plan(pipeline.plan(ops, tag), json)
            return
        if scenario and tag is not None:
            from adinsights_ops.loader import check_scenario_for

            check_scenario_for(ops, scenario, tag.ecr_tag)  # a rehearsal that cannot happen: exit 2
        say(
            f"deploying {tag.ecr_tag if tag else f'run {resume}'} to {ops.name} "
            f"({ops.env.ecs.cluster})"
        )
        printer = ProgressPrinter()
        report = pipeline.deploy(
            ops,
            image_tag=tag.given if tag else None,
            resume=resume or None,
            reason=reason,
            open_source=open_source,
            on_event=printer,
            on_step=lambda name: say(f"== {name}"),
        )
        printer.close()
    if json:
        print(to_json(report))
    else:
        _print_report(report)
    if report.outcome == "succeeded":
        return
    code = EXIT_NEEDS_HUMAN if report.outcome in ("needs-human", "fenced") else EXIT_FAILED
    raise Exit(f"error: deploy {report.outcome} at step {report.failed_step}: {report.error}", code)


def _print_plan(plan: Any, as_json: bool) -> None:
    if as_json:
        print(to_json(plan))
        return
    print(f"plan: deploy {plan.image.ecr_tag} to {plan.environment} (dry run: nothing was changed)")
    print("  preflight:")
    for check in plan.checks:
        print(f"    ok  {check}")
    print(f"  lock: {plan.lock}")
    print(
        "  data state: Airbyte "
        + (
            "drift to fix: " + "; ".join(plan.airbyte_drift)
            if plan.airbyte_drift
            else "connections match the manifests"
        )
        + ("; then a validation sync and a dbt build" if plan.data_validation else "")
    )
    print(f"  infrastructure: {plan.infrastructure}")
    print(f"  snapshot: {plan.snapshot}")
    print("  task definitions:")
    for rev in plan.revisions:
        print(f"    {rev.service}: {short(rev.current)} -> next revision of {rev.family}")
        for change in rev.changes or ():
            print(f"        {change.field}: {change.old} -> {change.new}")
        if not rev.changes:
            print("        no change (already on this tag)")
    print("  one-off tasks on the new backend revision:")
    for command in plan.one_off_commands:
        print(f"    {command}")
    print(f"  warm: POST /api/dashboards/aggregate-snapshot/; {plan.warm_command}")
    print("  smoke: /api/health/ /api/health/airbyte/ /api/health/dbt/ /api/timezone/ /metrics/app")


def _print_report(report: Any) -> None:
    print(f"deploy {report.run_id} of {report.image_tag} to {report.environment}: {report.outcome}")
    for step in report.steps:
        print(f"  {step.name:<15} {step.outcome:<8} {step.elapsed:6.1f}s  {step.detail}")
    if report.outcome != "succeeded":
        print(f"failed at: {report.failed_step}: {report.error}")
        for line in report.details:
            print(f"  {line}")
    print("services now:")
    for service, revision in report.services.items():
        print(f"  {service:<18} {revision}")
    if report.snapshot:
        print(
            f"RDS snapshot: {report.snapshot}"
            + (" (kept)" if report.outcome != "succeeded" else "")
        )
    if report.lock:
        print(f"lock: {report.lock}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    if report.next_command:
        print(f"next: {report.next_command}")


@task(klass=options.OpsTask, help={"env": ENV_HELP, "json": JSON_HELP})
@ops_task
def lock_status(c: Context, env: str | None = None, json: bool = False) -> None:
    """Who holds the environment's deploy lock, if anyone."""
    from adinsights_ops import lock
    from adinsights_ops.loader import open_environment

    with open_environment(env) as ops:
        held = lock.read(ops.aws.s3(), bucket=ops.env.state_bucket, environment=ops.name)
    if json:
        print(to_json(held.body() if held else None))
        return
    if held is None:
        print(f"{env}: not locked")
        return
    state = "held by a holder that is GONE" if held.gone else "held"
    print(f"{env}: {state}: {held.describe()}, reason: {held.reason}")
    print(f"  since {held.started}, last renewed {held.renewed or held.started}")


@task(
    klass=options.OpsTask,
    short={"reason": ""},
    help={
        "env": ENV_HELP,
        "force": "required: removing someone's lock is deliberate",
        "reason": "required: why the lock is removed (recorded in the journal and the activity log)",
        "yes": "do not ask",
        "json": JSON_HELP,
    },
)
@ops_task
def unlock(
    c: Context,
    env: str | None = None,
    force: bool = False,
    reason: str = "",
    yes: bool = False,
    json: bool = False,
) -> None:
    """Remove the environment's deploy lock (after a crash); records who and why."""
    import sys

    from adinsights_ops import lock
    from adinsights_ops.errors import UsageError
    from adinsights_ops.loader import open_environment
    from adinsights_ops.pipeline import unlock as force_unlock

    if not force:
        raise UsageError("unlock removes another run's lock: pass --force to mean it")
    if not reason.strip():
        raise UsageError("unlock needs --reason '<why>': it is recorded in the journal and the log")
    with open_environment(env) as ops:
        held = lock.read(ops.aws.s3(), bucket=ops.env.state_bucket, environment=ops.name)
        show = say if json else print  # under --json, stdout holds only the result
        if held is None:
            show(f"{env}: not locked; nothing removed")
            if json:
                print(to_json({"environment": ops.name, "locked": False, "removed": None}))
            return
        show(f"{env}: locked by {held.describe()} ({held.reason}), since {held.started}")
        if not held.gone:
            show(
                "warning: its holder looks alive; it will stop at its next step (fenced) and "
                "leave what it changed so far"
            )
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError("unlock asks before removing: pass --yes (not interactive)")
            if input("Remove this lock? Type 'unlock': ").strip() != "unlock":
                raise UsageError("not confirmed; the lock stays")
        removed = force_unlock(ops, reason=reason.strip())
    if json:
        gone = None
        if removed is not None:
            gone = {"run_id": removed.run_id, "who": removed.who, "reason": removed.reason}
        print(to_json({"environment": ops.name, "locked": True, "removed": gone}))
    elif removed is not None:
        print(f"removed the lock of run {removed.run_id} held by {removed.who}; recorded why")


@task(klass=options.OpsTask, help={"env": ENV_HELP, "limit": "how many runs", "json": JSON_HELP})
@ops_task
def status(c: Context, env: str | None = None, limit: int = 10, json: bool = False) -> None:
    """The last runs in the environment's journal."""
    limit = options.whole(limit, "--limit", minimum=1, maximum=1000, what="how many runs")
    from adinsights_ops.loader import open_environment
    from adinsights_ops.pipeline import runs_as_they_stand

    with open_environment(env) as ops:
        runs = runs_as_they_stand(ops, limit=limit)
    if json:
        print(to_json(runs))
        return
    for r in runs:
        last = r.steps[-1].name if r.steps else "-"
        print(
            f"{r.run_id}  {r.kind:<11} {r.image_tag or '-':<16} {r.outcome:<12} last step {last:<14} {r.who}"
        )
        if r.outcome == "interrupted":
            print(
                f"  its holder is gone: inv deploy --env {env} --resume {r.run_id}, or "
                f"inv deploy.unlock --env {env} --force --reason '<why>'"
            )


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "expect_version": "version /api/health/ must report (default: what runs)",
        "json": JSON_HELP,
        "scenario": SCENARIO_HELP,
    },
)
@ops_task
def smoke(
    c: Context,
    env: str | None = None,
    expect_version: str = "",
    json: bool = False,
    scenario: str = "",
) -> None:
    """The smoke checks of section 5 on their own: health, Airbyte, dbt, timezone, metrics."""
    options.scenario(scenario)
    from adinsights_ops import checks_report as cr
    from adinsights_ops import ecs, health
    from adinsights_ops.loader import open_environment
    from runbooks.common import render_checks

    with open_environment(env, scenario=scenario or None) as ops:
        expected = expect_version
        if not expected:
            backend = ops.env.ecs.services["backend"].name
            (state,) = ecs.status(ops.aws.ecs(), cluster=ops.env.ecs.cluster, services=[backend])
            image = ops.aws.ecs().describe_task_definition(taskDefinition=state.task_definition)
            expected = health.release_version(
                image["taskDefinition"]["containerDefinitions"][0]["image"].rsplit(":", 1)[-1]
            )
        report = health.smoke(
            None,
            base_url=ops.health_base_url or ops.env.health_base_url,
            expected_version=expected,
            clock=ops.clock,
        )
    items = [
        (cr.passed if check.ok else cr.failed)(
            check.path,
            f"GET {check.path}: {check.status} in {check.latency_ms:.0f} ms",
            check.detail,
        )
        for check in report.checks
    ]
    render_checks(cr.report(f"smoke (expecting {expected})", env, items), json)


ns = Collection("deploy")
ns.add_task(deploy, default=True)
ns.add_task(lock_status)
ns.add_task(unlock)
ns.add_task(status)
ns.add_task(smoke)
