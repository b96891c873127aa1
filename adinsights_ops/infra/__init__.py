"""Infrastructure (runbook section 2, deploy step 4): plan, show, apply; and verify the blueprint."""

from __future__ import annotations

from adinsights_ops.config._infra import (
    InfraSettings,
)
from adinsights_ops.infra._cloudformation import (
    CloudFormationEngine,
)
from adinsights_ops.infra._model import (
    Change,
    ChangeSet,
    ChangeSetFailed,
    Engine,
    InfraFailed,
    InfraPlan,
    InfraResult,
    PlanFile,
    StackBusy,
    StackEvent,
    StackRollbackFailed,
    StackUpdateFailed,
    TerraformApplyIncomplete,
    TerraformFailed,
)
from adinsights_ops.infra._operations import (
    apply_locked,
    preview,
    settings_with,
)
from adinsights_ops.infra._plan import (
    cloudformation_parameters,
    describe,
    engine_for,
    plan_and_apply,
)
from adinsights_ops.infra._settings import (
    for_environment,
)
from adinsights_ops.infra._terraform import (
    TerraformEngine,
)
from adinsights_ops.infra._verify import (
    verify,
)

__all__ = [
    "Change",
    "ChangeSet",
    "ChangeSetFailed",
    "CloudFormationEngine",
    "Engine",
    "InfraFailed",
    "InfraPlan",
    "InfraResult",
    "InfraSettings",
    "PlanFile",
    "StackBusy",
    "StackEvent",
    "StackRollbackFailed",
    "StackUpdateFailed",
    "TerraformApplyIncomplete",
    "TerraformEngine",
    "TerraformFailed",
    "apply_locked",
    "cloudformation_parameters",
    "describe",
    "engine_for",
    "for_environment",
    "plan_and_apply",
    "preview",
    "settings_with",
    "verify",
]
