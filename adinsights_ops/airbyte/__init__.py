"""Airbyte syncs (runbook 5.2 and 7): run a connection's sync to the end, adopting one already running."""

from __future__ import annotations

from adinsights_ops.airbyte._client import (
    AirbyteAuthFailed,
    AirbyteClient,
    AirbyteConflict,
    AirbyteError,
    AirbyteNotFound,
    AirbyteUnavailable,
    client_for,
)
from adinsights_ops.airbyte._jobs import (
    ACTIVE,
    SyncAlreadyRunning,
    SyncEvent,
    SyncFailed,
    SyncJob,
    SyncTimedOut,
    check_connection_id,
)
from adinsights_ops.airbyte._manifests import (
    Applied,
    Drift,
    Manifest,
    StreamSpec,
    apply,
    diff,
    load_manifests,
    manifests_dir,
)
from adinsights_ops.airbyte._runs import (
    ApplyResult,
    SyncReport,
    apply_environment,
    check_host,
    drifts_for,
    settings_of,
    sync_environment,
)
from adinsights_ops.airbyte._sync import (
    POLL_BACKOFF,
    SyncOutcome,
    find_active_job,
    sync,
    sync_all,
)

__all__ = [
    "ACTIVE",
    "POLL_BACKOFF",
    "AirbyteAuthFailed",
    "AirbyteClient",
    "AirbyteConflict",
    "AirbyteError",
    "AirbyteNotFound",
    "AirbyteUnavailable",
    "Applied",
    "ApplyResult",
    "Drift",
    "Manifest",
    "StreamSpec",
    "SyncAlreadyRunning",
    "SyncEvent",
    "SyncFailed",
    "SyncJob",
    "SyncOutcome",
    "SyncReport",
    "SyncTimedOut",
    "apply",
    "apply_environment",
    "check_connection_id",
    "check_host",
    "client_for",
    "diff",
    "drifts_for",
    "find_active_job",
    "load_manifests",
    "manifests_dir",
    "settings_of",
    "sync",
    "sync_all",
    "sync_environment",
]
