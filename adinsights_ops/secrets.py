"""The secrets and configuration audit of runbook 3, read-only.

It compares what the services' current task definitions set (`environment` and `secrets`) with the
app's `.env.sample` (drift either way), looks for secrets sitting in plaintext `environment` (by
name, and by the shape of the value: high entropy, credentials in a URL), checks that every
`secrets[].valueFrom` resolves (Secrets Manager: describe_secret; SSM: describe_parameters, so no
value is ever fetched) and that the KMS key exists, is enabled and rotates. A finding names the
check, its subject (a variable name, a reference, a key) and what is wrong, never a value.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.ecs._views import describe
from adinsights_ops.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

__all__ = ["Audit", "Finding", "audit", "looks_secret", "read_env_sample", "shannon_entropy"]

# Name parts that say "secret": substrings, and words that only count whole (KEY, not MONKEY).
SECRET_SUBSTRINGS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE", "WEBHOOK")
SECRET_WORDS = frozenset({"KEY", "APIKEY", "DSN", "PWD", "PASS", "AUTH", "SALT", "CERT"})
# Names that read like secrets but hold a reference (a key id, alias or ARN), not a secret.
NON_SECRET_NAMES = frozenset({"KMS_KEY_ID", "KMS_KEY_ARN", "AWS_KMS_KEY_ID", "AWS_ACCESS_KEY_ID"})
REFERENCE = re.compile(r"^(arn:aws[a-z-]*:|alias/)")
URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
HEX = re.compile(r"^[0-9a-fA-F]+$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRETS_MANAGER = re.compile(r"^arn:aws[a-z-]*:secretsmanager:")
SSM = re.compile(r"^arn:aws[a-z-]*:ssm:")
ENTROPY_MIN_LENGTH = 20
ENTROPY_THRESHOLD = 4.5  # bits per character: base64 secrets score ~5, words and names ~3.5


@attrs.frozen
class Finding:
    """One thing the audit found wrong. Never carries a secret's value."""

    check: str  # env-sample-missing | env-sample-unused | env-sample-value | plaintext-secret
    #             | secret-reference | kms-key
    subject: str
    detail: str


@attrs.frozen
class Audit:
    findings: tuple[Finding, ...]
    task_definitions: tuple[str, ...]
    variables: tuple[str, ...]  # every name the task definitions set
    env_sample: str

    @property
    def ok(self) -> bool:
        return not self.findings


def shannon_entropy(value: str) -> float:
    """Bits per character of `value`'s character distribution."""
    if not value:
        return 0.0
    counts, n = Counter(value), len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _value_shape(value: str, threshold: float, *, urls: bool = True) -> str | None:
    """Why a value looks like a secret whatever its name, or None."""
    if urls and URL_CREDENTIALS.search(value):
        return "a URL with a password in it"
    if len(value) < ENTROPY_MIN_LENGTH or REFERENCE.match(value):
        return None
    entropy = shannon_entropy(value)
    if entropy > threshold or (HEX.match(value) and len(value) >= 32 and entropy >= 3.5):
        return f"a {len(value)}-character value with {entropy:.1f} bits/character of entropy"
    return None


def looks_secret(name: str, value: str, *, threshold: float = ENTROPY_THRESHOLD) -> str | None:
    """Why a plaintext variable looks like a secret (from its name or its value), or None."""
    upper = name.upper()
    words = set(upper.split("_"))
    if upper not in NON_SECRET_NAMES and not REFERENCE.match(value):
        hit = next((s for s in SECRET_SUBSTRINGS if s in upper), None) or next(
            (w for w in sorted(words & SECRET_WORDS)), None
        )
        if hit is not None:
            return f"its name says {hit}"
    return _value_shape(value, threshold)


def plaintext_secrets(
    containers: Sequence[Mapping[str, Any]],
    *,
    where: str,
    threshold: float = ENTROPY_THRESHOLD,
) -> list[Finding]:
    """The audit's rule on container definitions: one `plaintext-secret` Finding per plaintext
    environment variable that looks like a secret (by its name or its value). `where` says whose
    containers they are (e.g. `backend-service (adinsights-sandbox-backend:2`)."""
    findings: list[Finding] = []
    for container in containers:
        place = f"{where}, container {container.get('name', '?')})"
        for variable in container.get("environment", []) or []:
            name, value = str(variable.get("name", "")), str(variable.get("value", ""))
            why = looks_secret(name, value, threshold=threshold)
            if why is not None:
                findings.append(
                    Finding(
                        "plaintext-secret",
                        name,
                        f"plaintext in {place}: {why}; inject it from Secrets Manager or SSM",
                    )
                )
    return findings


def read_env_sample(path: Path) -> dict[str, str]:
    """NAME -> placeholder from a `.env.sample` (NAME=value lines; `#` comments; `export` allowed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found (the app's variable reference)") from None
    names: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        stripped = stripped.removeprefix("export ").lstrip()
        name, sep, value = stripped.partition("=")
        if not sep or not NAME.match(name.strip()):
            raise ConfigError(str(path), f"line {number}", "expected NAME=value")
        names[name.strip()] = value.strip().strip("'\"")
    return names


def _resolve(secretsmanager: SecretsManagerClient, ssm: SSMClient, value_from: str) -> str | None:
    """Why `value_from` does not resolve to a usable secret or parameter, or None. Reads no value."""
    if SECRETS_MANAGER.match(value_from):
        arn = ":".join(value_from.split(":")[:7])  # drop ECS's :json-key:version-stage:version-id
        try:
            described = secretsmanager.describe_secret(SecretId=arn)
        except secretsmanager.exceptions.ResourceNotFoundException:
            return "no such secret in Secrets Manager"
        if described.get("DeletedDate"):
            return f"the secret is scheduled for deletion on {described['DeletedDate']:%Y-%m-%d}"
        return None
    name = (
        value_from.split(":", 5)[5].removeprefix("parameter")
        if SSM.match(value_from)
        else value_from
    )
    candidates = list(dict.fromkeys([name, name.lstrip("/")]))
    found = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": candidates}]
    )["Parameters"]
    return None if found else "no such parameter in SSM Parameter Store"


def _check_key(kms: KMSClient, key: str) -> list[Finding]:
    from adinsights_ops.kms import KeyNotUsable, describe_key

    try:
        meta = describe_key(kms, key)
    except KeyNotUsable:
        return [Finding("kms-key", key, "the key does not exist")]
    findings = []
    if meta.get("KeyState") != "Enabled":
        findings.append(
            Finding("kms-key", key, f"the key is {meta.get('KeyState', 'not enabled')}")
        )
    if not kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"]:
        findings.append(Finding("kms-key", key, "automatic key rotation is off"))
    return findings


def audit(
    ecs: ECSClient,
    secretsmanager: SecretsManagerClient,
    ssm: SSMClient,
    kms: KMSClient,
    *,
    cluster: str,
    services: Sequence[str],
    env_sample: Path,
    kms_key: str,
    entropy_threshold: float = ENTROPY_THRESHOLD,
) -> Audit:
    """Audit the current task definitions of `services` against `env_sample`, Secrets Manager, SSM
    and the KMS key; every problem is a Finding (an empty tuple means all is well)."""
    sample = read_env_sample(env_sample)
    states = describe(ecs, cluster=cluster, services=list(services))
    findings: list[Finding] = []
    used: dict[str, list[str]] = {}  # name -> where it is set
    references: dict[str, list[str]] = {}  # valueFrom -> which variables use it, where
    revisions: list[str] = []
    for service, state in states.items():
        td = ecs.describe_task_definition(taskDefinition=state.task_definition)["taskDefinition"]
        revision = f"{td['family']}:{td['revision']}"
        revisions.append(revision)
        findings += plaintext_secrets(
            td["containerDefinitions"], where=f"{service} ({revision}", threshold=entropy_threshold
        )
        for container in td["containerDefinitions"]:
            where = f"{service} ({revision}, container {container['name']})"
            for variable in container.get("environment", []):
                used.setdefault(variable["name"], []).append(where)
            for secret in container.get("secrets", []):
                used.setdefault(secret["name"], []).append(where)
                references.setdefault(secret["valueFrom"], []).append(
                    f"{secret['name']} in {where}"
                )
    for value_from, users in references.items():
        why = _resolve(secretsmanager, ssm, value_from)
        if why is not None:
            findings.append(Finding("secret-reference", value_from, f"{'; '.join(users)}: {why}"))
    findings += _drift(used, sample, env_sample, entropy_threshold)
    findings += _check_key(kms, kms_key)
    return Audit(tuple(findings), tuple(revisions), tuple(sorted(used)), str(env_sample))


def _drift(
    used: Mapping[str, list[str]], sample: Mapping[str, str], path: Path, threshold: float
) -> list[Finding]:
    findings = [
        Finding("env-sample-missing", name, f"set by {', '.join(used[name])}; not in {path}")
        for name in sorted(set(used) - set(sample))
    ]
    findings += [
        Finding(
            "env-sample-unused", name, f"in {path}; no task definition of these services sets it"
        )
        for name in sorted(set(sample) - set(used))
    ]
    for name, placeholder in sorted(sample.items()):
        why = _value_shape(placeholder, threshold, urls=False)  # user:change-me@ is an example
        if why is not None:
            findings.append(
                Finding(
                    "env-sample-value", name, f"the example in {path} is {why}: use a placeholder"
                )
            )
    return findings
