"""The library's runner interface: `LocalRunner` for real, and how a runner's timeout is known."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from invoke.exceptions import CommandTimedOut as InvokeTimedOut
from invoke.exceptions import UnexpectedExit
from invoke.runners import Result

from adinsights_ops.shell import (
    NO_EXIT_STATUS,
    CommandFailed,
    CommandTimedOut,
    LocalRunner,
    timed_out,
)


def test_output_and_exit_code_are_captured() -> None:
    result = LocalRunner().run("echo out; echo err >&2; exit 3", warn=True)
    assert (result.stdout, result.stderr, result.exited, result.ok) == ("out\n", "err\n", 3, False)


def test_a_failure_raises_unless_warned() -> None:
    with pytest.raises(CommandFailed) as raised:
        LocalRunner().run("exit 5")
    assert raised.value.result.exited == 5


def test_env_is_added_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALREADY_THERE", "kept")
    result = LocalRunner().run('echo "$ALREADY_THERE $TF_INPUT"', env={"TF_INPUT": "0"})
    assert result.stdout == "kept 0\n"


def test_a_missing_command_exits_127() -> None:
    result = LocalRunner().run("no-such-command-anywhere-4711", warn=True)
    assert result.exited == 127


def test_stdin_is_closed() -> None:
    started = time.monotonic()
    result = LocalRunner().run("cat", timeout=10)
    assert result.stdout == "" and time.monotonic() - started < 5


def test_a_timeout_kills_the_whole_process_group_and_keeps_the_output(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(CommandTimedOut) as raised:
        LocalRunner().run(f"echo started; sleep 30 & echo $! > {pid_file}; wait", timeout=0.5)
    assert time.monotonic() - started < 10
    assert raised.value.timeout == 0.5
    assert raised.value.result.stdout == "started\n"
    assert raised.value.result.exited == NO_EXIT_STATUS
    child = int(pid_file.read_text())
    for _ in range(50):  # the kill is sent; give the kernel a moment to reap
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the background child {child} outlived the timeout")


def test_timeouts_are_known_by_name_whichever_runner_raised_them() -> None:
    cut = Result(command="terraform plan", stderr="still planning")
    assert timed_out(InvokeTimedOut(cut, timeout=5)) is cut
    local = CommandTimedOut(LocalRunner().run("true"), 5)
    assert timed_out(local) is local.result


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError("socket"),
        UnexpectedExit(Result(command="x", exited=1)),
        CommandFailed(LocalRunner().run("false", warn=True)),
        ValueError("CommandTimedOut"),
    ],
)
def test_other_errors_are_not_timeouts(error: BaseException) -> None:
    assert timed_out(error) is None
