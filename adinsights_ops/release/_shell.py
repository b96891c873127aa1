"""Running the release commands through the caller's runner (runbook section 4.1).

The library never starts a shell itself: every function here takes a `Shell`, an object with
`run(command, **kwargs)` as an Invoke `Context` has, which the tasks pass in (`c`). A command
that exits non-zero never raises in the shell (`warn=True`); the functions here decide.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from adinsights_ops.release._build import (
    CommandFailed,
    Completed,
    RegistryLogin,
    Run,
    docker_login_command,
    git_head_command,
    git_tag_exists_command,
    in_dir,
    output_tail,
    run_in_order,
)
from adinsights_ops.release._rules import validate_sha

OnStart = Callable[[str], None]


class Shell(Protocol):
    """What runs a command: an Invoke `Context` (or `MockContext`)."""

    def run(self, command: str, **kwargs: Any) -> Any: ...


def runner(shell: Shell, *, hide: bool = False) -> Run:
    """`shell` as a `Run`: one command, its output shown (or hidden), never raising on its exit."""

    def run(command: str) -> Completed:
        result: Completed = shell.run(command, warn=True, pty=False, hide=hide)
        return result

    return run


def checked(shell: Shell, command: str) -> Completed:
    """Run `command` with its output hidden; a non-zero exit is a `CommandFailed`."""
    result = runner(shell, hide=True)(command)
    if result.exited != 0:
        raise CommandFailed(command, result.exited, output_tail(result.stdout, result.stderr))
    return result


def run_all(
    shell: Shell, commands: Sequence[str], *, on_start: OnStart | None = None
) -> tuple[str, ...]:
    """`run_in_order` through `shell`, each command's output shown as it runs."""
    return run_in_order(runner(shell), commands, on_start=on_start)


def head_sha(shell: Shell, project_dir: str) -> str:
    """The checkout's HEAD as CI tags main builds (`git rev-parse --short=7 HEAD`)."""
    result = checked(shell, in_dir(git_head_command(), project_dir))
    return validate_sha(result.stdout.strip())


def resolve_sha(shell: Shell, sha: str | None, project_dir: str) -> str:
    """The sha given (validated), or the checkout's HEAD."""
    return validate_sha(sha) if sha else head_sha(shell, project_dir)


def git_tag_exists(shell: Shell, version: str, project_dir: str) -> bool:
    """Whether the checkout has the git tag `version`; git failing otherwise is `CommandFailed`."""
    command = in_dir(git_tag_exists_command(version), project_dir)
    result = runner(shell, hide=True)(command)
    if result.exited not in (0, 1):  # 128: not a git repository, or git is missing
        raise CommandFailed(command, result.exited, output_tail(result.stdout, result.stderr))
    return result.exited == 0


def docker_login(
    shell: Shell, login: RegistryLogin, registry: str, *, on_start: OnStart | None = None
) -> None:
    """docker login with the password on stdin only: never on a command line, never echoed."""
    command = docker_login_command(registry, login.username)
    if on_start is not None:
        on_start(command)
    result: Completed = shell.run(
        command,
        in_stream=io.StringIO(login.password),
        echo_stdin=False,
        warn=True,
        pty=False,
        hide=True,
    )
    if result.exited != 0:
        raise CommandFailed(command, result.exited, output_tail(result.stdout, result.stderr))
