"""Seed an empty moto with the ADinsights blueprint (deployment runbook, section 2).

The sandbox is only useful if the ops tool meets the AWS shape it meets in staging: a VPC with
public and private subnets and chained security groups; the app's S3 buckets and a versioned state
bucket; ECR repositories holding the previous release, the current release and a `main-<sha>`
build; a rotating KMS key wrapping tenant DEKs; Secrets Manager secrets with greppable fake values;
a Multi-AZ PostgreSQL instance; and an ECS cluster whose four services (backend, worker, beat,
frontend) run the previous release. `seed` creates it all through boto3 clients, so it works the
same against a moto server or in-process `mock_aws`, and returns the ids as a frozen `Blueprint`.

Seeding is meant for an empty moto and is not idempotent: run it once per fresh server. Services
only exist afterwards; starting their tasks is the simulated scheduler's job (`sandbox.scheduler`).
Budgets, Cost Explorer and ElastiCache are not seeded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from adinsights_ops.config import Environment
from adinsights_ops.errors import ConfigError
from adinsights_ops.sandbox.blueprint_ecs import seed_ecs
from adinsights_ops.sandbox.blueprint_names import ENV_TAG, ROLE_TAG, SENTINEL_PREFIX
from adinsights_ops.sandbox.blueprint_network import seed_network
from adinsights_ops.sandbox.blueprint_secrets import (
    DEK_OBJECT_KEY,
    TENANTS,
    seed_kms,
    seed_secrets,
    seed_tenant_deks,
    sentinel,
)
from adinsights_ops.sandbox.blueprint_storage import (
    seed_buckets,
    seed_database,
    seed_images,
    seed_log_groups,
)

LOAD_DEFAULT_AMIS = "MOTO_EC2_LOAD_DEFAULT_AMIS"

__all__ = [
    "DEK_OBJECT_KEY",
    "ENV_TAG",
    "ROLE_TAG",
    "SENTINEL_PREFIX",
    "TENANTS",
    "Blueprint",
    "seed",
]


@attrs.frozen
class Blueprint:
    """The ids and names `seed` created; "role" keys are backend, worker, beat, frontend."""

    environment: str
    region: str
    vpc_id: str
    internet_gateway_id: str
    public_subnet_ids: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]
    security_group_ids: Mapping[str, str]  # alb, ecs, rds, redis -> sg id
    cluster_arn: str
    task_definition_arns: Mapping[str, str]  # role -> ARN of the previous release's revision
    service_arns: Mapping[str, str]  # role -> service ARN
    buckets: Mapping[str, str]  # static, logs, dbt-artifacts, airbyte-staging, state -> name
    state_bucket: str
    log_groups: Mapping[str, str]  # role -> log group name
    images: Mapping[str, Mapping[str, str]]  # repository -> tag -> image digest
    previous_tag: str
    current_tag: str
    main_tag: str
    kms_key_id: str
    kms_key_arn: str
    kms_alias: str
    dek_object_key: str  # in the state bucket: {tenant_id: base64 CiphertextBlob}
    tenants: tuple[str, ...]
    secret_arns: Mapping[str, str]  # django-secret-key, database-url, ... -> secret ARN
    feature_flags_parameter: str
    rds_instance_id: str

    def network_configuration(self) -> dict[str, Any]:
        """The services' awsvpc network configuration, as run_task takes it."""
        return {
            "awsvpcConfiguration": {
                "subnets": list(self.private_subnet_ids),
                "securityGroups": [self.security_group_ids["ecs"]],
                "assignPublicIp": "DISABLED",
            }
        }


def seed(
    clients: Callable[[str], Any],
    env: Environment,
    *,
    previous_tag: str = "release-1.2.0",
    current_tag: str = "release-1.3.0",
    main_sha: str = "a1b2c3d",
) -> Blueprint:
    """Create the blueprint of `env` through `clients(service_name)`; services run `previous_tag`.

    Refuses an environment that is not a sandbox: this fills an account with fake resources.
    """
    if not env.sandbox:
        raise ConfigError(
            env.source, f"{env.name}.sandbox", "true (seed fills the account with fake resources)"
        )
    # The blueprint runs no instances: spare moto parsing its ~1,000 default AMIs into each EC2
    # backend it creates (most of a region's first EC2 call). An explicit setting wins.
    os.environ.setdefault(LOAD_DEFAULT_AMIS, "false")
    main_tag = f"main-{main_sha}"
    s3, kms = clients("s3"), clients("kms")

    network = seed_network(clients("ec2"), env)
    from adinsights_ops.sandbox.blueprint_extras import seed_extras

    seed_extras(clients, env, network)  # ALB with an HTTPS listener, Redis, VPC endpoints
    buckets = seed_buckets(s3, env)
    log_groups = seed_log_groups(clients("logs"), env)
    images = seed_images(clients("ecr"), env, (previous_tag, current_tag, main_tag))
    key_id, key_arn = seed_kms(kms, env)
    seed_tenant_deks(kms, s3, env, key_arn)
    secret_arns, flags = seed_secrets(clients("secretsmanager"), clients("ssm"), env, key_arn)
    rds_instance = seed_database(
        clients("rds"),
        env,
        subnet_ids=network.private_subnet_ids,
        security_group_id=network.security_group_ids["rds"],
        kms_key_arn=key_arn,
        master_password=sentinel("database-url"),
    )
    cluster_arn, task_definitions, services = seed_ecs(
        clients("ecs"),
        env,
        image_tag=previous_tag,
        subnet_ids=network.private_subnet_ids,
        security_group_id=network.security_group_ids["ecs"],
        log_groups=log_groups,
        secret_arns=secret_arns,
        buckets=buckets,
    )
    return Blueprint(
        environment=env.name,
        region=env.region,
        vpc_id=network.vpc_id,
        internet_gateway_id=network.internet_gateway_id,
        public_subnet_ids=network.public_subnet_ids,
        private_subnet_ids=network.private_subnet_ids,
        security_group_ids=network.security_group_ids,
        cluster_arn=cluster_arn,
        task_definition_arns=task_definitions,
        service_arns=services,
        buckets=buckets,
        state_bucket=env.state_bucket,
        log_groups=log_groups,
        images=images,
        previous_tag=previous_tag,
        current_tag=current_tag,
        main_tag=main_tag,
        kms_key_id=key_id,
        kms_key_arn=key_arn,
        kms_alias=env.kms_key,
        dek_object_key=DEK_OBJECT_KEY,
        tenants=TENANTS,
        secret_arns=secret_arns,
        feature_flags_parameter=flags,
        rds_instance_id=rds_instance,
    )
