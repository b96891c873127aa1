"""Runbook section 6 through the command line: app, database and data rollbacks, and the incident log."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from adinsights_ops.aws import new_session
from tests.integration.cli import ROOT, SandboxProcess, run_inprocess

pytestmark = pytest.mark.cli


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(tmp_path_factory.mktemp("home"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def repo(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding the environments file, Airbyte manifests and dbt project, tagged v1.0.0."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(ROOT / "infrastructure" / "airbyte", root / "infrastructure" / "airbyte")
    shutil.copytree(
        ROOT / "adinsights_ops" / "sandbox" / "dbt_project",
        root / "dbt",
        ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"),
    )
    data = yaml.safe_load((ROOT / "environments.yaml").read_text())
    data["sandbox"]["dbt"].update(project_dir="dbt", profiles_dir="dbt")
    data["sandbox"]["release"]["validation_sync"] = False
    data["sandbox"]["infra"] = {"engine": "none"}
    (root / "environments.yaml").write_text(yaml.safe_dump(data))

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.email=ops@example.test", "-c", "user.name=ops", "add", ".")
    git("-c", "user.email=ops@example.test", "-c", "user.name=ops", "commit", "-qm", "v1.0.0")
    git(
        "-c",
        "user.email=ops@example.test",
        "-c",
        "user.name=ops",
        "tag",
        "-a",
        "v1.0.0",
        "-m",
        "v1.0.0",
    )
    manifest = root / "infrastructure" / "airbyte" / "google_ads.yaml"
    manifest.write_text(manifest.read_text().replace("status: active", "status: inactive"))
    git(
        "-c",
        "user.email=ops@example.test",
        "-c",
        "user.name=ops",
        "commit",
        "-qam",
        "pause google ads",
    )
    return root


@pytest.fixture(scope="module")
def env(sandbox: SandboxProcess, repo: Path) -> dict[str, str]:
    return {**sandbox.env, "ADINSIGHTS_ENVIRONMENTS": str(repo / "environments.yaml")}


def incident_log(sandbox: SandboxProcess) -> str:
    return (sandbox.home / "sandbox" / "operations-log.md").read_text()


def rds(sandbox: SandboxProcess) -> Any:
    session = new_session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1")
    return session.client("rds", endpoint_url=sandbox.endpoint)


def test_app_rollback_returns_to_the_previously_deployed_revisions(
    sandbox: SandboxProcess, env: dict[str, str]
) -> None:
    assert run_inprocess("deploy", "--env", "sandbox", "--image-tag", "v1.3.0", env=env).code == 0
    assert (
        run_inprocess("deploy", "--env", "sandbox", "--image-tag", "main-a1b2c3d", env=env).code
        == 0
    )
    rolled = run_inprocess("rollback", "--env", "sandbox", "--json", env=env)
    assert rolled.code == 0, rolled.output
    status = json.loads(run_inprocess("ecs.status", "--env", "sandbox", "--json", env=env).stdout)
    # Back to what was deployed before the last run (v1.3.0), not merely the previous registration.
    assert {row["image_tag"] for row in status} == {"release-1.3.0"}
    run_id = json.loads(rolled.stdout)["run_id"]
    assert run_id in incident_log(sandbox) and "app rollback" in incident_log(sandbox)


def test_reversible_migration_is_rolled_back_and_logged(
    sandbox: SandboxProcess, env: dict[str, str]
) -> None:
    done = run_inprocess(
        "rollback.db", "--env", "sandbox", "--to-migration", "analytics:0042", env=env
    )
    assert done.code == 0, done.output
    assert "0043_snapshot_index" in done.stdout
    assert "migrate analytics back to 0042" in incident_log(sandbox)


def test_irreversible_migration_is_refused(sandbox: SandboxProcess, env: dict[str, str]) -> None:
    refused = run_inprocess(
        "rollback.db", "--env", "sandbox", "--to-migration", "analytics:0040", env=env
    )
    assert refused.code == 1
    assert "IRREVERSIBLE" in refused.stderr and "--restore-snapshot" in refused.stderr
    history = json.loads(
        run_inprocess("deploy.status", "--env", "sandbox", "--json", env=env).stdout
    )
    assert any(r["kind"] == "rollback-db" and r["outcome"] == "failed" for r in history)


@pytest.mark.parametrize(
    "args", [("--to-migration", "0042"), ("--to-migration", "a:1", "--restore-snapshot", "s"), ()]
)
def test_bad_db_rollback_input_is_exit_2(
    sandbox: SandboxProcess, env: dict[str, str], args: tuple[str, ...]
) -> None:
    result = run_inprocess("rollback.db", "--env", "sandbox", *args, env=env)
    assert result.code == 2 and "Traceback" not in result.output


def test_snapshot_restore_shows_the_data_loss_window_and_swaps_names(
    sandbox: SandboxProcess, env: dict[str, str]
) -> None:
    taken = run_inprocess(
        "rds.snapshot", "--env", "sandbox", "--label", "before-restore-test", env=env
    )
    assert taken.code == 0, taken.output
    snapshot = "before-restore-test"
    unconfirmed = run_inprocess(
        "rollback.db", "--env", "sandbox", "--restore-snapshot", snapshot, env=env
    )
    assert unconfirmed.code == 2 and "DATA LOSS" in unconfirmed.stdout
    restored = run_inprocess(
        "rollback.db", "--env", "sandbox", "--restore-snapshot", snapshot, "--yes", env=env
    )
    assert restored.code == 0, restored.output
    assert "data-loss window" in restored.stdout
    names = {i["DBInstanceIdentifier"] for i in rds(sandbox).describe_db_instances()["DBInstances"]}
    assert "adinsights-sandbox" in names
    assert any(n.startswith("adinsights-sandbox-old-") for n in names)
    assert f"restore snapshot {snapshot}" in incident_log(sandbox)


def test_data_rollback_applies_the_tags_manifests_and_rebuilds_dbt(
    sandbox: SandboxProcess, env: dict[str, str]
) -> None:
    # Today's manifests pause Google Ads; apply them, then roll the data back to v1.0.0 (active).
    applied = run_inprocess("airbyte.apply", "--env", "sandbox", "--yes", env=env)
    assert applied.code == 0, applied.output
    back = run_inprocess(
        "rollback.data", "--env", "sandbox", "--tag", "v1.0.0", "--json", env=env, timeout=300
    )
    assert back.code == 0, back.output
    result = json.loads(back.stdout)
    assert any(line.startswith("google_ads:") for line in result["airbyte"])
    assert "pass" in result["dbt"]
    diff = run_inprocess("airbyte.diff", "--env", "sandbox", env=env)
    assert "status" in diff.stdout  # HEAD's manifests now differ again from the live (v1.0.0) state
    assert "data back to v1.0.0" in incident_log(sandbox)


def test_unknown_tag_is_exit_2(sandbox: SandboxProcess, env: dict[str, str]) -> None:
    result = run_inprocess("rollback.data", "--env", "sandbox", "--tag", "v9.9.9", env=env)
    assert result.code == 2, result.output
