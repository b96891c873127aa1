"""The command line end to end, against a shared sandbox (`inv sandbox.up`) in another process.

Commands run in this process (`run_inprocess`) unless the real `inv` process is the point: a deploy
and its rollback, a failed rollout's exit 1 and a refusal's exit 2 go through it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli import (
    ROOT,
    Result,
    SandboxProcess,
    base_env,
    inv,
    production_environments,
    run_inprocess,
)
from tests.simulated import fast_environments

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(tmp_path_factory.mktemp("home"))
    yield process
    process.stop()


def images(sandbox: SandboxProcess) -> dict[str, str]:
    result = run_inprocess("ecs.status", "--env", "sandbox", "--json", env=sandbox.env)
    assert result.code == 0, result.output
    return {row["service"]: row["image_tag"] for row in json.loads(result.stdout)}


def revisions(sandbox: SandboxProcess) -> dict[str, str]:
    result = run_inprocess("ecs.status", "--env", "sandbox", "--json", env=sandbox.env)
    return {row["service"]: row["task_definition"] for row in json.loads(result.stdout)}


def assert_one_line_usage_error(result: Result) -> None:
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") or "needs" in lines[0]


def test_deploy_then_rollback(sandbox: SandboxProcess) -> None:
    assert set(images(sandbox).values()) == {"release-1.2.0"}
    deployed = inv("deploy", "--env", "sandbox", env=sandbox.env)
    assert deployed.code == 0, deployed.output
    assert set(images(sandbox).values()) == {"release-1.3.0"}
    assert "succeeded" in deployed.stdout
    for step in ("preflight", "register", "rollout"):
        assert re.search(rf"{step}\s+done\s+\d+\.\d+s", deployed.stdout), deployed.stdout
    assert "has reached a steady state" in deployed.stderr

    rolled = inv("rollback", "--env", "sandbox", env=sandbox.env)
    assert rolled.code == 0, rolled.output
    assert set(images(sandbox).values()) == {"release-1.2.0"}


def test_failing_rollout_exits_1_with_every_service_back(sandbox: SandboxProcess) -> None:
    # Without the validation sync and dbt build (the deploy above ran them through the process):
    # this deploy's point is the rollback and its exit code.
    fast = {**sandbox.env, "ADINSIGHTS_ENVIRONMENTS": str(fast_environments(sandbox.home))}
    before = revisions(sandbox)
    result = inv(
        "deploy",
        "--env",
        "sandbox",
        "--image-tag",
        "main-a1b2c3d",
        "--scenario",
        "failing-rollout",
        "--json",
        env=fast,
    )
    assert result.code == 1, result.output
    report = json.loads(result.stdout)
    assert report["outcome"] == "rolled-back"
    assert revisions(sandbox) == before
    states = {o["service"]: o["state"] for o in report["rollout"]["outcomes"]}
    assert set(states.values()) == {"rolled-back"}
    assert sandbox.control()["scenario"] == "none"  # the scenario held for that command only


def test_failing_migration_prints_the_log_tail(sandbox: SandboxProcess) -> None:
    result = run_inprocess(
        "ecs.run",
        "--env",
        "sandbox",
        "--command",
        "python manage.py migrate",
        "--scenario",
        "failing-migration",
        env=sandbox.env,
    )
    assert result.code == 1, result.output
    assert "exit code 1" in result.output
    assert "Traceback" in result.stdout  # the task's own log, printed as its tail
    assert "| " in result.stdout


def test_one_off_command_succeeds(sandbox: SandboxProcess) -> None:
    result = run_inprocess(
        "ecs.run",
        "--env",
        "sandbox",
        "--command",
        "python manage.py seed_roles",
        "--json",
        env=sandbox.env,
    )
    assert result.code == 0, result.output
    assert json.loads(result.stdout)["exit_code"] == 0


@pytest.fixture(scope="module")
def production_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The production template filled in, so only the command's own checks can refuse."""
    path = tmp_path_factory.mktemp("envs") / "environments.yaml"
    return production_environments(path, state_bucket="adinsights-prod-ops-state")


THROUGH_THE_PROCESS = ("deploy", "--env", "production")  # one refusal's exit 2 as the shell sees it


@pytest.mark.parametrize(
    "args",
    [
        ("deploy", "--env", "nowhere"),
        ("deploy", "--env", "sandbox", "--image-tag", "latest"),
        ("deploy", "--env", "sandbox", "--image-tag", "v1.3"),
        ("deploy", "--env", "sandbox", "--scenario", "meteor-strike"),
        ("deploy", "--env", "production"),
        ("deploy", "--env", "production", "--image-tag", "1.4.0"),
        ("deploy", "--env", "production", "--image-tag", "main-a1b2c3d"),
        ("deploy", "--env", "production", "--image-tag", "v1.4.0"),  # no --yes, not interactive
        ("rollback", "--env", "production"),
        ("ecs.run", "--env", "sandbox", "--command", ""),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    sandbox: SandboxProcess, production_file: Path, args: tuple[str, ...]
) -> None:
    # Any AWS call the command made would reach the sandbox and be counted there.
    env = base_env(
        sandbox.home,
        ADINSIGHTS_ENVIRONMENTS=str(production_file),
        AWS_ENDPOINT_URL=sandbox.endpoint,
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="y",
    )
    sandbox.forget_calls()
    run = inv if args == THROUGH_THE_PROCESS else run_inprocess
    result = run(*args, env=env)
    assert_one_line_usage_error(result)
    assert "placeholder" not in result.stderr  # refused by the command's own checks, not the file
    assert sandbox.mutating_calls() == []


def test_make_deploy_prod_without_image_tag_refuses() -> None:
    import subprocess

    done = subprocess.run(
        ["make", "-s", "deploy-prod"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "IMAGE_TAG" in done.stderr


def test_dry_run_changes_nothing(sandbox: SandboxProcess) -> None:
    sandbox.forget_calls()
    result = run_inprocess(
        "deploy", "--env", "sandbox", "--image-tag", "v1.3.0", "--dry-run", env=sandbox.env
    )
    assert result.code == 0, result.output
    assert "containerDefinitions[backend].image" in result.stdout
    assert "release-1.3.0" in result.stdout
    assert sandbox.mutating_calls() == []


def test_env_list_and_show(sandbox: SandboxProcess) -> None:
    listed = run_inprocess("env.list", env=sandbox.env)
    assert listed.code == 0
    assert re.search(r"^sandbox\s+ready", listed.stdout, re.M)
    assert re.search(r"^production\s+not ready", listed.stdout, re.M)
    shown = run_inprocess("env.show", "--env", "sandbox", "--json", env=sandbox.env)
    assert json.loads(shown.stdout)["ecs"]["cluster"] == "adinsights-sandbox"


def test_a_tool_that_only_speaks_boto3_sees_a_real_deployment(sandbox: SandboxProcess) -> None:
    """Fidelity: register + update_service + boto3's own services_stable waiter, as on AWS."""
    import boto3

    session = boto3.Session(
        aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1"
    )
    ecs = session.client("ecs", endpoint_url=sandbox.endpoint)
    cluster, service = "adinsights-sandbox", "frontend-service"
    current = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    td = ecs.describe_task_definition(taskDefinition=current["taskDefinition"])["taskDefinition"]
    keys = (
        "family",
        "networkMode",
        "containerDefinitions",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "executionRoleArn",
        "taskRoleArn",
    )
    copied: dict[str, Any] = {k: v for k, v in td.items() if k in keys}
    new = ecs.register_task_definition(**copied)["taskDefinition"]
    updated = ecs.update_service(
        cluster=cluster, service=service, taskDefinition=new["taskDefinitionArn"]
    )["service"]
    statuses = {d["status"]: d["taskDefinition"] for d in updated["deployments"]}
    assert statuses == {"PRIMARY": new["taskDefinitionArn"], "ACTIVE": current["taskDefinition"]}
    primary = next(d for d in updated["deployments"] if d["status"] == "PRIMARY")
    assert primary["rolloutState"] == "IN_PROGRESS"

    ecs.get_waiter("services_stable").wait(
        cluster=cluster, services=[service], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    settled = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    (deployment,) = settled["deployments"]
    assert deployment["taskDefinition"] == new["taskDefinitionArn"]
    assert deployment["rolloutState"] == "COMPLETED"
    assert settled["runningCount"] == settled["desiredCount"] > 0
    running = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=running)["tasks"]
    assert {t["taskDefinitionArn"] for t in tasks} == {new["taskDefinitionArn"]}
    assert any("steady state" in e["message"] for e in settled["events"])
    # Put it back for the other tests.
    ecs.update_service(cluster=cluster, service=service, taskDefinition=current["taskDefinition"])
    ecs.get_waiter("services_stable").wait(
        cluster=cluster, services=[service], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def test_env_check_says_why_a_tag_passes_or_not(sandbox: SandboxProcess) -> None:
    ok = run_inprocess(
        "env.check", "--env", "sandbox", "--image-tag", "v1.3.0", "--json", env=sandbox.env
    )
    assert ok.code == 0, ok.output
    items = {i["name"]: i["status"] for i in json.loads(ok.stdout)["items"]}
    assert items == {
        "branch rule": "pass",
        "account": "pass",
        "images in ECR": "pass",
        "promotion": "pass",
    }
    missing = run_inprocess(
        "env.check", "--env", "sandbox", "--image-tag", "v9.9.9", env=sandbox.env
    )
    assert missing.code == 1 and "release-9.9.9 is not in ECR" in missing.stdout


def test_smoke_task_and_its_failing_scenario(sandbox: SandboxProcess) -> None:
    ok = run_inprocess("deploy.smoke", "--env", "sandbox", env=sandbox.env)
    assert ok.code == 0, ok.output
    bad = run_inprocess(
        "deploy.smoke", "--env", "sandbox", "--scenario", "failing-smoke", "--json", env=sandbox.env
    )
    assert bad.code == 1
    failed = {i["name"] for i in json.loads(bad.stdout)["items"] if i["status"] == "fail"}
    assert failed == {"/api/health/dbt/", "/metrics/app"}
