"""An embedded sandbox's process skips the interpreter's last garbage collection at exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROGRAM = """
import sys

class Cycle:
    def __init__(self):
        self.me = self  # only a garbage collection frees it

    def __del__(self):
        sys.stdout.write("collected at exit\\n")

garbage = Cycle()
del garbage
{skip}
import atexit
atexit.register(lambda: sys.stdout.write("atexit handlers run\\n"))
"""


def _exit_output(skip: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(skip=skip)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_it_the_interpreter_collects_at_exit() -> None:
    assert _exit_output("import gc; gc.disable()") == ("atexit handlers run\ncollected at exit\n")


@pytest.mark.parametrize("calls", [1, 2])
def test_skip_final_collection_leaves_the_heap_alone_and_runs_atexit_handlers(
    calls: int,
) -> None:
    skip = "from adinsights_ops.sandbox._exit import skip_final_collection\n" + (
        "skip_final_collection()\n" * calls
    )
    assert _exit_output("import gc; gc.disable()\n" + skip) == "atexit handlers run\n"
