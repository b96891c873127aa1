"""Release library: versions, shas, build/push/git/compose commands, settings, and ECR promotion."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import moto
import pytest
from botocore.exceptions import ClientError
from invoke.runners import Result

from adinsights_ops.errors import ConfigError, OpsError, UsageError, WaitFailed, WaitTimedOut
from adinsights_ops.release import (
    ALREADY_PROMOTED,
    PROMOTED,
    WOULD_PROMOTE,
    ImageMissing,
    PromotionIncomplete,
    PromotionRefused,
    TagConflict,
    image_digests,
    main_tag,
    parse_version,
    promote,
    validate_sha,
)
from adinsights_ops.release._build import (
    DEFAULT_CI,
    DEFAULT_IMAGES,
    CiStep,
    CommandFailed,
    ImageBuild,
    check_images,
    ci_commands,
    docker_build_commands,
    docker_login_command,
    docker_push_commands,
    git_tag_commands,
    git_tag_exists_command,
    in_dir,
    load_settings,
    output_tail,
    registry_login,
    run_in_order,
)
from adinsights_ops.release._compose import (
    ComposeOutputUnreadable,
    ComposeStatus,
    down_command,
    logs_command,
    parse_ps,
    ps_command,
    up_command,
    wait_running,
)
from tests.simulated import FakeClock

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
REPOSITORIES = {
    "backend": "adinsights/backend",
    "worker": "adinsights/worker",
    "frontend": "adinsights/frontend",
}
REPOS = list(REPOSITORIES.values())
SHA = "a1b2c3d"
MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


# -- versions and shas ---------------------------------------------------------------------------


def test_parse_version_gives_the_release_image_tag() -> None:
    tag = parse_version(" v1.4.0 ")
    assert (tag.given, tag.ecr_tag, tag.kind) == ("v1.4.0", "release-1.4.0", "release")


@pytest.mark.parametrize("text", ["1.4.0", "v1.4", "release-1.4.0", "v01.4.0", "main-a1b2c3d", ""])
def test_parse_version_refuses_anything_but_vxyz(text: str) -> None:
    with pytest.raises(UsageError, match=r"expected vX\.Y\.Z") as raised:
        parse_version(text)
    assert raised.value.exit_code == 2


def test_validate_sha_lowercases_and_bounds_length() -> None:
    assert validate_sha("A1B2C3D") == "a1b2c3d"
    assert validate_sha("f" * 40) == "f" * 40
    assert main_tag("A1B2C3D") == "main-a1b2c3d"
    for bad in ("a1b2c3", "f" * 41, "a1b2c3g", "HEAD", "a1b2 c3d"):
        with pytest.raises(UsageError, match="7 to 40 hex digits"):
            validate_sha(bad)


# -- commands ------------------------------------------------------------------------------------


def test_docker_build_commands_tag_main_sha_per_repository() -> None:
    assert docker_build_commands(DEFAULT_IMAGES, REGISTRY, SHA, repositories=REPOSITORIES) == [
        f"docker build --file backend/Dockerfile --tag {REGISTRY}/adinsights/backend:main-a1b2c3d"
        " backend",
        "docker build --file backend/Dockerfile --target worker "
        f"--tag {REGISTRY}/adinsights/worker:main-a1b2c3d backend",
        f"docker build --file frontend/Dockerfile --tag {REGISTRY}/adinsights/frontend:main-a1b2c3d"
        " frontend",
    ]


def test_docker_push_and_login_commands_never_carry_a_password() -> None:
    assert docker_push_commands(DEFAULT_IMAGES, REGISTRY, SHA, repositories=REPOSITORIES) == [
        f"docker push {REGISTRY}/adinsights/backend:main-a1b2c3d",
        f"docker push {REGISTRY}/adinsights/worker:main-a1b2c3d",
        f"docker push {REGISTRY}/adinsights/frontend:main-a1b2c3d",
    ]
    assert docker_login_command(REGISTRY) == (
        f"docker login --username AWS --password-stdin {REGISTRY}"
    )


def test_commands_refuse_a_bad_sha_or_an_image_without_repository() -> None:
    with pytest.raises(UsageError):
        docker_build_commands(DEFAULT_IMAGES, REGISTRY, "not-a-sha", repositories=REPOSITORIES)
    extra = (*DEFAULT_IMAGES, ImageBuild("airbyte-ext", "airbyte/Dockerfile", "airbyte"))
    with pytest.raises(UsageError, match="'airbyte-ext' has no repository") as raised:
        check_images(extra, REPOSITORIES)
    assert raised.value.exit_code == 2


def test_git_commands() -> None:
    assert git_tag_exists_command("v1.4.0") == "git rev-parse -q --verify refs/tags/v1.4.0"
    assert git_tag_commands("v1.4.0", "A1B2C3D") == [
        'git tag -a v1.4.0 -m "Release v1.4.0" a1b2c3d',
        "git push origin v1.4.0",
    ]
    with pytest.raises(UsageError):
        git_tag_commands("v1.4.0; rm -rf /", SHA)


def test_ci_commands_run_each_step_in_its_folder() -> None:
    assert ci_commands(DEFAULT_CI) == [
        "ruff check backend",
        "pytest -q backend",
        "cd frontend && npm test -- --run",
        "cd frontend && npm run build",
        "make dbt-build",
    ]
    assert ci_commands(DEFAULT_CI[:3], "/srv/my app") == [
        "cd '/srv/my app' && ruff check backend",
        "cd '/srv/my app' && pytest -q backend",
        "cd '/srv/my app/frontend' && npm test -- --run",
    ]
    assert in_dir("make", "./") == "make"


# -- settings ------------------------------------------------------------------------------------


def test_settings_default_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADINSIGHTS_RELEASE", raising=False)
    settings = load_settings()
    assert settings.ci == DEFAULT_CI and settings.images == DEFAULT_IMAGES
    assert settings.source is None
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "missing.yaml")


def test_settings_file_replaces_ci_and_images(tmp_path: Path) -> None:
    file = tmp_path / "release.yaml"
    file.write_text(
        "ci:\n"
        "  - ruff check backend\n"
        "  - {run: npm ci, dir: frontend}\n"
        "images:\n"
        "  backend: {dockerfile: backend/Dockerfile, context: .}\n"
        "  worker: {dockerfile: backend/Dockerfile, context: ., target: celery}\n"
    )
    settings = load_settings(file)
    assert settings.ci == (CiStep("ruff check backend"), CiStep("npm ci", "frontend"))
    assert settings.images == (
        ImageBuild("backend", "backend/Dockerfile", "."),
        ImageBuild("worker", "backend/Dockerfile", ".", target="celery"),
    )


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("ci: []\n", "ci", "non-empty list"),
        ("ci:\n  - {dir: frontend}\n", "ci[0].run", "missing"),
        ("images:\n  backend: {dockerfile: x}\n", "images.backend.context", "missing"),
        ("cii: [make]\n", "cii", "unknown key"),
    ],
)
def test_settings_errors_name_the_file_and_key(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    file = tmp_path / "release.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(file)
    assert raised.value.key == key and expected in raised.value.expected
    assert raised.value.source == str(file)


# -- running commands ----------------------------------------------------------------------------


def test_run_in_order_stops_at_the_first_failure() -> None:
    ran: list[str] = []
    started: list[str] = []
    results = {
        "one": Result(exited=0),
        "two": Result(stdout="\n".join(f"line {i}" for i in range(50)), stderr="boom", exited=3),
        "three": Result(exited=0),
    }

    def run(command: str) -> Result:
        ran.append(command)
        return results[command]

    with pytest.raises(CommandFailed) as raised:
        run_in_order(run, ["one", "two", "three"], on_start=started.append)
    assert ran == started == ["one", "two"]
    failed = raised.value
    assert (failed.command, failed.exited, failed.passed, failed.skipped) == (
        "two",
        3,
        ("one",),
        ("three",),
    )
    assert failed.exit_code == 1 and failed.tail[-1] == "boom" and len(failed.tail) == 30
    assert str(failed) == "`two` failed with exit code 3 after 1 passed; 1 not run"
    assert failed.details[1:] == [f"| {t}" for t in failed.tail]
    assert run_in_order(lambda _: Result(exited=0), ["a", "b"]) == ("a", "b")


def test_output_tail_keeps_the_last_non_empty_lines() -> None:
    assert output_tail("a\n\nb\n", "c\n", lines=2) == ["b", "c"]
    assert output_tail("", "") == []


# -- ECR -----------------------------------------------------------------------------------------


def manifest(repository: str, name: str) -> str:
    """A small Docker v2 schema-2 manifest, unique to repository+name."""

    def digest(part: str) -> str:
        return "sha256:" + hashlib.sha256(f"{repository}:{name}:{part}".encode()).hexdigest()

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": digest("config"),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 3_370_706,
                    "digest": digest("layer"),
                }
            ],
        }
    )


@pytest.fixture
def ecr() -> Iterator[Any]:
    with moto.mock_aws():
        client = boto3.client("ecr", region_name="eu-west-1")
        for repo in REPOS:
            client.create_repository(repositoryName=repo)
            for name in (f"main-{SHA}", "release-1.3.0"):
                client.put_image(
                    repositoryName=repo,
                    imageManifest=manifest(repo, name),
                    imageManifestMediaType=MEDIA_TYPE,
                    imageTag=name,
                )
        yield client


def tags_by_digest(ecr: Any, repo: str) -> dict[str, set[str]]:
    details = ecr.describe_images(repositoryName=repo)["imageDetails"]
    return {d["imageDigest"]: set(d.get("imageTags", [])) for d in details}


def digest_of(ecr: Any, repo: str, tag: str) -> str | None:
    return image_digests(ecr, repositories=[repo], tag=tag)[repo]


def test_promote_retags_the_tested_image_in_every_repository(ecr: Any) -> None:
    before = {repo: digest_of(ecr, repo, f"main-{SHA}") for repo in REPOS}
    promotion = promote(ecr, repositories=REPOS, sha=SHA, version="v1.4.0")
    assert promotion.version == "v1.4.0" and promotion.sha == SHA and not promotion.dry_run
    assert [i.repository for i in promotion.images] == REPOS
    for image in promotion.images:
        assert (image.source_tag, image.new_tag, image.action) == (
            f"main-{SHA}",
            "release-1.4.0",
            PROMOTED,
        )
        assert image.digest == before[image.repository]
        # The same image (digest) now carries both tags: a retag, not a new image.
        assert tags_by_digest(ecr, image.repository)[image.digest] == {
            f"main-{SHA}",
            "release-1.4.0",
        }
        assert len(tags_by_digest(ecr, image.repository)) == 2
    assert promotion.changed == tuple(REPOS)


def test_promote_again_is_already_promoted_and_changes_nothing(ecr: Any) -> None:
    promote(ecr, repositories=REPOS, sha=SHA, version="v1.4.0")
    state = {repo: tags_by_digest(ecr, repo) for repo in REPOS}
    again = promote(ecr, repositories=REPOS, sha=SHA, version="v1.4.0")
    assert {i.action for i in again.images} == {ALREADY_PROMOTED}
    assert again.changed == ()
    assert {repo: tags_by_digest(ecr, repo) for repo in REPOS} == state


def test_promote_finishes_a_partial_promotion(ecr: Any) -> None:
    promote(ecr, repositories=REPOS[:1], sha=SHA, version="v1.4.0")
    promotion = promote(ecr, repositories=REPOS, sha=SHA, version="v1.4.0")
    assert [i.action for i in promotion.images] == [ALREADY_PROMOTED, PROMOTED, PROMOTED]


def test_dry_run_promotes_nothing(ecr: Any) -> None:
    promotion = promote(ecr, repositories=REPOS, sha=SHA, version="v1.4.0", dry_run=True)
    assert promotion.dry_run and {i.action for i in promotion.images} == {WOULD_PROMOTE}
    assert all(digest_of(ecr, repo, "release-1.4.0") is None for repo in REPOS)


def test_a_release_tag_on_another_image_refuses_before_any_change(ecr: Any) -> None:
    # release-1.3.0 exists and is another image than main-a1b2c3d in every repository.
    with pytest.raises(TagConflict) as raised:
        promote(ecr, repositories=REPOS, sha=SHA, version="v1.3.0")
    assert raised.value.exit_code == 2
    assert len(raised.value.problems) == 3
    assert "release-1.3.0 in adinsights/backend is sha256:" in str(raised.value)
    for repo in REPOS:
        assert digest_of(ecr, repo, "release-1.3.0") != digest_of(ecr, repo, f"main-{SHA}")


def test_a_conflict_in_one_repository_leaves_the_others_untouched(ecr: Any) -> None:
    repo = REPOS[2]
    ecr.put_image(
        repositoryName=repo,
        imageManifest=manifest(repo, "hotfix"),
        imageManifestMediaType=MEDIA_TYPE,
        imageTag="release-1.4.0",
    )
    with pytest.raises(TagConflict, match=r"release-1\.4\.0 in adinsights/frontend"):
        promote(ecr, repositories=REPOS, sha=SHA, version="v1.4.0")
    assert digest_of(ecr, REPOS[0], "release-1.4.0") is None
    assert digest_of(ecr, REPOS[1], "release-1.4.0") is None


def test_a_missing_main_image_refuses_and_names_the_repositories(ecr: Any) -> None:
    ecr.batch_delete_image(repositoryName=REPOS[1], imageIds=[{"imageTag": f"main-{SHA}"}])
    with pytest.raises(ImageMissing) as raised:
        promote(ecr, repositories=REPOS, sha=SHA, version="v1.4.0")
    assert isinstance(raised.value, PromotionRefused) and raised.value.exit_code == 2
    assert str(raised.value) == (
        "cannot promote v1.4.0: main-a1b2c3d is not in adinsights/worker (build and push it first)"
    )
    assert all(digest_of(ecr, repo, "release-1.4.0") is None for repo in REPOS)


def test_an_unknown_sha_or_repository_refuses(ecr: Any) -> None:
    with pytest.raises(ImageMissing, match="main-0123abc is not in adinsights/backend, "):
        promote(ecr, repositories=REPOS, sha="0123abc", version="v1.4.0")
    with pytest.raises(ImageMissing, match="repository adinsights/airbyte does not exist"):
        promote(ecr, repositories=[*REPOS, "adinsights/airbyte"], sha=SHA, version="v1.4.0")
    assert all(digest_of(ecr, repo, "release-1.4.0") is None for repo in REPOS)


def test_a_malformed_version_or_sha_refuses_before_any_call() -> None:
    class NoCalls:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"ECR called: {name}")

    never_called = cast("ECRClient", NoCalls())
    with pytest.raises(UsageError, match="malformed version"):
        promote(never_called, repositories=REPOS, sha=SHA, version="1.4.0")
    with pytest.raises(UsageError, match="malformed git sha"):
        promote(never_called, repositories=REPOS, sha="xyz", version="v1.4.0")


def test_ecr_refusing_a_retag_midway_says_what_is_done(ecr: Any) -> None:
    class RefusesWorker:
        def __getattr__(self, name: str) -> Any:
            return getattr(ecr, name)

        def put_image(self, **kwargs: Any) -> Any:
            if kwargs["repositoryName"] == REPOS[1]:
                raise ClientError(
                    {"Error": {"Code": "LimitExceededException", "Message": "no"}}, "PutImage"
                )
            return ecr.put_image(**kwargs)

    with pytest.raises(PromotionIncomplete) as raised:
        promote(cast("ECRClient", RefusesWorker()), repositories=REPOS, sha=SHA, version="v1.4.0")
    assert raised.value.repository == REPOS[1] and raised.value.done == (REPOS[0],)
    assert raised.value.exit_code == 1 and "re-run the same command" in str(raised.value)
    assert digest_of(ecr, REPOS[0], "release-1.4.0") == digest_of(ecr, REPOS[0], f"main-{SHA}")
    # The re-run finishes it.
    rerun = promote(ecr, repositories=REPOS, sha=SHA, version="v1.4.0")
    assert [i.action for i in rerun.images] == [ALREADY_PROMOTED, PROMOTED, PROMOTED]


def test_image_digests_are_none_where_the_tag_is_missing(ecr: Any) -> None:
    digests = image_digests(ecr, repositories=[*REPOS, "adinsights/nope"], tag=f"main-{SHA}")
    assert all((digests[r] or "").startswith("sha256:") for r in REPOS)
    assert digests["adinsights/nope"] is None
    assert image_digests(ecr, repositories=REPOS, tag="main-0000000") == dict.fromkeys(REPOS)


def test_registry_login_decodes_the_token_and_hides_the_password(ecr: Any) -> None:
    login = registry_login(ecr, registry=REGISTRY)
    assert login.username == "AWS"
    assert login.password == "123456789012-auth-token"  # moto's token for the account
    assert login.endpoint.startswith("https://123456789012.dkr.ecr.")
    assert login.password not in repr(login)


# -- compose -------------------------------------------------------------------------------------

SERVICES = ("backend", "worker", "beat", "frontend")


def ps_line(service: str, state: str = "running", health: str = "", code: int = 0) -> str:
    return json.dumps(
        {
            "Name": f"app-{service}-1",
            "Service": service,
            "State": state,
            "Health": health,
            "ExitCode": code,
        }
    )


def ps_output(**states: str) -> str:
    return "\n".join(ps_line(s, states.get(s, "running")) for s in SERVICES)


def test_compose_commands() -> None:
    assert up_command(SERVICES) == (
        "docker compose --env-file .env.sample up --detach backend worker beat frontend"
    )
    assert ps_command() == "docker compose --env-file .env.sample ps --all --format json"
    assert down_command() == "docker compose --env-file .env.sample down"
    assert logs_command(["worker"], tail=20) == (
        "docker compose --env-file .env.sample logs --no-color --tail 20 worker"
    )


def test_parse_ps_reads_json_lines_and_json_arrays() -> None:
    lines = parse_ps(ps_line("backend") + "\n" + ps_line("worker", "exited", code=137) + "\n")
    array = parse_ps(json.dumps([json.loads(ps_line("backend")), json.loads(ps_line("beat"))]))
    assert [(c.service, c.state, c.exit_code) for c in lines] == [
        ("backend", "running", 0),
        ("worker", "exited", 137),
    ]
    assert [c.service for c in array] == ["backend", "beat"]
    assert parse_ps("  \n") == ()
    with pytest.raises(ComposeOutputUnreadable):
        parse_ps("no configuration file provided: not found")


def test_compose_status_running_failed_waiting() -> None:
    status = ComposeStatus(
        SERVICES,
        parse_ps(
            "\n".join(
                [
                    ps_line("backend", health="healthy"),
                    ps_line("worker", "exited", code=1),
                    ps_line("beat", health="starting"),
                ]
            )
        ),
    )
    assert status.running == ("backend",)
    assert status.failed == {"worker": "exited with exit code 1"}
    assert status.waiting == ("beat", "frontend")
    assert not status.ready
    assert status.describe() == (
        "backend running, worker exited with exit code 1, beat running/starting, "
        "frontend not created"
    )
    assert ComposeStatus(("beat",), parse_ps(ps_line("beat", health="unhealthy"))).failed == {
        "beat": "unhealthy"
    }


def test_wait_running_polls_until_every_service_runs() -> None:
    outputs = iter(["", ps_output(frontend="created"), ps_output()])
    clock = FakeClock()
    status = wait_running(lambda: next(outputs), services=SERVICES, timeout=60, clock=clock)
    assert status.ready and status.running == SERVICES
    assert len(clock.slept) == 2


def test_wait_running_fails_as_soon_as_a_service_exits() -> None:
    clock = FakeClock()
    with pytest.raises(WaitFailed) as raised:
        wait_running(lambda: ps_output(worker="exited"), services=SERVICES, timeout=60, clock=clock)
    assert "worker exited" in raised.value.reason and clock.slept == []
    assert isinstance(raised.value.last_state, ComposeStatus)


def test_wait_running_times_out_with_the_last_status() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimedOut) as raised:
        wait_running(
            lambda: ps_output(frontend="restarting"), services=SERVICES, timeout=30, clock=clock
        )
    assert isinstance(raised.value, OpsError)
    assert isinstance(raised.value.last_state, ComposeStatus)
    assert raised.value.last_state.waiting == ("frontend",)
    assert sum(clock.slept) == pytest.approx(30)
