"""Edits of moto's in-memory ECS objects, made on behalf of the simulated ECS scheduler.

moto stores ECS services, deployments and tasks but has no scheduler: nothing starts a service's
tasks, moves a deployment along or records why a task stopped. These helpers make the edits that the
ECS control plane would make (task lifecycle fields, service events, deployment records, a task's
awslogs output) and nothing else; *when* to make them is decided in `sandbox.scheduler`.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from moto.ec2.models import ec2_backends
from moto.ecs.models import EC2ContainerServiceBackend, Service, Task, TaskDefinition
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.logs.models import logs_backends

MAX_EVENTS = 100  # describe_services shows at most the 100 newest events
MAX_STOPPED = 100  # stopped tasks kept per service (AWS forgets them after about an hour)
ESSENTIAL_EXITED = "Essential container in task exited"
EXITED_CODE = "EssentialContainerExited"

Deployment = dict[str, Any]  # moto keeps deployments as API-shaped dicts (camelCase keys)


def task_id(task: Task) -> str:
    """The short id ECS uses in events and log stream names (last part of the ARN)."""
    return task.task_arn.split("/")[-1]


def service_group(service_name: str) -> str:
    return f"service:{service_name}"


def new_deployment_id() -> str:
    return f"ecs-svc/{uuid.uuid4().int % 10**19}"


def set_fields(obj: object, **fields: Any) -> None:
    """Set attributes that moto's serializer reads but its models do not declare (stoppedAt ...)."""
    vars(obj).update(fields)


def new_deployment(service: Service, task_definition: str, at: datetime) -> Deployment:
    """A fresh PRIMARY deployment record with no tasks yet, as ECS creates on UpdateService."""
    deployment_id = new_deployment_id()
    return {
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": at,
        "updatedAt": at,
        "launchType": service.launch_type,
        "platformVersion": service.platform_version,
        "platformFamily": "EC2" if service.launch_type == "EC2" else "FARGATE",
        "networkConfiguration": service.network_configuration or None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
    }


def add_event(service: Service, message: str, at: datetime) -> None:
    """Record a service event, newest first like describe_services."""
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": at, "message": message})
    del service.events[MAX_EVENTS:]


def service_tasks(backend: EC2ContainerServiceBackend, service: Service) -> list[Task]:
    """Every task (any status) that the scheduler started for `service`, oldest first."""
    group = service_group(service.name)
    return [t for t in backend.tasks.get(service.cluster_name, {}).values() if t.group == group]


def forget_stopped(backend: EC2ContainerServiceBackend, service: Service) -> None:
    """Drop a service's oldest stopped tasks beyond MAX_STOPPED, so endless retries stay bounded."""
    stopped = [t for t in service_tasks(backend, service) if t.last_status == "STOPPED"]
    for task in stopped[: max(len(stopped) - MAX_STOPPED, 0)]:
        del backend.tasks[service.cluster_name][task.task_arn]


def running(tasks: Sequence[Task]) -> list[Task]:
    return [t for t in tasks if t.last_status == "RUNNING"]


def start_service_task(
    backend: EC2ContainerServiceBackend, service: Service, deployment: Deployment, at: datetime
) -> Task:
    """Create a RUNNING task of `deployment` the way the service scheduler would place it."""
    task_definition = backend.describe_task_definition(deployment["taskDefinition"])
    task = Task(
        backend.clusters[service.cluster_name],
        task_definition,
        None,
        backend._calculate_task_resource_requirements(task_definition),
        backend=backend,
        group=service_group(service.name),
        launch_type=service.launch_type or "FARGATE",
        started_by=deployment["id"],
        networking_configuration=service.network_configuration or None,
    )
    backend.tasks.setdefault(service.cluster_name, {})[task.task_arn] = task
    mark_running(task, at)
    return task


def mark_running(task: Task, at: datetime) -> None:
    """Freeze moto's automatic status progression and show the task RUNNING since `at`."""
    task._transitions = []  # moto would otherwise advance the status on every describe_tasks
    task.last_status = "RUNNING"
    task.desired_status = "RUNNING"
    set_fields(task, started_at=at, pull_started_at=at, pull_stopped_at=at)
    container = task.containers[0]
    container.last_status = "RUNNING"
    set_fields(container, exitCode=None)  # a running container has no exit code yet


def mark_stopped(
    task: Task,
    at: datetime,
    *,
    exit_code: int,
    reason: str,
    stop_code: str,
    container_reason: str | None = None,
) -> None:
    """Show the task STOPPED at `at`, with the fields ECS reports for a stopped task."""
    task.last_status = "STOPPED"
    task.desired_status = "STOPPED"
    task.stopped_reason = reason
    set_fields(task, stop_code=stop_code, stopping_at=at, stopped_at=at, execution_stopped_at=at)
    container = task.containers[0]
    container.last_status = "STOPPED"
    set_fields(container, exitCode=exit_code, reason=container_reason)
    _release_network_interfaces(task)


def _release_network_interfaces(task: Task) -> None:
    """Delete a stopped task's ENI, as Fargate does (moto would keep it "in-use" forever)."""
    _, _, _, region, account, _ = task.task_arn.split(":", 5)
    enis = ec2_backends[account][region].enis
    attachments: list[dict[str, Any]] = list(task.attachments)
    for attachment in attachments:
        if attachment.get("type") == "ElasticNetworkInterface":
            details = {d["name"]: d["value"] for d in attachment.get("details", [])}
            enis.pop(details.get("networkInterfaceId", ""), None)
            attachment["status"] = "DELETED"


def refresh_cluster_counts(backend: EC2ContainerServiceBackend, cluster_name: str) -> None:
    """Keep the cluster's running/pending task counts equal to what its tasks say."""
    cluster = backend.clusters.get(cluster_name)
    if cluster is None:
        return
    cluster.running_tasks_count = len(running(list(backend.tasks.get(cluster_name, {}).values())))
    cluster.pending_tasks_count = sum(
        s.pending_count for s in backend.services.values() if s.cluster_name == cluster_name
    )


def task_command(backend: EC2ContainerServiceBackend, task: Task) -> tuple[str | None, list[str]]:
    """(container name, command) a task runs: its RunTask override, else the task definition's."""
    for override in (task.overrides or {}).get("containerOverrides") or []:
        if override.get("command"):
            return override.get("name"), [str(part) for part in override["command"]]
    definition = _container(backend.describe_task_definition(task.task_definition_arn), None)
    return definition.get("name"), [str(part) for part in definition.get("command") or []]


def write_task_logs(
    account_id: str,
    default_region: str,
    task_definition: TaskDefinition,
    container_name: str | None,
    task: Task,
    lines: Sequence[str],
    *,
    start: datetime,
    end: datetime,
) -> str | None:
    """Write `lines` to the container's awslogs stream; return the stream name (None: no awslogs).

    The stream is `<prefix>/<container>/<task id>` as on AWS. The log group is normally created by
    the sandbox's seeding, and created here if missing. Timestamps spread from `start` to `end`.
    """
    definition = _container(task_definition, container_name)
    config = definition.get("logConfiguration") or {}
    options = config.get("options") or {}
    group = options.get("awslogs-group")
    if config.get("logDriver") != "awslogs" or not group or not lines:
        return None
    prefix = options.get("awslogs-stream-prefix")
    name = definition.get("name", "container")
    stream = f"{prefix}/{name}/{task_id(task)}" if prefix else task_id(task)
    logs = logs_backends[account_id][options.get("awslogs-region") or default_region]
    if group not in logs.groups:
        logs.create_log_group(group, tags={})
    logs.ensure_log_stream(group, stream)
    first, last = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    step = max(last - first, 0) / max(len(lines) - 1, 1)
    events = [{"timestamp": first + int(i * step), "message": line} for i, line in enumerate(lines)]
    logs.put_log_events(group, stream, events)
    return stream


def requested_deployment_configuration() -> dict[str, Any] | None:
    """The deploymentConfiguration of the CreateService request being served, if any.

    moto's response layer reads the request but drops this parameter before it calls the backend.
    It is read back from that response object, found a few frames up the call stack, rather than
    by patching moto's classes for every user of moto in the process.
    """
    frame = sys._getframe(1)
    for _ in range(4):
        caller = frame.f_back
        if caller is None:
            return None
        frame = caller
        response = frame.f_locals.get("self")
        if isinstance(response, EC2ContainerServiceResponse):
            value = response._get_param("deploymentConfiguration")
            return dict(value) if isinstance(value, Mapping) else None
    return None


def _container(task_definition: TaskDefinition, name: str | None) -> dict[str, Any]:
    definitions: list[dict[str, Any]] = list(task_definition.container_definitions)
    named = [d for d in definitions if d.get("name") == name]
    return (named or definitions or [{}])[0]
