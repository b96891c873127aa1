"""`inv --list` start-up: this project's tasks against Invoke with an empty tasks file.

Runs the two alternately, many times (a busy moment costs both alike), and prints the median of
each and their ratio, by wall-clock time and by the CPU time the process used (user + system, which
other work on a shared machine disturbs much less). Target: at most 1.2x.

    .venv/bin/python bench/startup.py [RUNS]
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 31
TARGET = 1.2

# Measured as an operator's machine runs it: with bytecode caching (some shells turn it off, and
# then every task module is compiled at every start, which is not what this figure is about).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def once(cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `inv --list` in `cwd`."""
    cpu, start = _cpu(), time.perf_counter()
    # Invoke exits 1 on an empty tasks file ("no tasks"); its start-up is what is measured.
    subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=cwd,
        check=False,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start, _cpu() - cpu


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    base: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as empty:
        Path(empty, "tasks.py").write_text("")
        for _ in range(2):  # warm both (and write the bytecode caches) before measuring
            once(Path(empty))
            once(ROOT)
        for i in range(runs):  # alternated, each side first half of the time
            pair = [(base, Path(empty)), (ours, ROOT)]
            for times, cwd in pair if i % 2 else pair[::-1]:
                times.append(once(cwd))
    print(f"inv --list, median of {runs} alternated runs of each")
    for n, what in ((0, "wall"), (1, "CPU ")):
        baseline = statistics.median(t[n] for t in base)
        project = statistics.median(t[n] for t in ours)
        print(
            f"  {what}: invoke, empty tasks.py {baseline * 1000:6.1f} ms; this repo "
            f"{project * 1000:6.1f} ms; ratio {project / baseline:4.2f}  (target <= {TARGET})"
        )


if __name__ == "__main__":
    main()
