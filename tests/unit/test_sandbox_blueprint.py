"""The sandbox blueprint, seeded into in-process moto and checked through boto3 like an operator."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import boto3
import moto
import pytest
from botocore.exceptions import ClientError

from adinsights_ops import config
from adinsights_ops.config import Environment
from adinsights_ops.errors import ConfigError
from adinsights_ops.sandbox.blueprint import SENTINEL_PREFIX, Blueprint, seed

ENVIRONMENTS = Path(__file__).parents[2] / "environments.yaml"


# Seeding once per module keeps this file fast (a fresh mock_aws plus seed costs ~1 s); the tests
# only read, except the run_task test, whose task changes nothing the others look at.


@pytest.fixture(scope="module")
def env() -> Environment:
    return config.load("sandbox", ENVIRONMENTS)


@pytest.fixture(scope="module")
def aws(env: Environment) -> Iterator[Callable[[str], Any]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
        monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", env.region)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        with moto.mock_aws():
            yield lambda service: cast(Any, boto3).client(service, region_name=env.region)


@pytest.fixture(scope="module")
def blueprint(aws: Callable[[str], Any], env: Environment) -> Blueprint:
    return seed(aws, env)


def test_services_run_the_previous_release(
    aws: Callable[[str], Any], env: Environment, blueprint: Blueprint
) -> None:
    ecs = aws("ecs")
    names = {role: ref.name for role, ref in env.ecs.services.items()}
    described = ecs.describe_services(cluster=env.ecs.cluster, services=list(names.values()))
    assert described["failures"] == []
    by_name = {s["serviceName"]: s for s in described["services"]}
    assert set(by_name) == set(names.values())
    expected_counts = {"backend": 2, "worker": 2, "beat": 1, "frontend": 2}
    for role, name in names.items():
        service = by_name[name]
        assert service["desiredCount"] == expected_counts[role]
        assert service["launchType"] == "FARGATE"
        assert service["taskDefinition"] == blueprint.task_definition_arns[role]
        task_def = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
        (container,) = task_def["taskDefinition"]["containerDefinitions"]
        assert container["image"] == (
            f"{env.registry}/{env.repository_for(role)}:{blueprint.previous_tag}"
        )
        deployment = service["deploymentConfiguration"]
        assert deployment["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
        if role != "beat":
            assert (deployment["minimumHealthyPercent"], deployment["maximumPercent"]) == (100, 200)
    beat = by_name[names["beat"]]["deploymentConfiguration"]
    assert (beat["minimumHealthyPercent"], beat["maximumPercent"]) == (0, 100)
    beat_task = ecs.describe_task_definition(taskDefinition=blueprint.task_definition_arns["beat"])
    assert "/adinsights/worker:" in beat_task["taskDefinition"]["containerDefinitions"][0]["image"]


def test_backend_task_definition_is_the_one_off_family_with_secrets_and_logs(
    aws: Callable[[str], Any], env: Environment, blueprint: Blueprint
) -> None:
    described = aws("ecs").describe_task_definition(
        taskDefinition=env.ecs.one_off_family, include=["TAGS"]
    )
    task_def = described["taskDefinition"]
    assert task_def["taskDefinitionArn"] == blueprint.task_definition_arns["backend"]
    assert task_def["networkMode"] == "awsvpc"
    assert task_def["requiresCompatibilities"] == ["FARGATE"]
    assert (task_def["cpu"], task_def["memory"]) == ("512", "1024")
    (container,) = task_def["containerDefinitions"]
    assert container["name"] == env.ecs.one_off_container
    assert container["essential"] is True and container["memory"] > 0
    assert container["portMappings"][0]["containerPort"] == 8000
    assert container["command"][0] == "gunicorn"
    plain = {e["name"]: e["value"] for e in container["environment"]}
    assert plain["KMS_KEY_ID"] == env.kms_key
    assert plain["AWS_REGION"] == env.region
    assert not any(SENTINEL_PREFIX in value for value in plain.values())
    assert "CELERY_BROKER_URL" not in plain
    secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert secrets["DJANGO_SECRET_KEY"] == blueprint.secret_arns["django-secret-key"]
    assert secrets["DATABASE_URL"] == blueprint.secret_arns["database-url"]
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": blueprint.log_groups["backend"],
            "awslogs-region": env.region,
            "awslogs-stream-prefix": "ecs",
        },
    }
    tags = {t["key"]: t["value"] for t in described["tags"]}
    assert tags == {"adinsights:environment": "sandbox", "adinsights:role": "backend"}


def test_secrets_hold_greppable_sentinels(aws: Callable[[str], Any], blueprint: Blueprint) -> None:
    secretsmanager = aws("secretsmanager")
    for name, arn in blueprint.secret_arns.items():
        value = secretsmanager.get_secret_value(SecretId=arn)["SecretString"]
        assert f"{SENTINEL_PREFIX}{name}-" in value
    flags = aws("ssm").get_parameter(Name="/adinsights/sandbox/feature-flags")["Parameter"]
    assert flags["Type"] == "String"
    assert json.loads(flags["Value"]) == {"new_dashboards": False}


def test_ecr_has_previous_current_and_main_images(
    aws: Callable[[str], Any], env: Environment, blueprint: Blueprint
) -> None:
    ecr = aws("ecr")
    tags = [blueprint.previous_tag, blueprint.current_tag, "main-a1b2c3d"]
    digests: set[str] = set()
    for repository in ("adinsights/backend", "adinsights/worker", "adinsights/frontend"):
        assert repository in env.repositories.values()
        images = ecr.describe_images(
            repositoryName=repository, imageIds=[{"imageTag": tag} for tag in tags]
        )["imageDetails"]
        assert sorted(tag for image in images for tag in image["imageTags"]) == sorted(tags)
        digests.update(image["imageDigest"] for image in images)
        assert {i["imageTags"][0]: i["imageDigest"] for i in images} == blueprint.images[repository]
        manifest = ecr.batch_get_image(
            repositoryName=repository, imageIds=[{"imageTag": blueprint.previous_tag}]
        )["images"][0]["imageManifest"]
        assert json.loads(manifest)["schemaVersion"] == 2
    assert len(digests) == 9  # one distinct image per repository and tag


def test_rds_is_multi_az_with_seven_day_backups(
    aws: Callable[[str], Any], env: Environment, blueprint: Blueprint
) -> None:
    (instance,) = aws("rds").describe_db_instances(DBInstanceIdentifier=env.rds_instance)[
        "DBInstances"
    ]
    assert instance["MultiAZ"] is True
    assert instance["BackupRetentionPeriod"] == 7
    assert instance["Engine"] == "postgres"
    assert instance["EngineVersion"].startswith("16.")
    assert instance["StorageEncrypted"] is True
    assert [g["VpcSecurityGroupId"] for g in instance["VpcSecurityGroups"]] == [
        blueprint.security_group_ids["rds"]
    ]


def test_kms_rotates_and_tenant_deks_decrypt_only_in_their_context(
    aws: Callable[[str], Any], env: Environment, blueprint: Blueprint
) -> None:
    kms, s3 = aws("kms"), aws("s3")
    assert kms.get_key_rotation_status(KeyId=blueprint.kms_key_id)["KeyRotationEnabled"] is True
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases[env.kms_key] == blueprint.kms_key_id
    body = s3.get_object(Bucket=env.state_bucket, Key="sandbox/tenant-deks.json")["Body"].read()
    wrapped = json.loads(body)
    assert sorted(wrapped) == ["tenant-acme", "tenant-demo", "tenant-globex"]
    for tenant, blob in wrapped.items():
        ciphertext = base64.b64decode(blob)
        plaintext = kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext={"tenant_id": tenant})
        assert len(plaintext["Plaintext"]) == 32
        assert plaintext["KeyId"] == blueprint.kms_key_arn
        other = next(t for t in wrapped if t != tenant)
        with pytest.raises(ClientError) as excinfo:
            kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext={"tenant_id": other})
        assert excinfo.value.response["Error"]["Code"] == "InvalidCiphertextException"
        with pytest.raises(ClientError):
            kms.decrypt(CiphertextBlob=ciphertext)


def test_buckets_exist_and_state_bucket_is_versioned(
    aws: Callable[[str], Any], env: Environment, blueprint: Blueprint
) -> None:
    s3 = aws("s3")
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    expected = {
        "adinsights-sandbox-static",
        "adinsights-sandbox-logs",
        "adinsights-sandbox-dbt-artifacts",
        "adinsights-sandbox-airbyte-staging",
        env.state_bucket,
    }
    assert expected <= existing
    assert set(blueprint.buckets.values()) == expected
    assert s3.get_bucket_versioning(Bucket=env.state_bucket)["Status"] == "Enabled"
    location = s3.get_bucket_location(Bucket=env.state_bucket)["LocationConstraint"]
    assert location == env.region


def test_network_has_dns_hostnames_and_chained_security_groups(
    aws: Callable[[str], Any], blueprint: Blueprint
) -> None:
    ec2 = aws("ec2")
    hostnames = ec2.describe_vpc_attribute(VpcId=blueprint.vpc_id, Attribute="enableDnsHostnames")
    assert hostnames["EnableDnsHostnames"]["Value"] is True
    tagged = ec2.describe_vpcs(
        Filters=[{"Name": "tag:adinsights:environment", "Values": ["sandbox"]}]
    )["Vpcs"]
    assert [v["VpcId"] for v in tagged] == [blueprint.vpc_id]
    subnets = ec2.describe_subnets(
        SubnetIds=[*blueprint.public_subnet_ids, *blueprint.private_subnet_ids]
    )["Subnets"]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    described = ec2.describe_security_groups(GroupIds=list(blueprint.security_group_ids.values()))
    groups = {g["GroupName"]: g for g in described["SecurityGroups"]}
    (rds_rule,) = groups["adinsights-sandbox-rds"]["IpPermissions"]
    assert rds_rule["FromPort"] == 5432
    assert [p["GroupId"] for p in rds_rule["UserIdGroupPairs"]] == [
        blueprint.security_group_ids["ecs"]
    ]
    (alb_rule,) = groups["adinsights-sandbox-alb"]["IpPermissions"]
    assert (alb_rule["FromPort"], alb_rule["IpRanges"][0]["CidrIp"]) == (443, "0.0.0.0/0")


def test_fargate_run_task_on_the_backend_family_succeeds(
    aws: Callable[[str], Any], env: Environment, blueprint: Blueprint
) -> None:
    ecs = aws("ecs")
    (service,) = ecs.describe_services(
        cluster=env.ecs.cluster, services=[env.ecs.services["backend"].name]
    )["services"]
    network = service["networkConfiguration"]
    assert network == blueprint.network_configuration()
    response = ecs.run_task(
        cluster=env.ecs.cluster,
        taskDefinition=env.ecs.one_off_family,
        launchType="FARGATE",
        networkConfiguration=network,
        overrides={
            "containerOverrides": [
                {"name": env.ecs.one_off_container, "command": ["python", "manage.py", "migrate"]}
            ]
        },
    )
    assert response["failures"] == []
    (task,) = response["tasks"]
    assert task["taskDefinitionArn"] == blueprint.task_definition_arns["backend"]


def test_seed_refuses_an_environment_that_is_not_a_sandbox(env: Environment) -> None:
    import attrs

    def no_clients(service: str) -> Any:
        raise AssertionError(f"no client may be made, asked for {service}")

    with pytest.raises(ConfigError, match="sandbox"):
        seed(no_clients, attrs.evolve(env, sandbox=False))
