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
import re
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from adinsights_ops.config import Environment

ENGINES = ("cloudformation", "terraform", "none")
SG_ROLES = ("alb", "ecs", "rds", "redis")
BUCKET_PURPOSES = ("static", "logs", "dbt-artifacts", "airbyte-staging")
DEFAULT_TEMPLATE = "infrastructure/cloudformation/network-data.yaml"
DEFAULT_TERRAFORM_DIR = "infrastructure/terraform"
ENDPOINT_SERVICES = ("secretsmanager", "kms")
TEXT_KEYS = (
    "stack_name",
    "template",
    "terraform_dir",
    "terraform_var_file",
    "redis",
    "load_balancer",
)

# AWS's own rules for the identifiers the infra module sends, checked before any call.
STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")
PARAMETER_NAME = re.compile(r"[A-Za-z0-9]{1,255}")  # CloudFormation parameters
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,254}")  # Terraform variables
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
BUCKET_NAME = re.compile(r"(?!xn--)(?!.*\.\.)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
LOAD_BALANCER_NAME = re.compile(r"(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?")
REDIS_ID = re.compile(r"(?!.*--)[A-Za-z][A-Za-z0-9-]{0,38}[A-Za-z0-9]|[A-Za-z]")
SECURITY_GROUP_NAME = re.compile(r"(?!sg-)[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}")
ENDPOINT_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]{0,99}")
MAX_TIMEOUT = 7 * 24 * 3600.0
# What a command-line override of each setting is called (errors name the option as typed).
OPTION_NAMES = {"stack_name": "--stack", "template": "--template", "engine": "--engine"}


@attrs.frozen
class InfraSettings:
    """One environment's infrastructure settings, defaults filled in."""

    engine: str  # cloudformation | terraform | none
    stack_name: str
    template: str  # relative to the environments file's folder (or absolute)
    parameters: Mapping[str, str]  # CloudFormation parameters / Terraform variables
    capabilities: tuple[str, ...]
    terraform_dir: str
    terraform_var_file: str | None
    terraform_init: bool
    change_set_timeout: float
    timeout: float
    # Where infra.verify looks (names, not ids: the same file works for a rebuilt environment).
    security_groups: Mapping[str, str]  # alb, ecs, rds, redis -> group name
    buckets: Mapping[str, str]  # static, logs, dbt-artifacts, airbyte-staging -> bucket name
    redis: str  # ElastiCache replication group (or cache cluster) id
    load_balancer: str
    endpoint_services: tuple[str, ...]  # VPC interface endpoints that must exist
    backup_retention: tuple[int, int]  # RDS automated backups, days (min, max)


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


def _text(data: Mapping[str, Any], key: str, where: str, source: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(source, f"{where}.{key}", f"expected a string, got {value!r}")
    return value


def _names(
    data: Mapping[str, Any], key: str, where: str, source: str, allowed: tuple[str, ...]
) -> dict[str, str]:
    value = data[key]
    if not isinstance(value, Mapping):
        raise ConfigError(source, f"{where}.{key}", "expected a mapping")
    out: dict[str, str] = {}
    for name in value:
        if name not in allowed:
            raise ConfigError(source, f"{where}.{key}.{name}", f"expected one of {allowed}")
        out[str(name)] = _text(value, name, f"{where}.{key}", source)
    return out


def _number(data: Mapping[str, Any], key: str, where: str, source: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(source, f"{where}.{key}", f"expected a positive number, got {value!r}")
    return float(value)


def check_mapping(data: object, *, source: str, key: str) -> dict[str, Any]:
    """Validate an `infra:` mapping from the environments file; returns the changes it asks for.

    The result holds only the keys given, already typed; `for_environment` lays them over the
    defaults. Raises ConfigError naming `source` and the dotted key for anything wrong.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(source, key, "expected a mapping")
    out: dict[str, Any] = {}
    for name in data:
        if data[name] is None:
            continue
        if name == "engine":
            engine = _text(data, name, key, source)
            if engine not in ENGINES:
                raise ConfigError(source, f"{key}.engine", f"expected one of {', '.join(ENGINES)}")
            out["engine"] = engine
        elif name in TEXT_KEYS:
            out[name] = _text(data, name, key, source)
        elif name == "parameters":
            params = data[name]
            if not isinstance(params, Mapping) or not all(
                isinstance(v, str | int | float) and not isinstance(v, bool)
                for v in params.values()
            ):
                raise ConfigError(source, f"{key}.parameters", "expected a mapping of name: value")
            out["parameters"] = {str(k): str(v) for k, v in params.items()}
        elif name in ("capabilities", "endpoint_services"):
            values = data[name]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ConfigError(source, f"{key}.{name}", "expected a list of strings")
            out[name] = tuple(values)
        elif name == "terraform_init":
            if not isinstance(data[name], bool):
                raise ConfigError(source, f"{key}.terraform_init", "expected true or false")
            out[name] = data[name]
        elif name in ("change_set_timeout", "timeout"):
            out[name] = _number(data, name, key, source)
        elif name == "security_groups":
            out[name] = _names(data, name, key, source, SG_ROLES)
        elif name == "buckets":
            out[name] = _names(data, name, key, source, BUCKET_PURPOSES)
        elif name == "backup_retention":
            span = data[name]
            if (
                not isinstance(span, list)
                or len(span) != 2
                or not all(isinstance(d, int) and not isinstance(d, bool) for d in span)
                or not 1 <= span[0] <= span[1] <= 35
            ):
                raise ConfigError(source, f"{key}.backup_retention", "expected [min, max] days")
            out[name] = (span[0], span[1])
        else:
            known = ", ".join(sorted(attrs.fields_dict(InfraSettings)))
            raise ConfigError(source, f"{key}.{name}", f"unknown key (known: {known})")
    return out


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
