"""A read-only task (`inv ecs.status --env sandbox`) with and without a running `inv sandbox.up`.

With `sandbox.up` the command only talks to the running server; without it, it starts and seeds an
embedded sandbox of its own, restoring the seeded blueprint from the cache folder
(ADINSIGHTS_OPS_CACHE) or seeding it when the folder has none. Every run gets a new
ADINSIGHTS_OPS_HOME; the timed runs share a cache folder the bench makes and fills first with an
untimed run ("warm cache", as on a developer's machine from the second command on), and one more
run without `sandbox.up` on an empty cache folder is reported beside them ("cold cache": the first
command after an upgrade or on a new machine). The developer's own cache is neither used nor
touched. Prints the median of several runs of each, beside the targets, by wall-clock time and by
the CPU time the command's process used (user + system: what a shared, busy machine disturbs
least; with `sandbox.up` the server's share is not in it).

    .venv/bin/python bench/readonly.py [RUNS]
"""

from __future__ import annotations

import os
import resource
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INV = str(Path(sys.executable).with_name("inv"))
RUNS = 5
TARGETS = {"with sandbox.up": 1.2, "without": 5.0}


def environment(cache: str) -> dict[str, str]:
    # As an operator's machine runs it: with bytecode caching (a shell may turn it off, and then
    # every module is compiled at every start, which is not what this figure is about).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["ADINSIGHTS_OPS_HOME"] = tempfile.mkdtemp(prefix="bench-readonly-")
    env["ADINSIGHTS_OPS_CACHE"] = cache
    return env


def timed_fresh(cache: str) -> tuple[float, float]:
    """`timed` on a new ADINSIGHTS_OPS_HOME (nothing remembered, no sandbox running)."""
    env = environment(cache)
    try:
        return timed(env)
    finally:
        shutil.rmtree(env["ADINSIGHTS_OPS_HOME"], ignore_errors=True)


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)  # children waited for: the command only
    return used.ru_utime + used.ru_stime


def timed(env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `inv ecs.status --env sandbox`."""
    cpu, start = _cpu(), time.perf_counter()
    done = subprocess.run(
        [INV, "ecs.status", "--env", "sandbox"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"ecs.status failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - start, _cpu() - cpu


def with_sandbox_up(runs: int, cache: str) -> list[tuple[float, float]]:
    env = environment(cache)
    up = subprocess.Popen(
        [INV, "sandbox.up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert up.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([up.stdout], [], [], 1.0)
            if ready and " ready at " in up.stdout.readline():
                break
        else:
            raise SystemExit("sandbox.up did not start")
        timed(env)  # the first run writes bytecode caches, as on an operator's machine
        return [timed(env) for _ in range(runs)]
    finally:
        up.terminate()
        up.wait(timeout=30)
        shutil.rmtree(env["ADINSIGHTS_OPS_HOME"], ignore_errors=True)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        timed_fresh(cache)  # untimed: seeds the blueprint into the bench's cache, writes bytecode
        figures = {
            "with sandbox.up": with_sandbox_up(runs, cache),
            "without": [timed_fresh(cache) for _ in range(runs)],
        }
    with tempfile.TemporaryDirectory(prefix="bench-cache-cold-") as empty:
        cold_wall, cold_cpu = timed_fresh(empty)
    print(f"inv ecs.status --env sandbox, median of {runs} runs, warm cache")
    for name, times in figures.items():
        wall = statistics.median(t[0] for t in times)
        cpu = statistics.median(t[1] for t in times)
        print(f"  {name:<20}: {wall:5.2f} s wall, {cpu:5.2f} s CPU  (target < {TARGETS[name]} s)")
    print(
        f"  {'without, cold cache':<20}: {cold_wall:5.2f} s wall, {cold_cpu:5.2f} s CPU  (one run)"
    )


if __name__ == "__main__":
    main()
