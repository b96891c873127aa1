"""Jobs of the simulated Airbyte API (`airbyte_sim`): their life on the simulator's clock and how
the API shows them.

A job is `pending` for its `pending` seconds, `running` for its `running` seconds, then `succeeded`
(or `failed`); a cancel ends it `cancelled`; a test hook can force the status it reports. The rows
and bytes a job reports are made up from how long it ran.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from adinsights_ops.sandbox._pace import paced

ACTIVE = frozenset({"pending", "queued", "running", "incomplete"})
JOB_TYPES = ("sync", "reset", "refresh", "clear")
ROWS_PER_SECOND = 240
BYTES_PER_ROW = 410


def paced_seconds(first: float | None) -> tuple[float, float]:
    """(pending, running) seconds of a job, paced to clients that look first after `first`
    seconds (`airbyte.polling.first`; see `_pace`): two thirds pending, then running, done by that
    look. Without a pace, 0.3 and 1.0."""
    if first is None:
        return 0.3, 1.0
    total = paced(first)
    return total * 2 / 3, total / 3


@attrs.define
class Job:
    job_id: int
    connection_id: str
    job_type: str
    created: float
    pending: float
    running: float
    fail: bool
    cancelled_at: float | None = None
    forced: str | None = None
    forced_until: float | None = None

    @property
    def ends(self) -> float:
        """When it ends by itself (not cancelled), on the simulator's clock."""
        return self.created + self.pending + self.running


def status_of(job: Job, now: float) -> tuple[str, bool]:
    """The job's status at `now`, and whether a test hook forced it."""
    if job.forced is not None and (job.forced_until is None or now < job.forced_until):
        return job.forced, True
    if job.cancelled_at is not None:
        return "cancelled", False
    age = now - job.created
    if age < job.pending:
        return "pending", False
    if age < job.pending + job.running:
        return "running", False
    return ("failed" if job.fail else "succeeded"), False


def view(job: Job, status: str, now: float, wall: Any) -> dict[str, Any]:
    """The API's JobResponse of `job` showing `status` at `now`; `wall(t)` formats a clock time."""
    if job.cancelled_at is not None:
        end = job.cancelled_at
    elif status in ("succeeded", "failed"):
        end = job.ends
    else:
        end = now
    ran = max(0.0, min(end, job.ends) - job.created - job.pending)
    rows = int(ran * ROWS_PER_SECOND)
    return {
        "jobId": job.job_id,
        "status": status,
        "jobType": job.job_type,
        "connectionId": job.connection_id,
        "startTime": wall(job.created),
        "lastUpdatedAt": wall(end),
        "duration": iso_duration(end - job.created),
        "rowsSynced": rows,
        "bytesSynced": rows * BYTES_PER_ROW,
    }


def wall_text(start: datetime, start_mono: float, mono: float) -> str:
    """The wall-clock time of `mono` on a clock that read `start_mono` at `start`, as Airbyte
    writes times."""
    moment = start + timedelta(seconds=mono - start_mono)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_duration(seconds: float) -> str:
    total = int(max(seconds, 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{secs}S" if secs or text == "PT" else "")
