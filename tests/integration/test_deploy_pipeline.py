"""The whole deploy runbook (section 5) through the command line against a shared sandbox.

Most tests use a copy of the environments file whose sandbox skips the validation sync and dbt
build (those have their own tests and one full run here), so each deploy takes seconds. Commands
run in this process, except where the process is the point: two real deploys racing for the lock,
and a real deploy killed with SIGKILL.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adinsights_ops.aws import new_session
from tests.integration.cli import (
    INV,
    ROOT,
    Result,
    SandboxProcess,
    base_env,
    production_environments,
    run_inprocess,
)
from tests.simulated import fast_environments

pytestmark = pytest.mark.cli
SENTINEL = "SENTINEL-"
STEPS = (
    "preflight",
    "lock",
    "data-state",
    "infrastructure",
    "snapshot",
    "register",
    "one-off",
    "rollout",
    "warm",
    "smoke",
    "announce",
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(tmp_path_factory.mktemp("home"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def fast(sandbox: SandboxProcess) -> dict[str, str]:
    """The CLI environment for quick deploys (no validation sync or dbt build)."""
    path = fast_environments(sandbox.home)
    return {**sandbox.env, "ADINSIGHTS_ENVIRONMENTS": str(path)}


outputs: list[str] = []  # every command's output, checked for leaked secrets at the end


def run(*args: str, env: dict[str, str], timeout: float = 180) -> Result:
    result = run_inprocess(*args, env=env, timeout=timeout)
    outputs.append(result.output)
    return result


def s3(sandbox: SandboxProcess) -> Any:
    session = new_session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1")
    return session.client("s3", endpoint_url=sandbox.endpoint)


def journal(sandbox: SandboxProcess, run_id: str) -> dict[str, Any]:
    body = (
        s3(sandbox)
        .get_object(Bucket="adinsights-sandbox-ops-state", Key=f"journal/sandbox/{run_id}.json")[
            "Body"
        ]
        .read()
    )
    record: dict[str, Any] = json.loads(body)
    return record


def image_tags(env: dict[str, str]) -> set[str]:
    result = run_inprocess("ecs.status", "--env", "sandbox", "--json", env=env)
    return {row["image_tag"] for row in json.loads(result.stdout)}


def deploy_json(*extra: str, env: dict[str, str]) -> tuple[Result, dict[str, Any]]:
    result = run("deploy", "--env", "sandbox", "--json", *extra, env=env)
    return result, json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}


def test_the_whole_runbook_with_data_validation(sandbox: SandboxProcess) -> None:
    result, report = deploy_json("--image-tag", "v1.3.0", env=sandbox.env)
    assert result.code == 0, result.output
    assert report["outcome"] == "succeeded"
    assert [s["name"] for s in report["steps"]] == list(STEPS)
    outcomes = {s["name"]: s["outcome"] for s in report["steps"]}
    assert set(outcomes.values()) == {"done"}
    record = journal(sandbox, report["run_id"])
    assert record["outcome"] == "succeeded"
    steps = {s["name"]: s for s in record["steps"]}
    assert "pass" in steps["data-state"]["outputs"]["dbt"]  # dbt really built the sandbox project
    assert set(steps["data-state"]["outputs"]["airbyte_synced"]) == {"meta_ads", "google_ads"}
    assert steps["smoke"]["outputs"]["version"] == "v1.3.0"
    assert "cloudformation" in json.dumps(steps["infrastructure"]["outputs"])
    assert steps["snapshot"]["outputs"]["snapshot"].startswith("pre-deploy-sandbox-release-1-3-0-")
    assert image_tags(sandbox.env) == {"release-1.3.0"}
    # The rollout is `ecs.rollout` on the registered revisions: each service's report carries its
    # task-definition diff (the deploy's own rollout path used to drop them).
    rolled = {o["service"]: o for o in report["rollout"]["outcomes"]}
    assert rolled and all(o["state"] == "deployed" for o in rolled.values())
    for o in rolled.values():
        assert o["target"] == record["deployed_revisions"][o["service"]]
        assert [c["new"].rsplit(":", 1)[-1] for c in o["changes"]] == ["release-1.3.0"]
    # The lock is released and the release is in the activity log.
    assert (
        run("deploy.lock-status", "--env", "sandbox", env=sandbox.env)
        .stdout.strip()
        .endswith("not locked")
    )
    log = (sandbox.home / "sandbox" / "agent-activity-log.md").read_text()
    assert report["run_id"] in log


def test_failing_smoke_rolls_back_and_keeps_the_snapshot(
    sandbox: SandboxProcess, fast: dict[str, str]
) -> None:
    before = image_tags(fast)
    result, report = deploy_json(
        "--image-tag", "main-a1b2c3d", "--scenario", "failing-smoke", env=fast
    )
    assert result.code == 1, result.output
    assert report["outcome"] == "rolled-back" and report["failed_step"] == "smoke"
    assert image_tags(fast) == before
    assert report["snapshot"].startswith("pre-deploy-sandbox-")
    assert "inv deploy --env sandbox" in report["next_command"]
    assert any("/api/health/dbt/" in line for line in report["details"])
    human = run(
        "deploy",
        "--env",
        "sandbox",
        "--image-tag",
        "main-a1b2c3d",
        "--scenario",
        "failing-smoke",
        env=fast,
    )
    assert human.code == 1
    assert "RDS snapshot:" in human.stdout and "(kept)" in human.stdout and "next:" in human.stdout


def test_failing_migration_changes_no_service(
    sandbox: SandboxProcess, fast: dict[str, str]
) -> None:
    before = image_tags(fast)
    result, report = deploy_json(
        "--image-tag", "main-a1b2c3d", "--scenario", "failing-migration", env=fast
    )
    assert result.code == 1, result.output
    assert report["failed_step"] == "one-off"
    assert any("Traceback" in line for line in report["details"])
    assert image_tags(fast) == before


def test_failing_rollout_is_rolled_back(sandbox: SandboxProcess, fast: dict[str, str]) -> None:
    before = image_tags(fast)
    result, report = deploy_json(
        "--image-tag", "main-a1b2c3d", "--scenario", "failing-rollout", env=fast
    )
    assert result.code == 1, result.output
    assert (report["outcome"], report["failed_step"]) == ("rolled-back", "rollout")
    assert image_tags(fast) == before


def test_throttled_aws_is_retried_through(sandbox: SandboxProcess, fast: dict[str, str]) -> None:
    result, _ = deploy_json("--image-tag", "main-a1b2c3d", "--scenario", "throttled", env=fast)
    assert result.code == 0, result.output
    assert image_tags(fast) == {"main-a1b2c3d"}


def test_two_deploys_at_once_one_proceeds_the_other_exits_3(
    sandbox: SandboxProcess, fast: dict[str, str]
) -> None:
    args = [INV, "deploy", "--env", "sandbox", "--image-tag", "v1.2.0"]
    procs = [
        subprocess.Popen(
            args, cwd=ROOT, env=fast, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=180) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 3], results
    loser = next(err for p, (_, err) in zip(procs, results, strict=True) if p.returncode == 3)
    assert "is locked by" in loser and "run " in loser


def wait_for_step(sandbox: SandboxProcess, name: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    client = s3(sandbox)
    while time.monotonic() < deadline:
        listed = client.list_objects_v2(
            Bucket="adinsights-sandbox-ops-state", Prefix="journal/sandbox/"
        )
        for item in sorted(listed.get("Contents", []), key=lambda o: o["Key"], reverse=True)[:1]:
            run_id: str = item["Key"].rsplit("/", 1)[-1].removesuffix(".json")
            record = journal(sandbox, run_id)
            if record["outcome"] == "running" and any(s["name"] == name for s in record["steps"]):
                return run_id
        time.sleep(0.1)
    raise AssertionError(f"no run reached {name}")


def test_a_killed_deploy_resumes_and_its_lock_does_not_stay_forever(
    sandbox: SandboxProcess, fast: dict[str, str]
) -> None:
    proc = subprocess.Popen(
        [INV, "deploy", "--env", "sandbox", "--image-tag", "v1.3.0"],
        cwd=ROOT,
        env=fast,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_id = wait_for_step(sandbox, "one-off")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    record = journal(sandbox, run_id)
    assert record["outcome"] == "running"
    # The dead run still holds the lock: another deploy is refused with its details...
    blocked = run("deploy", "--env", "sandbox", "--image-tag", "v1.3.0", env=fast)
    assert blocked.code == 3 and run_id in blocked.stderr
    assert f"inv deploy --env sandbox --resume {run_id}" in blocked.stderr
    assert "inv deploy.unlock --env sandbox --force --reason" in blocked.stderr
    # ...but the run itself can take it back and finish from its first unfinished step.
    resumed = run("deploy", "--env", "sandbox", "--resume", run_id, "--json", env=fast)
    assert resumed.code == 0, resumed.output
    record = journal(sandbox, run_id)
    assert record["outcome"] == "succeeded"
    assert [s["name"] for s in record["steps"]] == list(STEPS)
    assert image_tags(fast) == {"release-1.3.0"}
    again = run("deploy", "--env", "sandbox", "--resume", run_id, env=fast)
    assert again.code == 2 and "already ended" in again.stderr


def test_force_unlock_removes_a_dead_runs_lock(
    sandbox: SandboxProcess, fast: dict[str, str]
) -> None:
    proc = subprocess.Popen(
        [INV, "deploy", "--env", "sandbox", "--image-tag", "v1.2.0"],
        cwd=ROOT,
        env=fast,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_id = wait_for_step(sandbox, "snapshot")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    status = run("deploy.lock-status", "--env", "sandbox", env=fast)
    assert run_id in status.stdout
    refused = run("deploy.unlock", "--env", "sandbox", env=fast)
    assert refused.code == 2
    no_reason = run("deploy.unlock", "--env", "sandbox", "--force", "--yes", env=fast)
    assert no_reason.code == 2 and "--reason" in no_reason.stderr
    unlocked = run(
        "deploy.unlock", "--env", "sandbox", "--force", "--yes", "--reason", "killed", env=fast
    )
    assert unlocked.code == 0 and f"removed the lock of run {run_id}" in unlocked.stdout
    assert (
        run("deploy.lock-status", "--env", "sandbox", env=fast)
        .stdout.strip()
        .endswith("not locked")
    )
    history = run("deploy.status", "--env", "sandbox", env=fast)
    assert run_id in history.stdout


def test_dry_run_prints_the_plan_and_changes_nothing(
    sandbox: SandboxProcess, fast: dict[str, str]
) -> None:
    sandbox.forget_calls()
    result = run("deploy", "--env", "sandbox", "--image-tag", "main-a1b2c3d", "--dry-run", env=fast)
    assert result.code == 0, result.output
    for expected in (
        "containerDefinitions[backend].image",
        "python manage.py migrate",
        "enable_rls",
        "snapshot: pre-deploy-sandbox-main-a1b2c3d-",
        "data state: Airbyte",
    ):
        assert expected in result.stdout
    assert sandbox.mutating_calls() == []


def test_unpromoted_production_tag_is_refused(sandbox: SandboxProcess, tmp_path: Path) -> None:
    path = production_environments(
        tmp_path / "environments.yaml",
        state_bucket="adinsights-sandbox-ops-state",
        staging="sandbox-copy",
    )
    env = base_env(
        sandbox.home,
        ADINSIGHTS_ENVIRONMENTS=str(path),
        AWS_ENDPOINT_URL=sandbox.endpoint,
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="y",
    )
    sandbox.forget_calls()
    result = run("deploy", "--env", "production", "--image-tag", "v1.3.0", "--yes", env=env)
    assert result.code == 2, result.output
    assert "promotion" in result.stderr and "staging" in result.stderr
    assert sandbox.mutating_calls() == []


def test_no_secret_value_in_any_output_or_journal(sandbox: SandboxProcess) -> None:
    assert outputs
    for text in outputs:
        assert SENTINEL not in text
    client = s3(sandbox)
    listed = client.list_objects_v2(Bucket="adinsights-sandbox-ops-state", Prefix="journal/")
    assert listed.get("Contents")
    for item in listed["Contents"]:
        body = client.get_object(Bucket="adinsights-sandbox-ops-state", Key=item["Key"])[
            "Body"
        ].read()
        assert SENTINEL.encode() not in body


def test_run_ids_in_reports_are_journal_keys(sandbox: SandboxProcess, fast: dict[str, str]) -> None:
    history = run("deploy.status", "--env", "sandbox", "--json", env=fast)
    runs = json.loads(history.stdout)
    assert runs and all(re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{4}", r["run_id"]) for r in runs)
