"""The run journal: one JSON record per run in the environment's state bucket.

A record holds who ran what, each step's start, end, outcome and outputs, the revisions every service
ran before the run (what a rollback returns to) and what was deployed. It is written after every step,
so a crashed run leaves a record that says how far it got. Secret values are never put in it.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import secrets
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import OpsError, UsageError

log = logging.getLogger("adinsights_ops.journal")

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "journal"
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}")


def utcnow() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id() -> str:
    """Sortable by time, unique enough: 20261126T051500Z-3fa2."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def check_run_id(run_id: str) -> str:
    """`run_id` when it can name a journal record; UsageError for anything else (`..`, `/`, '')."""
    if not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise UsageError(
            f"{run_id!r} is not a run id (expected one like 20261126T051500Z-3fa2: see "
            "`inv deploy.status`)"
        )
    return run_id


def who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER", "unknown")
    return f"{user}@{socket.gethostname()}"


@attrs.define
class Step:
    name: str
    started: str
    finished: str | None = None
    outcome: str = "running"  # running | done | skipped | failed
    elapsed: float = 0.0
    outputs: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class RunRecord:
    """One run of a runbook operation (deploy, rollback, ...)."""

    run_id: str
    environment: str
    kind: str
    who: str
    started: str
    image_tag: str | None = None
    finished: str | None = None
    outcome: str = "running"  # running | succeeded | failed | rolled-back | needs-human
    steps: list[Step] = attrs.field(factory=list)
    previous_revisions: dict[str, str] = attrs.field(factory=dict)
    deployed_revisions: dict[str, str] = attrs.field(factory=dict)
    notes: list[str] = attrs.field(factory=list)
    failed_step: str | None = None
    announced: dict[str, dict[str, str]] = attrs.field(factory=dict)
    """announcement key (e.g. `succeeded`) -> channel -> outcome: what a resumed run must not resend"""

    @property
    def changed_something(self) -> bool:
        """True when the run registered revisions other than the ones the services ran before."""
        return any(
            self.previous_revisions.get(service) != revision
            for service, revision in self.deployed_revisions.items()
        )

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> RunRecord:
        data = json.loads(text)
        steps = [Step(**s) for s in data.pop("steps", [])]
        known = {f.name for f in attrs.fields(cls)}
        return cls(steps=steps, **{k: v for k, v in data.items() if k in known})


@attrs.define
class Journal:
    """Run records of one environment, in its state bucket."""

    s3: S3Client
    bucket: str
    environment: str

    def key(self, run_id: str) -> str:
        return f"{PREFIX}/{self.environment}/{run_id}.json"

    def start(
        self, kind: str, *, image_tag: str | None = None, run_id: str | None = None
    ) -> RunRecord:
        record = RunRecord(
            run_id=run_id or new_run_id(),
            environment=self.environment,
            kind=kind,
            who=who(),
            started=utcnow(),
            image_tag=image_tag,
        )
        log.info(
            "run %s: %s on %s started",
            record.run_id,
            kind,
            self.environment,
            extra={"run_id": record.run_id},
        )
        self.save(record)
        return record

    def save(self, record: RunRecord) -> None:
        """Write the record to the state bucket; when that fails, keep a local copy and re-raise."""
        body = record.to_json().encode()
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=self.key(record.run_id),
                Body=body,
                ContentType="application/json",
            )
        except Exception:
            self.keep_locally(record)
            raise

    def keep_locally(self, record: RunRecord) -> str:
        """Write the record under the tool's home (when the bucket cannot be written); its path."""
        from adinsights_ops.paths import journal_copy

        path = journal_copy(self.environment, record.run_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(record.to_json(), encoding="utf-8")
        except OSError:
            return ""
        return str(path)

    def load(self, run_id: str) -> RunRecord:
        check_run_id(run_id)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key(run_id))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            # The id came from the operator (--resume, --to-run): a usage error, nothing changed.
            raise UsageError(
                f"no run {run_id} in the journal of {self.environment} (see `deploy.status`)"
            ) from None
        return RunRecord.from_json(body)

    def runs(self, *, kind: str | None = None, limit: int = 20) -> list[RunRecord]:
        """The newest runs first."""
        keys: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{PREFIX}/{self.environment}/"):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        records = []
        for key in sorted(keys, reverse=True):
            record = self.load(key.rsplit("/", 1)[-1].removesuffix(".json"))
            if kind is None or record.kind == kind:
                records.append(record)
            if len(records) >= limit:
                break
        return records

    def finish(self, record: RunRecord, outcome: str) -> None:
        record.outcome = outcome
        record.finished = utcnow()
        self.save(record)

    @contextmanager
    def step(self, record: RunRecord, name: str, clock: Any = None) -> Iterator[Step]:
        """Record a step: started now, finished (done or failed) when the block ends."""
        import time

        begun = time.monotonic()
        step = record.step(name)
        if step is None:
            step = Step(name=name, started=utcnow())
            record.steps.append(step)
        else:  # resumed
            step.started, step.outcome, step.finished = utcnow(), "running", None
        self.save(record)
        try:
            yield step
        except BaseException as exc:
            from adinsights_ops.errors import describe_error

            step.outcome = "failed"
            step.outputs.setdefault("error", describe_error(exc))
            step.finished = utcnow()
            step.elapsed = round(time.monotonic() - begun, 3)
            try:  # the step's own error is the one to report, not a journal write that failed too
                self.save(record)
            except Exception as save_error:
                record.notes.append(f"journal not written after {name} failed: {save_error}")
            raise
        if step.outcome == "running":
            step.outcome = "done"
        step.finished = utcnow()
        step.elapsed = round(time.monotonic() - begun, 3)
        self.save(record)


def deployed_before(
    journal: Journal, run_id: str | None = None
) -> tuple[RunRecord, Mapping[str, str]]:
    """The revisions that were deployed before a run (the given one, else the newest deploy that changed
    something): what `inv rollback` returns to."""
    if run_id is not None:
        record = journal.load(run_id)
    else:
        deploys = [
            r
            for r in journal.runs(kind="deploy", limit=50)
            if r.previous_revisions and r.outcome in ("succeeded", "running", "needs-human")
        ]
        candidates = [r for r in deploys if r.changed_something]
        if not candidates:
            raise OpsError(
                f"the journal of {journal.environment} has no deploy that changed a revision to "
                "roll back"
                + (
                    f" ({len(deploys)} deploy(s) found, each re-deploying what already ran)"
                    if deploys
                    else " (nothing was deployed through this tool yet)"
                )
            )
        record = candidates[0]
    if not record.previous_revisions:
        raise OpsError(f"run {record.run_id} recorded no previous revisions to return to")
    return record, record.previous_revisions
