"""One-off tasks, scaling, pruning and task-definition planning against the simulated scheduler."""

from __future__ import annotations

from typing import Any

import pytest

from adinsights_ops import ecs
from adinsights_ops.ecs._taskdefs import (
    NoMatchingContainer,
    plan_revision,
    repository_of,
    retag,
    split_image,
)
from adinsights_ops.errors import OpsError, WaitTimedOut
from tests.simulated import Simulated

MIGRATE = ["python", "manage.py", "migrate"]


def run(sim: Simulated, command: list[str], **kwargs: Any) -> ecs.TaskResult:
    env = sim.env
    backend = env.ecs.services["backend"].name
    return ecs.run_task(
        sim.client("ecs"),
        cluster=env.ecs.cluster,
        task_definition=env.ecs.one_off_family,
        command=command,
        network=ecs.network_from_service(
            sim.client("ecs"), cluster=env.ecs.cluster, service=backend
        ),
        container=env.ecs.one_off_container,
        logs=sim.client("logs"),
        clock=sim.clock,
        **kwargs,
    )


def test_one_off_task_returns_exit_code_and_log_tail(sim: Simulated) -> None:
    result = run(sim, MIGRATE)
    assert result.exit_code == 0 and result.succeeded
    assert result.stop_code == "EssentialContainerExited"
    assert result.command == tuple(MIGRATE)
    assert result.log_stream is not None and result.log_stream.startswith("ecs/backend/")
    assert any("Applying" in line or "migrat" in line.lower() for line in result.log_tail)
    sent = sim.client("ecs").describe_tasks(cluster=sim.env.ecs.cluster, tasks=[result.task_arn])
    overrides = sent["tasks"][0]["overrides"]["containerOverrides"][0]
    assert overrides == {"name": "backend", "command": MIGRATE}


def test_failing_migration_raises_task_failed_with_its_log(sim: Simulated) -> None:
    sim.scenario("failing-migration")
    with pytest.raises(ecs.TaskFailed) as raised:
        run(sim, MIGRATE)
    result = raised.value.result
    assert result.exit_code == 1
    assert any("Traceback" in line for line in result.log_tail)
    assert "exit code 1" in str(raised.value)
    # Other commands still succeed under this scenario.
    assert run(sim, ["python", "manage.py", "seed_roles"]).exit_code == 0


def test_task_still_running_at_the_deadline_is_reported_not_stopped(sim: Simulated) -> None:
    with pytest.raises(WaitTimedOut) as raised:
        run(sim, MIGRATE, timeout=0.5)
    assert "still running" in str(raised.value)


def test_unknown_container_is_refused(sim: Simulated) -> None:
    with pytest.raises(OpsError, match="no container 'nope'"):
        ecs.run_task(
            sim.client("ecs"),
            cluster=sim.env.ecs.cluster,
            task_definition=sim.env.ecs.one_off_family,
            command=["true"],
            network={},
            container="nope",
            clock=sim.clock,
        )


def test_scale_waits_for_the_running_count(sim: Simulated) -> None:
    worker = sim.env.ecs.services["worker"].name
    state = ecs.scale(
        sim.client("ecs"), cluster=sim.env.ecs.cluster, service=worker, desired=0, clock=sim.clock
    )
    assert (state.running, state.desired) == (0, 0)
    state = ecs.scale(
        sim.client("ecs"), cluster=sim.env.ecs.cluster, service=worker, desired=3, clock=sim.clock
    )
    assert (state.running, state.desired) == (3, 3)
    tasks = sim.client("ecs").list_tasks(cluster=sim.env.ecs.cluster, serviceName=worker)
    assert len(tasks["taskArns"]) == 3


def test_scale_refuses_a_negative_count(sim: Simulated) -> None:
    with pytest.raises(OpsError):
        ecs.scale(
            sim.client("ecs"), cluster=sim.env.ecs.cluster, service="celery-worker", desired=-1
        )


def test_prune_keeps_in_use_and_protected_revisions(sim: Simulated) -> None:
    client, env = sim.client("ecs"), sim.env
    family = env.ecs.one_off_family
    running = sim.primary_task_definitions()[env.ecs.services["backend"].name]
    td = client.describe_task_definition(taskDefinition=running)["taskDefinition"]
    keys = (
        "family",
        "networkMode",
        "containerDefinitions",
        "requiresCompatibilities",
        "cpu",
        "memory",
    )
    extra = [
        client.register_task_definition(**{k: td[k] for k in keys})["taskDefinition"][
            "taskDefinitionArn"
        ]
        for _ in range(4)
    ]  # revisions 2..5; the service still runs revision 1
    protected = extra[0]

    dry = ecs.prune_task_definitions(
        client,
        cluster=env.ecs.cluster,
        families=[family],
        services=sim.service_names(),
        keep=2,
        protect=[protected],
        dry_run=True,
    )
    assert set(dry.deregistered) == {extra[1]}
    assert (
        client.describe_task_definition(taskDefinition=extra[1])["taskDefinition"]["status"]
        == "ACTIVE"
    )

    result = ecs.prune_task_definitions(
        client,
        cluster=env.ecs.cluster,
        families=[family],
        services=sim.service_names(),
        keep=2,
        protect=[protected],
    )
    assert set(result.kept) == {extra[2], extra[3]}
    assert set(result.protected) == {running, protected}
    assert set(result.deregistered) == {extra[1]}
    assert (
        client.describe_task_definition(taskDefinition=extra[1])["taskDefinition"]["status"]
        == "INACTIVE"
    )
    assert (
        client.describe_task_definition(taskDefinition=running)["taskDefinition"]["status"]
        == "ACTIVE"
    )


def test_prune_never_takes_the_newest(sim: Simulated) -> None:
    with pytest.raises(OpsError):
        ecs.prune_task_definitions(
            sim.client("ecs"), cluster=sim.env.ecs.cluster, families=["x"], services=[], keep=0
        )


def test_plan_refuses_a_service_without_the_repository(sim: Simulated) -> None:
    running = sim.primary_task_definitions()[sim.env.ecs.services["frontend"].name]
    with pytest.raises(NoMatchingContainer, match="adinsights/backend"):
        plan_revision(
            sim.client("ecs"),
            service="frontend-service",
            task_definition=running,
            repository="adinsights/backend",
            image_tag="release-9.9.9",
        )


@pytest.mark.parametrize(
    ("image", "repository", "tag"),
    [
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/adinsights/backend:release-1.2.0",
            "adinsights/backend",
            "release-1.2.0",
        ),
        ("localhost:5000/adinsights/worker:main-abc1234", "adinsights/worker", "main-abc1234"),
        ("adinsights/frontend", "adinsights/frontend", None),
        ("registry.example.com/adinsights/backend@sha256:" + "a" * 64, "adinsights/backend", None),
    ],
)
def test_image_references(image: str, repository: str, tag: str | None) -> None:
    assert repository_of(image) == repository
    assert split_image(image)[1] == tag
    assert retag(image, "v9").endswith(f"{repository}:v9")
