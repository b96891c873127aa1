"""Post-deployment checks (runbook section 7), each a `CheckReport` of items with their evidence."""

from __future__ import annotations

from adinsights_ops.postdeploy._checks import (
    DeployRef,
    check_activity_log,
    check_airbyte,
    check_audit,
    check_dbt,
    check_metrics,
    last_deploy,
    post_deploy,
)
from adinsights_ops.postdeploy._settings import (
    DEFAULTS,
    PostDeploySettings,
    parse_window,
    settings_for,
)

__all__ = [
    "DEFAULTS",
    "DeployRef",
    "PostDeploySettings",
    "check_activity_log",
    "check_airbyte",
    "check_audit",
    "check_dbt",
    "check_metrics",
    "last_deploy",
    "parse_window",
    "post_deploy",
    "settings_for",
]
