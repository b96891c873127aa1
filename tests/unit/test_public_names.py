"""The names scripts use keep working through each package's face, whatever moves behind it."""

from __future__ import annotations

import importlib
import inspect

import pytest

import adinsights_ops

# What scripts and the docs call, as they call it: `from adinsights_ops import ecs; ecs.rollout(...)`.
PUBLIC = {
    "ecs": [
        "rollout",
        "run_task",
        "scale",
        "status",
        "prune",
        "rollback_to",
        "RolloutFailed",
        "TaskFailed",
    ],
    "rds": ["snapshot", "restore", "prune_snapshots", "latest_snapshot", "SnapshotFailed"],
    "kms": ["rotate_deks", "rotate_key", "rewrap"],
    "airbyte": ["sync", "diff", "apply", "SyncFailed"],
    "dbt": ["build", "build_at", "prepare", "PreparedBuild"],
    "pipeline": [
        "deploy",
        "plan",
        "rollback",
        "resolve_tag",
        "unlock",
        "prepare_data_state",
        "DeployReport",
    ],
    "infra": ["plan_and_apply", "preview", "apply_locked", "verify"],
    "cost": ["monthly_report", "ensure_budget_for", "schedule_offhours", "rightsize_services"],
    "golive": ["evaluate", "save_evidence"],
    "postdeploy": ["post_deploy", "parse_window"],
    "config": ["load", "Environment", "environments_file"],
    "errors": [
        "OpsError",
        "UsageError",
        "ConfigError",
        "NeedsHuman",
        "WaitTimedOut",
        "EnvironmentLocked",
    ],
}


@pytest.mark.parametrize(("package", "names"), sorted(PUBLIC.items()))
def test_the_public_names_are_on_the_face(package: str, names: list[str]) -> None:
    face = getattr(adinsights_ops, package)  # the lazy top-level attribute scripts use
    assert face is importlib.import_module(f"adinsights_ops.{package}")
    for name in names:
        assert hasattr(face, name), f"adinsights_ops.{package}.{name}"
        assert name in getattr(face, "__all__", [name]), f"{package}.__all__ lacks {name}"


def test_functions_are_defined_in_private_modules_never_named_like_them() -> None:
    """`ecs.rollout` is the function; its module is `ecs._rollout`: no submodule shadows a name."""
    for package in PUBLIC:
        face = importlib.import_module(f"adinsights_ops.{package}")
        for name in getattr(face, "__all__", []):
            value = getattr(face, name)
            assert not inspect.ismodule(value), f"adinsights_ops.{package}.{name} is a module"
            where = getattr(value, "__module__", "") or ""
            if inspect.isfunction(value) and where.startswith(f"adinsights_ops.{package}."):
                assert where.rsplit(".", 1)[1].startswith("_"), where
