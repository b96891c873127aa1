"""Off-hours schedules as Application Auto Scaling scheduled actions: cron, idempotence, refusals."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from adinsights_ops import cost
from adinsights_ops.aws import is_mutating
from adinsights_ops.errors import EXIT_USAGE, UsageError
from tests.simulated import Simulated

NORMAL = {"backend-service": 2, "celery-worker": 2, "celery-beat": 1, "frontend-service": 2}
DOWN, UP = "cron(0 20 ? * MON-FRI *)", "cron(0 7 ? * MON-FRI *)"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0 20 * * MON-FRI", DOWN),
        ("30 6 * * 1-5", "cron(30 6 ? * MON-FRI *)"),
        ("0 22 * * 0,6", "cron(0 22 ? * SUN,SAT *)"),
        ("0 22 * * 7", "cron(0 22 ? * SUN *)"),
        ("0 3 1 * *", "cron(0 3 1 * ? *)"),
        ("*/15 20-23 * * *", "cron(*/15 20-23 * * ? *)"),
        ("  0   20 * *   MON-FRI ", DOWN),
        ("cron(0 20 ? * MON-FRI *)", DOWN),
    ],
)
def test_unix_cron_becomes_aws_cron(given: str, expected: str) -> None:
    assert cost.aws_cron(given) == expected


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("0 20 * *", "expected 5 fields"),
        ("0 20 * * MON-FRI *", "expected 5 fields"),
        ("0 20 1 * MON", "only one"),
        ("0 twenty * * *", "must be numbers"),
        ("0 20 * * MON;FRI", "characters"),
        ("cron(0 20 * *)", "6 fields"),
        ("", "expected 5 fields"),
    ],
)
def test_bad_cron_is_a_usage_error(bad: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        cost.aws_cron(bad)
    assert caught.value.exit_code == EXIT_USAGE


def test_unknown_time_zone_is_a_usage_error() -> None:
    assert cost.check_timezone("America/Jamaica") == "America/Jamaica"
    with pytest.raises(UsageError, match="unknown time zone"):
        cost.check_timezone("Mars/Olympus_Mons")
    with pytest.raises(UsageError):
        cost.check_timezone("../etc/passwd")


def actions(sim: Simulated) -> dict[str, dict[str, Any]]:
    found = sim.client("application-autoscaling").describe_scheduled_actions(
        ServiceNamespace="ecs"
    )["ScheduledActions"]
    return {a["ScheduledActionName"]: a for a in found}


def targets(sim: Simulated) -> dict[str, dict[str, Any]]:
    found = sim.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")[
        "ScalableTargets"
    ]
    return {t["ResourceId"]: t for t in found}


def mutating(sim: Simulated) -> list[str]:
    return sorted(op for op in sim.calls if is_mutating(op))


def test_schedule_registers_targets_and_puts_two_actions_per_service(sim: Simulated) -> None:
    result = cost.schedule_offhours(sim.ops)

    assert result.counts == NORMAL and not result.unchanged
    assert set(targets(sim)) == {f"service/adinsights-sandbox/{s}" for s in NORMAL}
    assert {t["MinCapacity"] for t in targets(sim).values()} == {1, 2}
    found = actions(sim)
    assert len(found) == 8
    for service, count in NORMAL.items():
        down = found[f"adinsights-sandbox-{service}-offhours-down"]
        up = found[f"adinsights-sandbox-{service}-offhours-up"]
        assert down["ResourceId"] == up["ResourceId"] == f"service/adinsights-sandbox/{service}"
        assert down["ScalableDimension"] == "ecs:service:DesiredCount"
        assert (down["Schedule"], down["Timezone"]) == (DOWN, "America/Jamaica")
        assert (up["Schedule"], up["Timezone"]) == (UP, "America/Jamaica")
        assert down["ScalableTargetAction"] == {"MinCapacity": 0, "MaxCapacity": 0}
        assert up["ScalableTargetAction"] == {"MinCapacity": count, "MaxCapacity": count}


def test_schedule_twice_changes_nothing(sim: Simulated) -> None:
    cost.schedule_offhours(sim.ops)
    sim.calls.clear()

    again = cost.schedule_offhours(sim.ops)

    assert again.changes == ()
    assert len(again.unchanged) == 8
    assert mutating(sim) == []


def test_a_new_time_updates_only_the_actions_it_concerns(sim: Simulated) -> None:
    cost.schedule_offhours(sim.ops)
    sim.calls.clear()

    result = cost.schedule_offhours(sim.ops, down="0 19 * * MON-FRI", timezone="America/Jamaica")

    assert {c.name for c in result.changes} == {
        f"adinsights-sandbox-{s}-offhours-down" for s in NORMAL
    }
    assert mutating(sim) == ["PutScheduledAction"]
    assert sim.calls["PutScheduledAction"] == 4
    assert {a["Schedule"] for n, a in actions(sim).items() if n.endswith("-down")} == {
        "cron(0 19 ? * MON-FRI *)"
    }


def test_while_scaled_down_the_up_action_restores_the_remembered_counts(sim: Simulated) -> None:
    cost.scale_down(sim.ops)
    result = cost.schedule_offhours(sim.ops)
    assert result.counts == NORMAL
    up = actions(sim)["adinsights-sandbox-celery-worker-offhours-up"]
    assert up["ScalableTargetAction"] == {"MinCapacity": 2, "MaxCapacity": 2}


def test_at_night_the_existing_up_action_keeps_its_count(sim: Simulated) -> None:
    cost.schedule_offhours(sim.ops)
    ecs = sim.client("ecs")
    for name in NORMAL:  # what the down action does at 20:00
        ecs.update_service(cluster=sim.env.ecs.cluster, service=name, desiredCount=0)
    sim.calls.clear()

    again = cost.schedule_offhours(sim.ops)

    assert again.counts == NORMAL and again.changes == ()
    assert mutating(sim) == []


def test_a_stopped_service_with_no_known_count_is_refused(sim: Simulated) -> None:
    sim.client("ecs").update_service(
        cluster=sim.env.ecs.cluster, service="celery-beat", desiredCount=0
    )
    sim.calls.clear()
    with pytest.raises(UsageError, match="celery-beat run 0 tasks"):
        cost.schedule_offhours(sim.ops)
    assert mutating(sim) == []


def test_dry_run_plans_and_changes_nothing(sim: Simulated) -> None:
    sim.calls.clear()
    result = cost.schedule_offhours(sim.ops, dry_run=True)
    assert result.dry_run and len(result.changes) == 12  # 4 targets + 8 actions
    assert mutating(sim) == []
    assert actions(sim) == {}


def test_remove_deletes_the_actions_and_keeps_the_targets(sim: Simulated) -> None:
    cost.schedule_offhours(sim.ops)

    removed = cost.schedule_offhours(sim.ops, remove=True)

    assert removed.removed and len(removed.changes) == 8
    assert actions(sim) == {}
    assert len(targets(sim)) == 4
    sim.calls.clear()
    assert cost.schedule_offhours(sim.ops, remove=True).changes == ()
    assert mutating(sim) == []


def test_other_scheduled_actions_are_not_touched(sim: Simulated) -> None:
    aas = sim.client("application-autoscaling")
    cost.schedule_offhours(sim.ops)
    aas.put_scheduled_action(
        ServiceNamespace="ecs",
        ScheduledActionName="black-friday",
        ResourceId="service/adinsights-sandbox/backend-service",
        ScalableDimension="ecs:service:DesiredCount",
        Schedule="at(2026-11-27T08:00:00)",
        ScalableTargetAction={"MinCapacity": 6, "MaxCapacity": 6},
    )
    cost.schedule_offhours(sim.ops, remove=True)
    assert set(actions(sim)) == {"black-friday"}


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"remove": True}, {"down": "not a cron"}, {"timezone": "Nowhere/Else"}],
)
def test_production_is_refused_before_any_aws_call(sim: Simulated, kwargs: dict[str, Any]) -> None:
    ops = attrs.evolve(sim.ops, env=attrs.evolve(sim.env, name="production"))
    sim.calls.clear()
    with pytest.raises(cost.ProductionRefused) as caught:
        cost.schedule_offhours(ops, **kwargs)
    assert caught.value.exit_code == EXIT_USAGE
    assert sum(sim.calls.values()) == 0


@pytest.mark.parametrize("kwargs", [{"down": "0 25"}, {"up": "0 7 1 * MON"}, {"timezone": "X/Y"}])
def test_bad_input_is_refused_before_any_aws_call(sim: Simulated, kwargs: dict[str, Any]) -> None:
    sim.calls.clear()
    with pytest.raises(UsageError):
        cost.schedule_offhours(sim.ops, **kwargs)
    assert sum(sim.calls.values()) == 0
