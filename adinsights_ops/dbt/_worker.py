"""The process behind `dbt.prepare`: import dbt and parse the project now, build when told.

    python -m adinsights_ops.dbt._worker '{"parse": [FLAGS...], "build": [FLAGS...]}'

It parses with dbt's programmatic runner (quietly: only errors are printed), then waits for a line
`go` on stdin and builds with the parsed manifest, so the build itself skips dbt's start and parse.
stdin closing is the stop signal: before the go (the deploy never reached its build) the process
exits quietly; after it (whoever waited for the build is gone) the process group is killed, so no
dbt outlives the process that started it. Exit codes are dbt's: 0 every node passed, 1 some node
failed, 2 dbt could not run (bad project, profile or flags; a parse error exits 2 at once).

This module imports only the standard library and dbt: it runs beside the deploy, not inside it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any

GO = b"go\n"


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    go = threading.Event()
    threading.Thread(target=_watch_stdin, args=(go,), name="go", daemon=True).start()
    try:
        from dbt.cli.main import dbtRunner
    except ImportError as exc:
        print("Encountered an error:", flush=True)
        print(f"dbt cannot be imported in {sys.executable}: {exc}", flush=True)
        return 2
    # --no-write-json: the build writes manifest.json (and run_results.json) when it ends.
    parsed = dbtRunner().invoke(["parse", "--quiet", "--no-write-json", *spec["parse"]])
    manifest: Any = parsed.result
    if not parsed.success or manifest is None:
        return 2  # dbt printed why; the caller reports it when it asks for the build
    go.wait()
    built = dbtRunner(manifest=manifest).invoke(["build", *spec["build"]])
    if built.success:
        return 0
    return 2 if built.exception is not None else 1


def _watch_stdin(go: threading.Event) -> None:
    # os.read, not sys.stdin: a daemon thread blocked inside sys.stdin's buffer can stop the
    # interpreter's own exit.
    received = b""
    while not received.endswith(b"\n"):
        chunk = os.read(0, 64)
        if not chunk:
            os._exit(0)  # cancelled before the go: nothing was built, nothing to say
        received += chunk
    if received != GO:
        os._exit(0)
    go.set()
    while os.read(0, 64):
        pass
    # stdin closed during the build: the caller is gone (or gave up); take the whole group down.
    os.killpg(os.getpgid(0), signal.SIGKILL)


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.exit(code)
