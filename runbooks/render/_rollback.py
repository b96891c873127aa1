"""Runbook section 6's results: the app, the database and the data rolled back."""

from __future__ import annotations

from typing import Any

from runbooks.render._console import out, say
from runbooks.render._json import emit_json
from runbooks.render._progress import short_arn


def _state(state: str) -> str:
    return {"deployed": "restored", "unchanged": "already there"}.get(state, state)


def app(environment: str, record: Any, result: Any, logged: Any, as_json: bool) -> None:
    """`rollback`: each service back on its previous revision."""
    if as_json:
        emit_json({"run_id": record.run_id, "rollout": result, "incident_log": str(logged or "")})
        return
    out(f"rollback {record.run_id} of {environment}: {record.notes[0] if record.notes else ''}")
    for o in result.outcomes:
        out(
            f"  {o.service:<18} {_state(o.state):<13} runs {short_arn(o.now)} "
            f"(was {short_arn(o.previous)})"
        )


def migrated(app: str, target: str, done: Any, as_json: bool) -> None:
    """`rollback.db --to-migration`: what the reverse migration undid."""
    if as_json:
        emit_json(done)
        return
    out(f"{app} migrated back to {target} (exit {done.task.exit_code}); it undid:")
    for line in done.plan.operations:
        out(f"  {line}")


def restore_plan(snapshot: Any, instance: str, window: Any) -> list[str]:
    """What `rollback.db --restore-snapshot` will do, and what it loses, before it asks."""
    return [
        f"restoring {snapshot.id} (taken {snapshot.created:%Y-%m-%d %H:%M} UTC) into {instance}",
        f"DATA LOSS: every write in the last {window} (since the snapshot) will not be in the "
        "database",
    ]


def restoring(snapshot: Any, instance: str, window: Any, as_json: bool) -> None:
    """The restore's plan before it asks (stderr under --json: stdout holds the result)."""
    for line in restore_plan(snapshot, instance, window):
        (say if as_json else out)(line)


def restored(restored: Any, snapshot: Any, as_json: bool) -> None:
    """`rollback.db --restore-snapshot`: the database swapped."""
    if as_json:
        emit_json(restored)
        return
    out(
        f"{restored.instance} now holds {snapshot.id}; the previous database is "
        f"{restored.old_instance}"
    )
    out(f"data-loss window: {restored.data_loss_window}")


def data(done: Any, as_json: bool) -> None:
    """`rollback.data`: Airbyte and dbt as of a release."""
    if as_json:
        emit_json(done)
        return
    out(f"data rolled back to {done.tag}")
    out(
        "  Airbyte: " + ("; ".join(done.airbyte) if done.airbyte else "connections already matched")
    )
    out(f"  dbt: {done.dbt}")


def incident_logged(logged: Any) -> None:
    if logged is not None:
        say(f"incident log: {logged}")
