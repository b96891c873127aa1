"""Waiting for ECS services to settle on a revision, and what a rollout's services ended as.

One polling loop (describe_services, 10 services a call) watches every service. A service has
settled when its PRIMARY deployment runs the target revision, rolloutState is COMPLETED and running
equals desired. It has failed when its rollout is FAILED, or when ECS settles it on another revision
than the one deployed (the circuit breaker rolled it back: a "success" on the old revision is a
failure). `_rollout` deploys and waits with this; `_rollback` puts services back with it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.ecs._taskdefs import Change, short_arn
from adinsights_ops.ecs._views import (
    OnEvent,
    Progress,
    ServiceEvent,
    ServiceState,
    describe,
)
from adinsights_ops.errors import NeedsHuman, OpsError, WaitFailed, WaitTimedOut
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock, Poll, wait_until

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

DEFAULT_POLL = Backoff(initial=2.0, factor=1.25, maximum=10.0, jitter=0.2)
SINGLETON_DEPLOYMENT = {"minimumHealthyPercent": 0, "maximumPercent": 100}


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


@attrs.frozen
class Verdict:
    states: Mapping[str, ServiceState]
    done: frozenset[str]
    failures: Mapping[str, str]


def judge(state: ServiceState, target: str) -> tuple[bool, str | None]:
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
    wait_first: bool = False,
) -> Verdict:
    """Wait, in one loop, until every service settles on its target revision.

    `wait_first`: the services were just updated, so the first look comes after the backoff's first
    delay (when the new tasks can first be running), not at once.

    Raises WaitFailed (first failure seen, every service's reason in last_state) or WaitTimedOut.
    """
    # Events already there before we changed anything are history, not news. Comparing ids rather
    # than timestamps keeps a skewed local clock from hiding or repeating events.
    seen_events: set[tuple[str, str]] = set(seen_before)
    names = list(targets)

    def poll() -> Verdict:
        states = describe(ecs, cluster=cluster, services=names)
        done: set[str] = set()
        failures: dict[str, str] = {}
        for name, state in states.items():
            settled, reason = judge(state, targets[name])
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
        return Verdict(states, frozenset(done), failures)

    def report(observed: Poll[Verdict]) -> None:
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
        wait_first=wait_first,
    )


def update_service(
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


def event_keys(states: Mapping[str, ServiceState]) -> set[tuple[str, str]]:
    return {(name, e.id or e.message) for name, s in states.items() for e in s.events}


def failures_from(exc: WaitFailed | WaitTimedOut, targets: Mapping[str, str]) -> dict[str, str]:
    verdict = exc.last_state
    if isinstance(exc, WaitFailed) and isinstance(verdict, Verdict) and verdict.failures:
        return dict(verdict.failures)
    done = verdict.done if isinstance(verdict, Verdict) else frozenset()
    waited = exc.timeout if isinstance(exc, WaitTimedOut) else 0.0
    return {name: f"not settled after {waited:.0f}s" for name in targets if name not in done}
