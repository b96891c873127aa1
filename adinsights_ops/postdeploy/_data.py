"""The data parts of the post-deploy checks: Airbyte sync telemetry, dbt run results, activity log.

- Airbyte: each connection's newest succeeded sync job (the public API's jobs list) ended within
  `max_age` (the hourly interval plus grace); the newest job of any status is shown beside it.
- dbt: run_results.json in the artifacts bucket, else in the local target folder (which one was
  read is in the evidence), generated within `max_age` and with no failed node.
- The activity log (a Markdown file) has a line naming the release's run id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adinsights_ops.checks_report import CheckItem, failed, passed

if TYPE_CHECKING:
    from adinsights_ops.airbyte._client import AirbyteClient


def _when(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _span(seconds: float) -> str:
    from adinsights_ops.postdeploy._settings import span

    return span(seconds)


def airbyte_syncs(
    client: AirbyteClient,
    *,
    connections: Mapping[str, str],
    max_age: float,
    now: datetime,
) -> tuple[CheckItem, ...]:
    """One item per connection: its newest succeeded sync ended at most `max_age` seconds ago."""
    from adinsights_ops.airbyte._client import AirbyteError

    items = []
    for name, connection_id in connections.items():
        label = f"airbyte: {name}"
        try:
            done = client.list_jobs(
                connection_id=connection_id,
                status="succeeded",
                job_type="sync",
                limit=1,
                order_by="updatedAt|DESC",
            )
            latest = client.list_jobs(
                connection_id=connection_id, job_type="sync", limit=1, order_by="createdAt|DESC"
            )
        except AirbyteError as exc:
            items.append(failed(label, f"the Airbyte API did not answer: {exc}"))
            continue
        items.append(_judge_sync(label, connection_id, done, latest, max_age, now))
    return tuple(items)


def _judge_sync(
    label: str,
    connection_id: str,
    done: list[dict[str, Any]],
    latest: list[dict[str, Any]],
    max_age: float,
    now: datetime,
) -> CheckItem:
    newest = ""
    if latest:
        job = latest[0]
        newest = f"newest job {job.get('jobId')} is {job.get('status')}"
    if not done:
        return failed(
            label,
            f"connection {connection_id}: no succeeded sync in Airbyte's job history",
            newest,
        )
    job = done[0]
    ended = _when(job.get("lastUpdatedAt")) or _when(job.get("startTime"))
    if ended is None:
        return failed(label, f"sync job {job.get('jobId')} has no end time", newest)
    age = (now - ended).total_seconds()
    evidence = (
        f"sync job {job.get('jobId')} succeeded at {job.get('lastUpdatedAt')} "
        f"({_span(age)} ago; limit {_span(max_age)}), {job.get('rowsSynced', '?')} rows"
    )
    if age > max_age:
        return failed(label, "stale: " + evidence, newest)
    return passed(label, evidence, newest)


def _head(s3: Any, bucket: str, key: str) -> str | None:
    """Why the object cannot be read (None: it is there)."""
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "error"))
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            return "none there" if code != "NoSuchBucket" else "no such bucket"
        raise
    return None


def dbt_results(
    s3: Any,
    *,
    bucket: str,
    key: str,
    local: Path,
    max_age: float,
    now: datetime,
) -> CheckItem:
    """run_results.json (the bucket's, else `local`) is at most `max_age` old and has no failure."""
    from adinsights_ops import dbt

    name = "dbt: run results"
    where = f"s3://{bucket}/{key}"
    missing = _head(s3, bucket, key)
    note = ""
    if missing is None:
        check = dbt.freshness(s3=s3, bucket=bucket, key=key, max_age=max_age, now=now)
    elif local.is_file():
        note = f"read the local target folder: {where} has {missing}"
        check = dbt.freshness(run_results=local, max_age=max_age, now=now)
    else:
        return failed(
            name,
            f"no run_results.json in {where} ({missing}) nor at {local}: "
            "has a dbt build run (inv dbt.build --env E --upload)?",
        )
    evidence = f"{check.reason}; read {check.evidence}"
    failing = "; ".join(node.describe() for node in check.failing[:5])
    detail = "; ".join(part for part in (note, failing) if part)
    return (passed if check.ok else failed)(name, evidence, detail)


def activity_log_entry(path: Path | None, *, run_id: str | None, environment: str) -> CheckItem:
    """The activity log has a line naming `run_id` (the newest succeeded deploy)."""
    name = "activity log"
    if run_id is None:
        return failed(name, f"the journal of {environment} has no succeeded deploy")
    if path is None:
        return failed(name, f"{environment} sets no notifications.activity_log")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return failed(name, f"{path} does not exist (run {run_id} was never announced there)")
    entry = next((line for line in reversed(lines) if run_id in line), None)
    if entry is None:
        return failed(name, f"no line of {path} names run {run_id}")
    return passed(name, f"{path}: {entry.strip()[:160]}")
