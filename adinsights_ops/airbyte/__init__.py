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
from adinsights_ops.airbyte._sync import (
    SyncOutcome,
    find_active_job,
    sync,
    sync_all,
)

__all__ = [
    "ACTIVE",
    "AirbyteAuthFailed",
    "AirbyteClient",
    "AirbyteConflict",
    "AirbyteError",
    "AirbyteNotFound",
    "AirbyteUnavailable",
    "Applied",
    "Drift",
    "Manifest",
    "StreamSpec",
    "SyncAlreadyRunning",
    "SyncEvent",
    "SyncFailed",
    "SyncJob",
    "SyncOutcome",
    "SyncTimedOut",
    "apply",
    "check_connection_id",
    "client_for",
    "diff",
    "find_active_job",
    "load_manifests",
    "manifests_dir",
    "sync",
    "sync_all",
]
