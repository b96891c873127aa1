"""`inv release.*` and `inv compose.smoke`, called directly with Invoke's MockContext.

MockContext raises on any command it was not given, so each test lists every command the task may
run and then asserts the exact sequence. Tasks that reach AWS get an `OpsEnv` over in-process moto
whose ECR holds the sandbox blueprint's images (release-1.2.0, release-1.3.0, main-a1b2c3d).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from unittest.mock import Mock

import moto
import pytest
import yaml
from invoke import MockContext
from invoke.exceptions import Exit
from invoke.runners import Result

from adinsights_ops import config, loader, waiting
from adinsights_ops.aws import Aws
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.release import image_digests
from adinsights_ops.sandbox.blueprint_storage import seed_images
from runbooks import compose as compose_tasks
from runbooks import release as release_tasks
from tests.simulated import ENVIRONMENTS, FakeClock

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
REPOS = ["adinsights/backend", "adinsights/worker", "adinsights/frontend"]
SHA = "a1b2c3d"
TAGS = ("release-1.2.0", "release-1.3.0", f"main-{SHA}")
CI = [
    "ruff check backend",
    "pytest -q backend",
    "cd frontend && npm test -- --run",
    "cd frontend && npm run build",
    "make dbt-build",
]
BUILDS = [
    f"docker build --file backend/Dockerfile --tag {REGISTRY}/adinsights/backend:main-{SHA} backend",
    "docker build --file backend/Dockerfile --target worker "
    f"--tag {REGISTRY}/adinsights/worker:main-{SHA} backend",
    f"docker build --file frontend/Dockerfile --tag {REGISTRY}/adinsights/frontend:main-{SHA} "
    "frontend",
]
PUSHES = [f"docker push {REGISTRY}/{repo}:main-{SHA}" for repo in REPOS]
LOGIN = f"docker login --username AWS --password-stdin {REGISTRY}"
TAG_EXISTS = "git rev-parse -q --verify refs/tags/v1.4.0"
GIT_TAG = [f'git tag -a v1.4.0 -m "Release v1.4.0" {SHA}', "git push origin v1.4.0"]


def ran(c: MockContext) -> Mock:
    """`c.run` as the Mock that MockContext makes of it, which records each call."""
    return cast(Mock, c.run)


def said(raised: pytest.ExceptionInfo[Exit]) -> str:
    """The message a task exited with (ops_task always gives one)."""
    assert raised.value.message is not None
    return raised.value.message


def commands(c: MockContext) -> list[str]:
    return [call.args[0] for call in ran(c).call_args_list]


def failed(exited: int, stdout: str = "", stderr: str = "") -> Result:
    return Result(stdout=stdout, stderr=stderr, exited=exited)


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder as the current one (no release.yaml), and an environments file with the
    sandbox plus `rehearsal`: the same AWS shape, but not a sandbox, so git steps run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADINSIGHTS_RELEASE", raising=False)
    data = yaml.safe_load(ENVIRONMENTS.read_text())
    environments = {
        "sandbox": data["sandbox"],
        "rehearsal": {**data["sandbox"], "sandbox": False},
    }
    file = tmp_path / "environments.yaml"
    file.write_text(yaml.safe_dump(environments, sort_keys=False))
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(file))
    return tmp_path


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """moto with the blueprint's ECR images; `open_environment` yields an OpsEnv over it."""
    with moto.mock_aws():
        clients = Aws(region="eu-west-1")
        env = config.load("sandbox")
        digests = seed_images(clients.client("ecr"), env, TAGS)
        opened: list[str] = []

        @contextmanager
        def open_environment(name: Any, **_: Any) -> Iterator[OpsEnv]:
            environment = name if isinstance(name, config.Environment) else config.load(name)
            opened.append(environment.name)
            yield OpsEnv(environment, clients)

        monkeypatch.setattr(loader, "open_environment", open_environment)
        yield SimpleNamespace(ecr=clients.client("ecr"), digests=digests, opened=opened)


def release_digests(ecr: Any, version: str = "1.4.0") -> dict[str, str | None]:
    return image_digests(ecr, repositories=REPOS, tag=f"release-{version}")


def main_digests(ecr: Any) -> dict[str, str | None]:
    return image_digests(ecr, repositories=REPOS, tag=f"main-{SHA}")


# -- release.ci ----------------------------------------------------------------------------------


def test_ci_runs_the_runbook_commands_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    c = MockContext(run=dict.fromkeys(CI, True))
    release_tasks.ci(c)
    assert commands(c) == CI
    for call in ran(c).call_args_list:
        assert call.kwargs == {"warn": True, "pty": False, "hide": False}
    assert "CI passed: 5 commands" in capsys.readouterr().out


def test_a_failing_ci_command_stops_the_rest_and_exits_1() -> None:
    tail = "\n".join(["RUN v1.6.0", *(f"ok {i}" for i in range(40)), "FAIL src/App.test.tsx"])
    c = MockContext(run={**dict.fromkeys(CI, True), CI[2]: failed(1, tail, "npm ERR! Test failed")})
    with pytest.raises(Exit) as raised:
        release_tasks.ci(c)
    assert commands(c) == CI[:3]
    assert raised.value.code == 1
    message = said(raised)
    assert message.splitlines()[0] == (
        "error: `cd frontend && npm test -- --run` failed with exit code 1 after 2 passed; 2 not run"
    )
    assert "| FAIL src/App.test.tsx" in message and "| npm ERR! Test failed" in message
    assert "ok 5" not in message  # only the tail


def test_ci_runs_in_the_project_dir_and_reads_release_yaml(workdir: Path) -> None:
    app = workdir / "app"
    (app / "frontend").mkdir(parents=True)
    (workdir / "release.yaml").write_text(
        "ci:\n  - ruff check backend\n  - {run: npm test -- --run, dir: frontend}\n"
    )
    expected = [f"cd {app} && ruff check backend", f"cd {app}/frontend && npm test -- --run"]
    c = MockContext(run=dict.fromkeys(expected, True))
    release_tasks.ci(c, project_dir=str(app))
    assert commands(c) == expected


def test_ci_refuses_a_missing_project_dir_before_any_command() -> None:
    c = MockContext(run={})
    with pytest.raises(Exit) as raised:
        release_tasks.ci(c, project_dir="no/such/app")
    assert raised.value.code == 2 and "is not a folder" in said(raised)
    assert ran(c).call_count == 0


# -- release.build -------------------------------------------------------------------------------


def test_build_tags_every_image_main_sha(capsys: pytest.CaptureFixture[str]) -> None:
    c = MockContext(run=dict.fromkeys(BUILDS, True))
    release_tasks.build(c, env="sandbox", sha=SHA.upper())
    assert commands(c) == BUILDS
    assert capsys.readouterr().out.split() == [f"{REGISTRY}/{repo}:main-{SHA}" for repo in REPOS]


def test_build_takes_the_sha_from_git_head() -> None:
    head = "git rev-parse --short=7 HEAD"
    builds = [b.replace(SHA, "0ff1ce5") for b in BUILDS]
    c = MockContext(run={head: Result("0ff1ce5\n"), **dict.fromkeys(builds, True)})
    release_tasks.build(c, env="sandbox")
    assert commands(c) == [head, *builds]


def test_build_refuses_a_malformed_sha_before_any_command() -> None:
    c = MockContext(run={})
    with pytest.raises(Exit) as raised:
        release_tasks.build(c, env="sandbox", sha="main-a1b2c3d")
    assert raised.value.code == 2 and "malformed git sha" in said(raised)
    assert ran(c).call_count == 0


def test_build_refuses_an_image_without_repository(workdir: Path) -> None:
    (workdir / "release.yaml").write_text(
        "images:\n  airbyte-ext: {dockerfile: airbyte/Dockerfile, context: airbyte}\n"
    )
    c = MockContext(run={})
    with pytest.raises(Exit) as raised:
        release_tasks.build(c, env="sandbox", sha=SHA)
    assert raised.value.code == 2 and "'airbyte-ext' has no repository" in said(raised)
    assert ran(c).call_count == 0


def test_a_failing_build_stops_the_next_ones() -> None:
    c = MockContext(run={**dict.fromkeys(BUILDS, True), BUILDS[1]: failed(1, "", "target worker")})
    with pytest.raises(Exit) as raised:
        release_tasks.build(c, env="sandbox", sha=SHA)
    assert raised.value.code == 1 and commands(c) == BUILDS[:2]


# -- release.push --------------------------------------------------------------------------------


def test_push_logs_in_with_the_password_on_stdin_only(
    aws: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(run=dict.fromkeys([LOGIN, *PUSHES], True))
    release_tasks.push(c, env="sandbox", sha=SHA)
    assert commands(c) == [LOGIN, *PUSHES]
    password = "123456789012-auth-token"  # moto's ECR token for the account
    login = ran(c).call_args_list[0]
    assert login.kwargs["in_stream"].getvalue() == password
    assert login.kwargs["echo_stdin"] is False and login.kwargs["hide"] is True
    out, err = capsys.readouterr()
    assert all(password not in text for text in [*commands(c), out, err])
    # What ECR holds for main-<sha> is reported, per image.
    assert out.splitlines() == [
        f"{REGISTRY}/{repo}:main-{SHA}  {aws.digests[repo][f'main-{SHA}']}" for repo in REPOS
    ]
    assert aws.opened == ["sandbox"]


def test_push_fails_when_ecr_does_not_show_the_images(aws: SimpleNamespace) -> None:
    pushes = [p.replace(SHA, "0123abc") for p in PUSHES]
    c = MockContext(run=dict.fromkeys([LOGIN, *pushes], True))
    with pytest.raises(Exit) as raised:
        release_tasks.push(c, env="sandbox", sha="0123abc")
    assert raised.value.code == 1
    assert "ECR has no main-0123abc in adinsights/backend, adinsights/worker" in said(raised)


def test_a_failed_login_pushes_nothing(aws: SimpleNamespace) -> None:
    c = MockContext(run={LOGIN: failed(1, "", "Error response from daemon: denied")})
    with pytest.raises(Exit) as raised:
        release_tasks.push(c, env="sandbox", sha=SHA)
    assert raised.value.code == 1 and commands(c) == [LOGIN]
    assert "| Error response from daemon: denied" in said(raised)


# -- release.tag ---------------------------------------------------------------------------------


def test_tag_promotes_in_ecr_then_tags_git(
    aws: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(run={TAG_EXISTS: failed(1), **dict.fromkeys(GIT_TAG, True)})
    release_tasks.tag(c, "v1.4.0", env="rehearsal", sha=SHA)
    assert commands(c) == [TAG_EXISTS, *GIT_TAG]
    assert release_digests(aws.ecr) == main_digests(aws.ecr)
    out = capsys.readouterr().out
    assert "v1.4.0 from main-a1b2c3d" in out and out.count("promoted") == 3


def test_tag_json_prints_the_promotion(
    aws: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(run={TAG_EXISTS: failed(1), **dict.fromkeys(GIT_TAG, True)})
    release_tasks.tag(c, "v1.4.0", env="rehearsal", sha=SHA, json=True)
    printed = json.loads(capsys.readouterr().out.split("\ntagged ")[0])
    assert [i["action"] for i in printed["images"]] == ["promoted"] * 3
    assert [i["digest"] for i in printed["images"]] == list(main_digests(aws.ecr).values())


@pytest.mark.parametrize("version", ["1.4.0", "v1.4", "release-1.4.0", "v1.4.0-rc1"])
def test_a_malformed_version_exits_2_before_anything(aws: SimpleNamespace, version: str) -> None:
    c = MockContext(run={})
    with pytest.raises(Exit) as raised:
        release_tasks.tag(c, version, env="rehearsal", sha=SHA)
    assert raised.value.code == 2
    assert said(raised).count("\n") == 0 and "malformed version" in said(raised)
    assert ran(c).call_count == 0 and aws.opened == []


def test_an_existing_git_tag_refuses_before_any_change(aws: SimpleNamespace) -> None:
    c = MockContext(run={TAG_EXISTS: Result("9f8e7d6c...\n")})
    with pytest.raises(Exit) as raised:
        release_tasks.tag(c, "v1.4.0", env="rehearsal", sha=SHA)
    assert raised.value.code == 2 and "git tag v1.4.0 already exists" in said(raised)
    assert commands(c) == [TAG_EXISTS]
    assert release_digests(aws.ecr) == dict.fromkeys(REPOS)


def test_a_release_tag_on_another_image_refuses_before_any_change(aws: SimpleNamespace) -> None:
    before = release_digests(aws.ecr, "1.3.0")
    c = MockContext(run={TAG_EXISTS.replace("1.4.0", "1.3.0"): failed(1)})
    with pytest.raises(Exit) as raised:
        release_tasks.tag(c, "v1.3.0", env="rehearsal", sha=SHA)
    assert raised.value.code == 2 and said(raised).count("\n") == 0
    assert "release-1.3.0 in adinsights/backend is sha256:" in said(raised)
    assert commands(c) == [TAG_EXISTS.replace("1.4.0", "1.3.0")]  # no git tag made
    assert release_digests(aws.ecr, "1.3.0") == before


def test_a_sha_without_main_images_refuses(aws: SimpleNamespace) -> None:
    c = MockContext(run={TAG_EXISTS: failed(1)})
    with pytest.raises(Exit) as raised:
        release_tasks.tag(c, "v1.4.0", env="rehearsal", sha="0123abc")
    assert raised.value.code == 2
    assert said(raised) == (
        "error: cannot promote v1.4.0: main-0123abc is not in adinsights/backend, "
        "adinsights/worker, adinsights/frontend (build and push it first)"
    )
    assert commands(c) == [TAG_EXISTS]
    assert release_digests(aws.ecr) == dict.fromkeys(REPOS)


def test_dry_run_changes_nothing_and_says_what_would_run(
    aws: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(run={TAG_EXISTS: failed(1)})
    release_tasks.tag(c, "v1.4.0", env="rehearsal", sha=SHA, dry_run=True)
    assert commands(c) == [TAG_EXISTS]
    assert release_digests(aws.ecr) == dict.fromkeys(REPOS)
    out = capsys.readouterr().out
    assert out.count("would promote") == 3
    assert [line for line in out.splitlines() if line.startswith("would run")] == [
        f"would run: {cmd}" for cmd in GIT_TAG
    ]


def test_a_failed_git_push_keeps_the_promotion_and_a_rerun_finishes(
    aws: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(
        run={
            TAG_EXISTS: failed(1),
            GIT_TAG[0]: failed(128, "", "fatal: Failed to resolve 'a1b2c3d' as a valid ref."),
        }
    )
    with pytest.raises(Exit) as raised:
        release_tasks.tag(c, "v1.4.0", env="rehearsal", sha=SHA)
    assert raised.value.code == 1 and commands(c) == [TAG_EXISTS, GIT_TAG[0]]
    assert "the images are tagged release-1.4.0 in ECR" in capsys.readouterr().err
    assert release_digests(aws.ecr) == main_digests(aws.ecr)

    again = MockContext(run={TAG_EXISTS: failed(1), **dict.fromkeys(GIT_TAG, True)})
    release_tasks.tag(again, "v1.4.0", env="rehearsal", sha=SHA)
    assert commands(again) == [TAG_EXISTS, *GIT_TAG]
    assert capsys.readouterr().out.count("already promoted") == 3


def test_the_sandbox_promotes_without_touching_git(
    aws: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(run={})
    release_tasks.tag(c, "v1.4.0", env="sandbox", sha=SHA)
    assert ran(c).call_count == 0
    assert release_digests(aws.ecr) == main_digests(aws.ecr)
    assert "no git repository to tag" in capsys.readouterr().err
    with pytest.raises(Exit) as raised:
        release_tasks.tag(c, "v1.5.0", env="sandbox")
    assert raised.value.code == 2 and "pass --sha" in said(raised)


# -- compose.smoke -------------------------------------------------------------------------------

SERVICES = ["backend", "worker", "beat", "frontend"]
UP = "docker compose --env-file .env.sample up --detach backend worker beat frontend"
PS = "docker compose --env-file .env.sample ps --all --format json"
DOWN = "docker compose --env-file .env.sample down"


def ps(**states: str) -> Result:
    rows = [
        {
            "Name": f"adinsights-{s}-1",
            "Service": s,
            "State": states.get(s, "running"),
            "Health": "",
            "ExitCode": 1 if states.get(s) == "exited" else 0,
        }
        for s in SERVICES
        if states.get(s) != "missing"
    ]
    return Result("\n".join(json.dumps(r) for r in rows) + "\n")


@pytest.fixture
def env_sample(workdir: Path) -> Path:
    file = workdir / ".env.sample"
    file.write_text("DJANGO_SECRET_KEY=changeme\n")
    return file


def test_smoke_brings_the_app_up_checks_it_and_takes_it_down(
    env_sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = MockContext(run={UP: True, PS: ps(), DOWN: True})
    compose_tasks.smoke(c)
    assert commands(c) == [UP, PS, DOWN]
    assert "compose smoke passed: backend running, worker running" in capsys.readouterr().out


def test_smoke_waits_for_services_that_are_starting(
    env_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(waiting, "SYSTEM_CLOCK", clock)
    c = MockContext(
        run={UP: True, PS: [ps(frontend="missing"), ps(beat="created"), ps()], DOWN: True}
    )
    compose_tasks.smoke(c)
    assert commands(c) == [UP, PS, PS, PS, DOWN]
    assert len(clock.slept) == 2


def test_an_exited_service_fails_shows_its_logs_and_still_goes_down(env_sample: Path) -> None:
    logs = "docker compose --env-file .env.sample logs --no-color --tail 50 worker"
    c = MockContext(run={UP: True, PS: ps(worker="exited"), logs: True, DOWN: True})
    with pytest.raises(Exit) as raised:
        compose_tasks.smoke(c)
    assert raised.value.code == 1 and commands(c) == [UP, PS, logs, DOWN]
    assert "worker exited with exit code 1" in said(raised)


def test_a_service_that_never_runs_times_out(env_sample: Path) -> None:
    logs = "docker compose --env-file .env.sample logs --no-color --tail 50 beat"
    c = MockContext(run={UP: True, PS: ps(beat="restarting"), logs: True, DOWN: True})
    with pytest.raises(Exit) as raised:
        compose_tasks.smoke(c, timeout=0)
    assert raised.value.code == 1 and commands(c) == [UP, PS, logs, DOWN]
    assert "timed out after 0s waiting for compose services" in said(raised)


def test_a_failed_up_still_goes_down(env_sample: Path) -> None:
    c = MockContext(
        run={UP: failed(1, "", "pull access denied for adinsights-backend"), DOWN: True}
    )
    with pytest.raises(Exit) as raised:
        compose_tasks.smoke(c, services="backend worker beat frontend")
    assert raised.value.code == 1 and commands(c) == [UP, DOWN]
    assert "| pull access denied" in said(raised)


def test_a_failed_down_after_a_good_smoke_exits_1(env_sample: Path) -> None:
    c = MockContext(run={UP: True, PS: ps(), DOWN: failed(1, "", "network in use")})
    with pytest.raises(Exit) as raised:
        compose_tasks.smoke(c)
    assert raised.value.code == 1 and commands(c) == [UP, PS, DOWN]


def test_smoke_runs_the_services_asked_for(env_sample: Path) -> None:
    up = "docker compose --env-file .env.sample up --detach backend frontend"
    c = MockContext(run={up: True, PS: ps(worker="exited", beat="missing"), DOWN: True})
    compose_tasks.smoke(c, services="backend frontend")
    assert commands(c) == [up, PS, DOWN]


def test_smoke_needs_the_env_file_before_any_command() -> None:
    c = MockContext(run={})
    with pytest.raises(Exit) as raised:
        compose_tasks.smoke(c)
    assert raised.value.code == 2 and ".env.sample not found" in said(raised)
    assert ran(c).call_count == 0


def test_help_after_the_task_name_points_at_the_help(aws: SimpleNamespace) -> None:
    c = MockContext(run={})
    with pytest.raises(Exit) as raised:
        release_tasks.tag(c, "--help", env="rehearsal")
    assert raised.value.code == 2 and "inv --help release.tag" in said(raised)
    assert ran(c).call_count == 0
