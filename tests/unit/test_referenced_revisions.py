"""A revision still referenced is never pruned, and go-live fails a schedule whose revision is gone.

Measured before: `ecs.prune` deregistered the revision the daily dbt schedule runs, and `golive`
still passed that item (a deregistered revision still describes, as INACTIVE).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from adinsights_ops import ecs, golive
from adinsights_ops.aws import is_mutating
from adinsights_ops.errors import UsageError
from adinsights_ops.golive import _schedules as gs
from adinsights_ops.sandbox.blueprint_observability import seed_observability
from tests.simulated import Simulated

KEYS = ("family", "networkMode", "containerDefinitions", "requiresCompatibilities", "cpu", "memory")


@pytest.fixture
def seeded(sim: Simulated) -> Simulated:
    """The sandbox with its schedules and rules (the observability seeding)."""
    seed_observability(sim.seeding_client, sim.env)
    return sim


def register_more(sim: Simulated, count: int) -> list[str]:
    """`count` new revisions of the one-off (backend) family, oldest first."""
    client = sim.client("ecs")
    running = sim.primary_task_definitions()[sim.env.ecs.services["backend"].name]
    td = client.describe_task_definition(taskDefinition=running)["taskDefinition"]
    return [
        client.register_task_definition(**{k: td[k] for k in KEYS})["taskDefinition"][
            "taskDefinitionArn"
        ]
        for _ in range(count)
    ]


def point_dbt_schedule_at(sim: Simulated, arn: str) -> None:
    scheduler = sim.client("scheduler")
    name = golive.dbt_schedule(sim.env.name)
    found = scheduler.get_schedule(Name=name)
    target = dict(found["Target"])
    target["EcsParameters"] = {**target["EcsParameters"], "TaskDefinitionArn": arn}
    scheduler.update_schedule(
        Name=name,
        ScheduleExpression=found["ScheduleExpression"],
        ScheduleExpressionTimezone=found.get("ScheduleExpressionTimezone", "UTC"),
        FlexibleTimeWindow=found["FlexibleTimeWindow"],
        State=found.get("State", "ENABLED"),
        Target=target,
    )


def add_rule_running(sim: Simulated, arn: str, name: str = "adinsights-sandbox-nightly") -> None:
    events = sim.client("events")
    cluster = sim.client("ecs").describe_clusters(clusters=[sim.env.ecs.cluster])["clusters"][0]
    events.put_rule(Name=name, ScheduleExpression="cron(0 2 * * ? *)", State="ENABLED")
    events.put_targets(
        Rule=name,
        Targets=[
            {
                "Id": "nightly",
                "Arn": cluster["clusterArn"],
                "RoleArn": f"arn:aws:iam::{sim.env.account}:role/events",
                "EcsParameters": {"TaskDefinitionArn": arn, "TaskCount": 1},
            }
        ],
    )


def journal_a_deploy(sim: Simulated, previous: str, deployed: str) -> str:
    journal = sim.ops.journal()
    record = journal.start("deploy", image_tag="v1.3.0")
    backend = sim.env.ecs.services["backend"].name
    record.previous_revisions = {backend: previous}
    record.deployed_revisions = {backend: deployed}
    journal.finish(record, "succeeded")
    return record.run_id


def status_of(sim: Simulated, arn: str) -> str:
    return str(
        sim.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]["status"]
    )


def test_prune_keeps_every_revision_still_referenced(seeded: Simulated) -> None:
    sim = seeded
    running = sim.primary_task_definitions()[sim.env.ecs.services["backend"].name]
    on_schedule, on_rule, rollback_target, unused, newest = register_more(sim, 5)
    point_dbt_schedule_at(sim, on_schedule)
    add_rule_running(sim, on_rule)
    run_id = journal_a_deploy(sim, previous=rollback_target, deployed=running)

    dry = ecs.prune(sim.ops, keep=1, dry_run=True)
    assert unused in dry.deregistered and status_of(sim, unused) == "ACTIVE"

    result = ecs.prune(sim.ops, keep=1)
    backend_family = [a for a in result.deregistered if "adinsights-sandbox-backend:" in a]
    assert backend_family == [unused]
    assert newest in result.kept
    assert {running, on_schedule, on_rule, rollback_target} <= set(result.protected)
    why = result.why
    short = ecs.short_arn
    assert why[short(on_schedule)] == f"schedule {golive.dbt_schedule('sandbox')} runs it"
    assert why[short(on_rule)] == "rule adinsights-sandbox-nightly runs it"
    assert why[short(rollback_target)] == f"the rollback target (before deploy {run_id})"
    for arn in (running, on_schedule, on_rule, rollback_target, newest):
        assert status_of(sim, arn) == "ACTIVE"
    assert status_of(sim, unused) == "INACTIVE"


def test_prune_low_level_protects_schedule_targets_when_given_the_clients(
    seeded: Simulated,
) -> None:
    sim = seeded
    on_schedule, _, _ = register_more(sim, 3)
    point_dbt_schedule_at(sim, on_schedule)
    result = ecs.prune_task_definitions(
        sim.client("ecs"),
        cluster=sim.env.ecs.cluster,
        families=[sim.env.ecs.one_off_family],
        services=sim.service_names(),
        keep=1,
        scheduler=sim.client("scheduler"),
        events=sim.client("events"),
    )
    assert on_schedule in result.protected
    assert status_of(sim, on_schedule) == "ACTIVE"


@pytest.mark.parametrize("keep", [0, -1, True, "x", 1.5])
def test_prune_refuses_a_bad_keep_before_any_call(sim: Simulated, keep: Any) -> None:
    sim.calls.clear()
    with pytest.raises(UsageError, match="--keep must be a whole number of at least 1"):
        ecs.prune(sim.ops, keep=keep)
    assert sum(sim.calls.values()) == 0


def test_golive_fails_a_schedule_whose_revision_was_deregistered(seeded: Simulated) -> None:
    sim = seeded
    settings = golive.GoLiveSettings(timezone="America/Jamaica")
    schedule = sim.client("scheduler").get_schedule(Name=golive.dbt_schedule("sandbox"))
    target = schedule["Target"]["EcsParameters"]["TaskDefinitionArn"]
    build = gs.dbt_schedule_items(sim.ops, settings)[0]
    assert build.status == "pass", build

    [fresh] = register_more(sim, 1)  # so the family still has an ACTIVE revision
    sim.client("ecs").deregister_task_definition(taskDefinition=target)
    build = gs.dbt_schedule_items(sim.ops, settings)[0]
    assert build.status == "fail"
    assert f"{ecs.short_arn(target)} is INACTIVE" in build.evidence + build.detail
    assert fresh  # the newest revision is not what the schedule runs: only its own counts


def test_golive_fails_any_rule_whose_ecs_target_is_inactive(seeded: Simulated) -> None:
    sim = seeded
    settings = golive.GoLiveSettings(timezone="America/Jamaica")
    old, _ = register_more(sim, 2)
    add_rule_running(sim, old)
    assert gs.dbt_schedule_items(sim.ops, settings)[0].status == "pass"
    sim.client("ecs").deregister_task_definition(taskDefinition=old)
    sim.calls.clear()
    build = gs.dbt_schedule_items(sim.ops, settings)[0]
    assert build.status == "fail"
    expected = f"rule adinsights-sandbox-nightly: task definition {ecs.short_arn(old)} is INACTIVE"
    assert expected in build.evidence + build.detail
    assert not [op for op in sim.calls if is_mutating(op)]  # go-live only reads


def test_scheduled_task_definitions_reads_schedules_and_rules(seeded: Simulated) -> None:
    sim = seeded
    [rev] = register_more(sim, 1)
    add_rule_running(sim, rev)
    found = ecs.scheduled_task_definitions(sim.client("scheduler"), sim.client("events"))
    assert found[ecs.short_arn(rev)] == "rule adinsights-sandbox-nightly"
    dbt = golive.dbt_schedule("sandbox")
    assert f"schedule {dbt}" in found.values()
    assert json.dumps(found)  # plain data
