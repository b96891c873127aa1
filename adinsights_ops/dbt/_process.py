"""Run a command with a deadline, keep its output's tail, kill its process group on timeout.

`adinsights_ops.dbt` runs dbt through this (dbt's in-process runner keeps global state between
invocations, so each build is a fresh process). Import these through `adinsights_ops.dbt`.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, Protocol

import attrs

TAIL_LINES = 200
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of a timed-out process group
READER_JOIN = 5.0  # seconds to wait for the output reader once the process has gone

OnLine = Callable[[str], None]

log = logging.getLogger("adinsights_ops.dbt")


@attrs.frozen
class ProcessOutcome:
    """How a process ended: return code (None when killed at the deadline), output tail."""

    returncode: int | None
    output_tail: tuple[str, ...]
    elapsed: float
    timed_out: bool = False


class Runner(Protocol):
    """What runs a command for `dbt.build`: the real one is `run_process`; tests pass fakes."""

    def __call__(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str, timeout: float
    ) -> ProcessOutcome: ...


def run_process(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str,
    timeout: float,
    *,
    on_line: OnLine | None = None,
    tail_lines: int = TAIL_LINES,
    kill_grace: float = KILL_GRACE,
) -> ProcessOutcome:
    """Run `argv` in its own process group; at `timeout` seconds kill the group, never hang.

    stdout and stderr are merged; each line goes to `on_line` (called from a reader thread) and
    the last `tail_lines` lines are kept. A timed-out run gets SIGTERM, then SIGKILL after
    `kill_grace` seconds, sent to the whole group so that children the command started die too.
    """
    started = time.monotonic()
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    )
    assert proc.stdout is not None
    reader = threading.Thread(
        target=_read_lines, args=(proc.stdout, tail, on_line), name="dbt-output", daemon=True
    )
    reader.start()
    try:
        timed_out = wait_or_kill(proc, timeout, kill_grace)
    finally:
        reader.join(READER_JOIN)
    outcome = ProcessOutcome(
        returncode=None if timed_out else proc.returncode,
        output_tail=tuple(tail),
        elapsed=time.monotonic() - started,
        timed_out=timed_out,
    )
    log.debug(
        "process %s in %s -> %s in %.1f s",
        " ".join(argv),
        cwd,
        "timed out" if timed_out else f"exit {outcome.returncode}",
        outcome.elapsed,
    )
    return outcome


def _read_lines(stream: IO[str], tail: collections.deque[str], on_line: OnLine | None) -> None:
    for raw in stream:
        line = raw.rstrip("\n")
        tail.append(line)
        if on_line is not None:
            try:
                on_line(line)
            except Exception:  # a broken progress printer must not stop the build
                on_line = None


def wait_or_kill(proc: subprocess.Popen[Any], timeout: float, grace: float) -> bool:
    """Wait for `proc` until `timeout` seconds; True when the deadline came first and its process
    group was killed. Interrupted (Ctrl-C), the group is killed too: nothing runs on behind the
    operator's back."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc, grace)
        return True
    except BaseException:
        kill_group(proc, grace)
        raise
    return False


def kill_group(proc: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM to `proc`'s process group, SIGKILL after `grace` seconds; then reaped."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; members of its group may not be (they ignore SIGTERM, or are slow).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return
