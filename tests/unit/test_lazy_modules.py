"""runbooks.lazy: a module named by a task module runs when first used, once, and is the module an
ordinary import then gets."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.simulated import ROOT

LATER = """
import sys
from runbooks import lazy
shown = lazy.module("runbooks.render._sandbox")
assert "rich" not in sys.modules, "imported before first use"
assert type(shown).__name__ == "_LazyModule"
assert lazy.module("runbooks.render._sandbox") is shown
print(shown.__name__, "rich" in sys.modules)
from runbooks.render import _sandbox
import runbooks.render
assert _sandbox is shown and runbooks.render._sandbox is shown
"""


def test_a_lazy_module_runs_at_first_use_and_is_the_imported_one() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LATER],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["runbooks.render._sandbox", "True"]


def test_a_wrong_name_fails_at_once() -> None:
    from runbooks import lazy

    with pytest.raises(ModuleNotFoundError):
        lazy.module("runbooks.render._no_such_module")
