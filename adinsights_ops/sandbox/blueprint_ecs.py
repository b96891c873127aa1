"""The sandbox blueprint's ECS (runbook 2.2): the cluster, a task definition and a service per role.

Each role's task definition runs one container named after the role, on the previous release's
image, with plaintext non-secret settings, secrets from Secrets Manager and awslogs logging. moto's
create_service drops `deploymentConfiguration`, so it is set again with update_service right after.
celery-beat is a singleton: its services deploy 0%/100% so that two copies never run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adinsights_ops.config import ROLES, Environment
from adinsights_ops.sandbox.blueprint_names import ROLE_TAG, prefix, tag_list, tag_map
from adinsights_ops.sandbox.blueprint_secrets import SECRET_VARIABLES

TASK_CPU = "512"
TASK_MEMORY = "1024"
CONTAINER_MEMORY = 1024
DESIRED_COUNTS = {"backend": 2, "worker": 2, "beat": 1, "frontend": 2}
PORTS = {"backend": 8000, "frontend": 80}
COMMANDS = {
    "backend": [
        "gunicorn",
        "adinsights.wsgi:application",
        "--bind",
        "0.0.0.0:8000",
        "--workers",
        "3",
        "--timeout",
        "60",
        "--access-logfile",
        "-",
    ],
    "worker": ["celery", "-A", "adinsights", "worker", "--loglevel", "INFO", "--concurrency", "4"],
    "beat": ["celery", "-A", "adinsights", "beat", "--loglevel", "INFO"],
    "frontend": ["nginx", "-g", "daemon off;"],
}
# Which secrets each role is given (least privilege: nginx serving a static build needs none).
ROLE_SECRETS = {
    "backend": tuple(SECRET_VARIABLES),
    "worker": tuple(SECRET_VARIABLES),
    "beat": ("django-secret-key", "database-url"),
    "frontend": (),
}


def family(env: Environment, role: str) -> str:
    """`adinsights-<env>-<role>`, except the backend's: env.ecs.one_off_family (one-off tasks)."""
    return env.ecs.one_off_family if role == "backend" else f"{prefix(env)}-{role}"


def container_name(env: Environment, role: str) -> str:
    return env.ecs.one_off_container if role == "backend" else role


def deployment_configuration(env: Environment, role: str) -> dict[str, Any]:
    """Rolling deploys with the circuit breaker; singletons (beat) stop the old copy first."""
    singleton = env.ecs.services[role].name in env.ecs.singletons
    return {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "minimumHealthyPercent": 0 if singleton else 100,
        "maximumPercent": 100 if singleton else 200,
    }


def _environment(env: Environment, role: str, buckets: Mapping[str, str]) -> list[dict[str, str]]:
    if role == "frontend":
        # The built frontend calls this API (go-live item 2 checks it points at the environment's).
        values = {
            "ADINSIGHTS_ENVIRONMENT": env.name,
            "NGINX_PORT": "80",
            "VITE_API_BASE_URL": env.health_base_url,
        }
    else:
        values = {
            "ADINSIGHTS_ENVIRONMENT": env.name,
            "DJANGO_SETTINGS_MODULE": "adinsights.settings",
            "AWS_REGION": env.region,
            "KMS_KEY_ID": env.kms_key,
            "STATIC_BUCKET": buckets["static"],
            "DBT_ARTIFACTS_BUCKET": buckets["dbt-artifacts"],
            "AIRBYTE_STAGING_BUCKET": buckets["airbyte-staging"],
        }
    return [{"name": k, "value": v} for k, v in values.items()]


def container_definition(
    env: Environment,
    role: str,
    *,
    image_tag: str,
    log_group: str,
    secret_arns: Mapping[str, str],
    buckets: Mapping[str, str],
) -> dict[str, Any]:
    """The one container of `role`'s task definition, running `<registry>/<repo>:<image_tag>`."""
    container: dict[str, Any] = {
        "name": container_name(env, role),
        "image": f"{env.registry}/{env.repository_for(role)}:{image_tag}",
        "essential": True,
        "cpu": int(TASK_CPU),
        "memory": CONTAINER_MEMORY,  # moto's Fargate run_task fails without container memory
        "command": COMMANDS[role],
        "environment": _environment(env, role, buckets),
        "secrets": [
            {"name": SECRET_VARIABLES[name], "valueFrom": secret_arns[name]}
            for name in ROLE_SECRETS[role]
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": env.region,
                "awslogs-stream-prefix": "ecs",
            },
        },
    }
    if role in PORTS:
        port = PORTS[role]
        container["portMappings"] = [{"containerPort": port, "hostPort": port, "protocol": "tcp"}]
    if role == "backend":
        container["healthCheck"] = {
            "command": ["CMD-SHELL", "curl -fsS http://localhost:8000/api/health/ || exit 1"],
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 60,
        }
    return container


def seed_ecs(
    ecs: Any,
    env: Environment,
    *,
    image_tag: str,
    subnet_ids: Sequence[str],
    security_group_id: str,
    log_groups: Mapping[str, str],
    secret_arns: Mapping[str, str],
    buckets: Mapping[str, str],
) -> tuple[str, dict[str, str], dict[str, str]]:
    """Create the cluster, task definitions and services; all services run `image_tag`.

    Returns (cluster ARN, role -> task-definition ARN, role -> service ARN).
    """
    cluster_arn: str = ecs.create_cluster(
        clusterName=env.ecs.cluster,
        settings=[{"name": "containerInsights", "value": "enabled"}],
        tags=tag_list(tag_map(env), "key", "value"),
    )["cluster"]["clusterArn"]
    iam = f"arn:aws:iam::{env.account}:role/{prefix(env)}"
    network = {
        "awsvpcConfiguration": {
            "subnets": list(subnet_ids),
            "securityGroups": [security_group_id],
            "assignPublicIp": "DISABLED",
        }
    }
    task_definitions: dict[str, str] = {}
    services: dict[str, str] = {}
    for role in ROLES:
        tags = tag_list(tag_map(env, **{ROLE_TAG: role}), "key", "value")
        task_definitions[role] = ecs.register_task_definition(
            family=family(env, role),
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=TASK_CPU,
            memory=TASK_MEMORY,
            executionRoleArn=f"{iam}-ecs-execution",
            taskRoleArn=f"{iam}-{role}-task",
            runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
            containerDefinitions=[
                container_definition(
                    env,
                    role,
                    image_tag=image_tag,
                    log_group=log_groups[role],
                    secret_arns=secret_arns,
                    buckets=buckets,
                )
            ],
            tags=tags,
        )["taskDefinition"]["taskDefinitionArn"]
        name = env.ecs.services[role].name
        services[role] = ecs.create_service(
            cluster=env.ecs.cluster,
            serviceName=name,
            taskDefinition=task_definitions[role],
            desiredCount=DESIRED_COUNTS[role],
            launchType="FARGATE",
            networkConfiguration=network,
            deploymentConfiguration=deployment_configuration(env, role),
            propagateTags="TASK_DEFINITION",
            enableECSManagedTags=True,
            tags=tags,
        )["service"]["serviceArn"]
        # moto drops deploymentConfiguration on create_service; update_service keeps it.
        ecs.update_service(
            cluster=env.ecs.cluster,
            service=name,
            deploymentConfiguration=deployment_configuration(env, role),
        )
    return cluster_arn, task_definitions, services
