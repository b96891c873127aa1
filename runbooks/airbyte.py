"""Airbyte (runbook 2.2, 5.2, 7): run syncs, and keep connections as `infrastructure/airbyte/` declares.

    inv airbyte.sync  --env E [--connection meta_ads] [--json]   sync (all connections at once)
    inv airbyte.diff  --env E [--json] [--exit-code]             live connections vs manifests
    inv airbyte.apply --env E [--dry-run] [--yes] [--json]       make them match the manifests

`airbyte.diff --exit-code` exits 1 when a connection differs from its manifest (as
`git diff --exit-code` does), so a CI job can gate on it.

`airbyte.host-check` (the Airbyte host over SSH) lives in its own module and is added to this
collection where the namespace is composed (tasks.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, Context, task

from runbooks import lazy, options
from runbooks.common import (
    DRIFT_FOUND,
    ENV_HELP,
    EXIT_CODE_HELP,
    JSON_HELP,
    confirm,
    ops_task,
)

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _airbyte as render
else:
    render = lazy.module("runbooks.render._airbyte")


@task(
    klass=options.OpsTask,
    short={"timeout": "i"},
    help={
        "env": ENV_HELP,
        "connection": "only this connection (a name from environments.yaml airbyte.connections)",
        "timeout": "seconds to wait for each sync (default: airbyte.sync_timeout)",
        "no_adopt": "fail instead of waiting for a sync that is already running",
        "json": JSON_HELP,
    },
)
@ops_task
def sync(
    c: Context,
    env: str = options.ENV_DEFAULT,
    connection: str | None = None,
    timeout: str | None = None,
    no_adopt: bool = False,
    json: bool = False,
) -> None:
    """Run a sync of every Airbyte connection (or one) at once; one line per connection."""
    from adinsights_ops import config
    from adinsights_ops.airbyte import sync_environment
    from adinsights_ops.loader import open_environment

    # Left out, --connection means every connection; given, it must name one (never '' = all).
    connection = options.optional_text(connection, "--connection", what="a connection name")
    wait = options.optional_timeout(timeout, "--timeout")
    environment = config.load(env)
    if connection is not None and environment.airbyte is not None:
        options.choice(connection, "--connection", tuple(environment.airbyte.connections))
    with open_environment(environment) as ops:
        report = sync_environment(
            ops,
            connection=connection,
            timeout=wait,
            adopt_running=not no_adopt,
            on_event=render.sync_event,
        )
    render.synced(report, json)
    report.check()


@task(klass=options.OpsTask, help={"env": ENV_HELP, "json": JSON_HELP, "exit_code": EXIT_CODE_HELP})
@ops_task
def diff(
    c: Context, env: str = options.ENV_DEFAULT, json: bool = False, exit_code: bool = False
) -> None:
    """Compare live Airbyte connections with infrastructure/airbyte/ manifests (reads only)."""
    from invoke.exceptions import Exit

    from adinsights_ops.airbyte import drifts_for
    from adinsights_ops.loader import open_environment

    with open_environment(env) as ops:
        drifts = drifts_for(ops)
    render.drifts(drifts, json)
    if exit_code and drifts:
        raise Exit(f"drift: {len(drifts)} field(s) differ from the manifests", DRIFT_FOUND)


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "dry_run": "only show what would change (same as airbyte.diff)",
        "yes": "do not ask for confirmation (environments that require approval)",
        "json": JSON_HELP,
    },
)
@ops_task
def apply(
    c: Context,
    env: str = options.ENV_DEFAULT,
    dry_run: bool = False,
    yes: bool = False,
    json: bool = False,
) -> None:
    """Make the live Airbyte connections match their manifests, then check again."""
    from adinsights_ops.airbyte import apply_environment
    from adinsights_ops.loader import open_environment

    output = render.ApplyOutput(as_json=json)
    with open_environment(env) as ops:
        result = apply_environment(
            ops,
            dry_run=dry_run,
            approve=lambda: confirm(ops.name, yes, "patch Airbyte connections"),
            on_drifts=output.found,
            on_patched=output.patched,
        )
    output.result(result)
    result.check()


ns = Collection("airbyte")
for t in (sync, diff, apply):
    ns.add_task(t)
