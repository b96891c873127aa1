"""A dbt build prepared ahead of time: dbt starts and parses in its own process now, builds later.

    with dbt.prepare(project_dir="dbt", target="prod", target_path=target) as prepared:
        ...                                   # meanwhile dbt imports itself and parses the project
        result = prepared.build(timeout=3600)  # dbt build on the parsed manifest

Starting dbt and parsing a project take seconds of one CPU that a deploy can spend while it does
other things (preflight, the lock, the Airbyte sync). The worker (`_worker`) uses dbt's
programmatic runner: `parse` returns the manifest and `build` runs on it without parsing again.
`build` has the semantics of `dbt.build`: the same results and errors, the deadline counted from
the go, the process group killed at it. A prepared build that is not wanted is cancelled (the
context manager does it on exit); a worker whose caller dies exits when its stdin closes.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from adinsights_ops.dbt._build import (
    DEFAULT_TIMEOUT,
    Invocation,
    Selection,
    invocation_of,
    result_of,
)
from adinsights_ops.dbt._process import (
    KILL_GRACE,
    READER_JOIN,
    TAIL_LINES,
    OnLine,
    ProcessOutcome,
    kill_group,
    wait_or_kill,
)
from adinsights_ops.dbt._results import BuildResult
from adinsights_ops.errors import UsageError
from adinsights_ops.waiting import check_timeout

log = logging.getLogger("adinsights_ops.dbt")

WORKER = "adinsights_ops.dbt._worker"


def prepare(
    *,
    project_dir: str | os.PathLike[str],
    target: str,
    select: Selection = None,
    exclude: Selection = None,
    selector: str | None = None,
    vars: Mapping[str, Any] | None = None,
    profiles_dir: str | os.PathLike[str] | None = None,
    target_path: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    full_refresh: bool = False,
    env: Mapping[str, str] | None = None,
) -> PreparedBuild:
    """Start dbt and its parse of the project now; `.build()` runs the build on that parse.

    Takes the options of `dbt.build` but its deadline and output printer, which `.build()` takes.
    A project that is not one is refused here (UsageError); anything dbt itself refuses (a parse
    error, a bad profile) is raised by `.build()`, as `dbt.build` raises it.
    """
    invocation = invocation_of(
        project_dir=project_dir,
        target=target,
        select=select,
        exclude=exclude,
        selector=selector,
        vars=vars,
        profiles_dir=profiles_dir,
        target_path=target_path,
        log_path=log_path,
        full_refresh=full_refresh,
        env=env,
    )
    spec = {
        "parse": list(invocation.parse_flags),
        "build": [*invocation.parse_flags, *invocation.build_flags],
    }
    return PreparedBuild(invocation, [sys.executable, "-m", WORKER, json.dumps(spec)])


class PreparedBuild:
    """A dbt process that has parsed (or is parsing) a project and waits to build it."""

    def __init__(self, invocation: Invocation, argv: list[str]) -> None:
        self._invocation = invocation
        self._output = _Output()
        self._state = "prepared"
        self._started = time.monotonic()
        self._process = subprocess.Popen(
            argv,
            cwd=str(invocation.target_dir),  # as dbt.build: relative profile paths land there
            env=dict(invocation.env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as one at the deadline
        )
        assert self._process.stdout is not None
        self._reader = threading.Thread(
            target=self._output.read,
            args=(self._process.stdout,),
            name="dbt-output",
            daemon=True,
        )
        self._reader.start()
        log.debug("dbt prepared: pid %s for %s", self._process.pid, invocation.describe())

    @property
    def pid(self) -> int:
        """The worker's process id (also its process group's)."""
        return self._process.pid

    @property
    def project(self) -> Path:
        return self._invocation.project

    @property
    def profiles(self) -> Path:
        return self._invocation.profiles

    @property
    def target(self) -> str:
        return self._invocation.target

    @property
    def target_path(self) -> Path:
        return self._invocation.target_dir

    def build(
        self, *, timeout: float = DEFAULT_TIMEOUT, on_output: OnLine | None = None
    ) -> BuildResult:
        """Build on the prepared parse; what `dbt.build` returns or raises for the same build.

        `timeout` counts from this call: at it, the process group is killed (`BuildTimedOut`).
        `on_output` gets the lines dbt printed so far, then each new one (from a reader thread).
        A worker that died before this call (a parse error, a kill) is `DbtCrashed` with its output.
        """
        timeout = check_timeout(timeout)
        if self._state != "prepared":
            raise UsageError(f"this prepared dbt build was {self._state}: prepare another")
        self._state = "built"
        process = self._process
        self._output.listen(on_output)
        # Nothing of a previous build may pass for this one's (the parse writes no run results).
        self._invocation.run_results.unlink(missing_ok=True)
        started = time.monotonic()
        try:
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # it died before the go: the code says why
                process.stdin.write(b"go\n")
                process.stdin.flush()
            timed_out = wait_or_kill(process, timeout, KILL_GRACE)
        finally:
            self._close()
        outcome = ProcessOutcome(
            returncode=None if timed_out else process.returncode,
            output_tail=self._output.tail(),
            elapsed=time.monotonic() - started,
            timed_out=timed_out,
        )
        log.debug(
            "prepared dbt build (pid %s) in %s -> %s in %.1f s (%.1f s after it was started)",
            process.pid,
            self._invocation.project,
            "timed out" if timed_out else f"exit {outcome.returncode}",
            outcome.elapsed,
            time.monotonic() - self._started,
        )
        return result_of(self._invocation, outcome, timeout)

    def cancel(self) -> None:
        """Stop the worker if it still runs (its whole process group); nothing is built after."""
        if self._state == "prepared":
            self._state = "cancelled"
        if self._process.poll() is None:
            kill_group(self._process, KILL_GRACE)
            log.debug("prepared dbt build (pid %s) cancelled", self._process.pid)
        self._close()

    def _close(self) -> None:
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        self._reader.join(READER_JOIN)
        if self._process.stdout is not None:
            with contextlib.suppress(OSError):
                self._process.stdout.close()

    def __enter__(self) -> PreparedBuild:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cancel()

    def __repr__(self) -> str:
        return (
            f"<PreparedBuild pid={self._process.pid} {self._state}: {self._invocation.describe()}>"
        )


class _Output:
    """dbt's merged output: its tail, and the lines for whoever listens (what came before, replayed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._on_line: OnLine | None = None

    def read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self._tail.append(line)
                self._send(line)

    def listen(self, on_line: OnLine | None) -> None:
        with self._lock:
            self._on_line = on_line
            for line in list(self._tail):
                self._send(line)

    def tail(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._tail)

    def _send(self, line: str) -> None:
        if self._on_line is None:
            return
        try:
            self._on_line(line)
        except Exception:  # a broken progress printer must not stop the build
            self._on_line = None
