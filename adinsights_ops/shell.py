"""Running a command: the runner a caller passes to the library functions that shell out.

Terraform's engine and the Airbyte host check run commands through a `Runner`: anything with
`run(command, *, hide, warn, pty, in_stream, timeout, env)` returning a result with `stdout`,
`stderr` and `exited`. The tasks pass their Invoke `Context` (`c`), the host check a Fabric
`Connection`, tests Invoke's `MockContext`; a caller with none of those (a script, the deploy
pipeline) gets `LocalRunner`, a subprocess behind the same interface.

The library does not import the task runner, so a runner's timeout is recognised by its class name:
Invoke's `CommandTimedOut` and this module's both carry the result of the command that was cut off
(`timed_out` returns it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

TIMED_OUT = "CommandTimedOut"
NO_EXIT_STATUS = -1


class CommandResult(Protocol):
    """What a finished (or cut-off) command left: its output and exit code."""

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...

    @property
    def exited(self) -> int: ...


class Runner(Protocol):
    """What runs a command: Invoke's `Context`, Fabric's `Connection`, `LocalRunner`.

    The keywords are Invoke's; a runner returns None only when asked to `disown` a command, which
    the library never does.
    """

    def run(
        self,
        command: str,
        *,
        hide: bool | str = ...,
        warn: bool = ...,
        pty: bool = ...,
        in_stream: Any = ...,
        timeout: float | None = ...,
        env: Mapping[str, str] | None = ...,
    ) -> CommandResult | None: ...


@attrs.frozen
class LocalResult:
    """A command `LocalRunner` ran."""

    command: str
    stdout: str = ""
    stderr: str = ""
    exited: int = 0

    @property
    def ok(self) -> bool:
        return self.exited == 0


class CommandTimedOut(Exception):
    """`LocalRunner`'s command outlived its timeout; `result` holds what it printed until then."""

    def __init__(self, result: CommandResult, timeout: float) -> None:
        super().__init__(f"command timed out after {timeout:g}s: {getattr(result, 'command', '')}")
        self.result = result
        self.timeout = timeout


class CommandFailed(Exception):
    """`LocalRunner`'s command exited non-zero and the caller did not pass `warn=True`."""

    def __init__(self, result: LocalResult) -> None:
        super().__init__(f"`{result.command}` exited {result.exited}")
        self.result = result


def timed_out(exc: BaseException) -> CommandResult | None:
    """The cut-off command's result when `exc` is a runner's timeout; None for anything else."""
    if not any(cls.__name__ == TIMED_OUT for cls in type(exc).__mro__):
        return None
    result = getattr(exc, "result", None)
    return result if result is not None else LocalResult("", exited=NO_EXIT_STATUS)


class LocalRunner:
    """Runs a command in `/bin/sh` on this machine, with Invoke's keywords.

    Output is always captured (the library prints nothing; `hide` is accepted and ignored), stdin
    is closed, and `env` is added to this process's environment. A command that outlives `timeout`
    is killed with its process group and raises `CommandTimedOut`; a non-zero exit raises
    `CommandFailed` unless `warn=True`. A command the shell cannot find exits 127.
    """

    def run(
        self,
        command: str,
        *,
        hide: bool | str = True,
        warn: bool = False,
        pty: bool = False,
        in_stream: Any = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> LocalResult:
        del hide, pty, in_stream
        with subprocess.Popen(
            command,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env={**os.environ, **env} if env else None,
            start_new_session=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                stdout, stderr = process.communicate()
                cut = LocalResult(command, stdout or "", stderr or "", NO_EXIT_STATUS)
                raise CommandTimedOut(cut, timeout or 0.0) from None
        result = LocalResult(command, stdout or "", stderr or "", process.returncode)
        if result.exited != 0 and not warn:
            raise CommandFailed(result)
        return result
