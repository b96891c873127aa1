"""The simulated ECS scheduler, seen only through boto3 (as our ops code sees it) under mock_aws."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import boto3
import moto
import pytest
from botocore.exceptions import WaiterError
from moto.ecs.models import ecs_backends

from adinsights_ops import config, ecs
from adinsights_ops.sandbox.oneoff import output_for
from adinsights_ops.sandbox.scheduler import (
    BREAKER_REASON,
    EcsScheduler,
    Scenario,
    SchedulerTimings,
)
from tests.simulated import ENVIRONMENTS

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CLUSTER = "adinsights"
LOG_GROUP = "/ecs/adinsights"
STEP = 0.3  # SchedulerTimings().task_seconds
BEAT_CONFIG = {
    "minimumHealthyPercent": 0,
    "maximumPercent": 100,
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
}
ROLLING = {
    "minimumHealthyPercent": 100,
    "maximumPercent": 200,
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
}


class FakeClock:
    """Monotonic seconds that pass only when a test says so; wall time follows them."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.epoch = datetime.now(UTC)  # near real time: CloudWatch Logs rejects old events

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return self.epoch + timedelta(seconds=self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sandbox:
    def __init__(self, clock: FakeClock, scheduler: EcsScheduler) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self.ecs: Any = boto3.client("ecs", region_name=REGION)
        self.logs: Any = boto3.client("logs", region_name=REGION)
        # As the sandbox server does before every request: bring the simulation up to now.
        for client in (self.ecs, self.logs):
            client.meta.events.register("before-call", lambda **_: scheduler.tick())
        self.ec2: Any = boto3.client("ec2", region_name=REGION)
        ec2 = self.ec2
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)
        self.network = {
            "awsvpcConfiguration": {
                "subnets": [subnet],
                "securityGroups": [group["GroupId"]],
                "assignPublicIp": "DISABLED",
            }
        }
        self.logs.create_log_group(logGroupName=LOG_GROUP)
        self.ecs.create_cluster(clusterName=CLUSTER)

    def register(self, family: str, image: str, command: list[str]) -> str:
        definition = self.ecs.register_task_definition(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": family,
                    "image": image,
                    "memory": 512,
                    "essential": True,
                    "command": command,
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": LOG_GROUP,
                            "awslogs-region": REGION,
                            "awslogs-stream-prefix": "ecs",
                        },
                    },
                }
            ],
        )
        return str(definition["taskDefinition"]["taskDefinitionArn"])

    def create(self, name: str, task_definition: str, desired: int, config: dict[str, Any]) -> None:
        """A service whose first deployment already completed ("previous release deployed")."""
        self.ecs.create_service(
            cluster=CLUSTER,
            serviceName=name,
            taskDefinition=task_definition,
            desiredCount=desired,
            launchType="FARGATE",
            networkConfiguration=self.network,
        )
        self.ecs.update_service(cluster=CLUSTER, service=name, deploymentConfiguration=config)
        self.scheduler.settle()

    def describe(self, name: str) -> dict[str, Any]:
        service: dict[str, Any] = self.ecs.describe_services(cluster=CLUSTER, services=[name])[
            "services"
        ][0]
        return service

    def running_tasks(self, name: str) -> list[dict[str, Any]]:
        arns = self.ecs.list_tasks(cluster=CLUSTER, serviceName=name)["taskArns"]
        if not arns:
            return []
        tasks: list[dict[str, Any]] = self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
        return tasks

    def run_until_stable(self, name: str, limit: float = 60.0) -> list[dict[str, Any]]:
        """Step the clock one action at a time until the service is stable; every state seen."""
        seen = []
        deadline = self.clock.now + limit
        while self.clock.now < deadline:
            self.clock.advance(STEP)
            service = self.describe(name)
            seen.append(service)
            if (
                len(service["deployments"]) == 1
                and service["runningCount"] == service["desiredCount"]
                and service["deployments"][0]["rolloutState"] == "COMPLETED"
            ):
                return seen
        raise AssertionError(f"{name} not stable after {limit}s: {seen[-1]['deployments']}")


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        clock = FakeClock()
        scheduler = EcsScheduler(ACCOUNT, REGION, clock=clock, wall_clock=clock.wall)
        scheduler.install()
        yield Sandbox(clock, scheduler)


@pytest.fixture
def backend(sandbox: Sandbox) -> tuple[str, str]:
    """The backend service on revision 1 with 2 tasks, and revision 2 registered."""
    rev1 = sandbox.register("backend", "adinsights/backend:release-1.4.0", ["gunicorn"])
    rev2 = sandbox.register("backend", "adinsights/backend:release-1.5.0", ["gunicorn"])
    sandbox.create("backend", rev1, 2, ROLLING)
    return rev1, rev2


def test_create_service_ramps_up_its_first_deployment(sandbox: Sandbox) -> None:
    rev1 = sandbox.register("frontend", "adinsights/frontend:1", ["nginx"])
    created = sandbox.ecs.create_service(
        cluster=CLUSTER,
        serviceName="frontend",
        taskDefinition=rev1,
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration=sandbox.network,
        deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 200},
    )["service"]
    assert created["runningCount"] == 0
    assert created["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    # moto drops deploymentConfiguration on CreateService; the simulation keeps it.
    assert created["deploymentConfiguration"]["minimumHealthyPercent"] == 50

    sandbox.clock.advance(STEP)
    assert sandbox.describe("frontend")["runningCount"] == 1
    sandbox.clock.advance(STEP)
    service = sandbox.describe("frontend")
    assert service["runningCount"] == 2
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    assert service["events"][0]["message"] == "(service frontend) has reached a steady state."


def test_update_service_answers_with_a_new_primary_deployment(
    sandbox: Sandbox, backend: tuple[str, str]
) -> None:
    rev1, rev2 = backend
    updated = sandbox.ecs.update_service(
        cluster=CLUSTER, service="backend", taskDefinition="backend:2"
    )["service"]

    assert updated["taskDefinition"] == rev2
    primary, active = updated["deployments"]
    assert (primary["status"], primary["taskDefinition"]) == ("PRIMARY", rev2)
    assert (primary["rolloutState"], primary["runningCount"]) == ("IN_PROGRESS", 0)
    assert (active["status"], active["taskDefinition"]) == ("ACTIVE", rev1)
    assert (active["rolloutState"], active["runningCount"]) == ("COMPLETED", 2)
    assert re.fullmatch(r"ecs-svc/\d+", primary["id"])
    assert primary["id"] != active["id"]


def test_rollout_replaces_tasks_one_at_a_time_and_completes(
    sandbox: Sandbox, backend: tuple[str, str]
) -> None:
    rev1, rev2 = backend
    sandbox.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=rev2)

    seen = sandbox.run_until_stable("backend")

    # minimumHealthyPercent 100 / maximumPercent 200 with 2 desired: never below 2, never above 4.
    assert [s["runningCount"] for s in seen] == [3, 4, 3, 2]
    assert [s["deployments"][0]["runningCount"] for s in seen] == [1, 2, 2, 2]
    final = seen[-1]
    assert final["taskDefinition"] == rev2
    [deployment] = final["deployments"]
    assert (deployment["status"], deployment["taskDefinition"]) == ("PRIMARY", rev2)
    messages = [e["message"] for e in final["events"]]
    assert messages[0] == "(service backend) has reached a steady state."
    assert messages[1] == f"(service backend) (deployment {deployment['id']}) deployment completed."
    assert sum("has started 1 tasks" in m for m in messages) == 4  # 2 first release + 2 new
    assert sum("has stopped 1 running tasks" in m for m in messages) == 2
    assert len({e["id"] for e in final["events"]}) == len(messages)
    times = [e["createdAt"] for e in final["events"]]
    assert times == sorted(times, reverse=True)  # newest first
    assert all(t.tzinfo is not None for t in times)

    running = sandbox.running_tasks("backend")
    assert {t["taskDefinitionArn"] for t in running} == {rev2}
    assert {t["lastStatus"] for t in running} == {"RUNNING"}
    assert {t["startedBy"] for t in running} == {deployment["id"]}
    stopped_arns = sandbox.ecs.list_tasks(
        cluster=CLUSTER, serviceName="backend", desiredStatus="STOPPED"
    )["taskArns"]
    stopped = sandbox.ecs.describe_tasks(cluster=CLUSTER, tasks=stopped_arns)["tasks"]
    assert {t["taskDefinitionArn"] for t in stopped} == {rev1}
    assert all(t["lastStatus"] == "STOPPED" and t["stoppedAt"] for t in stopped)
    # Fargate deletes a stopped task's network interface; only the running tasks keep one.
    assert len(sandbox.ec2.describe_network_interfaces()["NetworkInterfaces"]) == 2


def test_catching_up_does_not_depend_on_how_often_tick_runs(
    sandbox: Sandbox, backend: tuple[str, str]
) -> None:
    sandbox.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=backend[1])
    sandbox.clock.advance(60)

    service = sandbox.describe("backend")
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    newest = service["events"][:6]  # steady, completed, stop, stop, start, start
    assert [e["createdAt"] for e in newest[1:]] == sorted(
        (e["createdAt"] for e in newest[1:]), reverse=True
    )
    spacing = newest[3]["createdAt"] - newest[4]["createdAt"]  # one action apart, not "now"
    assert spacing == timedelta(seconds=STEP)
    assert newest[0]["createdAt"] < sandbox.clock.wall() - timedelta(seconds=50)


def test_beat_never_runs_two_copies(sandbox: Sandbox) -> None:
    rev1 = sandbox.register("beat", "adinsights/backend:1", ["celery", "beat"])
    rev2 = sandbox.register("beat", "adinsights/backend:2", ["celery", "beat"])
    sandbox.create("beat", rev1, 1, BEAT_CONFIG)

    sandbox.ecs.update_service(cluster=CLUSTER, service="beat", taskDefinition=rev2)
    counts = []
    for _ in range(20):
        sandbox.clock.advance(0.1)
        counts.append(len(sandbox.running_tasks("beat")))
    assert max(counts) == 1
    assert 0 in counts  # the old copy stopped before the new one started
    service = sandbox.describe("beat")
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    assert [t["taskDefinitionArn"] for t in sandbox.running_tasks("beat")] == [rev2]
    messages = [e["message"] for e in service["events"]]
    assert "has stopped" in messages[3] and "has started" in messages[2]


def test_failing_revision_trips_the_breaker_and_rolls_back(
    sandbox: Sandbox, backend: tuple[str, str]
) -> None:
    rev1, rev2 = backend
    previous = sandbox.describe("backend")["deployments"][0]["id"]
    sandbox.scheduler.scenario = Scenario(name="failing-rollout", failing_services={"backend"})
    sandbox.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=rev2)

    sandbox.clock.advance(3 * STEP)
    service = sandbox.describe("backend")
    primary, failed, completed = service["deployments"]
    assert (primary["status"], primary["taskDefinition"]) == ("PRIMARY", rev1)
    assert primary["rolloutState"] == "IN_PROGRESS"
    assert (failed["status"], failed["rolloutState"], failed["failedTasks"]) == (
        "ACTIVE",
        "FAILED",
        3,
    )
    assert failed["rolloutStateReason"] == BREAKER_REASON
    assert completed["id"] == previous
    assert service["taskDefinition"] == rev1
    assert service["runningCount"] == 2  # the old tasks kept serving
    messages = [e["message"] for e in service["events"]]
    assert messages[0] == f"(service backend) rolling back to deployment {previous}."
    assert messages[1] == (
        f"(service backend) (deployment {failed['id']}) deployment failed: tasks failed to start."
    )

    failed_arns = sandbox.ecs.list_tasks(
        cluster=CLUSTER, serviceName="backend", desiredStatus="STOPPED"
    )["taskArns"]
    failed_tasks = sandbox.ecs.describe_tasks(cluster=CLUSTER, tasks=failed_arns)["tasks"]
    assert len(failed_tasks) == 3
    for task in failed_tasks:
        assert task["taskDefinitionArn"] == rev2
        assert task["stopCode"] == "EssentialContainerExited"
        assert task["stoppedReason"] == "Essential container in task exited"
        assert task["containers"][0]["exitCode"] == 1

    final = sandbox.run_until_stable("backend")[-1]
    assert final["deployments"][0]["taskDefinition"] == rev1
    assert {t["taskDefinitionArn"] for t in sandbox.running_tasks("backend")} == {rev1}


def test_breaker_without_rollback_leaves_the_deployment_failed(
    sandbox: Sandbox, backend: tuple[str, str]
) -> None:
    rev1, rev2 = backend
    no_rollback = {**ROLLING, "deploymentCircuitBreaker": {"enable": True, "rollback": False}}
    sandbox.ecs.update_service(
        cluster=CLUSTER, service="backend", deploymentConfiguration=no_rollback
    )
    sandbox.scheduler.scenario = Scenario(failing_services={"backend"})
    sandbox.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=rev2)

    sandbox.clock.advance(30)
    service = sandbox.describe("backend")
    primary, active = service["deployments"]
    assert (primary["status"], primary["taskDefinition"]) == ("PRIMARY", rev2)
    assert (primary["rolloutState"], primary["failedTasks"]) == ("FAILED", 3)
    assert (active["taskDefinition"], active["runningCount"]) == (rev1, 2)
    assert "deployment failed: tasks failed to start." in service["events"][0]["message"]


def test_without_breaker_ecs_keeps_retrying(sandbox: Sandbox, backend: tuple[str, str]) -> None:
    sandbox.ecs.update_service(
        cluster=CLUSTER,
        service="backend",
        deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 200},
    )
    sandbox.scheduler.scenario = Scenario(failing_services={"backend"})
    sandbox.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=backend[1])

    sandbox.clock.advance(10 * STEP)
    primary = sandbox.describe("backend")["deployments"][0]
    assert (primary["rolloutState"], primary["failedTasks"]) == ("IN_PROGRESS", 10)

    sandbox.scheduler.scenario = Scenario()  # the fault goes away: the next attempts succeed
    final = sandbox.run_until_stable("backend")[-1]
    assert final["deployments"][0]["taskDefinition"] == backend[1]


def test_scaling_ramps_one_task_at_a_time_and_down_to_zero(
    sandbox: Sandbox, backend: tuple[str, str]
) -> None:
    updated = sandbox.ecs.update_service(cluster=CLUSTER, service="backend", desiredCount=4)[
        "service"
    ]
    assert (updated["desiredCount"], updated["runningCount"]) == (4, 2)  # moto would say 4
    assert len(updated["deployments"]) == 1

    sandbox.clock.advance(STEP)
    assert sandbox.describe("backend")["runningCount"] == 3
    sandbox.clock.advance(STEP)
    service = sandbox.describe("backend")
    assert service["runningCount"] == 4
    assert service["events"][0]["message"] == "(service backend) has reached a steady state."

    sandbox.ecs.update_service(cluster=CLUSTER, service="backend", desiredCount=0)
    sandbox.clock.advance(4 * STEP)
    service = sandbox.describe("backend")
    assert (service["runningCount"], service["deployments"][0]["runningCount"]) == (0, 0)
    assert sandbox.ecs.list_tasks(cluster=CLUSTER, serviceName="backend")["taskArns"] == []
    assert service["events"][0]["message"] == "(service backend) has reached a steady state."


def test_force_new_deployment_replaces_the_tasks(
    sandbox: Sandbox, backend: tuple[str, str]
) -> None:
    before = {t["taskArn"] for t in sandbox.running_tasks("backend")}
    updated = sandbox.ecs.update_service(
        cluster=CLUSTER, service="backend", forceNewDeployment=True
    )["service"]
    assert [d["status"] for d in updated["deployments"]] == ["PRIMARY", "ACTIVE"]
    sandbox.run_until_stable("backend")
    after = {t["taskArn"] for t in sandbox.running_tasks("backend")}
    assert len(after) == 2 and not after & before


def test_services_stable_waiter_passes_only_at_the_end(
    sandbox: Sandbox, backend: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=backend[1])
    waiter = sandbox.ecs.get_waiter("services_stable")

    sandbox.clock.advance(2 * STEP)  # mid-rollout
    with pytest.raises(WaiterError):
        waiter.wait(
            cluster=CLUSTER, services=["backend"], WaiterConfig={"Delay": 0, "MaxAttempts": 1}
        )

    # The waiter's sleep passes simulated time instead of real time.
    monkeypatch.setattr("botocore.waiter.time.sleep", sandbox.clock.advance)
    waiter.wait(cluster=CLUSTER, services=["backend"], WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    assert sandbox.describe("backend")["deployments"][0]["taskDefinition"] == backend[1]


def _run_migrate(sandbox: Sandbox, task_definition: str) -> str:
    task = sandbox.ecs.run_task(
        cluster=CLUSTER,
        taskDefinition=task_definition,
        launchType="FARGATE",
        networkConfiguration=sandbox.network,
        overrides={
            "containerOverrides": [
                {"name": "backend", "command": ["python", "manage.py", "migrate", "--noinput"]}
            ]
        },
    )["tasks"][0]
    assert task["lastStatus"] == "RUNNING"
    return str(task["taskArn"])


def _log_lines(sandbox: Sandbox, task_arn: str) -> list[str]:
    stream = f"ecs/backend/{task_arn.split('/')[-1]}"
    events = sandbox.logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream)["events"]
    return [e["message"] for e in events]


def test_one_off_migrate_fails_under_the_failing_migration_scenario(
    sandbox: Sandbox, backend: tuple[str, str]
) -> None:
    sandbox.scheduler.scenario = Scenario(name="failing-migration", failing_commands={"migrate": 1})
    arn = _run_migrate(sandbox, backend[1])

    sandbox.clock.advance(0.5)
    [task] = sandbox.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"]
    assert task["lastStatus"] == "RUNNING"  # moto alone would be STOPPING by now
    sandbox.clock.advance(0.6)
    for _ in range(3):  # describing again does not move a simulated task along
        [task] = sandbox.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"]
    assert (task["lastStatus"], task["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert task["containers"][0]["exitCode"] == 1
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["stoppedAt"] - task["startedAt"] == timedelta(seconds=1)
    lines = _log_lines(sandbox, arn)
    assert (
        lines[-1]
        == 'django.db.utils.ProgrammingError: relation "analytics_campaign" already exists'
    )
    assert arn not in sandbox.ecs.list_tasks(cluster=CLUSTER)["taskArns"]  # RUNNING only
    assert arn in sandbox.ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"]


def test_one_off_migrate_succeeds_otherwise(sandbox: Sandbox, backend: tuple[str, str]) -> None:
    arn = _run_migrate(sandbox, backend[1])
    sandbox.clock.advance(1.0)
    [task] = sandbox.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"]
    assert task["lastStatus"] == "STOPPED"
    assert task["containers"][0]["exitCode"] == 0
    lines = _log_lines(sandbox, arn)
    assert lines[0] == "Operations to perform:"
    assert lines[-1].endswith("... OK")


def test_settle_finishes_everything_in_flight(sandbox: Sandbox, backend: tuple[str, str]) -> None:
    sandbox.scheduler.scenario = Scenario(failing_services={"backend"})
    sandbox.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=backend[1])
    arn = _run_migrate(sandbox, backend[1])

    sandbox.scheduler.settle()  # seeding: "this release is already deployed"
    [deployment] = sandbox.describe("backend")["deployments"]
    assert (deployment["taskDefinition"], deployment["rolloutState"]) == (backend[1], "COMPLETED")
    [task] = sandbox.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"]
    assert task["lastStatus"] == "STOPPED"


def test_list_tasks_filters_by_service(sandbox: Sandbox, backend: tuple[str, str]) -> None:
    worker = sandbox.register("worker", "adinsights/backend:1", ["celery", "worker"])
    sandbox.create("worker", worker, 1, ROLLING)
    arn = _run_migrate(sandbox, backend[0])

    worker_tasks = sandbox.ecs.list_tasks(cluster=CLUSTER, serviceName="worker")["taskArns"]
    backend_tasks = sandbox.ecs.list_tasks(cluster=CLUSTER, serviceName="backend")["taskArns"]
    assert (len(worker_tasks), len(backend_tasks)) == (1, 2)
    assert arn not in worker_tasks + backend_tasks
    assert arn in sandbox.ecs.list_tasks(cluster=CLUSTER)["taskArns"]


def test_output_for_known_and_unknown_commands() -> None:
    assert output_for(["python", "manage.py", "seed_roles"], 0)[-1].startswith("Seeded")
    assert "CommandError" in output_for(["python", "manage.py", "enable_rls"], 2)[-1]
    assert output_for(["celery", "call", "sync_meta_metrics"], 0) == [
        "running celery call sync_meta_metrics",
        "done",
    ]


def test_tick_reinstalls_after_moto_resets(sandbox: Sandbox) -> None:
    ecs_backends[ACCOUNT][REGION].reset()  # as POST /moto-api/reset does; the wrappers are gone
    sandbox.ecs.create_cluster(clusterName=CLUSTER)
    rev1 = sandbox.register("frontend", "adinsights/frontend:1", ["nginx"])
    sandbox.ecs.create_service(
        cluster=CLUSTER,
        serviceName="frontend",
        taskDefinition=rev1,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=sandbox.network,
    )
    sandbox.clock.advance(STEP)
    service = sandbox.describe("frontend")
    assert (service["runningCount"], service["deployments"][0]["rolloutState"]) == (1, "COMPLETED")


def test_timings_can_differ_per_service(sandbox: Sandbox, backend: tuple[str, str]) -> None:
    sandbox.scheduler.timings = SchedulerTimings(per_service_task_seconds={"backend": 2.0})
    sandbox.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=backend[1])
    sandbox.clock.advance(1.9)
    assert sandbox.describe("backend")["deployments"][0]["runningCount"] == 0
    sandbox.clock.advance(0.1)
    assert sandbox.describe("backend")["deployments"][0]["runningCount"] == 1


class _WaitClock:
    """The waiting primitives' clock on the test's fake time: sleeping advances it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.clock.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)


def test_the_sandbox_paces_its_timings_to_its_polling() -> None:
    env = config.load("sandbox", ENVIRONMENTS)
    timings = SchedulerTimings.for_environment(env)
    assert env.ecs.poll_first is not None
    for backoff in (ecs.TASK_POLL, ecs.DEFAULT_POLL):  # one-off tasks, rollouts
        shortest_first_pause = env.ecs.polling(backoff).initial * (1 - backoff.jitter)
        assert 0 < timings.oneoff_seconds < shortest_first_pause
        assert 0 < timings.task_seconds < shortest_first_pause
    no_polling = attrs.evolve(env, ecs=attrs.evolve(env.ecs, poll_first=None))
    assert SchedulerTimings.for_environment(no_polling) == SchedulerTimings()


@pytest.mark.parametrize("pause", ["shortest", "longest"])
def test_a_paced_one_off_is_seen_done_at_the_first_look_after_it_starts(
    sandbox: Sandbox, backend: tuple[str, str], monkeypatch: pytest.MonkeyPatch, pause: str
) -> None:
    first = 0.1
    sandbox.scheduler.timings = SchedulerTimings.for_polling(first)
    # the waiting primitive's jitter, drawn at its lowest or highest
    monkeypatch.setattr(random.Random, "uniform", lambda _, a, b: a if pause == "shortest" else b)
    clock = _WaitClock(sandbox.clock)
    seen: list[str] = []

    result = ecs.run_task(
        sandbox.ecs,
        cluster=CLUSTER,
        task_definition=backend[1],
        command=["python", "manage.py", "migrate", "--noinput"],
        network=sandbox.network,
        container="backend",
        clock=clock,
        backoff=attrs.evolve(ecs.TASK_POLL, initial=first, maximum=4 * first),
        on_event=lambda e: seen.append(e.rollout_state) if isinstance(e, ecs.Progress) else None,
    )

    assert result.exit_code == 0
    assert seen == ["RUNNING", "STOPPED"]  # what a slower pace shows too, minus repeats
    assert len(clock.slept) == 1


def test_a_paced_rollout_shows_every_step_at_the_pollers_shortest_pace(
    sandbox: Sandbox, backend: tuple[str, str]
) -> None:
    first = 0.1
    sandbox.scheduler.timings = SchedulerTimings.for_polling(first)
    sandbox.ecs.update_service(cluster=CLUSTER, service="backend", taskDefinition=backend[1])
    seen = []
    for _ in range(4):
        sandbox.clock.advance(first * (1 - ecs.DEFAULT_POLL.jitter))
        seen.append(sandbox.describe("backend"))

    # the states and events of the default pace (test_rollout_replaces_tasks_one_at_a_time...)
    assert [s["runningCount"] for s in seen] == [3, 4, 3, 2]
    assert [s["deployments"][0]["runningCount"] for s in seen] == [1, 2, 2, 2]
    assert seen[-1]["deployments"][0]["rolloutState"] == "COMPLETED"
    messages = [e["message"] for e in seen[-1]["events"]]
    assert messages[0] == "(service backend) has reached a steady state."
