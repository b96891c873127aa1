"""dbt: build a project in a subprocess (or prepare one ahead), read what it did, publish its
artifacts, rebuild a tag."""

from __future__ import annotations

from adinsights_ops.dbt._build import (
    UploadedArtifacts,
    artifact_key,
    build,
    build_at,
    dbt_command,
    upload_artifacts,
)
from adinsights_ops.dbt._environment import (
    BuildRequest,
    artifacts_bucket,
    build_environment,
    build_request,
    freshness_of,
    parse_duration,
    upload_result,
)
from adinsights_ops.dbt._git import (
    GitFailed,
    UnknownTag,
    schema_changes,
)
from adinsights_ops.dbt._prepared import (
    PreparedBuild,
    prepare,
)
from adinsights_ops.dbt._process import (
    ProcessOutcome,
    Runner,
    run_process,
)
from adinsights_ops.dbt._results import (
    FAILING_STATUSES,
    BuildFailed,
    BuildResult,
    BuildTimedOut,
    DbtCrashed,
    DbtError,
    Freshness,
    NodeResult,
    RunResultsInvalid,
    freshness,
    parse_run_results,
)

__all__ = [
    "FAILING_STATUSES",
    "BuildFailed",
    "BuildRequest",
    "BuildResult",
    "BuildTimedOut",
    "DbtCrashed",
    "DbtError",
    "Freshness",
    "GitFailed",
    "NodeResult",
    "PreparedBuild",
    "ProcessOutcome",
    "RunResultsInvalid",
    "Runner",
    "UnknownTag",
    "UploadedArtifacts",
    "artifact_key",
    "artifacts_bucket",
    "build",
    "build_at",
    "build_environment",
    "build_request",
    "dbt_command",
    "freshness",
    "freshness_of",
    "parse_duration",
    "parse_run_results",
    "prepare",
    "run_process",
    "schema_changes",
    "upload_artifacts",
    "upload_result",
]
