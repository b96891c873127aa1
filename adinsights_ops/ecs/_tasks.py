"""One-off Fargate tasks: run a command on a task definition, wait for STOPPED, read its log tail.

Import these through `adinsights_ops.ecs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.ecs._views import OnEvent, Phase, Progress
from adinsights_ops.errors import OpsError, WaitTimedOut
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock, Poll, check_timeout, wait_until

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_logs import CloudWatchLogsClient

TASK_POLL = Backoff(initial=2.0, factor=1.25, maximum=15.0, jitter=0.2)


@attrs.frozen
class TaskResult:
    """How a one-off task ended."""

    task_arn: str
    task_definition: str
    command: tuple[str, ...]
    container: str
    exit_code: int | None
    stop_code: str
    stopped_reason: str
    log_stream: str | None
    log_tail: tuple[str, ...]
    elapsed: float

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


class TaskFailed(OpsError):
    """A one-off task stopped with a non-zero exit code (or never ran its container)."""

    def __init__(self, result: TaskResult) -> None:
        code = "no exit code" if result.exit_code is None else f"exit code {result.exit_code}"
        why = f" ({result.stopped_reason})" if result.stopped_reason else ""
        super().__init__(f"`{' '.join(result.command)}` failed with {code}{why}")
        self.result = result


def network_from_service(ecs: ECSClient, *, cluster: str, service: str) -> dict[str, Any]:
    """The network configuration of a service, for one-off tasks that must reach what it reaches."""
    response = ecs.describe_services(cluster=cluster, services=[service])
    if not response["services"]:
        raise OpsError(f"cluster {cluster} has no service {service} to copy network settings from")
    config = response["services"][0].get("networkConfiguration")
    if not config:
        raise OpsError(f"service {service} has no network configuration to copy")
    return dict(config)


def network_configuration(
    subnets: Sequence[str], security_groups: Sequence[str], assign_public_ip: bool = False
) -> dict[str, Any]:
    return {
        "awsvpcConfiguration": {
            "subnets": list(subnets),
            "securityGroups": list(security_groups),
            "assignPublicIp": "ENABLED" if assign_public_ip else "DISABLED",
        }
    }


def _container_settings(
    ecs: ECSClient, task_definition: str, container: str | None
) -> tuple[str, str, Mapping[str, str]]:
    """(arn, container name, awslogs options) of the container that runs the command."""
    td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    containers = td["containerDefinitions"]
    if container is None:
        chosen = next((c for c in containers if c.get("essential", True)), containers[0])
    else:
        found = [c for c in containers if c["name"] == container]
        if not found:
            names = ", ".join(c["name"] for c in containers)
            raise OpsError(
                f"{td['taskDefinitionArn']} has no container {container!r} (has: {names})"
            )
        chosen = found[0]
    log_config: Mapping[str, Any] = chosen.get("logConfiguration") or {}
    options = log_config.get("options", {}) if log_config.get("logDriver") == "awslogs" else {}
    return td["taskDefinitionArn"], chosen["name"], options


def _earlier_task(
    ecs: ECSClient, *, cluster: str, started_by: str, arn: str, container: str
) -> tuple[str | None, int]:
    """(a task started with `started_by` on `arn` that is running or exited 0, earlier failures)."""
    failed = 0
    for status in ("RUNNING", "STOPPED"):
        arns = ecs.list_tasks(cluster=cluster, startedBy=started_by, desiredStatus=status)
        if not arns.get("taskArns"):
            continue
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns["taskArns"][:100])["tasks"]
        for task in tasks:
            if task.get("taskDefinitionArn") != arn:
                continue
            if task.get("lastStatus") != "STOPPED":
                return task["taskArn"], failed
            codes = [
                c.get("exitCode") for c in task.get("containers", []) if c.get("name") == container
            ]
            if codes and codes[0] == 0:
                return task["taskArn"], failed
            failed += 1
    return None, failed


def log_tail(
    logs: CloudWatchLogsClient, *, group: str, stream: str, lines: int = 40
) -> tuple[str, ...]:
    """The last `lines` messages of a log stream (empty when the stream does not exist)."""
    try:
        response = logs.get_log_events(
            logGroupName=group, logStreamName=stream, limit=lines, startFromHead=False
        )
    except logs.exceptions.ResourceNotFoundException:
        return ()
    return tuple(e["message"] for e in response["events"])[-lines:]


def run_task(
    ecs: ECSClient,
    *,
    cluster: str,
    task_definition: str,
    command: Sequence[str],
    network: Mapping[str, Any],
    container: str | None = None,
    timeout: float = 1800.0,
    logs: CloudWatchLogsClient | None = None,
    tail_lines: int = 40,
    started_by: str = "adinsights-ops",
    idempotency_key: str | None = None,
    on_event: OnEvent | None = None,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = TASK_POLL,
) -> TaskResult:
    """Run `command` as a Fargate one-off task on `task_definition`, wait for STOPPED.

    Returns the TaskResult when the container exits 0; raises TaskFailed (carrying the result, with
    its log tail) otherwise. A task still running at the deadline is left running (stopping a
    migration half-way is worse) and reported with WaitTimedOut.

    With `idempotency_key` (at most 36 characters, e.g. derived from a run id and step), the task is
    started with that key as `startedBy` (and in RunTask's clientToken); a task already started with
    the key on this revision is adopted instead of starting another: one still running is waited
    for, one that exited 0 is taken as the result. Only a task that failed is run again.
    """
    timeout = check_timeout(timeout)  # before any call: a bad timeout starts nothing
    arn, name, log_options = _container_settings(ecs, task_definition, container)
    start = clock.monotonic()
    task_arn, attempts = None, 0
    if idempotency_key:
        started_by = idempotency_key
        task_arn, attempts = _earlier_task(
            ecs, cluster=cluster, started_by=started_by[:36], arn=arn, container=name
        )
    if task_arn is not None:
        if on_event is not None:
            on_event(Phase("task adopted", f"{task_arn.rsplit('/', 1)[-1]}: {' '.join(command)}"))
    else:
        extra: dict[str, Any] = {}
        if idempotency_key:
            extra["clientToken"] = f"{idempotency_key}-{attempts}"[:64]
        response = ecs.run_task(
            cluster=cluster,
            taskDefinition=arn,
            launchType="FARGATE",
            count=1,
            startedBy=started_by[:36],
            networkConfiguration=dict(network),  # type: ignore[arg-type]
            overrides={"containerOverrides": [{"name": name, "command": list(command)}]},
            **extra,
        )
        if response.get("failures") or not response.get("tasks"):
            reasons = ", ".join(f.get("reason", "?") for f in response.get("failures", []))
            raise OpsError(
                f"ECS could not start `{' '.join(command)}`: {reasons or 'no task returned'}"
            )
        task_arn = response["tasks"][0]["taskArn"]
        if on_event is not None:
            on_event(Phase("task started", f"{task_arn.rsplit('/', 1)[-1]}: {' '.join(command)}"))

    def poll() -> Mapping[str, Any]:
        tasks = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
        return tasks[0] if tasks else {"lastStatus": "UNKNOWN"}

    def report(observed: Poll[Mapping[str, Any]]) -> None:
        if on_event is not None:
            t = observed.state
            on_event(
                Progress(
                    name,
                    arn,
                    1 if t.get("lastStatus") == "RUNNING" else 0,
                    1,
                    str(t.get("lastStatus", "")),
                    observed.elapsed,
                    t.get("lastStatus") == "STOPPED",
                )
            )

    try:
        task = wait_until(
            poll,
            what=f"task {task_arn.rsplit('/', 1)[-1]} to stop",
            success=lambda t: t.get("lastStatus") == "STOPPED",
            timeout=timeout,
            backoff=backoff,
            clock=clock,
            on_poll=report,
        )
    except WaitTimedOut as exc:
        raise WaitTimedOut(
            f"`{' '.join(command)}` (task {task_arn}, still running)", timeout, exc.last_state
        ) from exc
    exit_code = next(
        (c.get("exitCode") for c in task.get("containers", []) if c.get("name") == name), None
    )
    stream = None
    tail: tuple[str, ...] = ()
    if log_options.get("awslogs-group") and log_options.get("awslogs-stream-prefix"):
        stream = f"{log_options['awslogs-stream-prefix']}/{name}/{task_arn.rsplit('/', 1)[-1]}"
        if logs is not None:
            tail = log_tail(
                logs, group=log_options["awslogs-group"], stream=stream, lines=tail_lines
            )
    result = TaskResult(
        task_arn=task_arn,
        task_definition=arn,
        command=tuple(command),
        container=name,
        exit_code=None if exit_code is None else int(exit_code),
        stop_code=str(task.get("stopCode", "")),
        stopped_reason=str(task.get("stoppedReason", "")),
        log_stream=stream,
        log_tail=tail,
        elapsed=clock.monotonic() - start,
    )
    if not result.succeeded:
        raise TaskFailed(result)
    return result
