"""Runbook section 5: `inv deploy --env E [--image-tag T] [--dry-run] [--yes] [--resume RUN_ID]`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoke import Collection, Context, task

from runbooks import lazy, options, render
from runbooks.common import ENV_HELP, JSON_HELP, SCENARIO_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _deploy as show
else:
    show = lazy.module("runbooks.render._deploy")


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
    env: str = options.ENV_DEFAULT,
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
    from adinsights_ops import config, pipeline
    from adinsights_ops.errors import UsageError
    from adinsights_ops.loader import open_environment

    environment = config.load(env)
    if resume and (image_tag or dry_run):
        raise UsageError("--resume continues a run with its own tag: drop --image-tag/--dry-run")
    tag = pipeline.resolve_tag(environment, image_tag or None) if not resume else None
    what = f"deploy {tag.given}" if tag else f"resume run {resume or ''}"
    if not dry_run:  # no terminal to ask on and no --yes: refused before anything is opened
        render.check_approval(environment, yes, what)

    def open_source(name: str) -> Any:
        return stack.enter_context(open_environment(name))

    from contextlib import ExitStack, nullcontext

    # dbt starts and parses the project while the environment opens and the steps before the
    # data-state step run; stopped on leaving the block if the build was not reached. Where a
    # prompt asks first, it starts once the answer is yes.
    asks = environment.approval_required and not yes
    ahead = nullcontext(None) if dry_run or asks else pipeline.prepare_data_state(environment)
    with (
        ahead as dbt_prepared,
        ExitStack() as stack,
        open_environment(environment, scenario=scenario or None) as ops,
    ):
        if dry_run:
            assert tag is not None
            show.plan(pipeline.plan(ops, tag), json)
            return
        if scenario and tag is not None:
            from adinsights_ops.loader import check_scenario_for

            check_scenario_for(ops, scenario, tag.ecr_tag)  # a rehearsal that cannot happen: exit 2
        # The plan, then the question (approval_required): a "no" has changed nothing.
        render.approve(environment, yes, what, lambda: _approval_plan(ops, tag, resume))
        if asks:
            dbt_prepared = stack.enter_context(pipeline.prepare_data_state(environment))
        render.say(
            f"deploying {tag.ecr_tag if tag else f'run {resume}'} to {ops.name} "
            f"({ops.env.ecs.cluster})"
        )
        with render.Progress() as progress:
            report = pipeline.deploy(
                ops,
                image_tag=tag,  # parsed once, above
                resume=resume or None,
                reason=reason,
                open_source=open_source,
                on_event=progress,
                on_step=progress.step,
                runner=c,  # the infrastructure step's shell commands run through Invoke
                dbt_prepared=dbt_prepared,
            )
    show.report(report, json)
    show.finished(report)


def _approval_plan(ops: Any, tag: Any, resume: str | None) -> list[str]:
    from adinsights_ops import pipeline

    if tag is None:
        return [f"plan: resume run {resume} of {ops.name} from its first unfinished step"]
    return show.plan_lines(pipeline.plan(ops, tag), dry_run=False)


@task(klass=options.OpsTask, help={"env": ENV_HELP, "json": JSON_HELP})
@ops_task
def lock_status(c: Context, env: str = options.ENV_DEFAULT, json: bool = False) -> None:
    """Who holds the environment's deploy lock, if anyone."""
    from adinsights_ops import lock
    from adinsights_ops.loader import open_environment

    with open_environment(env) as ops:
        held = lock.read(ops.aws.s3(), bucket=ops.env.state_bucket, environment=ops.name)
    show.lock(ops.name, held, json)


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
    env: str = options.ENV_DEFAULT,
    force: bool = False,
    reason: str = "",
    yes: bool = False,
    json: bool = False,
) -> None:
    """Remove the environment's deploy lock (after a crash); records who and why."""
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
        show.unlock_notice(ops.name, held, json)
        removed = None
        if held is not None:
            if not yes:
                render.confirm_word(
                    "unlock",
                    "Remove this lock? Type 'unlock'",
                    not_interactive="unlock asks before removing: pass --yes (not interactive)",
                    declined="not confirmed; the lock stays",
                )
            removed = force_unlock(ops, reason=reason.strip())
    show.unlocked(ops.name, held, removed, json)


@task(klass=options.OpsTask, help={"env": ENV_HELP, "limit": "how many runs", "json": JSON_HELP})
@ops_task
def status(c: Context, env: str = options.ENV_DEFAULT, limit: int = 10, json: bool = False) -> None:
    """The last runs in the environment's journal."""
    limit = options.whole(limit, "--limit", minimum=1, maximum=1000, what="how many runs")
    from adinsights_ops.loader import open_environment
    from adinsights_ops.pipeline import runs_as_they_stand

    with open_environment(env) as ops:
        runs = runs_as_they_stand(ops, limit=limit)
    show.runs(ops.name, runs, json)


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
    env: str = options.ENV_DEFAULT,
    expect_version: str = "",
    json: bool = False,
    scenario: str = "",
) -> None:
    """The smoke checks of section 5 on their own: health, Airbyte, dbt, timezone, metrics."""
    options.scenario(scenario)
    from adinsights_ops import health
    from adinsights_ops.loader import open_environment

    with open_environment(env, scenario=scenario or None) as ops:
        expected = expect_version or _running_version(ops)
        report = health.smoke(
            None,
            base_url=ops.health_base_url or ops.env.health_base_url,
            expected_version=expected,
            clock=ops.clock,
        )
    show.smoke(report, expected, ops.name, json)


def _running_version(ops: Any) -> str:
    """The release the backend service runs now, from its image's tag."""
    from adinsights_ops import health
    from adinsights_ops.ecs import _oneoff, _taskdefs

    revision = _oneoff.service_revision(ops, "backend")
    found = ops.aws.ecs().describe_task_definition(taskDefinition=revision)["taskDefinition"]
    _, tag = _taskdefs.split_image(found["containerDefinitions"][0]["image"])
    return health.release_version(tag or "")


ns = Collection("deploy")
ns.add_task(deploy, default=True)
ns.add_task(lock_status)
ns.add_task(unlock)
ns.add_task(status)
ns.add_task(smoke)
