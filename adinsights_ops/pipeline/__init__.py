"""The deploy runbook (section 5) as ordered, journaled, resumable steps built on the primitives."""

from __future__ import annotations

from adinsights_ops.pipeline._run import (
    DeployReport,
    StepSummary,
    deploy,
    plan,
    resolve_tag,
    rollback,
    runs_as_they_stand,
    unlock,
)
from adinsights_ops.pipeline._steps import (
    STEPS,
    Plan,
)

__all__ = [
    "STEPS",
    "DeployReport",
    "Plan",
    "StepSummary",
    "deploy",
    "plan",
    "resolve_tag",
    "rollback",
    "runs_as_they_stand",
    "unlock",
]
