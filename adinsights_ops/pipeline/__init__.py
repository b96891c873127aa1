"""The deploy runbook (section 5) as ordered, journaled, resumable steps built on the primitives,
and the rollbacks of section 6 as runs under the same lock."""

from __future__ import annotations

from adinsights_ops.pipeline._locking import runs_as_they_stand, unlock
from adinsights_ops.pipeline._plan import Plan
from adinsights_ops.pipeline._prepare import prepare_data_state
from adinsights_ops.pipeline._report import DeployReport, StepSummary
from adinsights_ops.pipeline._rollback_run import (
    DbRollback,
    RestorePlan,
    Rolled,
    plan_restore,
    rollback,
    rollback_app,
    rollback_data,
    rollback_db,
)
from adinsights_ops.pipeline._run import deploy, plan, resolve_tag, resumable
from adinsights_ops.pipeline._steps import STEPS

__all__ = [
    "STEPS",
    "DbRollback",
    "DeployReport",
    "Plan",
    "RestorePlan",
    "Rolled",
    "StepSummary",
    "deploy",
    "plan",
    "plan_restore",
    "prepare_data_state",
    "resolve_tag",
    "resumable",
    "rollback",
    "rollback_app",
    "rollback_data",
    "rollback_db",
    "runs_as_they_stand",
    "unlock",
]
