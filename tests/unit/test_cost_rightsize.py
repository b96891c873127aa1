"""Right-sizing: CloudWatch utilisation against each task definition's size, with a suggestion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adinsights_ops import cost
from adinsights_ops.aws import is_mutating
from adinsights_ops.errors import EXIT_USAGE, UsageError
from adinsights_ops.sandbox import blueprint_cost
from tests.simulated import Simulated


def use(average: float | None, maximum: float | None) -> cost.Utilisation:
    return cost.Utilisation("CPUUtilization", average, maximum, 14 if average is not None else 0)


@pytest.mark.parametrize(
    ("average", "maximum", "action"),
    [
        (10, 40, "halve"),
        (19.9, 49.9, "halve"),
        (20, 40, "keep"),  # average not below 20
        (10, 50, "keep"),  # a 50% peak is not idle
        (60, 85, "keep"),
        (40, 85.1, "grow"),
        (5, 95, "grow"),  # rare spikes to the ceiling still need room
        (None, None, "not available"),
    ],
)
def test_the_rule(average: float | None, maximum: float | None, action: str) -> None:
    assert cost.judge(use(average, maximum)) == action


@pytest.mark.parametrize(
    ("asked", "size"),
    [
        ((256, 512), (256, 512)),
        ((128, 256), (256, 512)),  # nothing smaller than the smallest
        ((512, 512), (512, 1024)),  # 512 CPU units need 1 GiB at least
        ((1024, 1024), (1024, 2048)),
        ((256, 4096), (256, 2048)),
        ((2048, 5000), (2048, 5120)),  # memory rounded up to the step
        ((600, 2048), (512, 2048)),
    ],
)
def test_fargate_sizes(asked: tuple[int, int], size: tuple[int, int]) -> None:
    assert cost.fargate_size(*asked) == size


def test_suggestions_from_the_sandboxs_fourteen_days(sim: Simulated) -> None:
    seeded = blueprint_cost.seed_cost(sim.client, sim.env)
    assert seeded.datapoints > 0
    sim.calls.clear()

    rep = cost.rightsize_services(sim.ops)

    assert rep.days == 14 and rep.end - rep.start == timedelta(days=14)
    by_name = {s.service: s for s in rep.services}
    assert list(by_name) == [ref.name for ref in sim.env.ecs.services.values()]
    backend, worker = by_name["backend-service"], by_name["celery-worker"]
    beat, frontend = by_name["celery-beat"], by_name["frontend-service"]
    assert (backend.cpu, backend.memory) == (512, 1024)
    assert backend.task_definition.endswith("adinsights-sandbox-backend:1")
    assert backend.action == "halve CPU"
    assert (backend.suggested_cpu, backend.suggested_memory) == (256, 1024)
    assert worker.action == "grow CPU and memory"
    assert (worker.suggested_cpu, worker.suggested_memory) == (1024, 2048)
    assert beat.action == "halve CPU and memory"
    assert (beat.suggested_cpu, beat.suggested_memory) == (256, 512)
    assert frontend.action == "keep"
    assert worker.cpu_use.maximum == pytest.approx(91.0)
    assert backend.cpu_use.average is not None and 12 < backend.cpu_use.average < 16
    assert backend.cpu_use.days_with_data in (14, 15)  # daily periods over the window
    assert "CPU avg" in backend.reason
    assert sim.calls["GetMetricData"] == 1
    assert not [op for op in sim.calls if is_mutating(op)]


def test_no_datapoints_is_not_available_with_the_reason(sim: Simulated) -> None:
    rep = cost.rightsize_services(sim.ops, days=7)
    for sizing in rep.services:
        assert sizing.action == "not available"
        assert sizing.cpu_use.days_with_data == 0
        assert "no CPUUtilization or MemoryUtilization datapoints" in sizing.reason
        assert sizing.service in sizing.reason and "last 7 days" in sizing.reason
        assert (sizing.suggested_cpu, sizing.suggested_memory) == (512, 1024)  # unchanged


def test_only_the_window_counts(sim: Simulated) -> None:
    blueprint_cost.seed_cost(sim.client, sim.env)
    a_month_ago = datetime.now(UTC) - timedelta(days=30)  # that day is before any datapoint
    rep = cost.rightsize_services(sim.ops, days=1, now=a_month_ago)
    assert {s.action for s in rep.services} == {"not available"}


def test_halving_the_smallest_fargate_size_says_so(sim: Simulated) -> None:
    cw = sim.client("cloudwatch")
    now = datetime.now(UTC)
    dims = [
        {"Name": "ClusterName", "Value": sim.env.ecs.cluster},
        {"Name": "ServiceName", "Value": "celery-beat"},
    ]
    ecs = sim.client("ecs")
    current = ecs.describe_services(cluster=sim.env.ecs.cluster, services=["celery-beat"])
    td = ecs.describe_task_definition(taskDefinition=current["services"][0]["taskDefinition"])
    small = {
        k: td["taskDefinition"][k]
        for k in ("family", "containerDefinitions", "networkMode", "requiresCompatibilities")
    }
    arn = ecs.register_task_definition(**small, cpu="256", memory="512")["taskDefinition"]
    ecs.update_service(
        cluster=sim.env.ecs.cluster, service="celery-beat", taskDefinition=arn["taskDefinitionArn"]
    )
    for metric in ("CPUUtilization", "MemoryUtilization"):
        cw.put_metric_data(
            Namespace="AWS/ECS",
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": dims,
                    "Timestamp": now - timedelta(hours=h),
                    "Value": 5.0,
                }
                for h in range(1, 48)
            ],
        )
    beat = next(
        s for s in cost.rightsize_services(sim.ops, days=3).services if s.service == "celery-beat"
    )
    assert (beat.cpu, beat.memory) == (256, 512)
    assert beat.action == "keep"
    assert (beat.suggested_cpu, beat.suggested_memory) == (256, 512)
    assert beat.notes == (
        "256 CPU units is already Fargate's smallest size",
        "512 MiB is the smallest Fargate allows with 256 CPU units",
    )


@pytest.mark.parametrize("days", [0, -1, 456])
def test_days_out_of_range_is_a_usage_error_before_any_call(sim: Simulated, days: int) -> None:
    sim.calls.clear()
    with pytest.raises(UsageError) as caught:
        cost.rightsize(
            sim.client("cloudwatch"),
            sim.client("ecs"),
            environment="sandbox",
            cluster=sim.env.ecs.cluster,
            services=sim.service_names(),
            days=days,
        )
    assert caught.value.exit_code == EXIT_USAGE
    assert sum(sim.calls.values()) == 0
