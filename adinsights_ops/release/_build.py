"""Build and release commands (runbook section 4.1): CI, docker build/push, ECR login, git tags.

Everything here is pure or takes what it needs as arguments: the commands are built as strings
that the task layer runs through Invoke (`run_in_order` takes the runner as a callable), so the
exact commands can be checked without Docker or git. What to run is a small table with defaults
(`DEFAULT_CI`, `DEFAULT_IMAGES`) that an optional `release.yaml` replaces.
"""

from __future__ import annotations

import base64
import os
import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from adinsights_ops.config._reader import Reader, combined
from adinsights_ops.errors import ConfigError, OpsError, UsageError
from adinsights_ops.release import main_tag, parse_version, validate_sha

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

DEFAULT_FILE = "release.yaml"
TAIL_LINES = 30


@attrs.frozen
class CiStep:
    """One CI command, run in `directory` (relative to the application's checkout)."""

    command: str
    directory: str = "."


@attrs.frozen
class ImageBuild:
    """How to build one image; `name` is a key of the environment's `images.repositories`."""

    name: str
    dockerfile: str
    context: str
    target: str | None = None


# Runbook 4.1: `ruff check backend && pytest -q backend`, `npm test -- --run && npm run build`,
# `make dbt-build`. The frontend's npm scripts live in frontend/.
DEFAULT_CI = (
    CiStep("ruff check backend"),
    CiStep("pytest -q backend"),
    CiStep("npm test -- --run", "frontend"),
    CiStep("npm run build", "frontend"),
    CiStep("make dbt-build"),
)

DEFAULT_IMAGES = (
    ImageBuild("backend", "backend/Dockerfile", "backend"),
    ImageBuild("worker", "backend/Dockerfile", "backend", target="worker"),
    ImageBuild("frontend", "frontend/Dockerfile", "frontend"),
)


@attrs.frozen
class ReleaseSettings:
    """What CI runs and which images are built; `source` is the file they came from, if any."""

    ci: tuple[CiStep, ...] = DEFAULT_CI
    images: tuple[ImageBuild, ...] = DEFAULT_IMAGES
    source: str | None = None


def release_file(path: str | os.PathLike[str] | None = None) -> Path:
    """The release settings file: the argument, $ADINSIGHTS_RELEASE, or ./release.yaml."""
    return Path(path or os.environ.get("ADINSIGHTS_RELEASE") or DEFAULT_FILE)


def load_settings(path: str | os.PathLike[str] | None = None) -> ReleaseSettings:
    """The release settings: defaults, replaced section by section by the file when it exists.

    ./release.yaml is optional; a file named by the argument or $ADINSIGHTS_RELEASE must exist.
    """
    import yaml

    explicit = bool(path or os.environ.get("ADINSIGHTS_RELEASE"))
    file = release_file(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(source, "", "file not found") from None
        return ReleaseSettings()
    except OSError as exc:
        raise ConfigError(source, "", f"cannot be read ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", f"not valid YAML ({exc})") from exc
    return parse_settings(data if data is not None else {}, source)


def parse_settings(data: object, source: str) -> ReleaseSettings:
    """Validate the mapping of a release settings file (keys `ci` and `images`, both optional)."""
    r = Reader(source, data, "")
    ci = _ci(r, source) if r.data.get("ci") is not None else DEFAULT_CI
    images_r = r.section("images", required=False)
    images = _images(images_r) if images_r is not None else DEFAULT_IMAGES
    r.done()
    if r.errors:  # the reader records every problem and goes on: report them all at once
        raise combined(r.errors)
    return ReleaseSettings(ci=ci, images=images, source=source)


def _ci(r: Reader, source: str) -> tuple[CiStep, ...]:
    items = r.data["ci"]
    r.seen.add("ci")
    if not isinstance(items, list) or not items:
        raise ConfigError(source, "ci", "expected a non-empty list of commands")
    steps: list[CiStep] = []
    for index, item in enumerate(items):
        if isinstance(item, str) and item.strip():
            steps.append(CiStep(item.strip()))
            continue
        step = Reader(source, item, f"ci[{index}]", r.errors)
        steps.append(CiStep(step.text("run"), step.opt_text("dir") or "."))
        step.done()
    return tuple(steps)


def _images(r: Reader) -> tuple[ImageBuild, ...]:
    images: list[ImageBuild] = []
    for name in r.data:
        image = r.section(str(name))
        assert image is not None
        images.append(
            ImageBuild(
                name=str(name),
                dockerfile=image.text("dockerfile"),
                context=image.text("context"),
                target=image.opt_text("target"),
            )
        )
        image.done()
    if not images:
        raise ConfigError(r.source, "images", "expected at least one image")
    return tuple(images)


# -- commands -------------------------------------------------------------------------------------


def in_dir(command: str, directory: str) -> str:
    """`command` run from `directory` (unchanged for the current directory)."""
    directory = posixpath.normpath(directory)
    return command if directory == "." else f"cd {shlex.quote(directory)} && {command}"


def ci_commands(steps: Sequence[CiStep], project_dir: str = ".") -> list[str]:
    """The CI steps as shell commands, each from its folder of the checkout at `project_dir`."""
    return [in_dir(s.command, posixpath.join(project_dir, s.directory)) for s in steps]


def image_ref(registry: str, repository: str, tag: str) -> str:
    """`<registry>/<repository>:<tag>`, the name docker builds, pushes and ECS runs."""
    return f"{registry}/{repository}:{tag}"


def check_images(images: Sequence[ImageBuild], repositories: Mapping[str, str]) -> None:
    """Refuse an image the environment has no repository for (a usage error, exit 2)."""
    unknown = [i.name for i in images if i.name not in repositories]
    if unknown:
        raise UsageError(
            f"image {unknown[0]!r} has no repository in this environment (it has "
            f"{', '.join(sorted(repositories))}): fix `images` in release.yaml or "
            "`images.repositories` in environments.yaml"
        )


def image_refs(
    images: Sequence[ImageBuild], registry: str, sha: str, *, repositories: Mapping[str, str]
) -> dict[str, str]:
    """Image name -> `<registry>/<repository>:main-<sha>`; every image must have a repository."""
    check_images(images, repositories)
    tag = main_tag(sha)
    return {i.name: image_ref(registry, repositories[i.name], tag) for i in images}


def docker_build_commands(
    images: Sequence[ImageBuild], registry: str, sha: str, *, repositories: Mapping[str, str]
) -> list[str]:
    """One `docker build` per image, tagged `<registry>/<repository>:main-<sha>`."""
    refs = image_refs(images, registry, sha, repositories=repositories)
    commands = []
    for image in images:
        parts = ["docker", "build", "--file", image.dockerfile]
        if image.target:
            parts += ["--target", image.target]
        parts += ["--tag", refs[image.name], image.context]
        commands.append(shlex.join(parts))
    return commands


def docker_push_commands(
    images: Sequence[ImageBuild], registry: str, sha: str, *, repositories: Mapping[str, str]
) -> list[str]:
    """One `docker push` per image built by `docker_build_commands`."""
    refs = image_refs(images, registry, sha, repositories=repositories)
    return [shlex.join(["docker", "push", refs[i.name]]) for i in images]


def docker_login_command(registry: str, username: str = "AWS") -> str:
    """`docker login` reading the password from stdin: it never appears on a command line."""
    return shlex.join(["docker", "login", "--username", username, "--password-stdin", registry])


def git_head_command() -> str:
    """Prints the short sha CI tags main builds with."""
    return "git rev-parse --short=7 HEAD"


def git_tag_exists_command(version: str) -> str:
    """Exits 0 when the tag exists, 1 when it does not."""
    return f"git rev-parse -q --verify refs/tags/{parse_version(version).given}"


def git_tag_commands(version: str, sha: str) -> list[str]:
    """Create the annotated tag `vX.Y.Z` on `sha` and push it."""
    v, commit = parse_version(version).given, validate_sha(sha)
    return [f'git tag -a {v} -m "Release {v}" {commit}', f"git push origin {v}"]


# -- running commands in order --------------------------------------------------------------------


class Completed(Protocol):
    """What a finished command reports (an Invoke `Result` is one)."""

    @property
    def exited(self) -> int: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


Run = Callable[[str], Completed]


class CommandFailed(OpsError):
    """A command exited non-zero; carries it, its exit code (`exited`), its last output lines,
    and what ran before it. The process exit code stays 1 (`exit_code`), whatever `exited` is.
    """

    def __init__(
        self,
        command: str,
        exit_code: int,
        tail: Sequence[str],
        *,
        passed: Sequence[str] = (),
        skipped: Sequence[str] = (),
    ) -> None:
        after = f" after {len(passed)} passed" if passed else ""
        rest = f"; {len(skipped)} not run" if skipped else ""
        super().__init__(f"`{command}` failed with exit code {exit_code}{after}{rest}")
        self.command = command
        self.exited = exit_code
        self.tail = tuple(tail)
        self.passed = tuple(passed)
        self.skipped = tuple(skipped)
        self.details = (
            [f"last {len(tail)} lines of output:", *(f"| {t}" for t in tail)] if tail else []
        )


def output_tail(stdout: str, stderr: str, lines: int = TAIL_LINES) -> list[str]:
    """The last `lines` non-empty lines of a command's output (stdout, then stderr)."""
    text = [line.rstrip() for line in (stdout or "").splitlines() + (stderr or "").splitlines()]
    return [line for line in text if line.strip()][-lines:]


def run_in_order(
    run: Run, commands: Sequence[str], *, on_start: Callable[[str], None] | None = None
) -> tuple[str, ...]:
    """Run `commands` one after another; stop at the first that fails (`CommandFailed`).

    Returns the commands run, all of which exited 0.
    """
    passed: list[str] = []
    for index, command in enumerate(commands):
        if on_start is not None:
            on_start(command)
        result = run(command)
        if result.exited != 0:
            raise CommandFailed(
                command,
                result.exited,
                output_tail(result.stdout, result.stderr),
                passed=passed,
                skipped=commands[index + 1 :],
            )
        passed.append(command)
    return tuple(passed)


# -- ECR login ------------------------------------------------------------------------------------


@attrs.frozen
class RegistryLogin:
    """Credentials for `docker login` to ECR; the password is never shown in a repr."""

    username: str
    password: str = attrs.field(repr=False)
    endpoint: str
    expires_at: Any = None


def registry_login(ecr: ECRClient, *, registry: str) -> RegistryLogin:
    """A docker login for `registry` from ECR's authorization token (valid for 12 hours)."""
    account = registry.split(".", 1)[0]
    kwargs: dict[str, Any] = {"registryIds": [account]} if account.isdigit() else {}
    data = ecr.get_authorization_token(**kwargs)["authorizationData"]
    if not data:
        raise OpsError(f"ECR gave no authorization token for {registry}")
    token = base64.b64decode(data[0]["authorizationToken"]).decode()
    username, _, password = token.partition(":")
    return RegistryLogin(
        username=username or "AWS",
        password=password,
        endpoint=data[0].get("proxyEndpoint", ""),
        expires_at=data[0].get("expiresAt"),
    )
