"""Post-deploy checks (runbook §7) against the seeded sandbox under mock_aws.

`world` is the seeded blueprint plus its observability seeding, the simulated ADinsights app and the
simulated Airbyte API on real HTTP servers, and an OpsEnv pointed at them. Each check has a case
that passes on the seeded state and cases that fail on a state a test makes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import boto3
import pytest
from botocore.stub import Stubber

from adinsights_ops import postdeploy
from adinsights_ops.errors import EXIT_USAGE, UsageError
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.postdeploy import _metrics as pm
from adinsights_ops.sandbox.airbyte_sim import AirbyteSimulator
from adinsights_ops.sandbox.app_sim import AppSimulator
from adinsights_ops.sandbox.blueprint_observability import load_balancer, seed_observability
from tests.simulated import Simulated
from tests.unit.test_health import serve

META = "9f1b8a52-2c1e-4f5e-9a51-6d2d7f0c1a01"
GOOGLE = "3c7e0d44-8b2a-4b8e-bc61-0e5a4f9d2b02"


@attrs.define
class World:
    sim: Simulated
    ops: OpsEnv
    airbyte: AirbyteSimulator
    app: AppSimulator
    now: datetime

    def client(self, service: str) -> Any:
        return self.sim.client(service)

    def deployed(self, minutes_ago: float, outcome: str = "succeeded") -> str:
        """A deploy run in the journal that ended `minutes_ago` minutes ago; its run id."""
        journal = self.ops.journal()
        record = journal.start("deploy", image_tag="release-1.3.0")
        journal.finish(record, outcome)
        record.finished = (self.now - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
        journal.save(record)
        return record.run_id


@contextmanager
def open_world(sim: Simulated, *, seeded: bool = True) -> Iterator[World]:
    """The blueprint with the app and Airbyte simulators served over HTTP; observability seeded."""
    app = AppSimulator(sim.env)
    airbyte = AirbyteSimulator.for_environment(
        sim.env, clock=sim.clock.monotonic, pending_seconds=1, job_seconds=10
    )
    with serve(app) as app_url, serve(airbyte) as airbyte_url:
        ops = attrs.evolve(sim.ops, health_base_url=app_url, airbyte_url=airbyte_url)
        made = World(sim, ops, airbyte, app, datetime.now(UTC))
        if seeded:
            seed_observability(sim.seeding_client, sim.env, airbyte=airbyte, now=made.now)
        yield made


@pytest.fixture
def bare(sim: Simulated) -> Iterator[World]:
    """Without the observability seeding."""
    with open_world(sim, seeded=False) as made:
        yield made


@pytest.fixture
def world(sim: Simulated) -> Iterator[World]:
    with open_world(sim) as made:
        yield made


def by_name(report: Any) -> dict[str, Any]:
    return {item.name: item for item in report.items}


# -- window ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("1h", 3600), ("90s", 90), ("1h30m", 5400), ("24h", 86400)]
)
def test_windows_are_durations(text: str, seconds: float) -> None:
    assert postdeploy.parse_window(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "thirty minutes", "5x", "1h 30", "30s", "2d", "-5m"])
def test_an_unknown_window_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        postdeploy.parse_window(text)
    assert caught.value.exit_code == EXIT_USAGE
    assert "\n" not in str(caught.value)


# -- the deploy the checks are about -----------------------------------------------------------


def test_the_newest_succeeded_deploy_is_the_one_checked(world: World) -> None:
    assert postdeploy.last_deploy(world.ops.journal()) is None
    first = world.deployed(90)
    world.deployed(30, outcome="rolled-back")
    found = postdeploy.last_deploy(world.ops.journal())
    assert found is not None
    assert found.run_id == first
    assert abs((world.now - found.finished).total_seconds() - 90 * 60) < 2


# -- metrics -----------------------------------------------------------------------------------


def test_metrics_pass_on_a_steady_state(world: World) -> None:
    world.deployed(40)
    report = postdeploy.check_metrics(world.ops, now=world.now)
    items = by_name(report)
    assert [i.status for i in report.items] == ["pass", "pass", "pass"]
    assert (
        load_balancer(world.sim.env, world.client("elbv2")) in items["metrics: 5xx errors"].evidence
    )
    latency = items["metrics: p95 latency"]
    assert "computed here from 30 one-minute samples" in latency.evidence
    assert "deploy " in latency.detail and "finished" in latency.detail
    assert "sync 6 (before 6)" in items["metrics: celery queue depth"].evidence


def put(world: World, metric: str, dims: list[dict[str, str]], at: datetime, value: float,
        namespace: str = pm.ALB) -> None:  # fmt: skip
    world.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[{"MetricName": metric, "Dimensions": dims, "Timestamp": at, "Value": value}],
    )


def test_metrics_fail_on_a_5xx_spike_a_slowdown_and_a_backlog_after_the_deploy(
    world: World,
) -> None:
    world.deployed(40)
    lb = [{"Name": "LoadBalancer", "Value": load_balancer(world.sim.env, world.client("elbv2"))}]
    after = world.now.replace(second=30, microsecond=0) - timedelta(minutes=30)
    put(world, pm.ERRORS_5XX[1], lb, after, 40)
    for minute in range(12):
        put(world, pm.LATENCY, lb, after + timedelta(minutes=minute), 2.5)
    queue = [{"Name": "Environment", "Value": "sandbox"}, {"Name": "Queue", "Value": "sync"}]
    put(world, "QueueDepth", queue, after, 450, namespace="ADinsights/Celery")
    items = by_name(postdeploy.check_metrics(world.ops, now=world.now))
    assert items["metrics: 5xx errors"].status == "fail"
    assert items["metrics: 5xx errors"].evidence.startswith(
        "spike: ALB 5xx 42 in the 30m after vs 1 before"
    )
    assert items["metrics: p95 latency"].status == "fail"
    assert "approximate" in items["metrics: p95 latency"].evidence
    assert items["metrics: celery queue depth"].status == "fail"
    assert items["metrics: celery queue depth"].evidence.startswith("backlog in sync")


def test_before_the_deploy_does_not_count_as_after(world: World) -> None:
    world.deployed(40)
    lb = [{"Name": "LoadBalancer", "Value": load_balancer(world.sim.env, world.client("elbv2"))}]
    before = world.now.replace(second=30, microsecond=0) - timedelta(minutes=55)
    put(world, pm.ERRORS_5XX[1], lb, before, 40)
    item = by_name(postdeploy.check_metrics(world.ops, now=world.now))["metrics: 5xx errors"]
    assert item.status == "pass"
    assert "ALB 5xx 2 in the 30m after vs 41 before" in item.evidence


def test_metrics_fail_without_a_load_balancer_or_queue_metrics(bare: World) -> None:
    report = postdeploy.check_metrics(bare.ops, now=bare.now)
    assert [i.status for i in report.items] == ["fail", "fail", "fail"]
    assert "no AWS/ApplicationELB TargetResponseTime metrics" in report.items[0].evidence
    assert "no succeeded deploy in the journal" in report.items[0].detail
    assert "is the worker publishing them?" in report.items[2].evidence


def test_an_open_window_says_how_much_of_it_was_observed(world: World) -> None:
    world.deployed(10)
    item = postdeploy.check_metrics(world.ops, now=world.now).items[0]
    assert "window still open: 10m of 30m observed" in item.detail


def test_cloudwatchs_own_p95_is_used_when_it_gives_one() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    before, after = pm.windows(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC), 1800)
    assert before.end == after.start
    assert (after.start, after.end) == (
        datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 1, 1, 12, 30, tzinfo=UTC),
    )
    with Stubber(cloudwatch) as stub:
        point = {"Timestamp": after.start, "ExtendedStatistics": {"p95": 0.42}}
        stub.add_response("get_metric_statistics", {"Datapoints": [point]})
        reading = pm.p95(
            cloudwatch, namespace=pm.ALB, metric=pm.LATENCY, dimensions=[], window=after
        )
        stub.assert_no_pending_responses()
    assert reading == pm.Reading(0.42, 1, computed_here=False)


# -- Airbyte -----------------------------------------------------------------------------------


def test_airbyte_passes_with_a_recent_succeeded_sync(world: World) -> None:
    report = postdeploy.check_airbyte(world.ops)
    assert [(i.name, i.status) for i in report.items] == [
        ("airbyte: meta_ads", "pass"),
        ("airbyte: google_ads", "pass"),
    ]
    assert "(20m ago; limit 1h30m)" in report.items[0].evidence


def test_airbyte_fails_when_the_last_success_is_too_old_or_missing(bare: World) -> None:
    bare.airbyte.seed_history(META, 3 * 3600)
    bare.airbyte.seed_history(META, 600, fail=True)
    report = postdeploy.check_airbyte(bare.ops)
    meta, google = report.items
    assert meta.status == "fail" and meta.evidence.startswith("stale: sync job")
    assert "is failed" in meta.detail
    assert google.status == "fail"
    assert "no succeeded sync" in google.evidence


def test_airbyte_unreachable_is_a_failed_item_not_a_crash(world: World) -> None:
    world.airbyte.fail_requests(50, status=400)
    report = postdeploy.check_airbyte(world.ops)
    assert all(i.status == "fail" for i in report.items)
    assert "did not answer" in report.items[0].evidence


# -- dbt ---------------------------------------------------------------------------------------


def run_results(generated_at: datetime, *statuses: str) -> bytes:
    return json.dumps(
        {
            "metadata": {
                "generated_at": generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "invocation_id": "inv-1",
            },
            "results": [
                {"unique_id": f"model.adinsights.m{i}", "status": s} for i, s in enumerate(statuses)
            ],
        }
    ).encode()


def local_run_results() -> Path:
    from adinsights_ops.sandbox import home

    return home() / "dbt" / "sandbox" / "target" / "run_results.json"


def test_dbt_reads_the_bucket_first(world: World) -> None:
    world.client("s3").put_object(
        Bucket="adinsights-sandbox-dbt-artifacts",
        Key="dbt/run_results.json",
        Body=run_results(world.now - timedelta(hours=3), "success", "pass"),
    )
    [item] = postdeploy.check_dbt(world.ops, now=world.now).items
    assert item.status == "pass"
    assert "s3://adinsights-sandbox-dbt-artifacts/dbt/run_results.json" in item.evidence
    assert "2 nodes" in item.evidence


def test_dbt_falls_back_to_the_local_target_folder_and_says_so(world: World) -> None:
    path = local_run_results()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(run_results(world.now - timedelta(hours=1), "success", "error"))
    [item] = postdeploy.check_dbt(world.ops, now=world.now).items
    assert item.status == "fail"
    assert "1 of 2 nodes failed" in item.evidence
    assert str(path) in item.evidence
    assert item.detail.startswith("read the local target folder: s3://")
    assert item.detail.endswith("; model m1: error")


def test_dbt_fails_when_stale_or_missing(world: World) -> None:
    [missing] = postdeploy.check_dbt(world.ops, now=world.now).items
    assert missing.status == "fail" and "no run_results.json" in missing.evidence
    world.client("s3").put_object(
        Bucket="adinsights-sandbox-dbt-artifacts",
        Key="dbt/run_results.json",
        Body=run_results(world.now - timedelta(hours=30), "success"),
    )
    [stale] = postdeploy.check_dbt(world.ops, now=world.now).items
    assert stale.status == "fail" and "stale: built 30h ago" in stale.evidence


def test_a_damaged_run_results_is_a_failed_item(world: World) -> None:
    world.client("s3").put_object(
        Bucket="adinsights-sandbox-dbt-artifacts", Key="dbt/run_results.json", Body=b"{not json"
    )
    [item] = postdeploy.check_dbt(world.ops, now=world.now).items
    assert item.status == "fail" and "invalid JSON" in item.evidence


# -- activity log ------------------------------------------------------------------------------


def test_the_activity_log_must_name_the_release(world: World) -> None:
    from adinsights_ops.notify import append_activity_log

    [no_deploy] = postdeploy.check_activity_log(world.ops).items
    assert no_deploy.status == "fail" and "no succeeded deploy" in no_deploy.evidence
    run_id = world.deployed(5)
    [missing] = postdeploy.check_activity_log(world.ops).items
    assert missing.status == "fail" and "does not exist" in missing.evidence
    target = world.sim.env.path(world.sim.env.notifications.activity_log or "")
    append_activity_log(target, line="an older release", run_id="20200101T000000Z-0000")
    [other] = postdeploy.check_activity_log(world.ops).items
    assert other.status == "fail" and f"names run {run_id}" in other.evidence
    append_activity_log(target, line="ADinsights v1.3.0 deployed to sandbox", run_id=run_id)
    [found] = postdeploy.check_activity_log(world.ops).items
    assert found.status == "pass" and run_id in found.evidence


# -- all of them -------------------------------------------------------------------------------


def test_post_deploy_runs_every_check_in_one_report(world: World) -> None:
    world.deployed(40)
    report = postdeploy.post_deploy(world.ops, window=1800, now=world.now)
    assert [i.name for i in report.items] == [
        "metrics: 5xx errors",
        "metrics: p95 latency",
        "metrics: celery queue depth",
        "airbyte: meta_ads",
        "airbyte: google_ads",
        "dbt: run results",
        "audit: credential activity",
        "audit: leaked secrets",
        "activity log",
    ]
    statuses = {i.name: i.status for i in report.items}
    assert statuses["audit: credential activity"] == "not available"
    assert statuses["dbt: run results"] == "fail"  # nothing was built in this world
    assert statuses["activity log"] == "fail"  # nor announced
    assert not report.ok
    assert report.counts() == {"pass": 6, "fail": 2, "not available": 1}


def test_seeding_twice_changes_nothing(world: World) -> None:
    cloudwatch = world.client("cloudwatch")
    alarms = cloudwatch.describe_alarms()["MetricAlarms"]
    schedules = world.client("scheduler").list_schedules()["Schedules"]
    jobs = world.airbyte.jobs()
    start, end = world.now - timedelta(hours=4), world.now + timedelta(hours=4)
    points = cloudwatch.get_metric_statistics(
        Namespace=pm.ALB,
        MetricName=pm.LATENCY,
        Dimensions=[
            {"Name": "LoadBalancer", "Value": load_balancer(world.sim.env, world.client("elbv2"))}
        ],
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["SampleCount"],
    )["Datapoints"]
    seed_observability(
        world.sim.seeding_client, world.sim.env, airbyte=world.airbyte, now=world.now
    )
    again = cloudwatch.get_metric_statistics(
        Namespace=pm.ALB,
        MetricName=pm.LATENCY,
        Dimensions=[
            {"Name": "LoadBalancer", "Value": load_balancer(world.sim.env, world.client("elbv2"))}
        ],
        StartTime=start,
        EndTime=end,
        Period=60,
        Statistics=["SampleCount"],
    )["Datapoints"]
    assert len(points) == 361
    assert sum(p["SampleCount"] for p in again) == sum(p["SampleCount"] for p in points)
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == len(alarms) == 7
    assert len(world.client("scheduler").list_schedules()["Schedules"]) == len(schedules) == 2
    assert len(world.airbyte.jobs()) == len(jobs) == 4


@pytest.mark.parametrize(
    ("dimension", "matches"),
    [
        ("app/adinsights-sandbox/4f3c", True),
        ("app/adinsights-sandbox-alb/4f3c", True),
        ("app/adinsights-sandbox2/4f3c", False),
        ("app/adinsights-staging-alb/4f3c", False),
        ("app/adinsights-sandbox-alb/4f3c/targetgroup", False),
    ],
)
def test_which_load_balancer_is_the_environments(dimension: str, matches: bool) -> None:
    assert pm.names_environment(dimension, "sandbox") is matches


def test_the_blueprints_own_load_balancer_is_seeded_and_found(bare: World) -> None:
    elbv2 = bare.client("elbv2")
    # The blueprint creates the environment's ALB (blueprint_extras); the seeding must use its
    # real LoadBalancer dimension, and the checks must find it.
    (balancer,) = elbv2.describe_load_balancers(Names=["adinsights-sandbox-alb"])["LoadBalancers"]
    arn = balancer["LoadBalancerArn"]
    dimension = arn.split(":loadbalancer/", 1)[1]
    assert dimension.startswith("app/adinsights-sandbox-alb/")
    seed_observability(bare.sim.seeding_client, bare.sim.env, now=bare.now)
    items = by_name(postdeploy.check_metrics(bare.ops, now=bare.now))
    assert items["metrics: p95 latency"].status == "pass"
    assert f"({dimension}; fails above" in items["metrics: 5xx errors"].evidence
