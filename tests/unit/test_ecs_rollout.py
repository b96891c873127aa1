"""The ECS rollout engine against the simulated scheduler (mock_aws, fake clock)."""

from __future__ import annotations

from typing import Any

import pytest

from adinsights_ops import ecs
from adinsights_ops.ecs._views import ServiceEvent
from adinsights_ops.errors import WaitTimedOut
from tests.simulated import Simulated

TAG = "release-1.3.0"


def rollout(sim: Simulated, **kwargs: Any) -> ecs.Rollout:
    return ecs.rollout(
        sim.client("ecs"),
        cluster=sim.env.ecs.cluster,
        services=sim.env.service_images(),
        image_tag=TAG,
        singletons=sim.env.ecs.singletons,
        clock=sim.clock,
        **kwargs,
    )


def task_definition(sim: Simulated, arn: str) -> dict[str, Any]:
    td: dict[str, Any] = sim.client("ecs").describe_task_definition(taskDefinition=arn)[
        "taskDefinition"
    ]
    return td


def test_rollout_moves_all_four_services_to_new_revisions(sim: Simulated) -> None:
    before = sim.primary_task_definitions()
    result = rollout(sim)

    assert result.succeeded
    after = sim.primary_task_definitions()
    for service, arn in after.items():
        assert arn != before[service]
        outcome = result.outcome(service)
        assert (outcome.previous, outcome.target, outcome.now, outcome.state) == (
            before[service],
            arn,
            arn,
            "deployed",
        )
        images = [c["image"] for c in task_definition(sim, arn)["containerDefinitions"]]
        assert all(image.endswith(":" + TAG) for image in images)
    # The steady-state events of every service were seen during the wait.
    steady = {e.service for e in result.events if "steady state" in e.message}
    assert steady == set(before)


def test_new_revision_changes_only_the_image(sim: Simulated) -> None:
    before = sim.primary_task_definitions()
    result = rollout(sim)

    for service, old_arn in before.items():
        old, new = task_definition(sim, old_arn), task_definition(sim, result.outcome(service).now)
        for key in ("revision", "taskDefinitionArn", "registeredAt", "registeredBy"):
            old.pop(key, None)
            new.pop(key, None)
        old_containers, new_containers = (
            old.pop("containerDefinitions"),
            new.pop("containerDefinitions"),
        )
        assert old == new
        for old_c, new_c in zip(old_containers, new_containers, strict=True):
            assert {**old_c, "image": None} == {**new_c, "image": None}
        (change,) = result.outcome(service).changes
        assert change.old.endswith(":release-1.2.0") and change.new.endswith(":" + TAG)
        assert change.field.startswith("containerDefinitions[")


def test_one_polling_loop_describes_all_services_in_one_call(sim: Simulated) -> None:
    polls: list[int] = []
    rollout(sim, on_event=lambda e: polls.append(1) if isinstance(e, ecs.Progress) else None)
    progress_per_poll = len(sim.service_names())
    number_of_polls = len(polls) // progress_per_poll
    # One read before anything changes (the plan and the update share it) + one call per poll:
    # never one call per service.
    assert sim.calls["DescribeServices"] == number_of_polls + 1
    assert number_of_polls >= 1


def test_a_four_service_rollout_takes_fourteen_calls(sim: Simulated) -> None:
    """3 per service (read its revision, register, update), one read of the services, one poll:
    the first look comes when the new tasks can first be running, not at once."""
    sim.calls.clear()
    rollout(sim)
    assert dict(sim.calls) == {
        "DescribeServices": 2,
        "DescribeTaskDefinition": 4,
        "RegisterTaskDefinition": 4,
        "UpdateService": 4,
    }


def test_celery_beat_never_runs_two_copies(sim: Simulated) -> None:
    ecs_client = sim.client("ecs")
    cluster, beat = sim.env.ecs.cluster, sim.env.ecs.services["beat"].name
    # Someone left beat on the rolling defaults: the rollout must put it back to stop-then-start.
    ecs_client.update_service(
        cluster=cluster,
        service=beat,
        deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200},
    )
    sim.clock.advance(5)
    copies: list[int] = []

    def count_beat() -> None:
        tasks = sim.scheduler.backend.list_tasks(
            cluster, service_name=beat, desiredStatus="RUNNING"
        )
        copies.append(len(tasks))

    sim.clock.on_sleep.append(count_beat)
    rollout(sim)
    config = ecs_client.describe_services(cluster=cluster, services=[beat])["services"][0]
    assert config["deploymentConfiguration"]["minimumHealthyPercent"] == 0
    assert config["deploymentConfiguration"]["maximumPercent"] == 100
    assert copies and max(copies) <= 1


def test_failing_rollout_puts_every_service_back(sim: Simulated) -> None:
    before = sim.primary_task_definitions()
    sim.scenario("failing-rollout")
    with pytest.raises(ecs.RolloutFailed) as raised:
        rollout(sim)

    result = raised.value.rollout
    assert not result.succeeded and result.rolled_back
    assert sim.primary_task_definitions() == before
    assert result.running_now == before
    backend = sim.env.ecs.services["backend"].name
    assert backend in raised.value.failures
    assert {o.state for o in result.outcomes} == {"rolled-back"}
    assert any("circuit breaker" in e.message or "rolling back" in e.message for e in result.events)


def test_circuit_breaker_rollback_is_a_failure_not_a_success() -> None:
    """ECS can settle a service on the OLD revision after its breaker trips: that is no success."""
    from adinsights_ops.ecs._settle import judge as _judge
    from adinsights_ops.ecs._views import ServiceState

    state = ServiceState.from_api(
        {
            "serviceName": "backend-service",
            "status": "ACTIVE",
            "taskDefinition": "arn:aws:ecs:eu-west-1:1:task-definition/backend:1",
            "desiredCount": 2,
            "runningCount": 2,
            "pendingCount": 0,
            "deployments": [
                {
                    "id": "ecs-svc/2",
                    "status": "PRIMARY",
                    "taskDefinition": "arn:aws:ecs:eu-west-1:1:task-definition/backend:1",
                    "desiredCount": 2,
                    "runningCount": 2,
                    "rolloutState": "COMPLETED",
                }
            ],
            "events": [],
        }
    )
    settled, reason = _judge(state, "arn:aws:ecs:eu-west-1:1:task-definition/backend:2")
    assert not settled
    assert reason is not None and "backend:1" in reason and "circuit-breaker" in reason


def test_deadline_rolls_back(sim: Simulated) -> None:
    """Without a breaker a failing service never finishes: the deadline ends it, and all go back."""
    ecs_client = sim.client("ecs")
    backend = sim.env.ecs.services["backend"].name
    ecs_client.update_service(
        cluster=sim.env.ecs.cluster,
        service=backend,
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": False, "rollback": False},
            "minimumHealthyPercent": 100,
            "maximumPercent": 200,
        },
    )
    before = sim.primary_task_definitions()
    sim.scenario("failing-rollout")
    with pytest.raises(ecs.RolloutFailed) as raised:
        rollout(sim, timeout=30)
    assert "not settled after 30s" in raised.value.failures[backend]
    assert isinstance(raised.value.__cause__, WaitTimedOut)
    assert sim.primary_task_definitions() == before


def test_rollback_that_does_not_settle_needs_a_human(sim: Simulated) -> None:
    sim.scenario("failing-rollout")
    with pytest.raises(ecs.RollbackFailed) as raised:
        ecs.deploy_revisions(
            sim.client("ecs"),
            cluster=sim.env.ecs.cluster,
            targets=ecs.register_revisions(
                sim.client("ecs"),
                ecs.plan_rollout(
                    sim.client("ecs"),
                    cluster=sim.env.ecs.cluster,
                    services=sim.env.service_images(),
                    image_tag=TAG,
                ),
            ),
            timeout=60,
            rollback_timeout=0.1,
            clock=sim.clock,
        )
    assert raised.value.exit_code == 4
    assert raised.value.rollback_errors
    assert any(o.state == "rollback-failed" for o in raised.value.rollout.outcomes)


def test_rollout_to_the_tag_already_running_changes_nothing(sim: Simulated) -> None:
    first = rollout(sim)
    registered = sim.calls["RegisterTaskDefinition"]
    second = rollout(sim)
    assert sim.calls["RegisterTaskDefinition"] == registered
    assert {o.state for o in second.outcomes} == {"unchanged"}
    assert second.running_now == first.running_now


def test_rollback_to_returns_to_given_revisions(sim: Simulated) -> None:
    before = sim.primary_task_definitions()
    rollout(sim)
    result = ecs.rollback_to(
        sim.client("ecs"),
        cluster=sim.env.ecs.cluster,
        targets=before,
        singletons=sim.env.ecs.singletons,
        clock=sim.clock,
    )
    assert result.succeeded
    assert sim.primary_task_definitions() == before


def test_events_are_reported_once_each(sim: Simulated) -> None:
    seen: list[ServiceEvent] = []
    rollout(sim, on_event=lambda e: seen.append(e) if isinstance(e, ServiceEvent) else None)
    keys = [(e.service, e.id) for e in seen]
    assert len(keys) == len(set(keys)) and keys


def test_missing_service_is_named(sim: Simulated) -> None:
    with pytest.raises(ecs.ServiceMissing, match="no-such-service"):
        ecs.rollout(
            sim.client("ecs"),
            cluster=sim.env.ecs.cluster,
            services={"no-such-service": "adinsights/backend"},
            image_tag=TAG,
            clock=sim.clock,
        )
