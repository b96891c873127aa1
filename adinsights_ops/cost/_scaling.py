"""Scale staging down to zero and back (runbook section 8: "scale down staging during off-hours").

`scale_down` writes each service's desired count to an SSM parameter
(`/adinsights/<env>/ops/scale-down`, JSON) *before* it stops anything, then scales the four
services to 0 with `ecs.scale` (each waits, with a deadline). `scale_up` puts the remembered counts
back and deletes the parameter once every service runs them again. Both hold the environment's
lock, so they never race a deploy, and both refuse production before any AWS call.

Run twice, they are harmless: a second scale-down keeps the counts it remembered (it never records
the zeros it made itself), and a service already where it should be is not touched. A scale-up
with nothing remembered is an error that says what to do instead.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import attrs

from adinsights_ops import ecs, lock
from adinsights_ops.cost._settings import refuse_production
from adinsights_ops.ecs._views import OnEvent, describe
from adinsights_ops.errors import UsageError
from adinsights_ops.journal import new_run_id, who

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

    from adinsights_ops.opsenv import OpsEnv

# Up in this order (the API before what calls it; workers before beat hands them jobs), down in
# the reverse order.
UP_ORDER = ("backend", "worker", "beat", "frontend")


def state_parameter(environment: str) -> str:
    return f"/adinsights/{environment}/ops/scale-down"


class NothingRemembered(UsageError):
    """scale-up found no remembered counts (exit 2, nothing changed)."""

    def __init__(self, environment: str, parameter: str) -> None:
        super().__init__(
            f"no remembered desired counts for {environment} (SSM parameter {parameter} does not "
            "exist): it was not scaled down with `inv cost.scale-down`, or was scaled up since; "
            "set counts one by one with `inv ecs.scale`"
        )
        self.environment = environment
        self.parameter = parameter


class StateUnreadable(UsageError):
    """The remembered state is not what scale-down writes (exit 2, nothing changed)."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(
            f"SSM parameter {parameter} is not a scale-down state ({problem}): fix or delete it"
        )
        self.parameter = parameter


@attrs.frozen
class Remembered:
    """What scale-down wrote: service -> desired count before it, when, by whom."""

    counts: Mapping[str, int]
    at: str
    by: str


@attrs.frozen
class ScaledService:
    service: str
    before: int  # desired count before the command
    after: int  # desired count now
    changed: bool


@attrs.frozen
class ScaleResult:
    """What scale-down or scale-up did, service by service, and what is remembered now."""

    environment: str
    direction: str  # down | up
    services: tuple[ScaledService, ...]
    parameter: str
    remembered: Mapping[str, int]  # after the command ({} once scale-up has restored everything)
    kept_remembered: bool = False  # scale-down found counts remembered before and kept them
    notes: tuple[str, ...] = ()


def read_remembered(ssm: SSMClient, *, parameter: str) -> Remembered | None:
    """The remembered state, or None when there is none."""
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    try:
        data = json.loads(value)
        counts = data["services"]
        if not isinstance(counts, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in counts.items()
        ):
            raise ValueError("services must map names to counts")
    except (ValueError, KeyError, TypeError) as exc:
        raise StateUnreadable(parameter, str(exc) or type(exc).__name__) from exc
    return Remembered(dict(counts), str(data.get("at", "")), str(data.get("by", "")))


def _write(ssm: SSMClient, *, parameter: str, counts: Mapping[str, int]) -> None:
    body = {
        "services": dict(counts),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "by": who(),
    }
    ssm.put_parameter(
        Name=parameter,
        Value=json.dumps(body, sort_keys=True),
        Type="String",
        Overwrite=True,
        Description="desired counts before `inv cost.scale-down`; `inv cost.scale-up` restores them",
    )


def _ordered(ops: OpsEnv, direction: str) -> list[str]:
    roles = [r for r in UP_ORDER if r in ops.env.ecs.services]
    roles += [r for r in ops.env.ecs.services if r not in roles]
    names = [ops.env.ecs.services[r].name for r in roles]
    return names if direction == "up" else names[::-1]


@contextlib.contextmanager
def _locked(ops: OpsEnv, reason: str, ttl: float) -> Iterator[lock.Lock]:
    s3 = ops.aws.s3()
    held = lock.acquire(
        s3,
        bucket=ops.env.state_bucket,
        environment=ops.name,
        run_id=new_run_id(),
        reason=reason,
        ttl=ttl,
    )
    try:
        yield held
    finally:
        with contextlib.suppress(Exception):  # an unreleased lock expires; the error matters more
            lock.release(s3, bucket=ops.env.state_bucket, lock=held)


def _scale_all(
    ops: OpsEnv,
    targets: Sequence[tuple[str, int]],
    before: Mapping[str, ecs.ServiceState],
    on_event: OnEvent | None,
) -> list[ScaledService]:
    done = []
    for name, desired in targets:
        state = before[name]
        if state.desired == desired and state.running == desired and state.pending == 0:
            done.append(ScaledService(name, state.desired, desired, changed=False))
            continue
        ecs.scale(
            ops.aws.ecs(),
            cluster=ops.env.ecs.cluster,
            service=name,
            desired=desired,
            timeout=ops.env.ecs.rollout_timeout,
            on_event=on_event,
            clock=ops.clock,
        )
        done.append(ScaledService(name, state.desired, desired, changed=True))
    return done


def scale_down(ops: OpsEnv, *, on_event: OnEvent | None = None) -> ScaleResult:
    """Remember every service's desired count, then scale all four to 0 (waiting for each).

    Refuses production (ProductionRefused, exit 2) before any AWS call. EnvironmentLocked (exit 3)
    when a deploy holds the environment; WaitTimedOut when a service does not stop in time (the
    counts stay remembered: run it again, or scale up).
    """
    refuse_production(ops.env, "cost.scale-down")
    names = _ordered(ops, "down")
    parameter = state_parameter(ops.name)
    ssm: SSMClient = ops.aws.client("ssm")
    with _locked(ops, "cost.scale-down", ttl=len(names) * ops.env.ecs.rollout_timeout + 600):
        previous = read_remembered(ssm, parameter=parameter)
        before = describe(ops.aws.ecs(), cluster=ops.env.ecs.cluster, services=names)
        counts = dict(previous.counts) if previous else {}
        notes = []
        for name in names:
            # Never record a zero: that is what an earlier scale-down (or a schedule) left behind.
            if name not in counts and before[name].desired > 0:
                counts[name] = before[name].desired
        if counts and (previous is None or counts != previous.counts):
            _write(ssm, parameter=parameter, counts=counts)
        if not counts:
            notes.append("every service was at 0 already and nothing was remembered before")
        scaled = _scale_all(ops, [(n, 0) for n in names], before, on_event)
    return ScaleResult(
        environment=ops.name,
        direction="down",
        services=tuple(scaled),
        parameter=parameter,
        remembered=counts,
        kept_remembered=previous is not None,
        notes=tuple(notes),
    )


def scale_up(ops: OpsEnv, *, on_event: OnEvent | None = None) -> ScaleResult:
    """Scale every service back to its remembered count (waiting for each), then forget them.

    NothingRemembered (exit 2) when scale-down did not run; ProductionRefused (exit 2) in
    production, before any AWS call. When a service fails to come up the counts stay remembered,
    so the same command can be run again.
    """
    refuse_production(ops.env, "cost.scale-up")
    names = _ordered(ops, "up")
    parameter = state_parameter(ops.name)
    ssm: SSMClient = ops.aws.client("ssm")
    with _locked(ops, "cost.scale-up", ttl=len(names) * ops.env.ecs.rollout_timeout + 600):
        remembered = read_remembered(ssm, parameter=parameter)
        if remembered is None:
            raise NothingRemembered(ops.name, parameter)
        notes = [
            f"{name} is remembered but is not a service of {ops.name} any more: ignored"
            for name in remembered.counts
            if name not in names
        ]
        before = describe(ops.aws.ecs(), cluster=ops.env.ecs.cluster, services=names)
        targets = [(n, remembered.counts[n]) for n in names if n in remembered.counts]
        scaled = _scale_all(ops, targets, before, on_event)
        ssm.delete_parameter(Name=parameter)
    untouched = [
        ScaledService(n, before[n].desired, before[n].desired, changed=False)
        for n in names
        if n not in remembered.counts
    ]
    return ScaleResult(
        environment=ops.name,
        direction="up",
        services=(*scaled, *untouched),
        parameter=parameter,
        remembered={},
        notes=tuple(notes),
    )
