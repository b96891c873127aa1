"""Tenant data keys and the CMK that wraps them (runbook 3, and 10: emergency credential rotation)."""

from __future__ import annotations

from adinsights_ops.ecs import (
    TaskFailed,
)
from adinsights_ops.errors import (
    EnvironmentLocked,
)
from adinsights_ops.kms._deks import (
    Checkpoint,
    Done,
    KeyNotUsable,
    KeyRotation,
    KeyStatus,
    Rewrap,
    RewrapFailed,
    RewrapProgress,
    RotationEntry,
    S3Checkpoint,
    checkpoint_key,
    describe_key,
    rewrap,
    rewrap_object,
    rotate_key,
    status,
)
from adinsights_ops.kms._rotation import (
    BEAT_COUNT,
    COMMAND,
    PAUSE_STEP,
    RESTORE_STEP,
    RUN_KIND,
    RUN_STEP,
    BeatNotRestored,
    Rotation,
    rotate_deks,
)

__all__ = [
    "BEAT_COUNT",
    "COMMAND",
    "PAUSE_STEP",
    "RESTORE_STEP",
    "RUN_KIND",
    "RUN_STEP",
    "BeatNotRestored",
    "Checkpoint",
    "Done",
    "EnvironmentLocked",
    "KeyNotUsable",
    "KeyRotation",
    "KeyStatus",
    "Rewrap",
    "RewrapFailed",
    "RewrapProgress",
    "Rotation",
    "RotationEntry",
    "S3Checkpoint",
    "TaskFailed",
    "checkpoint_key",
    "describe_key",
    "rewrap",
    "rewrap_object",
    "rotate_deks",
    "rotate_key",
    "status",
]
