"""An Airbyte sync job as this tool sees it: its statuses, its progress events, how it can fail.

`_sync` runs and waits for jobs; this module is the vocabulary it reports in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from adinsights_ops.errors import OpsError, UsageError, WaitTimedOut

ACTIVE = frozenset({"pending", "queued", "running", "incomplete"})
"""Statuses of a job that is not finished (`incomplete`: an attempt failed, Airbyte retries it)."""
FAILED = frozenset({"failed", "cancelled"})
SUCCEEDED = "succeeded"
KNOWN = ACTIVE | FAILED | {SUCCEEDED}
_CONNECTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def check_connection_id(connection_id: object, *, name: str = "") -> str:
    """`connection_id` if it is a usable Airbyte connection id, else UsageError.

    An empty id must never reach the API: listing jobs with an empty `connectionId` lists every
    connection's jobs, so "" would adopt (or start) somebody else's sync.
    """
    label = f"connection {name!r}" if name else "connection id"
    if not isinstance(connection_id, str) or not connection_id:
        raise UsageError(f"{label} is empty: give the id of one connection (empty never means all)")
    if not _CONNECTION_ID.fullmatch(connection_id):
        raise UsageError(
            f"{label} {connection_id!r} is not an Airbyte connection id "
            "(letters, digits, '-' and '_' only, e.g. a UUID)"
        )
    return connection_id


@attrs.frozen
class SyncJob:
    """One Airbyte job as this call last saw it."""

    job_id: int
    connection_id: str
    status: str
    adopted: bool
    """True when the job was already running and this call only waited for it."""
    job_type: str = "sync"
    started: str | None = None
    """`startTime` as Airbyte reports it."""
    last_updated: str | None = None
    duration: str | None = None
    """ISO 8601 duration as Airbyte reports it (e.g. `PT4M12S`)."""
    bytes_synced: int | None = None
    rows_synced: int | None = None
    waited: float = 0.0
    """Seconds this call spent waiting for the job."""

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, adopted: bool, waited: float = 0.0) -> SyncJob:
        def text(key: str) -> str | None:
            value = data.get(key)
            return str(value) if value is not None else None

        def number(key: str) -> int | None:
            value = data.get(key)
            return int(value) if isinstance(value, int | float) else None

        return cls(
            job_id=int(data["jobId"]),
            connection_id=str(data.get("connectionId", "")),
            status=str(data.get("status", "")),
            adopted=adopted,
            job_type=str(data.get("jobType", "sync")),
            started=text("startTime"),
            last_updated=text("lastUpdatedAt"),
            duration=text("duration"),
            bytes_synced=number("bytesSynced"),
            rows_synced=number("rowsSynced"),
            waited=waited,
        )

    @property
    def duration_seconds(self) -> float | None:
        """`duration` in seconds, when it is a simple ISO 8601 duration (PnDTnHnMnS)."""
        return iso_seconds(self.duration) if self.duration else None


_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def iso_seconds(text: str) -> float | None:
    match = _ISO_DURATION.match(text)
    if match is None or text in ("P", "PT"):
        return None
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


@attrs.frozen
class SyncEvent:
    """Progress of a sync, for an `on_event` callback.

    kind: `adopted` (waiting for a job already running), `started`, `conflict` (Airbyte said 409),
    `status` (the job's status changed), `unknown-status` (a status this code does not know: it keeps
    waiting until the deadline), `cancelled`, `cancel-failed`.
    """

    kind: str
    connection_id: str
    job_id: int | None = None
    status: str | None = None
    elapsed: float = 0.0
    detail: str = ""


OnEvent = Callable[[SyncEvent], None]


class SyncFailed(OpsError):
    """The job ended failed or cancelled; carries the job (and so its id)."""

    def __init__(self, job: SyncJob) -> None:
        owner = " (adopted: it was already running)" if job.adopted else ""
        super().__init__(
            f"Airbyte sync job {job.job_id} of connection {job.connection_id} "
            f"ended {job.status}{owner}"
        )
        self.job = job
        self.job_id = job.job_id
        self.connection_id = job.connection_id
        self.status = job.status


class SyncTimedOut(WaitTimedOut):
    """The job did not finish in time; says whether it was cancelled and why (not)."""

    def __init__(
        self, job: SyncJob, timeout: float, *, cancelled: bool, cancel_error: str | None = None
    ) -> None:
        super().__init__(f"Airbyte sync job {job.job_id}", timeout, job)
        if job.adopted:
            what = (
                "left it running: it was already running when this run began (adopted), "
                "so it is not ours to cancel"
            )
        elif cancelled:
            what = "cancelled it (this run had started it)"
        else:
            what = f"could NOT cancel it (this run had started it): {cancel_error}"
        self.message = (
            f"Airbyte sync job {job.job_id} of connection {job.connection_id} did not finish "
            f"within {timeout:.0f}s (last status {job.status}); {what}"
        )
        self.job = job
        self.job_id = job.job_id
        self.connection_id = job.connection_id
        self.cancelled = cancelled
        self.cancel_error = cancel_error


class SyncAlreadyRunning(OpsError):
    """A sync already runs for the connection and the caller chose not to adopt it."""

    def __init__(self, connection_id: str, job_id: int | None, detail: str = "") -> None:
        job = f"job {job_id}" if job_id is not None else "a job"
        super().__init__(
            f"Airbyte connection {connection_id} already runs {job}"
            + (f" ({detail})" if detail else "")
            + "; wait for it to end, or adopt it instead of starting another"
        )
        self.connection_id = connection_id
        self.job_id = job_id
