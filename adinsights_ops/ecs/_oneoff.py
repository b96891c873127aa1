"""One-off commands for an environment: where they run (network, revision) and running them.

Every runbook step that runs `manage.py` or a Celery job as a Fargate task (migrations, seeding, DEK
rotation, database rollback, cache warming) goes through here, so they all agree on the network and
on which revision is the backend's.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from adinsights_ops import ecs
from adinsights_ops.ecs._tasks import network_configuration
from adinsights_ops.opsenv import OpsEnv


def network(ops: OpsEnv) -> dict[str, Any]:
    """Network settings for one-off tasks: explicit in the config, or copied from a service."""
    net = ops.env.ecs.network
    if net.from_service:
        return ecs.network_from_service(
            ops.aws.ecs(),
            cluster=ops.env.ecs.cluster,
            service=ops.env.ecs.services[net.from_service].name,
        )
    return network_configuration(net.subnets, net.security_groups, net.assign_public_ip)


def service_revision(ops: OpsEnv, role: str = "backend") -> str:
    """The revision a service's PRIMARY deployment runs now (not merely the newest registered)."""
    name = ops.env.ecs.services[role].name
    (state,) = ecs.status(ops.aws.ecs(), cluster=ops.env.ecs.cluster, services=[name])
    return state.primary.task_definition if state.primary else state.task_definition


def run(
    ops: OpsEnv,
    command: str,
    *,
    task_definition: str | None = None,
    container: str | None = None,
    role: str = "backend",
    idempotency_key: str | None = None,
    on_event: ecs.OnEvent | None = None,
    task_network: Mapping[str, Any] | None = None,
) -> ecs.TaskResult:
    """Run `command` on `task_definition` (default: the current revision of service `role`, the
    backend unless said otherwise); raises TaskFailed.

    `task_network` is the task's network configuration (as `network(ops)` gives it); left out, it
    is read now: a caller running several tasks reads it once.

    The command runs in `container`; left out, that is the environment's one-off container on the
    backend and the revision's essential container on any other service. `idempotency_key` makes
    the task once-only (a repeated call adopts the task it started): see `ecs.run_task`.
    """
    if container is None and role == "backend":
        container = ops.env.ecs.one_off_container
    return ecs.run_task(
        ops.aws.ecs(),
        cluster=ops.env.ecs.cluster,
        task_definition=task_definition or service_revision(ops, role),
        command=shlex.split(command),
        network=dict(task_network) if task_network is not None else network(ops),
        container=container,
        timeout=ops.env.ecs.task_timeout,
        logs=ops.aws.logs(),
        idempotency_key=idempotency_key,
        on_event=on_event,
        clock=ops.clock,
        backoff=ops.env.ecs.polling(ecs.TASK_POLL),
    )
