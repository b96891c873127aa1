"""The suite's schedule (tests/conftest.py): the modules it names exist, and it orders as it says."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests import conftest
from tests.simulated import ROOT


def test_every_module_named_slowest_exists() -> None:
    missing = [name for name in conftest.SLOWEST if not (ROOT / name).is_file()]
    assert missing == []  # a renamed module would silently lose its place at the front


def test_slowest_first_then_integration_and_rehearsal_then_the_rest_each_in_order() -> None:
    def item(nodeid: str) -> Any:
        return SimpleNamespace(nodeid=nodeid)

    collected = [
        item("tests/unit/test_a.py::one"),
        item("tests/integration/test_other.py::one"),
        item(f"{conftest.SLOWEST[1]}::first"),
        item("tests/unit/test_a.py::two"),
        item(f"{conftest.SLOWEST[0]}::first"),
        item(f"{conftest.SLOWEST[1]}::second"),
    ]
    conftest.pytest_collection_modifyitems(collected)
    assert [i.nodeid for i in collected] == [
        f"{conftest.SLOWEST[0]}::first",
        f"{conftest.SLOWEST[1]}::first",
        f"{conftest.SLOWEST[1]}::second",
        "tests/integration/test_other.py::one",
        "tests/unit/test_a.py::one",
        "tests/unit/test_a.py::two",
    ]
