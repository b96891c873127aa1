"""Small typed views over ECS API dicts, and the events a rollout reports while it waits."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import OpsError

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

DESCRIBE_BATCH = 10  # describe_services takes at most 10 services per call


@attrs.frozen
class Deployment:
    id: str
    status: str
    task_definition: str
    desired: int
    running: int
    pending: int
    failed: int
    rollout_state: str
    rollout_reason: str

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Deployment:
        return cls(
            id=d.get("id", ""),
            status=d.get("status", ""),
            task_definition=d.get("taskDefinition", ""),
            desired=int(d.get("desiredCount", 0)),
            running=int(d.get("runningCount", 0)),
            pending=int(d.get("pendingCount", 0)),
            failed=int(d.get("failedTasks", 0)),
            rollout_state=d.get("rolloutState", ""),
            rollout_reason=d.get("rolloutStateReason", ""),
        )


@attrs.frozen
class ServiceEvent:
    """An ECS service event (`(service x) has reached a steady state.`)."""

    service: str
    id: str
    created_at: datetime
    message: str


@attrs.frozen
class ServiceState:
    """What describe_services says about one service, typed."""

    name: str
    status: str
    task_definition: str
    desired: int
    running: int
    pending: int
    deployments: tuple[Deployment, ...]
    events: tuple[ServiceEvent, ...] = attrs.field(repr=False)
    deployment_configuration: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_api(cls, s: Mapping[str, Any]) -> ServiceState:
        name = s["serviceName"]
        return cls(
            name=name,
            status=s.get("status", ""),
            task_definition=s.get("taskDefinition", ""),
            desired=int(s.get("desiredCount", 0)),
            running=int(s.get("runningCount", 0)),
            pending=int(s.get("pendingCount", 0)),
            deployments=tuple(Deployment.from_api(d) for d in s.get("deployments", [])),
            events=tuple(
                ServiceEvent(name, e.get("id", ""), e["createdAt"], e.get("message", ""))
                for e in s.get("events", [])
            ),
            deployment_configuration=dict(s.get("deploymentConfiguration") or {}),
        )

    @property
    def primary(self) -> Deployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)

    @property
    def rollout_state(self) -> str:
        primary = self.primary
        return primary.rollout_state if primary else ""


class ServiceMissing(OpsError):
    def __init__(self, cluster: str, services: Sequence[str]) -> None:
        super().__init__(f"cluster {cluster} has no service named {', '.join(services)}")
        self.cluster = cluster
        self.services = list(services)


def describe(ecs: ECSClient, *, cluster: str, services: Sequence[str]) -> dict[str, ServiceState]:
    """describe_services for any number of services, 10 per call; refuses missing or inactive ones."""
    states: dict[str, ServiceState] = {}
    missing: list[str] = []
    for start in range(0, len(services), DESCRIBE_BATCH):
        batch = list(services[start : start + DESCRIBE_BATCH])
        response = ecs.describe_services(cluster=cluster, services=batch)
        for raw in response["services"]:
            state = ServiceState.from_api(raw)
            if state.status == "INACTIVE":
                missing.append(state.name)
            else:
                states[state.name] = state
        missing.extend(f["arn"].rsplit("/", 1)[-1] for f in response.get("failures", []))
    if missing:
        raise ServiceMissing(cluster, missing)
    return {name: states[name] for name in services}


@attrs.frozen
class Progress:
    """A poll's view of one service while waiting."""

    service: str
    task_definition: str
    running: int
    desired: int
    rollout_state: str
    elapsed: float
    done: bool


@attrs.frozen
class Phase:
    """A step of a rollout starts (`registering`, `updating`, `waiting`, `rolling back`)."""

    name: str
    detail: str = ""


RolloutEvent = Progress | ServiceEvent | Phase
OnEvent = Callable[[RolloutEvent], None]
