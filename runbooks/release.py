"""Runbook section 4, build and release: `inv release.ci`, `release.build`, `release.push`, `release.tag`.

Shell-outs (CI commands, docker, git) go through Invoke's `c.run`; the commands themselves are
built by `adinsights_ops.release._build`, so `inv release.* --help` and the docs name the same thing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, Context, task

from runbooks import lazy, options
from runbooks.common import ENV_HELP, JSON_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _release as render
else:
    render = lazy.module("runbooks.render._release")

if TYPE_CHECKING:
    from adinsights_ops.config import Environment
    from adinsights_ops.release import ImageTag
    from adinsights_ops.release._build import ReleaseSettings

PROJECT_HELP = (
    "the application's checkout (backend/, frontend/, Makefile); default: the current folder"
)
SHA_HELP = "git commit to build/release (7-40 hex digits); default: `git rev-parse --short=7 HEAD`"


def check_project_dir(project_dir: str) -> None:
    options.folder(project_dir, "--project-dir", what="the application's checkout folder")


@task(klass=options.OpsTask, help={"project_dir": PROJECT_HELP})
@ops_task
def ci(c: Context, project_dir: str = ".") -> None:
    """Run the CI commands of runbook 4.1 in order; stop at the first that fails (exit 1).

    Defaults: ruff check backend, pytest -q backend, npm test -- --run and npm run build (in
    frontend/), make dbt-build. A `ci:` list in ./release.yaml replaces them.
    """
    from adinsights_ops.release import run_ci
    from adinsights_ops.release._build import load_settings

    check_project_dir(project_dir)
    render.ci_passed(run_ci(c, load_settings(), project_dir, on_start=render.announce))


def _images(
    c: Context, env: str, sha: str | None, project_dir: str
) -> tuple[Environment, ReleaseSettings, str]:
    """The environment, the release settings and the sha; every usage error before any command."""
    from adinsights_ops import config
    from adinsights_ops.release import validate_sha
    from adinsights_ops.release._build import check_images, load_settings
    from adinsights_ops.release._shell import resolve_sha

    if sha is not None:  # given, it names a commit (never '' = HEAD)
        options.ascii_text(sha, "--sha", what="a git commit (7-40 hex digits)")
        validate_sha(sha)
    environment = config.load(env)
    settings = load_settings()
    check_images(settings.images, environment.repositories)
    check_project_dir(project_dir)
    return environment, settings, resolve_sha(c, sha, project_dir)


@task(klass=options.OpsTask, help={"env": ENV_HELP, "sha": SHA_HELP, "project_dir": PROJECT_HELP})
@ops_task
def build(
    c: Context, env: str = options.ENV_DEFAULT, sha: str | None = None, project_dir: str = "."
) -> None:
    """docker build backend, worker and frontend as <registry>/<repository>:main-<sha>."""
    from adinsights_ops.release import build_images

    environment, settings, commit = _images(c, env, sha, project_dir)
    found = build_images(
        c, environment, settings, commit, project_dir=project_dir, on_start=render.announce
    )
    render.built(found)


@task(klass=options.OpsTask, help={"env": ENV_HELP, "sha": SHA_HELP, "project_dir": PROJECT_HELP})
@ops_task
def push(
    c: Context, env: str = options.ENV_DEFAULT, sha: str | None = None, project_dir: str = "."
) -> None:
    """Log in to ECR and docker push the main-<sha> images; check that ECR has them."""
    from adinsights_ops.loader import open_environment
    from adinsights_ops.release import push_images

    environment, settings, commit = _images(c, env, sha, project_dir)
    with open_environment(environment) as ops:
        found = push_images(c, ops, settings, commit, on_start=render.announce)
    render.pushed(found)


def _version(version: str, sha: str | None) -> ImageTag:
    """The release given, checked with the sha (when given) before anything is opened."""
    from adinsights_ops.errors import UsageError
    from adinsights_ops.release import parse_version, validate_sha

    options.ascii_text(version, "version", what="a release vX.Y.Z")
    if sha is not None:  # given, it names a commit (never '' = HEAD)
        options.ascii_text(sha, "--sha", what="a git commit (7-40 hex digits)")
    if version.startswith("-"):
        raise UsageError(
            f"expected a version vX.Y.Z first, got {version!r} (help: inv --help release.tag)"
        )
    release = parse_version(version)
    if sha:
        validate_sha(sha)
    return release


@task(
    klass=options.OpsTask,
    positional=["version"],
    help={
        "version": "the release, vX.Y.Z",
        "env": ENV_HELP + "; its ECR repositories are promoted",
        "sha": SHA_HELP,
        "dry_run": "check everything and print what would happen; change nothing",
        "project_dir": PROJECT_HELP + " (the git repository to tag)",
        "json": JSON_HELP,
    },
)
@ops_task
def tag(
    c: Context,
    version: str,
    env: str = options.ENV_DEFAULT,
    sha: str | None = None,
    dry_run: bool = False,
    project_dir: str = ".",
    json: bool = False,
) -> None:
    """Release vX.Y.Z: retag the tested main-<sha> images release-X.Y.Z in ECR, then git tag it.

    Refuses (exit 2, nothing changed) a malformed version, a git tag that exists, a main-<sha>
    image missing in any repository, or a release-X.Y.Z tag on another image. Re-running after a
    failure is safe: repositories already tagged with the same image are "already promoted".
    """
    from functools import partial

    from adinsights_ops import config
    from adinsights_ops.loader import open_environment
    from adinsights_ops.release import tag_release

    release = _version(version, sha)
    environment = config.load(env)
    check_project_dir(project_dir)
    result = tag_release(
        c,
        environment,
        open_environment,
        release=release,
        sha=sha,
        project_dir=project_dir,
        # The sandbox has images but no application repository: tagging here would tag this one.
        use_git=not environment.sandbox,
        dry_run=dry_run,
        on_promoted=partial(render.promotion, as_json=json),
        on_start=render.announce,
        on_note=render.note,
    )
    render.tagged(result)


ns = Collection("release")
for t in (ci, build, push, tag):
    ns.add_task(t)
