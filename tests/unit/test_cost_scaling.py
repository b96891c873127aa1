"""Scale staging down and up: counts remembered in SSM, production refused before any AWS call."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from adinsights_ops import cost, lock
from adinsights_ops.aws import is_mutating
from adinsights_ops.config import ReleaseSettings
from adinsights_ops.ecs._views import describe
from adinsights_ops.errors import EXIT_LOCKED, EXIT_USAGE, EnvironmentLocked, WaitTimedOut
from tests.simulated import Simulated

PARAMETER = "/adinsights/sandbox/ops/scale-down"
NORMAL = {"backend-service": 2, "celery-worker": 2, "celery-beat": 1, "frontend-service": 2}


def counts(sim: Simulated) -> dict[str, tuple[int, int]]:
    """service -> (desired, running), as ECS reports them."""
    states = describe(sim.client("ecs"), cluster=sim.env.ecs.cluster, services=sim.service_names())
    return {name: (s.desired, s.running) for name, s in states.items()}


def remembered(sim: Simulated) -> dict[str, Any] | None:
    ssm = sim.client("ssm")
    try:
        value = ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    data: dict[str, Any] = json.loads(value)
    return data


def remembered_services(sim: Simulated) -> Any:
    """The desired counts the scale-down remembered (there must be some)."""
    saved = remembered(sim)
    assert saved is not None, f"no {PARAMETER} parameter"
    return saved["services"]


def mutating(sim: Simulated) -> list[str]:
    return sorted(op for op in sim.calls if is_mutating(op))


def production(sim: Simulated, **changes: Any) -> Any:
    env = attrs.evolve(sim.env, **({"name": "production"} | changes))
    return attrs.evolve(sim.ops, env=env)


def test_scale_down_remembers_the_counts_then_stops_every_service(sim: Simulated) -> None:
    result = cost.scale_down(sim.ops)

    assert counts(sim) == {name: (0, 0) for name in NORMAL}
    assert remembered_services(sim) == NORMAL
    assert result.remembered == NORMAL and not result.kept_remembered
    assert [s.service for s in result.services] == [
        "frontend-service",
        "celery-beat",
        "celery-worker",
        "backend-service",
    ]
    assert all(s.changed and s.after == 0 for s in result.services)
    # the lock was held and let go
    assert lock.read(sim.client("s3"), bucket=sim.env.state_bucket, environment="sandbox") is None


def test_scale_down_twice_keeps_the_remembered_counts(sim: Simulated) -> None:
    cost.scale_down(sim.ops)
    sim.calls.clear()

    again = cost.scale_down(sim.ops)

    assert remembered_services(sim) == NORMAL
    assert again.kept_remembered and again.remembered == NORMAL
    assert not any(s.changed for s in again.services)
    assert "PutParameter" not in sim.calls and "UpdateService" not in sim.calls


def test_a_service_scaled_up_by_hand_in_between_is_added_not_zeroed(sim: Simulated) -> None:
    cost.scale_down(sim.ops)
    ssm = sim.client("ssm")
    partial = {"services": {"backend-service": 2}, "at": "", "by": "someone"}
    ssm.put_parameter(Name=PARAMETER, Value=json.dumps(partial), Type="String", Overwrite=True)
    sim.client("ecs").update_service(
        cluster=sim.env.ecs.cluster, service="celery-worker", desiredCount=3
    )

    result = cost.scale_down(sim.ops)

    assert remembered_services(sim) == {"backend-service": 2, "celery-worker": 3}
    assert result.remembered == {"backend-service": 2, "celery-worker": 3}
    assert counts(sim)["celery-worker"] == (0, 0)


def test_scale_up_restores_the_counts_and_forgets_them(sim: Simulated) -> None:
    cost.scale_down(sim.ops)

    result = cost.scale_up(sim.ops)

    assert counts(sim) == {name: (n, n) for name, n in NORMAL.items()}
    assert remembered(sim) is None
    assert [s.service for s in result.services] == [
        "backend-service",
        "celery-worker",
        "celery-beat",
        "frontend-service",
    ]
    assert {s.service: (s.before, s.after) for s in result.services} == {
        name: (0, n) for name, n in NORMAL.items()
    }


def test_scale_up_without_a_scale_down_is_a_clear_error_that_changes_nothing(
    sim: Simulated,
) -> None:
    sim.calls.clear()
    with pytest.raises(cost.NothingRemembered) as caught:
        cost.scale_up(sim.ops)
    assert caught.value.exit_code == EXIT_USAGE
    assert PARAMETER in str(caught.value) and "inv ecs.scale" in str(caught.value)
    # only the lock was written (and removed); no service was touched
    assert mutating(sim) == ["DeleteObject", "PutObject"]
    assert counts(sim) == {name: (n, n) for name, n in NORMAL.items()}


def test_a_second_scale_up_is_the_same_clear_error(sim: Simulated) -> None:
    cost.scale_down(sim.ops)
    cost.scale_up(sim.ops)
    with pytest.raises(cost.NothingRemembered):
        cost.scale_up(sim.ops)


def test_an_unreadable_state_is_refused(sim: Simulated) -> None:
    sim.client("ssm").put_parameter(Name=PARAMETER, Value="{not json", Type="String")
    with pytest.raises(cost.StateUnreadable) as caught:
        cost.scale_up(sim.ops)
    assert caught.value.exit_code == EXIT_USAGE
    sim.client("ssm").put_parameter(
        Name=PARAMETER, Value=json.dumps({"services": {"x": -1}}), Type="String", Overwrite=True
    )
    with pytest.raises(cost.StateUnreadable, match="fix or delete it"):
        cost.scale_down(sim.ops)
    assert counts(sim) == {name: (n, n) for name, n in NORMAL.items()}


@pytest.mark.parametrize("operation", [cost.scale_down, cost.scale_up])
def test_production_is_refused_before_any_aws_call(sim: Simulated, operation: Any) -> None:
    sim.calls.clear()
    with pytest.raises(cost.ProductionRefused) as caught:
        operation(production(sim))
    assert caught.value.exit_code == EXIT_USAGE
    assert "production" in str(caught.value) and "\n" not in str(caught.value)
    assert sum(sim.calls.values()) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "prod"},
        {"name": "live", "branch_rule": "tags"},
        {"name": "live", "release": ReleaseSettings(promotion_from="staging")},
    ],
)
def test_production_by_any_sign_is_refused(sim: Simulated, changes: dict[str, Any]) -> None:
    sim.calls.clear()
    with pytest.raises(cost.ProductionRefused):
        cost.scale_down(production(sim, **changes))
    assert sum(sim.calls.values()) == 0


def test_staging_like_environments_are_allowed() -> None:
    assert cost.production_reason("staging") is None
    assert cost.production_reason("sandbox") is None
    assert cost.production_reason("production") is not None


def test_a_held_lock_stops_scale_down_before_anything_changes(sim: Simulated) -> None:
    lock.acquire(
        sim.client("s3"),
        bucket=sim.env.state_bucket,
        environment="sandbox",
        run_id="deploy-run",
        reason="deploy",
    )
    with pytest.raises(EnvironmentLocked) as caught:
        cost.scale_down(sim.ops)
    assert caught.value.exit_code == EXIT_LOCKED
    assert remembered(sim) is None
    assert counts(sim) == {name: (n, n) for name, n in NORMAL.items()}


def test_a_service_that_does_not_stop_in_time_keeps_the_counts_remembered(
    sim: Simulated,
) -> None:
    slow = attrs.evolve(sim.env, ecs=attrs.evolve(sim.env.ecs, rollout_timeout=0.1))
    with pytest.raises(WaitTimedOut):
        cost.scale_down(attrs.evolve(sim.ops, env=slow))
    assert remembered_services(sim) == NORMAL
    # the lock is released even so, and scale-up puts everything back
    cost.scale_up(sim.ops)
    assert counts(sim) == {name: (n, n) for name, n in NORMAL.items()}
