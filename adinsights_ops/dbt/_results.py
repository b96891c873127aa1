"""What a dbt build produced: run_results.json read tolerantly, the errors of a build, freshness.

Import these through `adinsights_ops.dbt`.

run_results.json changes between dbt versions (schema v4, v5, v6...): fields come and go. The parser
reads only what it needs, ignores the rest, and defaults what is missing, so an upgrade of dbt does
not break deploys or the freshness check.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import OpsError, UsageError, WaitTimedOut

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Node statuses that fail a build: models/seeds "error", tests "fail"/"error", source freshness
# "runtime error", microbatch models "partial success" (some batches failed).
FAILING_STATUSES = frozenset({"error", "fail", "runtime error", "partial success"})


@attrs.frozen
class NodeResult:
    """One node of a build (seed, model, test, snapshot): how it ended and how long it took."""

    unique_id: str
    status: str
    execution_time: float = 0.0
    message: str | None = None
    failures: int | None = None  # tests: rows that failed the test
    relation_name: str | None = None

    @property
    def resource_type(self) -> str:
        """`model`, `test`, `seed`, `snapshot`... (the first part of the unique id)."""
        return self.unique_id.split(".", 1)[0]

    @property
    def name(self) -> str:
        """The node's name: `fct_campaign_daily`, `not_null_stg_meta_ads_tenant_id`."""
        parts = self.unique_id.split(".")
        return parts[2] if len(parts) >= 3 else self.unique_id

    @property
    def failed(self) -> bool:
        return self.status in FAILING_STATUSES

    def describe(self) -> str:
        """One line for an operator: `test not_null_x: fail (3 failures): Got 3 results...`."""
        extra = f" ({self.failures} failing rows)" if self.failures else ""
        first = (self.message or "").strip().splitlines()
        why = f": {first[0].strip()}" if first else ""
        if len(first) > 1:
            why += " " + " ".join(line.strip() for line in first[1:3] if line.strip())
        return f"{self.resource_type} {self.name}: {self.status}{extra}{why}"


def _count(results: tuple[NodeResult, ...]) -> dict[str, int]:
    return dict(Counter(r.status for r in results))


@attrs.frozen
class BuildResult:
    """A dbt build as its run_results.json tells it, plus where the artifacts are."""

    results: tuple[NodeResult, ...]
    generated_at: datetime | None
    invocation_id: str | None
    elapsed: float
    dbt_version: str | None = None
    target: str | None = None
    full_refresh: bool = False
    target_path: str | None = None  # the folder holding run_results.json and manifest.json
    output_tail: tuple[str, ...] = attrs.field(default=(), repr=False)
    counts: dict[str, int] = attrs.field(init=False)

    @counts.default
    def _counts(self) -> dict[str, int]:
        return _count(self.results)

    @property
    def failed(self) -> tuple[NodeResult, ...]:
        return tuple(r for r in self.results if r.failed)

    @property
    def ok(self) -> bool:
        return not self.failed

    def node(self, name_or_id: str) -> NodeResult:
        """The result of one node, by unique id or by name; KeyError when it did not run."""
        for r in self.results:
            if name_or_id in (r.unique_id, r.name):
                return r
        raise KeyError(name_or_id)

    def summary(self) -> str:
        """`30 nodes: 23 pass, 7 success` (statuses in a stable order)."""
        parts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
        count = len(self.results)
        return f"{count} node{'' if count == 1 else 's'}" + (f": {parts}" if parts else "")


class DbtError(OpsError):
    """Root of the errors of `adinsights_ops.dbt`."""


class BuildFailed(DbtError):
    """dbt ran the build and some nodes failed or errored; carries the result and those nodes."""

    def __init__(self, result: BuildResult) -> None:
        self.result = result
        self.failed = result.failed
        names = ", ".join(n.name for n in self.failed[:5]) + (
            ", ..." if len(self.failed) > 5 else ""
        )
        super().__init__(
            f"dbt build failed: {len(self.failed)} of {len(result.results)} nodes failed ({names})"
        )
        self.details = [n.describe() for n in self.failed]


class DbtCrashed(DbtError):
    """dbt stopped without running the build (exit code 2: bad project, profile, flags...)."""

    def __init__(self, returncode: int | None, output_tail: Sequence[str], reason: str) -> None:
        self.returncode = returncode
        self.output_tail = tuple(output_tail)
        super().__init__(f"dbt exited with code {returncode}: {reason}")
        self.details = [line for line in self.output_tail[-15:] if line.strip()]


class BuildTimedOut(WaitTimedOut):
    """The build passed its deadline; its process group was killed. Carries the output's tail."""

    def __init__(self, what: str, timeout: float, output_tail: Sequence[str]) -> None:
        super().__init__(what, timeout, tuple(output_tail))
        self.output_tail = tuple(output_tail)
        self.details = [line for line in self.output_tail[-15:] if line.strip()]


class RunResultsInvalid(DbtError):
    """run_results.json is not JSON, or not shaped like run results at all."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: not a dbt run_results.json ({reason})")
        self.source = source
        self.reason = reason


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _node(entry: object, index: int, source: str) -> NodeResult:
    if not isinstance(entry, Mapping):
        raise RunResultsInvalid(source, f"results[{index}] is not an object")
    failures = entry.get("failures")
    return NodeResult(
        unique_id=_text(entry.get("unique_id")) or f"unknown.results[{index}]",
        status=(_text(entry.get("status")) or "unknown").lower(),
        execution_time=_number(entry.get("execution_time")),
        message=_text(entry.get("message")),
        failures=failures if isinstance(failures, int) and not isinstance(failures, bool) else None,
        relation_name=_text(entry.get("relation_name")),
    )


def parse_run_results(
    source: str | os.PathLike[str] | bytes, *, target_path: str | None = None
) -> BuildResult:
    """A `BuildResult` from a run_results.json file (str or path) or its content (bytes)."""
    if isinstance(source, bytes | bytearray):
        name, raw = "run_results.json", bytes(source)
    else:
        name = str(source)
        try:
            raw = Path(source).read_bytes()
        except FileNotFoundError:
            raise RunResultsInvalid(name, "file not found") from None
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunResultsInvalid(name, f"invalid JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise RunResultsInvalid(name, "the top level is not an object")
    entries = data.get("results", [])
    if not isinstance(entries, list):
        raise RunResultsInvalid(name, "`results` is not a list")
    metadata = data.get("metadata") if isinstance(data.get("metadata"), Mapping) else {}
    args = data.get("args") if isinstance(data.get("args"), Mapping) else {}
    assert isinstance(metadata, Mapping) and isinstance(args, Mapping)
    return BuildResult(
        results=tuple(_node(entry, i, name) for i, entry in enumerate(entries)),
        generated_at=_timestamp(metadata.get("generated_at")),
        invocation_id=_text(metadata.get("invocation_id")),
        elapsed=_number(data.get("elapsed_time")),
        dbt_version=_text(metadata.get("dbt_version")),
        target=_text(args.get("target")),
        full_refresh=args.get("full_refresh") is True,
        target_path=target_path,
    )


@attrs.frozen
class Freshness:
    """Whether the last dbt build is recent and clean, with where that was read (the evidence)."""

    ok: bool
    reason: str
    evidence: str  # the file, or s3://bucket/key with its LastModified
    max_age: float
    age: float | None = None  # seconds between the build and `now`
    generated_at: datetime | None = None
    invocation_id: str | None = None
    nodes: int = 0
    failing: tuple[NodeResult, ...] = ()


def freshness(
    *,
    run_results: str | os.PathLike[str] | None = None,
    s3: S3Client | None = None,
    bucket: str | None = None,
    key: str | None = None,
    max_age: float,
    now: datetime | None = None,
) -> Freshness:
    """Check that run_results.json (a local file, or s3://bucket/key) is recent and has no failure.

    Passes when the build was generated at most `max_age` seconds before `now` and no node
    errored or failed. A missing file or object is a failing check, not an exception.
    """
    if (run_results is None) == (s3 is None):
        raise UsageError(
            "dbt freshness: give either run_results (a path) or s3 with bucket and key"
        )
    if s3 is not None and not (bucket and key):
        raise UsageError("dbt freshness: reading from S3 needs both bucket and key")
    now = now or datetime.now(UTC)
    if run_results is not None:
        evidence = str(run_results)
        try:
            raw = Path(run_results).read_bytes()
        except FileNotFoundError:
            return Freshness(False, "no run_results.json there", evidence, max_age)
    else:
        assert s3 is not None and bucket and key
        evidence = f"s3://{bucket}/{key}"
        try:
            got = s3.get_object(Bucket=bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            return Freshness(False, "no run_results.json there", evidence, max_age)
        raw = got["Body"].read()
        evidence += f" (LastModified {got['LastModified'].isoformat()})"
    result = parse_run_results(raw)
    failing = result.failed
    seen = Freshness(
        ok=False,
        reason="run_results.json has no generated_at",
        evidence=evidence,
        max_age=max_age,
        generated_at=result.generated_at,
        invocation_id=result.invocation_id,
        nodes=len(result.results),
        failing=failing,
    )
    if result.generated_at is None:
        return seen
    age = (now - result.generated_at).total_seconds()
    problems = []
    if age > max_age:
        problems.append(f"stale: built {_span(age)} ago, more than {_span(max_age)}")
    if failing:
        problems.append(f"{len(failing)} of {len(result.results)} nodes failed")
    if problems:
        return attrs.evolve(seen, reason="; ".join(problems), age=age)
    reason = (
        f"built {_span(age)} ago (limit {_span(max_age)}), {len(result.results)} nodes, none failed"
    )
    return attrs.evolve(seen, ok=True, reason=reason, age=age)


def _span(seconds: float) -> str:
    """`26h`, `1h30m`, `45m`, `12s`: a duration for people."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h" + (f"{minutes:02d}m" if minutes else "")
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"
