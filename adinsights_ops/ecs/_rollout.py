"""The ECS engine: roll several services to a new image together, and back when that fails.

A rollout registers one new task-definition revision per service (only the image tag changes),
updates every service, then waits for all of them in ONE polling loop (`_settle.wait_settled`). On
failure (a FAILED rollout, a circuit-breaker rollback onto the old revision, the deadline) every
service that was changed goes back to the revision it ran before, and that is waited for too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from adinsights_ops.ecs._settle import (
    DEFAULT_POLL,
    RollbackFailed,
    Rollout,
    RolloutFailed,
    ServiceOutcome,
    event_keys,
    failures_from,
    update_service,
    wait_settled,
)
from adinsights_ops.ecs._taskdefs import (
    Change,
    RevisionPlan,
    plan_revision,
    register_revision,
)
from adinsights_ops.ecs._views import (
    OnEvent,
    Phase,
    RolloutEvent,
    ServiceEvent,
    ServiceState,
    describe,
)
from adinsights_ops.errors import WaitFailed, WaitTimedOut
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock, check_timeout

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient


def plan_rollout(
    ecs: ECSClient,
    *,
    cluster: str,
    services: Mapping[str, str],
    image_tag: str,
    current: Mapping[str, ServiceState] | None = None,
) -> list[RevisionPlan]:
    """Plan the new revision of each service (service name -> image repository). Reads only.

    `current`: the services' states already read (else they are described here)."""
    if current is None:
        current = describe(ecs, cluster=cluster, services=list(services))
    return [
        plan_revision(
            ecs,
            service=name,
            task_definition=current[name].task_definition,
            repository=repository,
            image_tag=image_tag,
        )
        for name, repository in services.items()
    ]


def register_revisions(ecs: ECSClient, plans: Sequence[RevisionPlan]) -> dict[str, str]:
    """Register each planned revision; service name -> the revision to deploy."""
    return {plan.service: register_revision(ecs, plan) for plan in plans}


def deploy_revisions(
    ecs: ECSClient,
    *,
    cluster: str,
    targets: Mapping[str, str],
    previous: Mapping[str, str] | None = None,
    changes: Mapping[str, Sequence[Change]] | None = None,
    singletons: Collection[str] = (),
    timeout: float = 900.0,
    rollback_timeout: float | None = None,
    on_event: OnEvent | None = None,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_POLL,
    current: Mapping[str, ServiceState] | None = None,
) -> Rollout:
    """Point each service at its target revision, wait for all, and roll all back on failure.

    `previous` (service -> revision) is what a failure returns to; it defaults to what the services
    run now, read before anything changes. `current`: the services' states already read before
    anything changed (else they are described here). The first look after the updates comes after
    the backoff's first delay: a poll at once could only see the old tasks.
    """
    timeout = check_timeout(timeout)
    if rollback_timeout is not None:
        rollback_timeout = check_timeout(rollback_timeout, name="rollback timeout")
    started = clock.monotonic()
    events: list[ServiceEvent] = []

    def record(event: RolloutEvent) -> None:
        if isinstance(event, ServiceEvent):
            events.append(event)
        if on_event is not None:
            on_event(event)

    before = (
        current if current is not None else describe(ecs, cluster=cluster, services=list(targets))
    )
    prior = (
        dict(previous)
        if previous is not None
        else {n: s.task_definition for n, s in before.items()}
    )
    diff = changes or {}
    to_change = [n for n, arn in targets.items() if before[n].task_definition != arn]
    record(Phase("updating", ", ".join(to_change) or "nothing to change"))
    for name in to_change:
        update_service(
            ecs,
            cluster=cluster,
            service=name,
            task_definition=targets[name],
            singleton=name in singletons,
            current=before[name],
        )
    record(Phase("waiting", f"{len(targets)} services"))
    try:
        wait_settled(
            ecs,
            cluster=cluster,
            targets=targets,
            timeout=timeout,
            on_event=record,
            clock=clock,
            backoff=backoff,
            seen_before=event_keys(before),
            what="the rollout to settle",
            wait_first=bool(to_change),
        )
    except (WaitFailed, WaitTimedOut) as exc:
        failures = failures_from(exc, targets)
        return _roll_back(
            ecs,
            cluster=cluster,
            targets=targets,
            prior=prior,
            changed=to_change,
            failures=failures,
            diff=diff,
            singletons=singletons,
            timeout=rollback_timeout or timeout,
            record=record,
            clock=clock,
            backoff=backoff,
            started=started,
            events=events,
            cause=exc,
        )
    outcomes = tuple(
        ServiceOutcome(
            service=name,
            previous=prior[name],
            target=arn,
            now=arn,
            state="deployed" if name in to_change else "unchanged",
            changes=tuple(diff.get(name, ())),
        )
        for name, arn in targets.items()
    )
    return Rollout(outcomes, tuple(events), clock.monotonic() - started, succeeded=True)


def _roll_back(
    ecs: ECSClient,
    *,
    cluster: str,
    targets: Mapping[str, str],
    prior: Mapping[str, str],
    changed: Sequence[str],
    failures: Mapping[str, str],
    diff: Mapping[str, Sequence[Change]],
    singletons: Collection[str],
    timeout: float,
    record: OnEvent,
    clock: Clock,
    backoff: Backoff,
    started: float,
    events: list[ServiceEvent],
    cause: Exception,
) -> Rollout:
    record(Phase("rolling back", ", ".join(changed)))
    back = {name: prior[name] for name in changed}
    rollback_errors: dict[str, str] = {}
    if back:
        current = describe(ecs, cluster=cluster, services=list(back))
        for name, arn in back.items():
            update_service(
                ecs,
                cluster=cluster,
                service=name,
                task_definition=arn,
                singleton=name in singletons,
                current=current[name],
            )
        try:
            wait_settled(
                ecs,
                cluster=cluster,
                targets=back,
                timeout=timeout,
                on_event=record,
                clock=clock,
                backoff=backoff,
                seen_before=event_keys(current) | {(e.service, e.id or e.message) for e in events},
                what="the rollback to settle",
                wait_first=True,
            )
        except (WaitFailed, WaitTimedOut) as exc:
            rollback_errors = failures_from(exc, back)
    now = describe(ecs, cluster=cluster, services=list(targets))
    outcomes = []
    for name, arn in targets.items():
        primary = now[name].primary
        running = primary.task_definition if primary else now[name].task_definition
        if name in rollback_errors:
            state, reason = "rollback-failed", rollback_errors[name]
        elif name in back:
            state, reason = "rolled-back", failures.get(name, "rolled back with the others")
        else:
            state, reason = ("failed", failures[name]) if name in failures else ("unchanged", "")
        outcomes.append(
            ServiceOutcome(
                name, prior[name], arn, running, state, reason, tuple(diff.get(name, ()))
            )
        )
    result = Rollout(
        tuple(outcomes),
        tuple(events),
        clock.monotonic() - started,
        succeeded=False,
        rolled_back=not rollback_errors,
    )
    if rollback_errors:
        raise RollbackFailed(result, failures, rollback_errors) from cause
    raise RolloutFailed(result, failures) from cause


def rollout(
    ecs: ECSClient,
    *,
    cluster: str,
    services: Mapping[str, str],
    image_tag: str,
    singletons: Collection[str] = (),
    timeout: float = 900.0,
    on_event: OnEvent | None = None,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_POLL,
    registered: Mapping[str, str] | None = None,
    previous: Mapping[str, str] | None = None,
) -> Rollout:
    """Roll every service (name -> image repository) to `image_tag` together.

    `registered` (service -> revision) are revisions registered for this rollout beforehand (a
    deploy registers them first and runs its one-off tasks on them): they are deployed as they are,
    nothing is registered again, and the diffs are read against what each service runs now.
    `previous` (service -> revision) is what a failure returns to; default: what they run now.

    Returns the Rollout on success; raises RolloutFailed (all changed services back on their previous
    revision) or RollbackFailed (they could not be put back: exit 4).
    """
    timeout = check_timeout(timeout)
    if on_event is not None and registered is None:
        on_event(Phase("registering", f"{len(services)} task-definition revisions"))
    current = describe(ecs, cluster=cluster, services=list(services))  # the one read before
    plans = plan_rollout(
        ecs, cluster=cluster, services=services, image_tag=image_tag, current=current
    )
    if registered is None:
        targets = register_revisions(ecs, plans)
    else:
        targets = {p.service: registered[p.service] for p in plans}
    return deploy_revisions(
        ecs,
        cluster=cluster,
        targets=targets,
        previous=dict(previous) if previous is not None else {p.service: p.current for p in plans},
        changes={p.service: p.changes for p in plans},
        singletons=singletons,
        timeout=timeout,
        on_event=on_event,
        clock=clock,
        backoff=backoff,
        current=current,
    )
