"""Where an environment's infrastructure is defined and where `infra.verify` looks for it.

Everything has a default derived from the environment's name (the sandbox blueprint's naming:
`adinsights-<env>-<role>` security groups, `adinsights-<env>-<purpose>` buckets, ...), so an
environments file needs an `infra:` section only to differ. Without one, the sandbox uses the
CloudFormation template in `infrastructure/cloudformation/` and every other environment uses no
engine at all (nothing is ever applied to a real account by default).

The `infra:` mapping is checked by `check_mapping` (every error names the file and the key); paths
in it are relative to the environments file's folder, like every other path there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from adinsights_ops.config import Environment

from adinsights_ops.config._infra import (
    BUCKET_NAME,
    BUCKET_PURPOSES,
    CAPABILITIES,
    DEFAULT_TEMPLATE,
    DEFAULT_TERRAFORM_DIR,
    ENDPOINT_SERVICE,
    ENDPOINT_SERVICES,
    ENGINES,
    LOAD_BALANCER_NAME,
    MAX_TIMEOUT,
    OPTION_NAMES,
    PARAMETER_NAME,
    REDIS_ID,
    SECURITY_GROUP_NAME,
    SG_ROLES,
    STACK_NAME,
    VARIABLE_NAME,
    InfraSettings,
    check_mapping,
)


def defaults(env: Environment) -> InfraSettings:
    stem = f"adinsights-{env.name}"
    buckets = {purpose: f"{stem}-{purpose}" for purpose in BUCKET_PURPOSES}
    if env.dbt is not None and env.dbt.artifacts_bucket:
        buckets["dbt-artifacts"] = env.dbt.artifacts_bucket
    return InfraSettings(
        engine="cloudformation" if env.sandbox else "none",
        stack_name=f"{stem}-network-data",
        template=DEFAULT_TEMPLATE,
        parameters={},
        capabilities=(),
        terraform_dir=DEFAULT_TERRAFORM_DIR,
        terraform_var_file=None,
        terraform_init=True,
        change_set_timeout=600.0,
        timeout=3600.0,
        security_groups={role: f"{stem}-{role}" for role in SG_ROLES},
        buckets=buckets,
        redis=f"{stem}-redis",
        load_balancer=f"{stem}-alb",
        endpoint_services=ENDPOINT_SERVICES,
        backup_retention=(7, 14),
    )


def problems(settings: InfraSettings, keys: Collection[str] | None = None) -> list[tuple[str, str]]:
    """(setting, what is wrong) for each identifier of `settings` (only `keys`, if given) that AWS
    would refuse, or that would make a call mean something else than intended."""
    found: list[tuple[str, str]] = []

    def check(key: str, ok: bool, expected: str) -> None:
        if (keys is None or key in keys) and not ok:
            found.append((key, expected))

    def each(values: Mapping[str, str], rule: Callable[[str], bool]) -> bool:
        return all(rule(v) for v in values.values())

    check(
        "stack_name",
        bool(STACK_NAME.fullmatch(settings.stack_name)),
        f"a CloudFormation stack name (a letter, then letters, digits and '-', at most 128 "
        f"characters), got {settings.stack_name!r}",
    )
    check(
        "template",
        bool(settings.template.strip()) and "\x00" not in settings.template,
        f"a template file path, got {settings.template!r}",
    )
    check(
        "terraform_dir",
        bool(settings.terraform_dir.strip()) and "\x00" not in settings.terraform_dir,
        f"a directory path, got {settings.terraform_dir!r}",
    )
    terraform = settings.engine == "terraform"
    rule = VARIABLE_NAME if terraform else PARAMETER_NAME
    check(
        "parameters",
        all(rule.fullmatch(k) for k in settings.parameters),
        (
            "Terraform variable names (a letter or '_', then letters, digits, '_', '-')"
            if terraform
            else "CloudFormation parameter names (letters and digits only)"
        )
        + ", got "
        + ", ".join(repr(k) for k in settings.parameters if not rule.fullmatch(k)),
    )
    check(
        "capabilities",
        all(c in CAPABILITIES for c in settings.capabilities),
        f"capabilities among {', '.join(CAPABILITIES)}, got {list(settings.capabilities)}",
    )
    for key in ("change_set_timeout", "timeout"):
        value = getattr(settings, key)
        check(
            key,
            math.isfinite(value) and 0 < value <= MAX_TIMEOUT,
            f"seconds above 0 and at most {MAX_TIMEOUT:.0f} (7 days), got {value!r}",
        )
    check(
        "security_groups",
        each(settings.security_groups, lambda v: bool(SECURITY_GROUP_NAME.fullmatch(v))),
        f"security group names (not ids), got {dict(settings.security_groups)}",
    )
    check(
        "buckets",
        each(settings.buckets, lambda v: bool(BUCKET_NAME.fullmatch(v))),
        f"S3 bucket names (3-63 lowercase letters, digits, '.', '-'), got {dict(settings.buckets)}",
    )
    check(
        "redis",
        bool(REDIS_ID.fullmatch(settings.redis)),
        f"an ElastiCache id (a letter, then letters, digits, single '-'; at most 40), "
        f"got {settings.redis!r}",
    )
    check(
        "load_balancer",
        bool(LOAD_BALANCER_NAME.fullmatch(settings.load_balancer)),
        f"a load balancer name (letters, digits, inner '-'; at most 32), "
        f"got {settings.load_balancer!r}",
    )
    check(
        "endpoint_services",
        all(ENDPOINT_SERVICE.fullmatch(s) for s in settings.endpoint_services),
        f"service names such as secretsmanager, got {list(settings.endpoint_services)}",
    )
    return found


def for_environment(env: Environment, **overrides: Any) -> InfraSettings:
    """The settings of `env`: defaults, then its `infra:` section, then `overrides` (not None).

    Every identifier is checked before anything is called: one the environments file gives wrongly
    is a ConfigError naming the key; one an override (a command-line option) gives is a UsageError
    naming the option.
    """
    settings = defaults(env)
    configured = getattr(env, "infra", None)
    if isinstance(configured, InfraSettings):
        settings = configured
    elif configured:
        given = check_mapping(configured, source=env.source, key=f"{env.name}.infra")
        settings = _merge(settings, given)
    for key, expected in problems(settings):
        raise ConfigError(env.source, f"{env.name}.infra.{key}", f"expected {expected}")
    chosen = {k: v for k, v in overrides.items() if v is not None}
    if "stack_name" in chosen and not isinstance(chosen["stack_name"], str):
        raise UsageError(f"--stack: expected a stack name, got {chosen['stack_name']!r}")
    settings = _merge(settings, chosen)
    for key, expected in problems(settings, chosen):
        raise UsageError(f"{OPTION_NAMES.get(key, key)}: expected {expected}")
    return settings


def _merge(settings: InfraSettings, given: Mapping[str, Any]) -> InfraSettings:
    changes = dict(given)
    for key in ("security_groups", "buckets"):
        if key in changes:  # name only the roles that differ; the others keep their defaults
            changes[key] = {**getattr(settings, key), **changes[key]}
    if "engine" in changes and changes["engine"] not in ENGINES:
        raise UsageError(
            f"--engine: expected one of {', '.join(ENGINES)}, got {changes['engine']!r}"
        )
    return attrs.evolve(settings, **changes)
