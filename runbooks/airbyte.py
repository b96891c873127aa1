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

from typing import TYPE_CHECKING, Any

from invoke import Collection, Context, task

from runbooks import options
from runbooks.common import (
    DRIFT_FOUND,
    ENV_HELP,
    EXIT_CODE_HELP,
    JSON_HELP,
    confirm,
    ops_task,
    say,
    to_json,
)

if TYPE_CHECKING:
    from adinsights_ops.airbyte import AirbyteClient, Drift, SyncEvent, SyncOutcome
    from adinsights_ops.opsenv import OpsEnv


def _settings(ops: OpsEnv) -> Any:
    from adinsights_ops.errors import UsageError

    if ops.env.airbyte is None:
        raise UsageError(f"environment {ops.env.name!r} has no airbyte section in {ops.env.source}")
    return ops.env.airbyte


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
    env: str | None = None,
    connection: str | None = None,
    timeout: str | None = None,
    no_adopt: bool = False,
    json: bool = False,
) -> None:
    """Run a sync of every Airbyte connection (or one) at once; one line per connection."""
    from adinsights_ops import airbyte, config
    from adinsights_ops.errors import OpsError
    from adinsights_ops.loader import open_environment

    # Left out, --connection means every connection; given, it must name one (never '' = all).
    connection = options.optional_text(connection, "--connection", what="a connection name")
    wait = options.optional_timeout(timeout, "--timeout")
    environment = config.load(env)
    if connection is not None and environment.airbyte is not None:
        known = tuple(environment.airbyte.connections)
        options.choice(connection, "--connection", known)
    with open_environment(environment) as ops:
        settings = _settings(ops)
        connections = dict(settings.connections)
        if connection is not None:
            connections = {connection: connections[connection]}
        names = {cid: name for name, cid in connections.items()}

        def progress(event: SyncEvent) -> None:
            say(_event_line(names.get(event.connection_id, event.connection_id), event))

        client = airbyte.client_for(ops)
        outcomes = airbyte.sync_all(
            client,
            connections=connections,
            timeout=wait or settings.sync_timeout,
            adopt_running=not no_adopt,
            clock=ops.clock,
            on_event=progress,
        )
    if json:
        print(to_json([_outcome_dict(o) for o in outcomes]))
    else:
        width = max(len(o.name) for o in outcomes)
        for outcome in outcomes:
            print(_outcome_line(outcome, width))
    failed = [o.name for o in outcomes if not o.ok]
    if failed:
        raise OpsError(f"{len(failed)} of {len(outcomes)} syncs failed: {', '.join(failed)}")


def _event_line(name: str, event: SyncEvent) -> str:
    job = f"job {event.job_id}" if event.job_id is not None else "sync"
    if event.kind == "adopted":
        return f"{name}: {job} already {event.status}: waiting for it (adopted, never cancelled)"
    if event.kind == "started":
        return f"{name}: started {job}"
    if event.kind == "conflict":
        return f"{name}: Airbyte says a sync already runs ({event.detail}); adopting it"
    if event.kind == "unknown-status":
        return f"{name}: {job} reports unknown status {event.status!r}; still waiting"
    if event.kind == "cancel-failed":
        return f"{name}: could not cancel {job}: {event.detail}"
    return f"{name}: {job} {event.status} [{event.elapsed:.0f}s]"


def _outcome_line(outcome: SyncOutcome, width: int) -> str:
    job = outcome.job
    head = f"{outcome.name:<{width}}  "
    if job is None:
        return head + f"FAILED   {outcome.error}"
    state = "ok" if outcome.ok else "FAILED"
    line = head + f"{state:<7}  job {job.job_id}  {job.status}"
    line += "  adopted" if job.adopted else ""
    if job.duration_seconds is not None:
        line += f"  {job.duration_seconds:.0f}s"
    if job.rows_synced is not None:
        line += f"  {job.rows_synced} rows"
    if job.bytes_synced is not None:
        line += f"  {_size(job.bytes_synced)}"
    if outcome.error is not None:
        line += f"  ({outcome.error})"
    return line


def _outcome_dict(outcome: SyncOutcome) -> dict[str, Any]:
    import attrs

    return {
        "connection": outcome.name,
        "connection_id": outcome.connection_id,
        "ok": outcome.ok,
        "job": attrs.asdict(outcome.job) if outcome.job is not None else None,
        "error": str(outcome.error) if outcome.error is not None else None,
    }


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def _drifts(ops: OpsEnv, client: AirbyteClient) -> list[Drift]:
    from adinsights_ops import airbyte

    settings = _settings(ops)
    manifests = airbyte.load_manifests(airbyte.manifests_dir(ops.env))
    return airbyte.diff(client, manifests, settings.connections)


def _print_drifts(drifts: list[Drift], as_json: bool) -> None:
    if as_json:
        print(to_json([_drift_dict(d) for d in drifts]))
        return
    if not drifts:
        print("no drift: every connection matches its manifest")
        return
    print(f"{'connection':<12} {'field':<36} {'live':<28} desired")
    for d in drifts:
        print(f"{d.connection:<12} {d.field:<36} {_show(d.live):<28} {_show(d.desired)}")


def _drift_dict(drift: Drift) -> dict[str, Any]:
    return {
        "connection": drift.connection,
        "connection_id": drift.connection_id,
        "field": drift.field,
        "live": drift.live,
        "desired": drift.desired,
    }


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


@task(klass=options.OpsTask, help={"env": ENV_HELP, "json": JSON_HELP, "exit_code": EXIT_CODE_HELP})
@ops_task
def diff(c: Context, env: str | None = None, json: bool = False, exit_code: bool = False) -> None:
    """Compare live Airbyte connections with infrastructure/airbyte/ manifests (reads only)."""
    from invoke.exceptions import Exit

    from adinsights_ops import airbyte
    from adinsights_ops.loader import open_environment

    with open_environment(env) as ops:
        _settings(ops)
        drifts = _drifts(ops, airbyte.client_for(ops))
    _print_drifts(drifts, json)
    if exit_code and drifts:
        fields = len(drifts)
        raise Exit(f"drift: {fields} field(s) differ from the manifests", DRIFT_FOUND)


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
    c: Context, env: str | None = None, dry_run: bool = False, yes: bool = False, json: bool = False
) -> None:
    """Make the live Airbyte connections match their manifests, then check again."""
    from adinsights_ops import airbyte
    from adinsights_ops.errors import OpsError, UsageError
    from adinsights_ops.loader import open_environment

    with open_environment(env) as ops:
        _settings(ops)
        client = airbyte.client_for(ops)
        drifts = _drifts(ops, client)
        if json:
            say(f"{len(drifts)} field(s) differ from the manifests")
        else:
            _print_drifts(drifts, False)
        if dry_run or not drifts:
            if dry_run and drifts:
                say("dry run: nothing changed")
            if json:
                print(to_json(_apply_dict(drifts, [], [], dry_run)))
            return
        if ops.env.approval_required and not confirm(ops.name, yes, "patch Airbyte connections"):
            raise UsageError("not confirmed: nothing changed")
        patched = []
        for done in airbyte.apply(client, drifts):
            say(f"patched {done.connection} ({done.connection_id}): {', '.join(done.fields)}")
            patched.append(done)
        remaining = _drifts(ops, client)
    if json:
        print(to_json(_apply_dict(drifts, patched, remaining, dry_run)))
    elif remaining:
        _print_drifts(remaining, False)
    if remaining:
        raise OpsError(f"{len(remaining)} field(s) still differ after apply (see above)")
    if not json:
        print("every connection matches its manifest")


def _apply_dict(
    drifts: list[Drift], patched: list[Any], remaining: list[Drift], dry_run: bool
) -> dict[str, Any]:
    """airbyte.apply --json: what differed, what was patched, what still differs."""
    return {
        "dry_run": dry_run,
        "drift": [_drift_dict(d) for d in drifts],
        "patched": [
            {"connection": p.connection, "connection_id": p.connection_id, "fields": list(p.fields)}
            for p in patched
        ],
        "remaining": [_drift_dict(d) for d in remaining],
        "in_sync": not remaining if patched else not drifts,
    }


ns = Collection("airbyte")
for t in (sync, diff, apply):
    ns.add_task(t)
