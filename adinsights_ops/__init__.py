"""adinsights_ops: the ADinsights deployment runbook as typed, importable primitives.

    from adinsights_ops import config, ecs
    from adinsights_ops.aws import Aws

    env = config.load("staging")
    aws = Aws(region=env.region, profile=env.profile)
    ecs.rollout(aws.ecs(), cluster=env.ecs.cluster, services=env.service_images(),
                image_tag="release-1.4.0", singletons=env.ecs.singletons)

Modules are imported on first use so that importing the package (and `inv --list`) stays fast and
never loads boto3.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from adinsights_ops._version import __version__

_MODULES = (
    "airbyte",
    "aws",
    "config",
    "cost",
    "dbt",
    "ecs",
    "errors",
    "golive",
    "health",
    "infra",
    "journal",
    "kms",
    "lock",
    "names",
    "notify",
    "pipeline",
    "postdeploy",
    "rds",
    "release",
    "secrets",
    "waiting",
)

if TYPE_CHECKING:
    from adinsights_ops import (
        airbyte,
        aws,
        config,
        cost,
        dbt,
        ecs,
        errors,
        golive,
        health,
        infra,
        journal,
        kms,
        lock,
        names,
        notify,
        pipeline,
        postdeploy,
        rds,
        release,
        secrets,
        waiting,
    )

__all__ = [
    "__version__",
    "airbyte",
    "aws",
    "config",
    "cost",
    "dbt",
    "ecs",
    "errors",
    "golive",
    "health",
    "infra",
    "journal",
    "kms",
    "lock",
    "names",
    "notify",
    "pipeline",
    "postdeploy",
    "rds",
    "release",
    "secrets",
    "waiting",
]


def __getattr__(name: str) -> ModuleType:
    if name in _MODULES:
        return importlib.import_module(f"adinsights_ops.{name}")
    raise AttributeError(f"module 'adinsights_ops' has no attribute {name!r}")
