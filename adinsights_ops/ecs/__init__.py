"""The ECS engine: roll several services to a new image together, roll them back, scale, report."""

from __future__ import annotations

from adinsights_ops.ecs._rollback import (
    rollback_targets,
    rollback_to,
)
from adinsights_ops.ecs._rollout import (
    deploy_revisions,
    plan_rollout,
    register_revisions,
    rollout,
)
from adinsights_ops.ecs._service import (
    check_count,
    prune,
    scale,
    status,
)
from adinsights_ops.ecs._settle import (
    DEFAULT_POLL,
    RollbackFailed,
    Rollout,
    RolloutFailed,
    ServiceOutcome,
    wait_settled,
)
from adinsights_ops.ecs._taskdefs import (
    Change,
    NoMatchingContainer,
    PruneResult,
    RevisionPlan,
    prune_task_definitions,
    scheduled_task_definitions,
    short_arn,
    split_image,
)
from adinsights_ops.ecs._tasks import (
    TASK_POLL,
    TaskFailed,
    TaskResult,
    network_from_service,
    run_task,
)
from adinsights_ops.ecs._views import (
    Deployment,
    OnEvent,
    Phase,
    Progress,
    RolloutEvent,
    ServiceEvent,
    ServiceMissing,
    ServiceState,
    describe,
)

__all__ = [
    "DEFAULT_POLL",
    "TASK_POLL",
    "Change",
    "Deployment",
    "NoMatchingContainer",
    "OnEvent",
    "Phase",
    "Progress",
    "PruneResult",
    "RevisionPlan",
    "RollbackFailed",
    "Rollout",
    "RolloutEvent",
    "RolloutFailed",
    "ServiceEvent",
    "ServiceMissing",
    "ServiceOutcome",
    "ServiceState",
    "TaskFailed",
    "TaskResult",
    "check_count",
    "deploy_revisions",
    "describe",
    "network_from_service",
    "plan_rollout",
    "prune",
    "prune_task_definitions",
    "register_revisions",
    "rollback_targets",
    "rollback_to",
    "rollout",
    "run_task",
    "scale",
    "scheduled_task_definitions",
    "short_arn",
    "split_image",
    "status",
    "wait_settled",
]
