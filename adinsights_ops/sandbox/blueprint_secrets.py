"""The sandbox blueprint's keys and configuration (runbook 3): KMS CMK, tenant DEKs, secrets, flags.

The CMK (`env.kms_key`, rotation on) wraps one data key per tenant; only the wrapped keys
(CiphertextBlobs, base64) are stored, in the state bucket, never a plaintext. Secrets Manager holds
the values ECS injects into tasks; each is an obviously fake value containing `SENTINEL-`, so that a
test can grep logs, journals and output for a leaked secret.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from adinsights_ops.config import Environment
from adinsights_ops.sandbox.blueprint_names import SENTINEL_PREFIX, prefix, tag_list, tag_map

TENANTS = ("tenant-demo", "tenant-acme", "tenant-globex")
DEK_OBJECT_KEY = "sandbox/tenant-deks.json"
FEATURE_FLAGS = {"new_dashboards": False}

# secret short name -> the ECS container variable it is injected as
SECRET_VARIABLES = {
    "django-secret-key": "DJANGO_SECRET_KEY",
    "database-url": "DATABASE_URL",
    "airbyte-client-secret": "AIRBYTE_CLIENT_SECRET",
    "slack-webhook-url": "SLACK_WEBHOOK_URL",
}
_SENTINEL_SUFFIX = {
    "django-secret-key": "7f3a",
    "database-url": "4b1e",
    "airbyte-client-secret": "9c2d",
    "slack-webhook-url": "5e8b",
}


def sentinel(name: str) -> str:
    """The fake value of secret `name`: `SENTINEL-<name>-<4 hex>` (greppable, plainly not real)."""
    return f"{SENTINEL_PREFIX}{name}-{_SENTINEL_SUFFIX.get(name, '0000')}"


def secret_value(env: Environment, name: str) -> str:
    """The stored value of secret `name`, shaped like the real one but containing its sentinel."""
    if name == "database-url":
        host = f"{env.rds_instance}.sandbox.{env.region}.rds.amazonaws.com"
        return f"postgres://adinsights:{sentinel(name)}@{host}:5432/adinsights"
    if name == "slack-webhook-url":
        return f"https://hooks.slack.invalid/services/{sentinel(name)}"
    return sentinel(name)


def seed_kms(kms: Any, env: Environment) -> tuple[str, str]:
    """The symmetric CMK with rotation on and alias `env.kms_key`; returns (key id, key ARN)."""
    metadata = kms.create_key(
        Description=f"ADinsights {env.name}: wraps tenant DEKs, RDS storage and secrets",
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
        Tags=tag_list(tag_map(env, prefix(env)), "TagKey", "TagValue"),
    )["KeyMetadata"]
    kms.enable_key_rotation(KeyId=metadata["KeyId"])
    kms.create_alias(AliasName=env.kms_key, TargetKeyId=metadata["KeyId"])
    return metadata["KeyId"], metadata["Arn"]


def seed_tenant_deks(kms: Any, s3: Any, env: Environment, key_arn: str) -> dict[str, str]:
    """Wrap one AES-256 DEK per tenant (encryption context tenant_id) and store only the blobs."""
    wrapped: dict[str, str] = {}
    for tenant in TENANTS:
        # Only the wrapped key is kept: the plaintext DEK is dropped with the response.
        blob: bytes = kms.generate_data_key(
            KeyId=key_arn, KeySpec="AES_256", EncryptionContext={"tenant_id": tenant}
        )["CiphertextBlob"]
        wrapped[tenant] = base64.b64encode(blob).decode("ascii")
    s3.put_object(
        Bucket=env.state_bucket,
        Key=DEK_OBJECT_KEY,
        Body=json.dumps(wrapped, indent=2, sort_keys=True).encode("utf-8"),
        ContentType="application/json",
    )
    return wrapped


def seed_secrets(
    secretsmanager: Any, ssm: Any, env: Environment, key_arn: str
) -> tuple[dict[str, str], str]:
    """The secrets (`adinsights/<env>/<name>`) and the feature-flags parameter.

    Returns (secret short name -> ARN, the parameter's name).
    """
    arns: dict[str, str] = {}
    for name in SECRET_VARIABLES:
        arns[name] = secretsmanager.create_secret(
            Name=f"adinsights/{env.name}/{name}",
            Description=f"ADinsights {env.name} {name} (sandbox: a fake sentinel value)",
            SecretString=secret_value(env, name),
            KmsKeyId=key_arn,
            Tags=tag_list(tag_map(env)),
        )["ARN"]
    parameter = f"/adinsights/{env.name}/feature-flags"
    ssm.put_parameter(
        Name=parameter,
        Description=f"ADinsights {env.name} feature flags",
        Type="String",
        Value=json.dumps(FEATURE_FLAGS),
        Tags=tag_list(tag_map(env)),
    )
    return arns, parameter
