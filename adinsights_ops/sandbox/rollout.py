"""The simulated ECS scheduler's rules for one service: which task to start or stop next, and when a
deployment is COMPLETED or FAILED (circuit breaker, rollback).

These are the rules ECS documents for rolling updates, applied to moto's records of one service
(moto has no scheduler, see `adinsights_ops.sandbox.scheduler`): one action at a time, a new task
while running tasks stay under maximumPercent of the desired count, an old task stopped while the
rest stay at or above minimumHealthyPercent. *When* each action happens is the scheduler's business.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from moto.core.exceptions import ServiceException
from moto.ecs.models import EC2ContainerServiceBackend, Service, Task

from adinsights_ops.sandbox import moto_ecs as m

BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


@attrs.define
class ServiceRecord:
    """What the scheduler remembers about a service beyond what moto stores."""

    next_action_at: float | None = None
    """When the next start/stop is due (scheduler clock); None when there is nothing to do."""
    steady: bool = True
    """The newest steady-state event still describes the service."""
    completed: set[str] = attrs.field(factory=set)
    """Task-definition ARNs that completed a deployment of this service."""
    last_completed: tuple[str, str] | None = None
    """(deployment id, task-definition ARN) of the last COMPLETED deployment (rollback target)."""


@attrs.frozen
class Action:
    stop: Task | None
    """The task to stop; None means start a task of the primary deployment."""


def desired(service: Service) -> int:
    return service.desired_count if service.status == "ACTIVE" else 0  # deleted: drain it


def begin(service: Service, task_definition: str, at: datetime, *, force: bool) -> None:
    """Start a PRIMARY deployment if the task definition changed (or if forced)."""
    if not force and task_definition == service.deployments[0]["taskDefinition"]:
        return
    for deployment in service.deployments:
        deployment["status"] = "ACTIVE"
    service.deployments.insert(0, m.new_deployment(service, task_definition, at))


def plan(backend: EC2ContainerServiceBackend, service: Service) -> Action | None:
    """The next start/stop ECS would make, or None if nothing may or needs to change."""
    primary = service.deployments[0]
    if primary["rolloutState"] == "FAILED":
        return None  # the circuit breaker stopped this deployment
    want = desired(service)
    tasks = m.running(m.service_tasks(backend, service))
    new = [t for t in tasks if t.started_by == primary["id"]]
    old = [t for t in tasks if t.started_by != primary["id"]]
    config = _configuration(service)
    max_total = math.floor(want * _percent(config, "maximumPercent", 200) / 100)
    min_healthy = math.ceil(want * _percent(config, "minimumHealthyPercent", 100) / 100)
    if len(new) < want and len(tasks) < max_total:
        return Action(stop=None)
    if old and len(tasks) - 1 >= min_healthy:
        ids = [d["id"] for d in service.deployments]
        age = {
            t.task_arn: ids.index(t.started_by) if t.started_by in ids else len(ids) for t in old
        }
        return Action(stop=max(old, key=lambda t: age[t.task_arn]))  # oldest deployment first
    if len(new) > want:
        return Action(stop=new[0])
    return None


def act(
    backend: EC2ContainerServiceBackend,
    service: Service,
    record: ServiceRecord,
    action: Action,
    at: datetime,
    *,
    fails: bool,
    failure_threshold: int,
) -> None:
    """Carry out `action` at `at`; a started task that `fails` stops at once, counted as failed."""
    name, primary = service.name, service.deployments[0]
    if action.stop is not None:
        reason = f"Scaling activity initiated by (deployment {primary['id']})"
        m.mark_stopped(
            action.stop, at, exit_code=0, reason=reason, stop_code="ServiceSchedulerInitiated"
        )
        tid = m.task_id(action.stop)
        m.add_event(service, f"(service {name}) has stopped 1 running tasks: (task {tid}).", at)
        m.forget_stopped(backend, service)
        return
    try:
        task = m.start_service_task(backend, service, primary, at)
    except ServiceException as exc:  # e.g. an awsvpc task definition without network configuration
        m.add_event(service, f"(service {name}) was unable to place a task: {exc}", at)
        _count_failure(service, record, primary, at, failure_threshold)
        return
    tid = m.task_id(task)
    m.add_event(service, f"(service {name}) has started 1 tasks: (task {tid}).", at)
    if fails:
        m.mark_stopped(task, at, exit_code=1, reason=m.ESSENTIAL_EXITED, stop_code=m.EXITED_CODE)
        m.add_event(service, f"(service {name}) (task {tid}) failed: {m.ESSENTIAL_EXITED}.", at)
        m.forget_stopped(backend, service)
        _count_failure(service, record, primary, at, failure_threshold)


def refresh(backend: EC2ContainerServiceBackend, service: Service, at: datetime) -> None:
    """Make the service's and each deployment's counts say what the tasks say."""
    tasks = m.running(m.service_tasks(backend, service))
    for index, deployment in enumerate(service.deployments):
        count = sum(1 for t in tasks if t.started_by == deployment["id"])
        want = desired(service) if index == 0 else count  # older deployments only drain
        counts = {"runningCount": count, "pendingCount": 0, "desiredCount": want}
        if any(deployment.get(k) != v for k, v in counts.items()):
            deployment.update(counts, updatedAt=at)
    service.running_count = len(tasks)
    service.pending_count = 0
    m.refresh_cluster_counts(backend, service.cluster_name)


def check_done(
    backend: EC2ContainerServiceBackend, service: Service, record: ServiceRecord, at: datetime
) -> None:
    """Complete the primary deployment and report a steady state once nothing is left to do."""
    if plan(backend, service) is not None:
        return
    primary = service.deployments[0]
    tasks = m.running(m.service_tasks(backend, service))
    if len(tasks) != desired(service) or any(t.started_by != primary["id"] for t in tasks):
        return  # stuck: FAILED, or percentages that allow no move
    if primary["rolloutState"] == "IN_PROGRESS":
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["updatedAt"] = at
        service.deployments[:] = [primary]
        record.completed.add(str(primary["taskDefinition"]))
        record.last_completed = (str(primary["id"]), str(primary["taskDefinition"]))
        message = f"(deployment {primary['id']}) deployment completed."
        m.add_event(service, f"(service {service.name}) {message}", at)
        record.steady = False
    if not record.steady:
        m.add_event(service, f"(service {service.name}) has reached a steady state.", at)
        record.steady = True


def _count_failure(
    service: Service,
    record: ServiceRecord,
    deployment: m.Deployment,
    at: datetime,
    threshold: int,
) -> None:
    """Count a failed task; at the threshold trip the circuit breaker and roll back if enabled."""
    deployment["failedTasks"] += 1
    deployment["updatedAt"] = at
    breaker = _configuration(service).get("deploymentCircuitBreaker") or {}
    if not breaker.get("enable") or deployment["failedTasks"] < threshold:
        return  # without a breaker ECS keeps launching replacement tasks
    deployment["rolloutState"] = "FAILED"
    deployment["rolloutStateReason"] = BREAKER_REASON
    message = f"(deployment {deployment['id']}) deployment failed: tasks failed to start."
    m.add_event(service, f"(service {service.name}) {message}", at)
    if not breaker.get("rollback") or record.last_completed is None:
        return
    target_id, target_definition = record.last_completed
    service.task_definition = target_definition
    begin(service, target_definition, at, force=True)
    reason = f"ECS deployment circuit breaker: rolling back to deploymentId {target_id}."
    service.deployments[0]["rolloutStateReason"] = reason
    m.add_event(service, f"(service {service.name}) rolling back to deployment {target_id}.", at)
    record.steady = False


def _configuration(service: Service) -> Mapping[str, Any]:
    config = getattr(service, "deployment_configuration", None)  # only after UpdateService set it
    return config if isinstance(config, Mapping) else {}


def _percent(config: Mapping[str, Any], key: str, default: int) -> int:
    value = config.get(key)
    return default if value is None else int(value)
