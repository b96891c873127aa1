"""Runbook 5.8 through the command line: a sandbox deploy updates the status page (the sandbox's
Statuspage stand-in), after a success and after a rollback, once per announcement."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adinsights_ops.aws import new_session
from adinsights_ops.sandbox.statuspage_sim import SANDBOX_COMPONENT, SANDBOX_PAGE
from tests.integration.cli import SandboxProcess, run_inprocess
from tests.simulated import fast_environments

pytestmark = pytest.mark.cli
INCIDENTS = f"/v1/pages/{SANDBOX_PAGE}/incidents"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(tmp_path_factory.mktemp("home"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def fast(sandbox: SandboxProcess) -> dict[str, str]:
    path: Path = fast_environments(sandbox.home)
    return {**sandbox.env, "ADINSIGHTS_ENVIRONMENTS": str(path)}


def posted(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    url = f"{sandbox.endpoint}/_sandbox/statuspage/_posted"
    with urllib.request.urlopen(url, timeout=5) as answer:
        found: list[dict[str, Any]] = json.loads(answer.read())
        return found


def journal(sandbox: SandboxProcess, run_id: str) -> dict[str, Any]:
    session = new_session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1")
    s3 = session.client("s3", endpoint_url=sandbox.endpoint)
    body = s3.get_object(
        Bucket="adinsights-sandbox-ops-state", Key=f"journal/sandbox/{run_id}.json"
    )["Body"].read()
    record: dict[str, Any] = json.loads(body)
    return record


def deploy(env: dict[str, str], *extra: str) -> tuple[int, dict[str, Any], str]:
    result = run_inprocess("deploy", "--env", "sandbox", "--json", *extra, env=env, timeout=180)
    return result.code, json.loads(result.stdout), result.output


def test_a_deploy_and_a_rollback_each_update_the_status_page_once(
    sandbox: SandboxProcess, fast: dict[str, str]
) -> None:
    code, report, output = deploy(fast, "--image-tag", "v1.3.0")
    assert code == 0 and report["outcome"] == "succeeded", output
    (sent,) = [p for p in posted(sandbox) if p["path"] == INCIDENTS]
    incident = sent["body"]["incident"]
    assert sent["status"] == 201 and incident["status"] == "resolved"
    assert incident["components"] == {SANDBOX_COMPONENT: "operational"}
    assert incident["metadata"]["adinsights_ops"]["run_id"] == report["run_id"]
    assert sent["idempotency_key"].startswith(f"adinsights-ops:{report['run_id']}:succeeded")
    announced = journal(sandbox, report["run_id"])["announced"]["succeeded"]
    assert announced["status-page"] == "sent"

    code, report, output = deploy(
        fast, "--image-tag", "main-a1b2c3d", "--scenario", "failing-smoke"
    )
    assert code == 1 and report["outcome"] == "rolled-back", output
    incidents = [p for p in posted(sandbox) if p["path"] == INCIDENTS]
    assert len(incidents) == 2
    rollback = incidents[-1]["body"]["incident"]
    assert rollback["status"] == "monitoring" and "ROLLED-BACK at step smoke" in rollback["body"]
    assert journal(sandbox, report["run_id"])["announced"]["rolled-back:smoke"]["status-page"] == (
        "sent"
    )
    # The token (a SENTINEL- value) is in no output and nowhere the stand-in shows what it got.
    assert "SENTINEL-" not in output + json.dumps(posted(sandbox))
