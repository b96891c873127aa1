"""One service at a time: its state, its desired count, and its old task-definition revisions."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from adinsights_ops.ecs._rollback import rollback_targets
from adinsights_ops.ecs._settle import DEFAULT_POLL
from adinsights_ops.ecs._taskdefs import (
    PruneResult,
    check_keep,
    prune_task_definitions,
    short_arn,
)
from adinsights_ops.ecs._views import OnEvent, Progress, ServiceState, describe
from adinsights_ops.errors import UsageError
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock, Poll, check_timeout, wait_until

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

    from adinsights_ops.opsenv import OpsEnv

MAX_COUNT = 1000  # ECS's own limit on tasks per service (a bigger number is a typo)


def status(ecs: ECSClient, *, cluster: str, services: Sequence[str]) -> list[ServiceState]:
    """The current state of each service (one describe_services call per 10 services)."""
    return list(describe(ecs, cluster=cluster, services=services).values())


def prune(ops: OpsEnv, *, keep: int = 10, dry_run: bool = False) -> PruneResult:
    """Deregister old revisions of the environment's task-definition families, keeping the newest
    `keep` of each and every revision still referenced: by a service (current, PRIMARY or ACTIVE
    deployment) or a running task, by a schedule or rule, or as a rollback target."""
    check_keep(keep)
    env = ops.env
    client = ops.aws.ecs()
    names = [ref.name for ref in env.ecs.services.values()]
    states = status(client, cluster=env.ecs.cluster, services=names)
    families = sorted(
        {short_arn(s.task_definition).rsplit(":", 1)[0] for s in states} | {env.ecs.one_off_family}
    )
    return prune_task_definitions(
        client,
        cluster=env.ecs.cluster,
        families=families,
        services=names,
        keep=keep,
        protect=rollback_targets(ops),
        dry_run=dry_run,
        scheduler=ops.aws.client("scheduler"),
        events=ops.aws.client("events"),
    )


def check_count(value: object, *, name: str = "--count") -> int:
    """`value` as a desired task count: a whole number from 0 to 1000, or UsageError."""
    if isinstance(value, bool):
        count = None
    elif isinstance(value, int):
        count = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        count = int(value)
    else:
        count = None
    if count is None or not 0 <= count <= MAX_COUNT:
        raise UsageError(f"{name} must be a whole number from 0 to {MAX_COUNT}, got {value!r}")
    return count


def scale(
    ecs: ECSClient,
    *,
    cluster: str,
    service: str,
    desired: int,
    timeout: float = 600.0,
    wait: bool = True,
    singletons: Collection[str] = (),
    force: bool = False,
    on_event: OnEvent | None = None,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_POLL,
) -> ServiceState:
    """Set a service's desired count and (by default) wait until that many tasks run.

    `desired` must be a whole number of 0 or more (a string of ASCII digits is accepted, as a
    command line gives it). A service in `singletons` (celery-beat: two copies schedule every job
    twice) is never scaled above 1 unless `force`. Everything is checked before any call.
    """
    desired = check_count(desired)
    if wait:
        timeout = check_timeout(timeout)
    if desired > 1 and service in singletons and not force:
        raise UsageError(
            f"--count {desired}: {service} is a singleton (two copies would run every scheduled "
            "job twice); it runs 0 or 1 copy, or pass --force if you really mean it"
        )
    ecs.update_service(cluster=cluster, service=service, desiredCount=desired)
    if not wait:
        return describe(ecs, cluster=cluster, services=[service])[service]

    def poll() -> ServiceState:
        return describe(ecs, cluster=cluster, services=[service])[service]

    def report(observed: Poll[ServiceState]) -> None:
        if on_event is not None:
            s = observed.state
            on_event(
                Progress(
                    service,
                    s.task_definition,
                    s.running,
                    desired,
                    s.rollout_state,
                    observed.elapsed,
                    s.running == desired and s.pending == 0,
                )
            )

    return wait_until(
        poll,
        what=f"{service} to run {desired} tasks",
        success=lambda s: s.running == desired and s.pending == 0 and s.desired == desired,
        timeout=timeout,
        backoff=backoff,
        clock=clock,
        on_poll=report,
    )
