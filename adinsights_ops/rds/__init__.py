"""RDS snapshots and restores (runbook 2.2 manual snapshots, 5 pre-deploy snapshot, 6 database rollback)."""

from __future__ import annotations

from adinsights_ops.rds._restore import (
    restore,
)
from adinsights_ops.rds._snapshots import (
    TAG_CREATED_BY,
    TAG_ENVIRONMENT,
    TAG_RELEASE,
    TAG_RUN_ID,
    InstanceNotFound,
    Kept,
    NameTaken,
    Prune,
    Restore,
    RestoreIncomplete,
    Snapshot,
    SnapshotFailed,
    SnapshotNotFound,
    find_snapshot,
    latest_snapshot,
    list_snapshots,
    prune_snapshots,
    snapshot,
    snapshot_id,
)

__all__ = [
    "TAG_CREATED_BY",
    "TAG_ENVIRONMENT",
    "TAG_RELEASE",
    "TAG_RUN_ID",
    "InstanceNotFound",
    "Kept",
    "NameTaken",
    "Prune",
    "Restore",
    "RestoreIncomplete",
    "Snapshot",
    "SnapshotFailed",
    "SnapshotNotFound",
    "find_snapshot",
    "latest_snapshot",
    "list_snapshots",
    "prune_snapshots",
    "restore",
    "snapshot",
    "snapshot_id",
]
