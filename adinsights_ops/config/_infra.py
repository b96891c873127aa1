"""The `infra:` section of an environments file: its keys, their defaults and their checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from adinsights_ops.errors import ConfigError

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
