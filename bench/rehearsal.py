"""The whole rehearsal, `inv deploy --env sandbox` on fresh state: median of 3, with the steps.

Each run gets a new ADINSIGHTS_OPS_HOME (nothing remembered, a new embedded sandbox) and runs the
real command in a subprocess, as `make sandbox` does. The timed runs share a cache folder
(ADINSIGHTS_OPS_CACHE) that the bench makes and fills first with one untimed warm-up run, so the
sandbox restores its seeded blueprint as it does on a developer's machine from the second command
on; one more run with an empty cache folder is reported beside them as "cold cache" (the first
command after an upgrade, or on a new machine). The developer's own cache is neither used nor
touched. Prints each run's wall time, the median, the median time of each step (from `--json`),
the time before the first step (interpreter and imports, sandbox start and seed or restore) and
after the last one (the sandbox saving its state, the report, the interpreter's exit), and the
target beside the warm total.

    .venv/bin/python bench/rehearsal.py [RUNS]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
INV = str(Path(sys.executable).with_name("inv"))
RUNS = 3
TARGET = 12.0
BEFORE = "(before steps)"
AFTER = "(after steps)"


def once(cache: str) -> tuple[float, dict[str, float]]:
    """One rehearsal on a new ADINSIGHTS_OPS_HOME with `cache` as ADINSIGHTS_OPS_CACHE."""
    home = tempfile.mkdtemp(prefix="bench-rehearsal-")
    try:
        return _once(home, cache)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _once(home: str, cache: str) -> tuple[float, dict[str, float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["ADINSIGHTS_OPS_HOME"] = home
    env["ADINSIGHTS_OPS_CACHE"] = cache
    start = time.perf_counter()
    process = subprocess.Popen(
        [INV, "deploy", "--env", "sandbox", "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    first_step: list[float] = []
    errors: list[str] = []

    def watch(stream: IO[str]) -> None:
        for line in stream:
            errors.append(line)
            if line.startswith("== ") and not first_step:
                first_step.append(time.perf_counter() - start)

    watcher = threading.Thread(target=watch, args=(process.stderr,), daemon=True)
    watcher.start()
    out = process.stdout.read()
    process.wait(timeout=600)
    elapsed = time.perf_counter() - start
    watcher.join(timeout=10)
    if process.returncode != 0:
        tail = "".join(errors)[-2000:]
        raise SystemExit(f"the rehearsal failed (exit {process.returncode}):\n{tail}")
    steps = {s["name"]: float(s["elapsed"]) for s in json.loads(out)["steps"]}
    before = first_step[0] if first_step else 0.0
    return elapsed, {BEFORE: before, **steps, AFTER: elapsed - before - sum(steps.values())}


def main() -> None:
    runs_wanted = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        warm_up = once(cache)
        print(f"warm-up (fills the cache, not timed): {warm_up[0]:6.1f} s", flush=True)
        for n in range(1, runs_wanted + 1):
            runs.append(once(cache))
            print(f"run {n}: {runs[-1][0]:6.1f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-cache-cold-") as empty:
        cold, cold_steps = once(empty)
    print(f"cold cache: {cold:6.1f} s", flush=True)
    median = statistics.median(e for e, _ in runs)
    print("median step times:")
    for name in runs[0][1]:
        note = {
            BEFORE: "  interpreter, imports, sandbox start and blueprint restore",
            AFTER: "  sandbox saves its state, report, exit",
        }.get(name, "")
        value = statistics.median(r[1].get(name, 0.0) for r in runs)
        print(f"  {name:<15} {value:6.2f} s{note}")
    print(
        f"inv deploy --env sandbox, fresh state, warm cache: {median:6.1f} s"
        f"  (target < {TARGET:.0f} s)"
    )
    print(
        f"inv deploy --env sandbox, fresh state, cold cache: {cold:6.1f} s"
        f"  (one run; {cold_steps[BEFORE]:.2f} s before the first step)"
    )


if __name__ == "__main__":
    main()
