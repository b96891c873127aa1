"""`inv` and `adinsights-ops` leave without the interpreter's last garbage collection of what a
task made (runbooks.shutdown): the heap is frozen by the time the last atexit handler runs. And
while they run, the collector runs at the command's thresholds, not Python's defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runbooks.shutdown import THRESHOLDS
from tests.simulated import ROOT

# Registered before the program loads, so it runs after the program's own atexit handlers.
CHECK = """
import atexit, gc, sys
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))
{run}
print("thresholds:", gc.get_threshold(), flush=True)
"""
PROGRAMS = {
    "inv": "from invoke.main import program\nprogram.run(['inv', 'env.list'], exit=False)",
    "adinsights-ops": "import sys\nsys.argv = ['adinsights-ops', 'env.list']\n"
    "from runbooks.program import main\nmain()",
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_program_leaves_the_heap_out_of_the_final_collection(name: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADINSIGHTS_")}
    env["ADINSIGHTS_OPS_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(run=PROGRAMS[name])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *_, thresholds, frozen = done.stdout.strip().splitlines()
    assert frozen == "frozen at exit: True", done.stdout
    assert thresholds == f"thresholds: {THRESHOLDS}" and THRESHOLDS != (700, 10, 10)
