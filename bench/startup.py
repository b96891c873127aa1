"""`inv --list` start-up: this project's tasks against Invoke with an empty tasks file.

Prints the median of several runs of each and their ratio. Target: <= 1.25x.

    .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 15


# Measured as an operator's machine runs it: with bytecode caching (some shells turn it off, and
# then every task module is compiled at every start, which is not what this figure is about).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def once(cwd: Path) -> float:
    start = time.perf_counter()
    # Invoke exits 1 on an empty tasks file ("no tasks"); its start-up is what is measured.
    subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=cwd,
        check=False,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    base_times, our_times = [], []
    with tempfile.TemporaryDirectory() as empty:
        Path(empty, "tasks.py").write_text("")
        once(Path(empty))
        once(ROOT)  # warm both before measuring
        for _ in range(RUNS):  # interleaved, so a busy moment costs both alike
            base_times.append(once(Path(empty)))
            our_times.append(once(ROOT))
    baseline, ours = statistics.median(base_times), statistics.median(our_times)
    print(f"invoke, empty tasks.py : {baseline * 1000:7.1f} ms (median of {RUNS})")
    print(f"inv --list, this repo  : {ours * 1000:7.1f} ms")
    print(f"ratio                  : {ours / baseline:7.2f}  (target <= 1.25)")


if __name__ == "__main__":
    main()
