"""The whole rehearsal, `inv deploy --env sandbox` on fresh state: median of 3, with the steps.

Each run gets a new ADINSIGHTS_OPS_HOME (nothing remembered, a new embedded sandbox) and runs the
real command in a subprocess, as `make sandbox` does. Prints each run's wall time, the median, the
median time of each step (from `--json`), and the target beside it.

    .venv/bin/python bench/rehearsal.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INV = str(Path(sys.executable).with_name("inv"))
RUNS = 3
TARGET = 12.0


def once() -> tuple[float, dict[str, float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["ADINSIGHTS_OPS_HOME"] = tempfile.mkdtemp(prefix="bench-rehearsal-")
    start = time.perf_counter()
    done = subprocess.run(
        [INV, "deploy", "--env", "sandbox", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the rehearsal failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    return elapsed, {s["name"]: float(s["elapsed"]) for s in report["steps"]}


def main() -> None:
    runs = [once() for _ in range(RUNS)]
    for n, (elapsed, _) in enumerate(runs, 1):
        print(f"run {n}: {elapsed:6.1f} s")
    median = statistics.median(e for e, _ in runs)
    steps = runs[0][1]
    print("median step times:")
    for name in steps:
        print(f"  {name:<15} {statistics.median(r[1].get(name, 0.0) for r in runs):6.2f} s")
    accounted = sum(statistics.median(r[1].get(n, 0.0) for r in runs) for n in steps)
    print(f"  {'(outside steps)':<15} {median - accounted:6.2f} s  start, seed, report, exit")
    print(f"inv deploy --env sandbox, fresh state: {median:6.1f} s  (target < {TARGET:.0f} s)")


if __name__ == "__main__":
    main()
