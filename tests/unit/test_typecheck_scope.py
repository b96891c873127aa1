"""`make typecheck` (so `make test`, .ci/run and CI) holds all of the project's Python to mypy --strict.

The scope is setup.cfg's `[mypy] files`; the Makefile and nox name no paths of their own, so a folder
of Python added at the top of the tree is checked once it is listed there, and this test says so.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from tests.simulated import ROOT
from tests.unit.test_makefile import make, stub_bin


def mypy_files() -> set[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    return {name.strip() for name in parser["mypy"]["files"].split(",") if name.strip()}


def top_level_python() -> set[str]:
    found = set()
    for path in ROOT.iterdir():
        if path.name.startswith((".", "build")) or path.name.endswith(".egg-info"):
            continue
        if path.suffix == ".py" or (path.is_dir() and any(path.rglob("*.py"))):
            found.add(path.name)
    return found


def test_mypy_checks_every_python_folder_and_file_at_the_top_of_the_tree() -> None:
    assert {"adinsights_ops", "runbooks", "tasks.py", "tests"} <= top_level_python()
    assert top_level_python() - mypy_files() == set()
    assert all((ROOT / name).exists() for name in mypy_files())


def test_make_typecheck_runs_mypy_strict_over_setup_cfgs_files(tmp_path: Path) -> None:
    folder, calls = stub_bin(tmp_path, 0)
    done = make(f"BIN={folder}", f"STAMP={folder}/.installed", "typecheck", wrapper=False)
    assert done.returncode == 0, done.stderr
    assert calls.read_text() == "mypy --strict\n"  # no paths: setup.cfg's [mypy] files
