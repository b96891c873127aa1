"""Output of `inv dbt.*`: the build's start, failed nodes and summary, uploads, freshness."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runbooks.render._console import out, say
from runbooks.render._json import emit_json

if TYPE_CHECKING:
    from adinsights_ops.dbt import BuildResult, Freshness, UploadedArtifacts
    from adinsights_ops.dbt._environment import BuildRequest


def build_start(request: BuildRequest) -> None:
    at = f" at {request.tag}" if request.tag else ""
    say(f"dbt build of {request.project} (target {request.target}){at}")


def dbt_line(line: str) -> None:
    """One line dbt printed (stderr)."""
    say(line)


def build_result(result: BuildResult, as_json: bool) -> None:
    """Each failed node, then the summary (or the result as JSON)."""
    if as_json:
        emit_json(result)
        return
    for node in result.failed:
        out(f"FAILED {node.describe()}")
    where = f" -> {result.target_path}" if result.target_path else ""
    mode = " (full refresh)" if result.full_refresh else ""
    out(f"dbt build{mode}: {result.summary()} in {result.elapsed:.1f}s{where}")


def uploaded(done: UploadedArtifacts) -> None:
    say(f"uploaded {', '.join(f's3://{done.bucket}/{k}' for k in done.keys)}")


def freshness(check: Freshness, as_json: bool) -> None:
    """Fresh or not, why, and what was read; each failing node first."""
    if as_json:
        emit_json(check)
        return
    for node in check.failing:
        out(f"FAILED {node.describe()}")
    out(f"{'fresh' if check.ok else 'NOT FRESH'}: {check.reason}")
    out(f"  read {check.evidence}")
