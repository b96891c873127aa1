"""The ECS engine: roll several services to a new image together, roll them back, scale, report.

A rollout registers one new task-definition revision per service (only the image tag changes),
updates every service, then waits for all of them in ONE polling loop (describe_services, 10 services a
call). A service has succeeded when its PRIMARY deployment runs the new revision, rolloutState is
COMPLETED and running equals desired. It has failed when its rollout is FAILED, when ECS settles it on
another revision than the one deployed (the circuit breaker rolled it back: a "success" on the old
revision is a failure), or when the deadline passes. On failure every service that was changed goes
back to the revision it ran before, and that is waited for too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.ecs_taskdefs import (
    Change,
    NoMatchingContainer,
    PruneResult,
    RevisionPlan,
    check_keep,
    plan_revision,
    prune_task_definitions,
    register_revision,
    scheduled_task_definitions,
    short_arn,
)
from adinsights_ops.ecs_tasks import (
    TASK_POLL,
    TaskFailed,
    TaskResult,
    network_from_service,
    run_task,
)
from adinsights_ops.ecs_views import (
    Deployment,
    OnEvent,
    Phase,
    Progress,
    RolloutEvent,
    ServiceEvent,
    ServiceMissing,
    ServiceState,
    describe,
)
from adinsights_ops.errors import NeedsHuman, OpsError, UsageError, WaitFailed, WaitTimedOut
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock, Poll, check_timeout, wait_until

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

    from adinsights_ops.opsenv import OpsEnv

__all__ = [
    "DEFAULT_POLL",
    "TASK_POLL",
    "Change",
    "Deployment",
    "NoMatchingContainer",
    "OnEvent",
    "Phase",
    "Progress",
    "PruneResult",
    "RevisionPlan",
    "RollbackFailed",
    "Rollout",
    "RolloutEvent",
    "RolloutFailed",
    "ServiceEvent",
    "ServiceMissing",
    "ServiceOutcome",
    "ServiceState",
    "TaskFailed",
    "TaskResult",
    "check_count",
    "deploy_revisions",
    "describe",
    "network_from_service",
    "plan_rollout",
    "prune",
    "prune_task_definitions",
    "register_revisions",
    "rollback_targets",
    "rollback_to",
    "rollout",
    "run_task",
    "scale",
    "scheduled_task_definitions",
    "short_arn",
    "status",
    "wait_settled",
]

DEFAULT_POLL = Backoff(initial=2.0, factor=1.25, maximum=10.0, jitter=0.2)
SINGLETON_DEPLOYMENT = {"minimumHealthyPercent": 0, "maximumPercent": 100}
MAX_COUNT = 1000  # ECS's own limit on tasks per service (a bigger number is a typo)


@attrs.frozen
class ServiceOutcome:
    """Where one service ended: what it ran before, what was deployed, what it runs now."""

    service: str
    previous: str
    target: str
    now: str
    state: str  # deployed | unchanged | failed | rolled-back | rollback-failed
    reason: str = ""
    changes: tuple[Change, ...] = ()


@attrs.frozen
class Rollout:
    """The result of a rollout (or a rollback): one outcome per service and the events seen."""

    outcomes: tuple[ServiceOutcome, ...]
    events: tuple[ServiceEvent, ...]
    elapsed: float
    succeeded: bool
    rolled_back: bool = False

    def outcome(self, service: str) -> ServiceOutcome:
        return next(o for o in self.outcomes if o.service == service)

    @property
    def running_now(self) -> dict[str, str]:
        return {o.service: o.now for o in self.outcomes}


class RolloutFailed(OpsError):
    """The rollout failed and every changed service was put back on its previous revision."""

    def __init__(self, rollout: Rollout, failures: Mapping[str, str]) -> None:
        lines = "; ".join(f"{svc}: {why}" for svc, why in failures.items())
        super().__init__(
            f"rollout failed ({lines}); services rolled back to their previous revisions"
        )
        self.rollout = rollout
        self.failures = dict(failures)


class RollbackFailed(NeedsHuman):
    """The rollout failed AND putting the services back failed: the state needs a person."""

    def __init__(
        self, rollout: Rollout, failures: Mapping[str, str], rollback_errors: Mapping[str, str]
    ) -> None:
        super().__init__(
            "rollout failed and the rollback did not settle: "
            + "; ".join(f"{svc}: {why}" for svc, why in rollback_errors.items()),
            details=[f"{o.service}: runs {short_arn(o.now)} ({o.state})" for o in rollout.outcomes],
        )
        self.rollout = rollout
        self.failures = dict(failures)
        self.rollback_errors = dict(rollback_errors)


def status(ecs: ECSClient, *, cluster: str, services: Sequence[str]) -> list[ServiceState]:
    """The current state of each service (one describe_services call per 10 services)."""
    return list(describe(ecs, cluster=cluster, services=services).values())


def plan_rollout(
    ecs: ECSClient, *, cluster: str, services: Mapping[str, str], image_tag: str
) -> list[RevisionPlan]:
    """Plan the new revision of each service (service name -> image repository). Reads only."""
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


@attrs.frozen
class _Verdict:
    states: Mapping[str, ServiceState]
    done: frozenset[str]
    failures: Mapping[str, str]


def _judge(state: ServiceState, target: str) -> tuple[bool, str | None]:
    """(settled on target, failure reason) for one service."""
    primary = state.primary
    for deployment in state.deployments:
        if deployment.task_definition == target and deployment.rollout_state == "FAILED":
            reason = deployment.rollout_reason or "rollout FAILED"
            return False, f"deployment of {short_arn(target)} failed: {reason}"
    if primary is None:
        return False, None
    if primary.task_definition != target:
        # ECS's circuit breaker rolled the service back: it may well reach a steady state, but on
        # the old revision; treating that as success is the classic mistake.
        return False, (
            f"ECS moved the service to {short_arn(primary.task_definition)} instead of "
            f"{short_arn(target)} (circuit-breaker rollback)"
        )
    others_running = any(d.running > 0 for d in state.deployments if d is not primary)
    settled = (
        primary.rollout_state == "COMPLETED"
        and state.running == state.desired
        and primary.running == primary.desired
        and not others_running
    )
    return settled, None


def wait_settled(
    ecs: ECSClient,
    *,
    cluster: str,
    targets: Mapping[str, str],
    timeout: float,
    what: str = "services to settle",
    on_event: OnEvent | None = None,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_POLL,
    seen_before: Collection[tuple[str, str]] = (),
) -> _Verdict:
    """Wait, in one loop, until every service settles on its target revision.

    Raises WaitFailed (first failure seen, every service's reason in last_state) or WaitTimedOut.
    """
    # Events already there before we changed anything are history, not news. Comparing ids rather
    # than timestamps keeps a skewed local clock from hiding or repeating events.
    seen_events: set[tuple[str, str]] = set(seen_before)
    names = list(targets)

    def poll() -> _Verdict:
        states = describe(ecs, cluster=cluster, services=names)
        done: set[str] = set()
        failures: dict[str, str] = {}
        for name, state in states.items():
            settled, reason = _judge(state, targets[name])
            if settled:
                done.add(name)
            if reason is not None:
                failures[name] = reason
            if on_event is not None:
                for event in sorted(state.events, key=lambda e: e.created_at):
                    key = (name, event.id or event.message)
                    if key in seen_events:
                        continue
                    seen_events.add(key)
                    on_event(event)
        return _Verdict(states, frozenset(done), failures)

    def report(observed: Poll[_Verdict]) -> None:
        if on_event is None:
            return
        for name, state in observed.state.states.items():
            on_event(
                Progress(
                    service=name,
                    task_definition=state.primary.task_definition if state.primary else "",
                    running=state.running,
                    desired=state.desired,
                    rollout_state=state.rollout_state,
                    elapsed=observed.elapsed,
                    done=name in observed.state.done,
                )
            )

    return wait_until(
        poll,
        what=what,
        success=lambda v: len(v.done) == len(names),
        failure=lambda v: "; ".join(f"{s}: {r}" for s, r in v.failures.items()) or None,
        timeout=timeout,
        backoff=backoff,
        clock=clock,
        on_poll=report,
    )


def _update(
    ecs: ECSClient,
    *,
    cluster: str,
    service: str,
    task_definition: str,
    singleton: bool,
    current: ServiceState,
) -> None:
    kwargs: dict[str, Any] = {
        "cluster": cluster,
        "service": service,
        "taskDefinition": task_definition,
    }
    config = dict(current.deployment_configuration)
    if singleton and any(config.get(k) != v for k, v in SINGLETON_DEPLOYMENT.items()):
        # Two celery-beat copies would schedule every job twice: stop the old before starting the new.
        kwargs["deploymentConfiguration"] = {**config, **SINGLETON_DEPLOYMENT}
    ecs.update_service(**kwargs)


def _event_keys(states: Mapping[str, ServiceState]) -> set[tuple[str, str]]:
    return {(name, e.id or e.message) for name, s in states.items() for e in s.events}


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
) -> Rollout:
    """Point each service at its target revision, wait for all, and roll all back on failure.

    `previous` (service -> revision) is what a failure returns to; it defaults to what the services
    run now, read before anything changes.
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

    before = describe(ecs, cluster=cluster, services=list(targets))
    prior = (
        dict(previous)
        if previous is not None
        else {n: s.task_definition for n, s in before.items()}
    )
    diff = changes or {}
    to_change = [n for n, arn in targets.items() if before[n].task_definition != arn]
    record(Phase("updating", ", ".join(to_change) or "nothing to change"))
    for name in to_change:
        _update(
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
            seen_before=_event_keys(before),
            what="the rollout to settle",
        )
    except (WaitFailed, WaitTimedOut) as exc:
        failures = _failures_from(exc, targets)
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


def _failures_from(exc: WaitFailed | WaitTimedOut, targets: Mapping[str, str]) -> dict[str, str]:
    verdict = exc.last_state
    if isinstance(exc, WaitFailed) and isinstance(verdict, _Verdict) and verdict.failures:
        return dict(verdict.failures)
    done = verdict.done if isinstance(verdict, _Verdict) else frozenset()
    waited = exc.timeout if isinstance(exc, WaitTimedOut) else 0.0
    return {name: f"not settled after {waited:.0f}s" for name in targets if name not in done}


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
            _update(
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
                seen_before=_event_keys(current) | {(e.service, e.id or e.message) for e in events},
                what="the rollback to settle",
            )
        except (WaitFailed, WaitTimedOut) as exc:
            rollback_errors = _failures_from(exc, back)
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
) -> Rollout:
    """Roll every service (name -> image repository) to `image_tag` together.

    Returns the Rollout on success; raises RolloutFailed (all changed services back on their previous
    revision) or RollbackFailed (they could not be put back: exit 4).
    """
    timeout = check_timeout(timeout)
    if on_event is not None:
        on_event(Phase("registering", f"{len(services)} task-definition revisions"))
    plans = plan_rollout(ecs, cluster=cluster, services=services, image_tag=image_tag)
    targets = register_revisions(ecs, plans)
    return deploy_revisions(
        ecs,
        cluster=cluster,
        targets=targets,
        previous={p.service: p.current for p in plans},
        changes={p.service: p.changes for p in plans},
        singletons=singletons,
        timeout=timeout,
        on_event=on_event,
        clock=clock,
        backoff=backoff,
    )


def rollback_to(
    ecs: ECSClient,
    *,
    cluster: str,
    targets: Mapping[str, str],
    singletons: Collection[str] = (),
    timeout: float = 900.0,
    on_event: OnEvent | None = None,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_POLL,
) -> Rollout:
    """Put services back on the given revisions and wait; a failure here needs a human (exit 4)."""
    timeout = check_timeout(timeout)
    try:
        return deploy_revisions(
            ecs,
            cluster=cluster,
            targets=targets,
            singletons=singletons,
            timeout=timeout,
            on_event=on_event,
            clock=clock,
            backoff=backoff,
        )
    except RolloutFailed as exc:
        raise NeedsHuman(
            f"rollback did not settle: {'; '.join(f'{s}: {r}' for s, r in exc.failures.items())}",
            details=[f"{o.service}: runs {short_arn(o.now)}" for o in exc.rollout.outcomes],
        ) from exc


def rollback_targets(ops: OpsEnv, *, history: int = 5) -> dict[str, str]:
    """Revisions the journal may roll back to -> why: the target of `inv rollback` (the previous
    revisions of the newest deploy that changed something) and those of the last `history`
    deploys. Reads only; a journal that cannot be read raises (never prune blind)."""
    from adinsights_ops.journal import deployed_before

    journal = ops.journal()
    targets: dict[str, str] = {}
    try:
        record, revisions = deployed_before(journal)
    except OpsError:
        pass  # nothing deployed through this tool yet: there is no rollback target
    else:
        for arn in revisions.values():
            targets[arn] = f"the rollback target (before deploy {record.run_id})"
    for run in journal.runs(kind="deploy", limit=history):
        for arn in run.previous_revisions.values():
            targets.setdefault(arn, f"deploy {run.run_id} rolls back to it")
    return targets


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
