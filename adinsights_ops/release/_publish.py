"""Build, push and release the images (runbook section 4.1), through the caller's shell.

`run_ci`, `build_images`, `push_images` and `tag_release` are what `inv release.*` does, as
functions a script can call with its own runner: each returns what it did (attrs) and reports
the commands it starts through `on_start`. Usage errors come before any command that changes
anything.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import attrs

from adinsights_ops.errors import OpsError, UsageError
from adinsights_ops.release._build import (
    CommandFailed,
    ReleaseSettings,
    ci_commands,
    docker_build_commands,
    docker_push_commands,
    git_tag_commands,
    image_refs,
    in_dir,
    registry_login,
)
from adinsights_ops.release._rules import (
    ImageTag,
    Promotion,
    TagExists,
    image_digests,
    main_tag,
    promote,
)
from adinsights_ops.release._shell import (
    OnStart,
    Shell,
    docker_login,
    git_tag_exists,
    resolve_sha,
    run_all,
)

if TYPE_CHECKING:
    from adinsights_ops.config import Environment
    from adinsights_ops.opsenv import OpsEnv

OpenOps = Callable[["Environment"], AbstractContextManager["OpsEnv"]]

# What `tag_release` did with git (`TagResult.git`).
TAGGED = "tagged"
WOULD_TAG = "would tag"  # --dry-run
NO_REPOSITORY = "no repository"  # an environment without an application repository


@attrs.frozen
class CiRun:
    """The CI commands run, in order; every one exited 0."""

    commands: tuple[str, ...]


@attrs.frozen
class BuiltImages:
    """The images built (or pushed): name -> `<registry>/<repository>:main-<sha>`."""

    sha: str
    refs: dict[str, str]
    commands: tuple[str, ...]


@attrs.frozen
class PushedImages:
    """The images pushed, and the digest ECR holds for each (name -> digest)."""

    sha: str
    refs: dict[str, str]
    digests: dict[str, str]


@attrs.frozen
class TagResult:
    """A release: the promotion in ECR, and the git tag made (or what would be run)."""

    environment: str
    version: str
    ecr_tag: str
    sha: str
    promotion: Promotion
    git_commands: tuple[str, ...]
    git: str  # TAGGED | WOULD_TAG | NO_REPOSITORY


def run_ci(
    shell: Shell, settings: ReleaseSettings, project_dir: str, *, on_start: OnStart | None = None
) -> CiRun:
    """Run the CI commands in order; the first that fails stops the rest (`CommandFailed`)."""
    return CiRun(run_all(shell, ci_commands(settings.ci, project_dir), on_start=on_start))


def build_images(
    shell: Shell,
    environment: Environment,
    settings: ReleaseSettings,
    sha: str,
    *,
    project_dir: str = ".",
    on_start: OnStart | None = None,
) -> BuiltImages:
    """docker build every image as `<registry>/<repository>:main-<sha>`, in `project_dir`."""
    repos, registry = environment.repositories, environment.registry
    commands = docker_build_commands(settings.images, registry, sha, repositories=repos)
    run_all(shell, [in_dir(cmd, project_dir) for cmd in commands], on_start=on_start)
    refs = image_refs(settings.images, registry, sha, repositories=repos)
    return BuiltImages(sha, refs, tuple(commands))


def push_images(
    shell: Shell,
    ops: OpsEnv,
    settings: ReleaseSettings,
    sha: str,
    *,
    on_start: OnStart | None = None,
) -> PushedImages:
    """Log in to ECR, docker push the main-<sha> images, and check that ECR has every one."""
    environment = ops.env
    repos, registry = environment.repositories, environment.registry
    commands = docker_push_commands(settings.images, registry, sha, repositories=repos)
    pushed = [repos[i.name] for i in settings.images]
    ecr = ops.aws.client("ecr")
    docker_login(shell, registry_login(ecr, registry=registry), registry, on_start=on_start)
    run_all(shell, commands, on_start=on_start)
    digests = image_digests(ecr, repositories=pushed, tag=main_tag(sha))
    missing = [repo for repo, digest in digests.items() if digest is None]
    if missing:
        raise OpsError(
            f"docker push reported success, but ECR has no {main_tag(sha)} in "
            f"{', '.join(missing)}: check the registry ({registry})"
        )
    refs = image_refs(settings.images, registry, sha, repositories=repos)
    found = {i.name: str(digests[repos[i.name]]) for i in settings.images}
    return PushedImages(sha, refs, found)


def tag_release(
    shell: Shell,
    environment: Environment,
    open_ops: OpenOps,
    *,
    release: ImageTag,
    sha: str | None,
    project_dir: str = ".",
    use_git: bool = True,
    dry_run: bool = False,
    on_promoted: Callable[[Promotion], None] | None = None,
    on_start: OnStart | None = None,
    on_note: Callable[[str], None] | None = None,
) -> TagResult:
    """Release `release` (vX.Y.Z): retag main-<sha> release-X.Y.Z in ECR, then git tag it.

    Refused before any change (exit 2): no sha where there is no repository to read HEAD from
    (`use_git` false), a git tag that exists, a main-<sha> missing or a release tag on another
    image (`promote`). `on_promoted` hears the promotion before git runs; when git fails after
    it, `on_note` hears that ECR is done and a re-run finishes, then `CommandFailed` is raised.
    """
    if not use_git and not sha:
        raise UsageError(
            f"{environment.name} has no application repository to read HEAD from: "
            "pass --sha <the main build to release>"
        )
    commit = resolve_sha(shell, sha, project_dir)
    if use_git and git_tag_exists(shell, release.given, project_dir):
        raise TagExists(release.given)
    with open_ops(environment) as ops:
        promotion = promote(
            ops.aws.client("ecr"),
            repositories=list(environment.repositories.values()),
            sha=commit,
            version=release.given,
            dry_run=dry_run,
        )
    git = tuple(in_dir(cmd, project_dir) for cmd in git_tag_commands(release.given, commit))
    if on_promoted is not None:
        on_promoted(promotion)
    result = TagResult(
        environment.name, release.given, release.ecr_tag, commit, promotion, git, NO_REPOSITORY
    )
    if not use_git:
        return result
    if dry_run:
        return attrs.evolve(result, git=WOULD_TAG)
    try:
        run_all(shell, git, on_start=on_start)
    except CommandFailed:
        if on_note is not None:
            on_note(
                f"the images are tagged {release.ecr_tag} in ECR; the git tag is not done. "
                f"Fix the cause below, then run the same `inv release.tag {release.given} ...` "
                "again."
            )
        raise
    return attrs.evolve(result, git=TAGGED)
