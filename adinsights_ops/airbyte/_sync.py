"""Airbyte syncs (runbook 5.2 and 7): run a connection's sync to the end, adopting one already running.

    client = airbyte.client_for(ops)
    job = airbyte.sync(client, connection_id=ops.env.airbyte.connections["meta_ads"], timeout=3600)

`sync` first looks for an active job of the connection and, if there is one, waits for that instead of
starting another (Airbyte refuses a second sync with 409 anyway; a 409 is handled the same way). A job
this call started is cancelled when the deadline passes; an adopted job never is: someone else (the
schedule, a colleague) owns it. What a job is, its events and errors are in `_jobs`; the
connections' declared state lives in `_manifests` (`diff`, `apply`).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from adinsights_ops.airbyte._client import AirbyteClient, AirbyteConflict
from adinsights_ops.airbyte._jobs import (
    ACTIVE,
    FAILED,
    KNOWN,
    SUCCEEDED,
    OnEvent,
    SyncAlreadyRunning,
    SyncEvent,
    SyncFailed,
    SyncJob,
    SyncTimedOut,
    check_connection_id,
)
from adinsights_ops.errors import OpsError, WaitFailed, WaitTimedOut
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock, Poll, check_timeout, wait_until

POLL_BACKOFF = Backoff(initial=2.0, factor=1.5, maximum=30.0)
_START_ATTEMPTS = 3


def find_active_job(client: AirbyteClient, *, connection_id: str) -> dict[str, Any] | None:
    """The newest sync job of the connection that has not finished, or None.

    One list call without a status filter, then filtered here: Airbyte's filter takes one status,
    and a job that is pending or between attempts (incomplete) is as active as a running one.
    """
    jobs = client.list_jobs(connection_id=connection_id, job_type="sync", order_by="createdAt|DESC")
    for job in jobs:
        if (
            job.get("status") in ACTIVE
            and str(job.get("connectionId", connection_id)) == connection_id
        ):
            return job
    return None


def _start_or_adopt(
    client: AirbyteClient, connection_id: str, adopt_running: bool, emit: OnEvent
) -> tuple[dict[str, Any], bool]:
    if adopt_running:
        running = find_active_job(client, connection_id=connection_id)
        if running is not None:
            emit(SyncEvent("adopted", connection_id, int(running["jobId"]), running.get("status")))
            return running, True
    for _ in range(_START_ATTEMPTS):
        try:
            job = client.create_job(connection_id)
        except AirbyteConflict as exc:
            # A job started since we looked (or a retried POST whose first try went through).
            # Adopting is the safe reading: we never cancel a job we are not sure we started.
            running = find_active_job(client, connection_id=connection_id)
            if not adopt_running:
                job_id = int(running["jobId"]) if running is not None else None
                raise SyncAlreadyRunning(connection_id, job_id, exc.detail) from exc
            emit(SyncEvent("conflict", connection_id, detail=exc.detail))
            if running is not None:
                emit(
                    SyncEvent(
                        "adopted", connection_id, int(running["jobId"]), running.get("status")
                    )
                )
                return running, True
            continue  # it finished in between: try to start ours again
        emit(SyncEvent("started", connection_id, int(job["jobId"]), job.get("status")))
        return job, False
    raise SyncAlreadyRunning(
        connection_id,
        None,
        f"Airbyte answered 409 {_START_ATTEMPTS} times but listed no active job",
    )


def sync(
    client: AirbyteClient,
    *,
    connection_id: str,
    timeout: float = 3600.0,
    adopt_running: bool = True,
    clock: Clock = SYSTEM_CLOCK,
    on_event: OnEvent | None = None,
    backoff: Backoff = POLL_BACKOFF,
) -> SyncJob:
    """Run one sync of the connection to its end; the finished job.

    Adopts the connection's active job if there is one (unless `adopt_running` is False, when an
    active job is `SyncAlreadyRunning`). Waits up to `timeout` seconds once the job is started or
    adopted. Raises `SyncFailed` (with the job id) when it ends failed or cancelled, and
    `SyncTimedOut` at the deadline, after cancelling the job only if this call started it.
    """
    timeout = check_timeout(timeout)
    check_connection_id(connection_id)
    emit: OnEvent = on_event or (lambda _event: None)
    begin = clock.monotonic()
    first, adopted = _start_or_adopt(client, connection_id, adopt_running, emit)
    job_id = int(first["jobId"])
    last_status = [str(first.get("status"))]
    unknown_seen: set[str] = set()

    def observe(poll: Poll[dict[str, Any]]) -> None:
        status = str(poll.state.get("status"))
        if status not in KNOWN and status not in unknown_seen:
            unknown_seen.add(status)
            detail = "not a status this tool knows; waiting on until the deadline"
            emit(SyncEvent("unknown-status", connection_id, job_id, status, poll.elapsed, detail))
        if status != last_status[0]:
            last_status[0] = status
            emit(SyncEvent("status", connection_id, job_id, status, poll.elapsed))

    def failure(state: dict[str, Any]) -> str | None:
        status = state.get("status")
        return f"ended {status}" if status in FAILED else None

    try:
        final = wait_until(
            lambda: client.get_job(job_id),
            what=f"Airbyte sync job {job_id} of connection {connection_id}",
            success=lambda state: state.get("status") == SUCCEEDED,
            failure=failure,
            timeout=timeout,
            backoff=backoff,
            clock=clock,
            on_poll=observe,
        )
    except WaitFailed as exc:
        job = _seen(exc.last_state, first, adopted, clock.monotonic() - begin)
        raise SyncFailed(job) from exc
    except WaitTimedOut as exc:
        job = _seen(exc.last_state, first, adopted, clock.monotonic() - begin)
        if adopted:
            raise SyncTimedOut(job, timeout, cancelled=False) from exc
        try:
            client.cancel_job(job_id)
        except OpsError as cancel_exc:
            emit(
                SyncEvent(
                    "cancel-failed", connection_id, job_id, job.status, detail=str(cancel_exc)
                )
            )
            raise SyncTimedOut(job, timeout, cancelled=False, cancel_error=str(cancel_exc)) from exc
        emit(SyncEvent("cancelled", connection_id, job_id, "cancelled", clock.monotonic() - begin))
        raise SyncTimedOut(job, timeout, cancelled=True) from exc
    return SyncJob.from_api(final, adopted=adopted, waited=clock.monotonic() - begin)


def _seen(state: object, first: Mapping[str, Any], adopted: bool, waited: float) -> SyncJob:
    data = state if isinstance(state, Mapping) else first
    return SyncJob.from_api(data, adopted=adopted, waited=waited)


@attrs.frozen
class SyncOutcome:
    """What became of one connection's sync in `sync_all`: a job, or the error."""

    name: str
    connection_id: str
    job: SyncJob | None = None
    error: OpsError | None = attrs.field(default=None, eq=False)

    @property
    def ok(self) -> bool:
        return self.error is None


def sync_all(
    client: AirbyteClient,
    *,
    connections: Mapping[str, str],
    timeout: float = 3600.0,
    adopt_running: bool = True,
    clock: Clock = SYSTEM_CLOCK,
    on_event: OnEvent | None = None,
    backoff: Backoff = POLL_BACKOFF,
    max_workers: int | None = None,
) -> list[SyncOutcome]:
    """Sync several connections (name -> id) at once, one thread each; one outcome per connection.

    An `OpsError` of one sync is its outcome and does not stop the others; outcomes keep the order
    of `connections`. An empty connection id (or an invalid timeout) refuses the whole call before
    any sync starts: an empty id never means "all".
    """
    timeout = check_timeout(timeout)
    for name, connection_id in connections.items():
        check_connection_id(connection_id, name=name)

    def one(name: str, connection_id: str) -> SyncOutcome:
        try:
            job = sync(
                client,
                connection_id=connection_id,
                timeout=timeout,
                adopt_running=adopt_running,
                clock=clock,
                on_event=on_event,
                backoff=backoff,
            )
        except OpsError as exc:
            return SyncOutcome(name, connection_id, job=getattr(exc, "job", None), error=exc)
        return SyncOutcome(name, connection_id, job=job)

    if not connections:
        return []
    workers = max_workers or len(connections)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="airbyte-sync") as pool:
        futures = [pool.submit(one, name, cid) for name, cid in connections.items()]
        return [future.result() for future in futures]
