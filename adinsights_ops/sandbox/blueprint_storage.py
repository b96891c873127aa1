"""The sandbox blueprint's stores (runbook 2.2, 2.3, 4): S3 buckets, log groups, ECR images, RDS.

ECR gets each repository's images for the previous release, the current release and a `main-<sha>`
build: small but valid Docker v2 schema-2 manifests, one distinct digest per repository and tag, so
that promotion (retag without rebuild) and "which image runs where" can be tested for real.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from adinsights_ops.config import ROLES, Environment
from adinsights_ops.sandbox.blueprint_names import prefix, tag_list, tag_map

BUCKET_PURPOSES = ("static", "logs", "dbt-artifacts", "airbyte-staging")
LOG_RETENTION_DAYS = 30
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_BASE_LAYER = "sha256:" + hashlib.sha256(b"python:3.11-slim-bookworm").hexdigest()


def bucket_names(env: Environment) -> dict[str, str]:
    """purpose -> bucket name: the four app buckets and `state` (env.state_bucket)."""
    names = {purpose: f"{prefix(env)}-{purpose}" for purpose in BUCKET_PURPOSES}
    names["state"] = env.state_bucket
    return names


def seed_buckets(s3: Any, env: Environment) -> dict[str, str]:
    """Create the buckets, private, in env.region; the state bucket is versioned."""
    names = bucket_names(env)
    for purpose, bucket in names.items():
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if env.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": env.region}
        s3.create_bucket(**kwargs)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_tagging(
            Bucket=bucket,
            Tagging={"TagSet": tag_list(tag_map(env, bucket, **{"adinsights:purpose": purpose}))},
        )
    s3.put_bucket_versioning(Bucket=env.state_bucket, VersioningConfiguration={"Status": "Enabled"})
    return names


def log_group_name(env: Environment, role: str) -> str:
    return f"/ecs/{prefix(env)}/{role}"


def seed_log_groups(logs: Any, env: Environment) -> dict[str, str]:
    """One CloudWatch log group per ECS role, 30-day retention; returns role -> group name."""
    groups: dict[str, str] = {}
    for role in ROLES:
        name = log_group_name(env, role)
        logs.create_log_group(logGroupName=name, tags=tag_map(env, **{"adinsights:role": role}))
        logs.put_retention_policy(logGroupName=name, retentionInDays=LOG_RETENTION_DAYS)
        groups[role] = name
    return groups


def image_manifest(repository: str, tag: str) -> str:
    """A Docker v2 schema-2 manifest whose config and app layer are unique to repository+tag."""

    def digest(part: str) -> str:
        return "sha256:" + hashlib.sha256(f"{repository}:{tag}:{part}".encode()).hexdigest()

    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": digest("config"),
        },
        "layers": [
            {"mediaType": _LAYER, "size": 29_126_484, "digest": _BASE_LAYER},
            {"mediaType": _LAYER, "size": 48_213_377, "digest": digest("app")},
        ],
    }
    return json.dumps(manifest, separators=(",", ":"))


def seed_images(ecr: Any, env: Environment, tags: Sequence[str]) -> dict[str, dict[str, str]]:
    """The repositories of env.repositories, each with one image per tag.

    Returns repository -> tag -> image digest. The digest passed to ECR is the sha256 of the
    manifest bytes, which is how ECR itself computes it.
    """
    digests: dict[str, dict[str, str]] = {}
    for repository in dict.fromkeys(env.repositories.values()):
        ecr.create_repository(
            repositoryName=repository,
            imageScanningConfiguration={"scanOnPush": True},
            tags=tag_list(tag_map(env, repository)),
        )
        digests[repository] = {}
        for tag in tags:
            manifest = image_manifest(repository, tag)
            image_digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
            ecr.put_image(
                repositoryName=repository,
                imageManifest=manifest,
                imageManifestMediaType=MANIFEST_MEDIA_TYPE,
                imageTag=tag,
                imageDigest=image_digest,
            )
            digests[repository][tag] = image_digest
    return digests


def seed_database(
    rds: Any,
    env: Environment,
    *,
    subnet_ids: Sequence[str],
    security_group_id: str,
    kms_key_arn: str,
    master_password: str,
) -> str:
    """PostgreSQL 16 (Multi-AZ, 7-day backups, KMS-encrypted) in the private subnets."""
    subnet_group = f"{prefix(env)}-db"
    rds.create_db_subnet_group(
        DBSubnetGroupName=subnet_group,
        DBSubnetGroupDescription=f"ADinsights {env.name} private subnets",
        SubnetIds=list(subnet_ids),
        Tags=tag_list(tag_map(env, subnet_group)),
    )
    rds.create_db_instance(
        DBInstanceIdentifier=env.rds_instance,
        DBName="adinsights",
        Engine="postgres",
        EngineVersion="16.4",
        DBInstanceClass="db.t4g.medium",
        AllocatedStorage=100,
        StorageType="gp3",
        MasterUsername="adinsights",
        MasterUserPassword=master_password,
        MultiAZ=True,
        BackupRetentionPeriod=7,
        PreferredBackupWindow="02:00-03:00",
        StorageEncrypted=True,
        KmsKeyId=kms_key_arn,
        DBSubnetGroupName=subnet_group,
        VpcSecurityGroupIds=[security_group_id],
        PubliclyAccessible=False,
        CopyTagsToSnapshot=True,
        Tags=tag_list(tag_map(env, env.rds_instance)),
    )
    return env.rds_instance
