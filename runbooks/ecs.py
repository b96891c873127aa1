"""ECS operations an operator calls directly: status, one-off commands, scaling, pruning."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, Context, task

from runbooks import lazy, options, render
from runbooks.common import ENV_HELP, JSON_HELP, SCENARIO_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _ecs as show
else:
    show = lazy.module("runbooks.render._ecs")

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import TaskDefinitionTypeDef

    from adinsights_ops.opsenv import OpsEnv


def image_tag_of(task_definition: TaskDefinitionTypeDef) -> str:
    """The image tags of a task definition's containers (`-` for a digest or no tag)."""
    from adinsights_ops.ecs import split_image

    images = [c.get("image", "") for c in task_definition.get("containerDefinitions", [])]
    return ",".join(split_image(i)[1] or "-" for i in images)


@task(klass=options.OpsTask, help={"env": ENV_HELP, "json": JSON_HELP})
@ops_task
def status(c: Context, env: str = options.ENV_DEFAULT, json: bool = False) -> None:
    """Each service: revision, image tag, running/desired, rollout state."""
    from adinsights_ops import ecs
    from adinsights_ops.loader import open_environment

    with open_environment(env) as ops:
        client = ops.aws.ecs()
        names = [ref.name for ref in ops.env.ecs.services.values()]
        states = ecs.status(client, cluster=ops.env.ecs.cluster, services=names)
        tags = {
            s.name: image_tag_of(
                client.describe_task_definition(taskDefinition=s.task_definition)["taskDefinition"]
            )
            for s in states
        }
    show.services(states, tags, json)


def one_off_task_definition(ops: OpsEnv) -> str:
    """The one-off family's revision a service runs now (not merely the newest registered one)."""
    from adinsights_ops import ecs

    family = ops.env.ecs.one_off_family
    names = [ref.name for ref in ops.env.ecs.services.values()]
    for state in ecs.status(ops.aws.ecs(), cluster=ops.env.ecs.cluster, services=names):
        primary = state.primary
        if primary and ecs.short_arn(primary.task_definition).rsplit(":", 1)[0] == family:
            return primary.task_definition
    return family


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "command": 'the command, e.g. "python manage.py migrate"',
        "task_definition": "revision to run on (default: the one the backend service runs)",
        "timeout": "seconds to wait for the task to stop (default: the environment's ecs.task_timeout)",
        "json": JSON_HELP,
        "scenario": SCENARIO_HELP,
    },
)
@ops_task
def run(
    c: Context,
    command: str,
    env: str = options.ENV_DEFAULT,
    task_definition: str | None = None,
    timeout: str | None = None,
    json: bool = False,
    scenario: str = "",
) -> None:
    """Run a one-off command as a Fargate task; print its exit code and log tail."""
    from adinsights_ops import ecs
    from adinsights_ops.ecs import _oneoff as oneoff
    from adinsights_ops.loader import open_environment

    argv = options.command(command, "--command")
    options.scenario(scenario)
    wait = options.optional_timeout(timeout, "--timeout")
    # Given, it names a revision (never '' = the one the backend runs).
    revision = options.optional_text(task_definition, "--task-definition", what="a revision")
    with open_environment(env, scenario=scenario or None) as ops:
        td = revision or one_off_task_definition(ops)
        render.say(f"running `{command}` on {render.short_arn(td)} in {ops.env.ecs.cluster}")
        with render.Progress() as printer:  # closed also when the task fails or is cut short
            try:
                result = ecs.run_task(
                    ops.aws.ecs(),
                    cluster=ops.env.ecs.cluster,
                    task_definition=td,
                    command=argv,
                    network=oneoff.network(ops),
                    container=ops.env.ecs.one_off_container,
                    timeout=wait or ops.env.ecs.task_timeout,
                    logs=ops.aws.logs(),
                    on_event=printer,
                    clock=ops.clock,
                )
            except ecs.TaskFailed as exc:
                printer.close()
                show.task(exc.result, json)
                raise
    show.task(result, json)


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "service": "service name (e.g. celery-worker)",
        "count": "desired count",
        "force": "allow more than one copy of a singleton (celery-beat)",
        "json": JSON_HELP,
    },
)
@ops_task
def scale(
    c: Context,
    service: str,
    count: int,
    env: str = options.ENV_DEFAULT,
    force: bool = False,
    json: bool = False,
) -> None:
    """Set a service's desired count and wait until it runs that many tasks."""
    from adinsights_ops import config

    count = options.whole(count, "--count", maximum=1000, what="tasks to run")
    known = tuple(ref.name for ref in config.load(env).ecs.services.values())
    options.choice(service, "--service", known)
    from adinsights_ops import ecs
    from adinsights_ops.loader import open_environment

    with open_environment(env) as ops, render.Progress() as printer:
        state = ecs.scale(
            ops.aws.ecs(),
            cluster=ops.env.ecs.cluster,
            service=service,
            desired=count,
            singletons=ops.env.ecs.singletons,
            force=force,
            timeout=ops.env.ecs.rollout_timeout,
            on_event=printer,
            clock=ops.clock,
        )
    show.scaled(state, json)


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "keep": "revisions to keep per family",
        "dry_run": "only say what would go",
        "json": JSON_HELP,
    },
)
@ops_task
def prune(
    c: Context,
    env: str = options.ENV_DEFAULT,
    keep: int = 10,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Deregister old task-definition revisions (never one in use or a rollback target)."""
    keep = options.whole(keep, "--keep", minimum=1, maximum=1000, what="revisions per family")
    from adinsights_ops import ecs
    from adinsights_ops.loader import open_environment

    with open_environment(env) as ops:
        result = ecs.prune(ops, keep=keep, dry_run=dry_run)
    show.pruned(result, keep, dry_run, json)


ns = Collection("ecs")
for t in (status, run, scale, prune):
    ns.add_task(t)
