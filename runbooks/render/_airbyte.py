"""Output of `inv airbyte.*`: sync progress and outcomes, drift tables, apply, the host check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runbooks.render._console import out, say
from runbooks.render._json import emit_json

if TYPE_CHECKING:
    from adinsights_ops.airbyte import Applied, Drift, SyncEvent, SyncOutcome
    from adinsights_ops.airbyte._host_report import HostCheck
    from adinsights_ops.airbyte._runs import ApplyResult, SyncReport


# -- airbyte.sync ---------------------------------------------------------------------------------


def sync_event(name: str, event: SyncEvent) -> None:
    """One line (stderr) for an event of a connection's sync."""
    say(event_line(name, event))


def event_line(name: str, event: SyncEvent) -> str:
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


def synced(report: SyncReport, as_json: bool) -> None:
    """One line (or JSON object) per connection: its job, status, duration, rows and bytes."""
    if as_json:
        emit_json([outcome_dict(o) for o in report.outcomes])
        return
    width = max((len(o.name) for o in report.outcomes), default=0)
    for outcome in report.outcomes:
        out(outcome_line(outcome, width))


def outcome_line(outcome: SyncOutcome, width: int) -> str:
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
        line += f"  {size(job.bytes_synced)}"
    if outcome.error is not None:
        line += f"  ({outcome.error})"
    return line


def outcome_dict(outcome: SyncOutcome) -> dict[str, Any]:
    import attrs

    return {
        "connection": outcome.name,
        "connection_id": outcome.connection_id,
        "ok": outcome.ok,
        "job": attrs.asdict(outcome.job) if outcome.job is not None else None,
        "error": str(outcome.error) if outcome.error is not None else None,
    }


def size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


# -- airbyte.diff / airbyte.apply -----------------------------------------------------------------


def drifts(found: Sequence[Drift], as_json: bool) -> None:
    """The drift table (or JSON list); "no drift" when every connection matches."""
    if as_json:
        emit_json([drift_dict(d) for d in found])
        return
    if not found:
        out("no drift: every connection matches its manifest")
        return
    out(f"{'connection':<12} {'field':<36} {'live':<28} desired")
    for d in found:
        out(f"{d.connection:<12} {d.field:<36} {show(d.live):<28} {show(d.desired)}")


def drift_dict(drift: Drift) -> dict[str, Any]:
    return {
        "connection": drift.connection,
        "connection_id": drift.connection_id,
        "field": drift.field,
        "live": drift.live,
        "desired": drift.desired,
    }


def show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


class ApplyOutput:
    """airbyte.apply's lines as it goes: what differs first, each connection patched, the end."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json

    def found(self, found: Sequence[Drift]) -> None:
        if self.as_json:
            say(f"{len(found)} field(s) differ from the manifests")
        else:
            drifts(found, False)

    def patched(self, done: Applied) -> None:
        say(f"patched {done.connection} ({done.connection_id}): {', '.join(done.fields)}")

    def result(self, result: ApplyResult) -> None:
        if not result.attempted:
            if result.dry_run and result.drifts:
                say("dry run: nothing changed")
            if self.as_json:
                emit_json(apply_dict(result))
            return
        if self.as_json:
            emit_json(apply_dict(result))
        elif result.remaining:
            drifts(result.remaining, False)
        if not self.as_json and not result.remaining:
            out("every connection matches its manifest")


def apply_dict(result: ApplyResult) -> dict[str, Any]:
    """airbyte.apply --json: what differed, what was patched, what still differs."""
    return {
        "dry_run": result.dry_run,
        "drift": [drift_dict(d) for d in result.drifts],
        "patched": [
            {"connection": p.connection, "connection_id": p.connection_id, "fields": list(p.fields)}
            for p in result.patched
        ],
        "remaining": [drift_dict(d) for d in result.remaining],
        "in_sync": result.in_sync,
    }


# -- airbyte.host-check ---------------------------------------------------------------------------


def host_check(result: HostCheck, as_json: bool) -> None:
    """The host's disk, Airbyte's status output and the findings (or JSON)."""
    if as_json:
        emit_json(result)
    else:
        host_table(result)


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def host_table(result: HostCheck) -> None:
    d = result.disk
    code = result.status_exit_code
    exit_text = "none (timed out)" if code is None else str(code)
    out(f"{'host':<12} {result.user}@{result.host}:{result.port}")
    out(f"{'data volume':<12} {d.path} ({d.filesystem} mounted on {d.mount_point})")
    out(
        f"{'disk':<12} {d.used_percent}% used: {_bytes(d.used_bytes)} of {_bytes(d.size_bytes)}, "
        f"{_bytes(d.available_bytes)} free (threshold {result.threshold:g}%)"
    )
    out(f"{'status':<12} `{result.status_command}` exit {exit_text}")
    for line in result.status_output.splitlines():
        out(f"{'':<12} | {line}")
    if not result.findings:
        out(f"{'findings':<12} none")
        return
    out(f"{'findings':<12} {len(result.findings)}")
    for finding in result.findings:
        out(f"{'':<12} - {finding}")
