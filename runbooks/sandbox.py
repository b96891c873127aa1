"""The embedded sandbox: `inv sandbox.up` keeps one running for several commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, Context, task

from runbooks import lazy, options
from runbooks.common import JSON_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _sandbox as render
else:
    render = lazy.module("runbooks.render._sandbox")


@task(
    klass=options.OpsTask,
    help={
        "env": "the sandbox environment (default: sandbox)",
        "port": "port on 127.0.0.1 (0: any free)",
        "scenario": "failure scenario to start with (none, failing-rollout, failing-migration)",
        "faults": "fault injection: a preset (throttled, chaos) or a JSON spec (docs/runbooks/sandbox.md)",
    },
)
@ops_task
def up(
    c: Context, env: str = "sandbox", port: int = 0, scenario: str = "none", faults: str = ""
) -> None:
    """Run a sandbox in the foreground; other `--env sandbox` commands use it until Ctrl-C."""
    from adinsights_ops.sandbox._shared import sandbox_environment, serve

    port = options.whole(port, "--port", maximum=65535, what="0 picks a free port")
    environment = sandbox_environment(env)
    options.scenario(scenario)
    serve(
        environment,
        scenario=scenario,
        port=port,
        faults=faults,
        on_ready=render.ready,
        on_stopped=render.stopped,
    )


@task(
    klass=options.OpsTask,
    help={"env": "the sandbox environment (default: sandbox)", "json": JSON_HELP},
)
@ops_task
def status(c: Context, env: str = "sandbox", json: bool = False) -> None:
    """Say whether a shared sandbox runs, and where."""
    from adinsights_ops.sandbox._shared import status as shared_status

    render.status(shared_status(env), json)


@task(klass=options.OpsTask, help={"env": "the sandbox environment (default: sandbox)"})
@ops_task
def reset(c: Context, env: str = "sandbox") -> None:
    """Forget what the sandbox remembers between commands (deploys, journal, revisions)."""
    from adinsights_ops.sandbox._shared import reset as forget

    render.reset(env, forget(env))


ns = Collection("sandbox")
ns.add_task(up)
ns.add_task(status)
ns.add_task(reset)
