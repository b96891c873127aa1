"""Runbook section 4, build and release: `inv release.ci`, `release.build`, `release.push`, `release.tag`.

Shell-outs (CI commands, docker, git) go through Invoke's `c.run`; the commands themselves are
built by `adinsights_ops.release_build`, so `inv release.* --help` and the docs name the same thing.
"""

from __future__ import annotations

from typing import Any

from invoke import Collection, Context, task

from runbooks import options
from runbooks.common import ENV_HELP, JSON_HELP, ops_task, say, to_json

PROJECT_HELP = (
    "the application's checkout (backend/, frontend/, Makefile); default: the current folder"
)
SHA_HELP = "git commit to build/release (7-40 hex digits); default: `git rev-parse --short=7 HEAD`"


def runner(c: Context, *, hide: bool = False) -> Any:
    """Run one command through Invoke, never raising on a non-zero exit (the caller decides)."""

    def run(command: str) -> Any:
        return c.run(command, warn=True, pty=False, hide=hide)

    return run


def check_project_dir(project_dir: str) -> None:
    from runbooks import options

    options.folder(project_dir, "--project-dir", what="the application's checkout folder")


def resolve_sha(c: Context, sha: str | None, project_dir: str) -> str:
    """The sha given (validated), or the checkout's HEAD as CI tags it."""
    from adinsights_ops.release import validate_sha
    from adinsights_ops.release_build import (
        CommandFailed,
        git_head_command,
        in_dir,
        output_tail,
    )

    if sha:
        return validate_sha(sha)
    command = in_dir(git_head_command(), project_dir)
    result = runner(c, hide=True)(command)
    if result.exited != 0:
        raise CommandFailed(command, result.exited, output_tail(result.stdout, result.stderr))
    return validate_sha(result.stdout.strip())


def _announce(command: str) -> None:
    say(f"== {command}")


@task(klass=options.OpsTask, help={"project_dir": PROJECT_HELP})
@ops_task
def ci(c: Context, project_dir: str = ".") -> None:
    """Run the CI commands of runbook 4.1 in order; stop at the first that fails (exit 1).

    Defaults: ruff check backend, pytest -q backend, npm test -- --run and npm run build (in
    frontend/), make dbt-build. A `ci:` list in ./release.yaml replaces them.
    """
    from adinsights_ops.release_build import ci_commands, load_settings, run_in_order

    check_project_dir(project_dir)
    settings = load_settings()
    passed = run_in_order(runner(c), ci_commands(settings.ci, project_dir), on_start=_announce)
    print(f"CI passed: {len(passed)} commands")


def _images(c: Context, env: str, sha: str | None, project_dir: str) -> tuple[Any, Any, str]:
    """The environment, the release settings and the sha; every usage error before any command."""
    from adinsights_ops import config
    from adinsights_ops.release import validate_sha
    from adinsights_ops.release_build import check_images, load_settings
    from runbooks import options

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
    c: Context, env: str | None = None, sha: str | None = None, project_dir: str = "."
) -> None:
    """docker build backend, worker and frontend as <registry>/<repository>:main-<sha>."""
    from adinsights_ops.release_build import (
        docker_build_commands,
        image_refs,
        in_dir,
        run_in_order,
    )

    environment, settings, commit = _images(c, env, sha, project_dir)
    repos = environment.repositories
    commands = docker_build_commands(
        settings.images, environment.registry, commit, repositories=repos
    )
    run_in_order(runner(c), [in_dir(cmd, project_dir) for cmd in commands], on_start=_announce)
    for ref in image_refs(
        settings.images, environment.registry, commit, repositories=repos
    ).values():
        print(ref)


@task(klass=options.OpsTask, help={"env": ENV_HELP, "sha": SHA_HELP, "project_dir": PROJECT_HELP})
@ops_task
def push(
    c: Context, env: str | None = None, sha: str | None = None, project_dir: str = "."
) -> None:
    """Log in to ECR and docker push the main-<sha> images; check that ECR has them."""
    from adinsights_ops.errors import OpsError
    from adinsights_ops.loader import open_environment
    from adinsights_ops.release import image_digests, main_tag
    from adinsights_ops.release_build import (
        docker_push_commands,
        image_refs,
        registry_login,
        run_in_order,
    )

    environment, settings, commit = _images(c, env, sha, project_dir)
    repos = environment.repositories
    commands = docker_push_commands(
        settings.images, environment.registry, commit, repositories=repos
    )
    pushed = [repos[i.name] for i in settings.images]
    with open_environment(environment) as ops:
        ecr = ops.aws.client("ecr")
        _docker_login(c, registry_login(ecr, registry=environment.registry), environment.registry)
        run_in_order(runner(c), commands, on_start=_announce)
        digests = image_digests(ecr, repositories=pushed, tag=main_tag(commit))
    missing = [repo for repo, digest in digests.items() if digest is None]
    if missing:
        raise OpsError(
            f"docker push reported success, but ECR has no {main_tag(commit)} in "
            f"{', '.join(missing)}: check the registry ({environment.registry})"
        )
    refs = image_refs(settings.images, environment.registry, commit, repositories=repos)
    for image in settings.images:
        print(f"{refs[image.name]}  {digests[repos[image.name]]}")


def _docker_login(c: Context, login: Any, registry: str) -> None:
    """docker login with the password on stdin only: never on a command line, never echoed."""
    import io

    from adinsights_ops.release_build import CommandFailed, docker_login_command, output_tail

    command = docker_login_command(registry, login.username)
    _announce(command)
    result: Any = c.run(
        command,
        in_stream=io.StringIO(login.password),
        echo_stdin=False,
        warn=True,
        pty=False,
        hide=True,
    )
    if result.exited != 0:
        raise CommandFailed(command, result.exited, output_tail(result.stdout, result.stderr))


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
    env: str | None = None,
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
    from adinsights_ops import config
    from adinsights_ops.errors import UsageError
    from adinsights_ops.loader import open_environment
    from adinsights_ops.release import TagExists, parse_version, promote, validate_sha
    from adinsights_ops.release_build import (
        CommandFailed,
        git_tag_commands,
        in_dir,
        run_in_order,
    )
    from runbooks import options

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
    environment = config.load(env)
    check_project_dir(project_dir)
    # The sandbox has images but no application repository: tagging here would tag this one.
    use_git = not environment.sandbox
    if not use_git and not sha:
        raise UsageError(
            f"{environment.name} has no application repository to read HEAD from: "
            "pass --sha <the main build to release>"
        )
    commit = resolve_sha(c, sha, project_dir)
    if use_git and _git_tag_exists(c, release.given, project_dir):
        raise TagExists(release.given)
    repositories = list(environment.repositories.values())
    with open_environment(environment) as ops:
        promotion = promote(
            ops.aws.client("ecr"),
            repositories=repositories,
            sha=commit,
            version=release.given,
            dry_run=dry_run,
        )
    git = [in_dir(cmd, project_dir) for cmd in git_tag_commands(release.given, commit)]
    if json:
        print(to_json(promotion))
    else:
        _print_promotion(promotion)
    if not use_git:
        say(f"{environment.name}: no git repository to tag; skipped: {'; '.join(git)}")
        return
    if dry_run:
        for command in git:
            print(f"would run: {command}")
        return
    try:
        run_in_order(runner(c), git, on_start=_announce)
    except CommandFailed:
        say(
            f"the images are tagged {release.ecr_tag} in ECR; the git tag is not done. "
            f"Fix the cause below, then run the same `inv release.tag {release.given} ...` again."
        )
        raise
    print(f"tagged {release.given} at {commit} and pushed it to origin")


def _git_tag_exists(c: Context, version: str, project_dir: str) -> bool:
    from adinsights_ops.release_build import (
        CommandFailed,
        git_tag_exists_command,
        in_dir,
        output_tail,
    )

    command = in_dir(git_tag_exists_command(version), project_dir)
    result = runner(c, hide=True)(command)
    if result.exited not in (0, 1):  # 128: not a git repository, or git is missing
        raise CommandFailed(command, result.exited, output_tail(result.stdout, result.stderr))
    return bool(result.exited == 0)


def _print_promotion(promotion: Any) -> None:
    head = "dry run, nothing changed: " if promotion.dry_run else ""
    print(f"{head}{promotion.version} from main-{promotion.sha}")
    for image in promotion.images:
        print(
            f"  {image.repository:<28} {image.source_tag} -> {image.new_tag}  "
            f"{image.digest[:19]}  {image.action}"
        )


ns = Collection("release")
for t in (ci, build, push, tag):
    ns.add_task(t)
