"""A read-only task (`inv ecs.status --env sandbox`) with and without a running `inv sandbox.up`.

With `sandbox.up` the command only talks to the running server; without it, it starts and seeds an
embedded sandbox of its own. Prints the median of several runs of each, beside the targets.

    .venv/bin/python bench/readonly.py
"""

from __future__ import annotations

import os
import select
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


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["ADINSIGHTS_OPS_HOME"] = tempfile.mkdtemp(prefix="bench-readonly-")
    return env


def timed(env: dict[str, str]) -> float:
    start = time.perf_counter()
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
    return time.perf_counter() - start


def with_sandbox_up() -> list[float]:
    env = environment()
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
        return [timed(env) for _ in range(RUNS)]
    finally:
        up.terminate()
        up.wait(timeout=30)


def main() -> None:
    figures = {
        "with sandbox.up": statistics.median(with_sandbox_up()),
        "without": statistics.median(timed(environment()) for _ in range(RUNS)),
    }
    for name, value in figures.items():
        print(
            f"inv ecs.status --env sandbox, {name:<16}: {value:5.2f} s  (target < {TARGETS[name]} s)"
        )


if __name__ == "__main__":
    main()
