"""The release library called as a script would: `release.run_ci`, `build_images`, `push_images`,
`tag_release` and `smoke`, with Invoke's MockContext as the shell and in-process moto as ECR."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import moto
import pytest
from invoke import MockContext
from invoke.runners import Result

from adinsights_ops import config, release
from adinsights_ops.aws import Aws
from adinsights_ops.errors import UsageError, WaitFailed
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.release._build import CiStep, CommandFailed, ReleaseSettings
from adinsights_ops.release._publish import NO_REPOSITORY, TAGGED, WOULD_TAG
from adinsights_ops.sandbox.blueprint_storage import seed_images
from tests.simulated import FakeClock

SHA = "a1b2c3d"
REPOS = ["adinsights/backend", "adinsights/worker", "adinsights/frontend"]
TAG_EXISTS = "git rev-parse -q --verify refs/tags/v1.4.0"
GIT_TAG = [f'git tag -a v1.4.0 -m "Release v1.4.0" {SHA}', "git push origin v1.4.0"]


def mocked(c: MockContext) -> Any:
    """MockContext's `run`, a mock (its calls are recorded)."""
    return c.run


def commands(c: MockContext) -> list[str]:
    return [call.args[0] for call in mocked(c).call_args_list]


@pytest.fixture
def ops() -> Iterator[OpsEnv]:
    with moto.mock_aws():
        clients = Aws(region="eu-west-1")
        environment = config.load("sandbox")
        seed_images(clients.client("ecr"), environment, ("release-1.3.0", f"main-{SHA}"))
        yield OpsEnv(environment, clients)


def opener(ops: OpsEnv, opened: list[str]) -> Any:
    @contextmanager
    def open_ops(environment: config.Environment) -> Iterator[OpsEnv]:
        opened.append(environment.name)
        yield ops

    return open_ops


def test_run_ci_runs_each_command_in_its_folder_and_returns_them() -> None:
    c = MockContext(run={"cd app && ruff check .": True, "cd app/web && npm test": True})
    settings = ReleaseSettings(ci=(CiStep("ruff check ."), CiStep("npm test", "web")))
    started: list[str] = []
    done = release.run_ci(c, settings, "app", on_start=started.append)
    assert done.commands == ("cd app && ruff check .", "cd app/web && npm test")
    assert commands(c) == started == list(done.commands)


def test_build_images_returns_the_refs_built(ops: OpsEnv) -> None:
    registry = ops.env.registry
    c = MockContext(repeat=True, run=Result(""))
    built = release.build_images(c, ops.env, ReleaseSettings(), SHA, project_dir="app")
    assert list(built.refs) == ["backend", "worker", "frontend"]
    assert built.refs["worker"] == f"{registry}/adinsights/worker:main-{SHA}"
    assert all(cmd.startswith("cd app && docker build") for cmd in commands(c))


def test_push_images_reports_what_ecr_holds(ops: OpsEnv) -> None:
    c = MockContext(repeat=True, run=Result(""))
    pushed = release.push_images(c, ops, ReleaseSettings(), SHA)
    assert set(pushed.digests) == {"backend", "worker", "frontend"}
    assert all(d.startswith("sha256:") for d in pushed.digests.values())
    login = mocked(c).call_args_list[0]
    assert "--password-stdin" in login.args[0] and login.kwargs["echo_stdin"] is False


def test_push_images_fails_when_ecr_lacks_the_images(ops: OpsEnv) -> None:
    c = MockContext(repeat=True, run=Result(""))
    with pytest.raises(release.OpsError, match="ECR has no main-0123abc"):
        release.push_images(c, ops, ReleaseSettings(), "0123abc")


def test_tag_release_promotes_then_tags_git(ops: OpsEnv) -> None:
    c = MockContext(run={TAG_EXISTS: Result(exited=1), **dict.fromkeys(GIT_TAG, True)})
    heard: list[Any] = []
    opened: list[str] = []
    result = release.tag_release(
        c,
        ops.env,
        opener(ops, opened),
        release=release.parse_version("v1.4.0"),
        sha=SHA,
        on_promoted=heard.append,
    )
    assert result.git == TAGGED and result.git_commands == tuple(GIT_TAG)
    assert heard == [result.promotion] and opened == ["sandbox"]
    assert [i.action for i in result.promotion.images] == [release.PROMOTED] * 3
    assert commands(c) == [TAG_EXISTS, *GIT_TAG]


def test_tag_release_dry_run_runs_no_git_and_changes_nothing(ops: OpsEnv) -> None:
    c = MockContext(run={TAG_EXISTS: Result(exited=1)})
    result = release.tag_release(
        c,
        ops.env,
        opener(ops, []),
        release=release.parse_version("v1.4.0"),
        sha=SHA,
        dry_run=True,
    )
    assert result.git == WOULD_TAG and commands(c) == [TAG_EXISTS]
    ecr = ops.aws.client("ecr")
    assert release.image_digests(ecr, repositories=REPOS, tag="release-1.4.0") == dict.fromkeys(
        REPOS
    )


def test_tag_release_without_git_needs_a_sha_before_anything(ops: OpsEnv) -> None:
    c = MockContext(run={})
    opened: list[str] = []
    with pytest.raises(UsageError, match="pass --sha"):
        release.tag_release(
            c,
            ops.env,
            opener(ops, opened),
            release=release.parse_version("v1.4.0"),
            sha=None,
            use_git=False,
        )
    assert opened == [] and mocked(c).call_count == 0
    result = release.tag_release(
        c,
        ops.env,
        opener(ops, opened),
        release=release.parse_version("v1.4.0"),
        sha=SHA,
        use_git=False,
    )
    assert result.git == NO_REPOSITORY and mocked(c).call_count == 0


def test_tag_release_existing_git_tag_refuses_before_ecr(ops: OpsEnv) -> None:
    c = MockContext(run={TAG_EXISTS: Result("9f8e7d6\n")})
    opened: list[str] = []
    with pytest.raises(release.TagExists):
        release.tag_release(
            c, ops.env, opener(ops, opened), release=release.parse_version("v1.4.0"), sha=SHA
        )
    assert opened == []


def test_tag_release_failed_git_says_ecr_is_done_then_raises(ops: OpsEnv) -> None:
    c = MockContext(run={TAG_EXISTS: Result(exited=1), GIT_TAG[0]: Result(exited=128)})
    notes: list[str] = []
    with pytest.raises(CommandFailed):
        release.tag_release(
            c,
            ops.env,
            opener(ops, []),
            release=release.parse_version("v1.4.0"),
            sha=SHA,
            on_note=notes.append,
        )
    assert len(notes) == 1 and "tagged release-1.4.0 in ECR; the git tag is not done" in notes[0]


# -- smoke --------------------------------------------------------------------------------------

UP = "docker compose --env-file .env.sample up --detach backend worker"
PS = "docker compose --env-file .env.sample ps --all --format json"
DOWN = "docker compose --env-file .env.sample down"


def ps(**states: str) -> Result:
    rows = [
        {"Name": f"x-{s}-1", "Service": s, "State": states.get(s, "running"), "Health": ""}
        for s in ("backend", "worker")
    ]
    return Result("\n".join(json.dumps(r) for r in rows))


def test_smoke_returns_the_running_status_and_goes_down() -> None:
    c = MockContext(run={UP: True, PS: [ps(worker="created"), ps()], DOWN: True})
    clock = FakeClock()
    polls: list[str] = []
    status = release.smoke(
        c, ["backend", "worker"], clock=clock, on_poll=lambda p: polls.append(p.state.describe())
    )
    assert status.ready and commands(c) == [UP, PS, PS, DOWN]
    assert polls == ["backend running, worker created", "backend running, worker running"]


def test_smoke_shows_the_logs_of_a_failed_service_then_goes_down() -> None:
    logs = "docker compose --env-file .env.sample logs --no-color --tail 50 worker"
    c = MockContext(run={UP: True, PS: ps(worker="exited"), logs: True, DOWN: True})
    notes: list[str] = []
    with pytest.raises(WaitFailed):
        release.smoke(c, ["backend", "worker"], clock=FakeClock(), on_note=notes.append)
    assert commands(c) == [UP, PS, logs, DOWN] and notes == ["== last log lines of worker"]


def test_smoke_in_a_project_dir_and_a_failed_down_is_an_error() -> None:
    c = MockContext(
        run={
            f"cd app && {UP}": True,
            f"cd app && {PS}": ps(),
            f"cd app && {DOWN}": Result(exited=1),
        }
    )
    notes: list[str] = []
    with pytest.raises(CommandFailed, match="down` failed with exit code 1"):
        release.smoke(c, ["backend", "worker"], project_dir="app", on_note=notes.append)
    assert notes and "containers may still run" in notes[0]
