"""The Makefile's targets pass the task's exit code through (a real make, with a stub `inv`).

Measured before: `make sandbox` exited 2 where `inv deploy` had exited 3 (locked): make exits 2 for
any failed recipe. `scripts/make` runs make and exits with the code the task itself returned.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.simulated import ROOT


def stub_bin(tmp_path: Path, code: int) -> tuple[Path, Path]:
    """A BIN folder whose `inv` (and pytest, ruff, mypy, python) records its argv and exits `code`,
    and a stamp newer than setup.cfg so that nothing is installed."""
    folder = tmp_path / "bin"
    folder.mkdir()
    calls = tmp_path / "calls.txt"
    for name in ("inv", "pytest", "ruff", "mypy", "python"):
        tool = folder / name
        tool.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit {code}\n')
        tool.chmod(0o755)
    stamp = folder / ".installed"
    stamp.write_text("")
    later = time.time() + 3600
    os.utime(stamp, (later, later))
    return folder, calls


def make(*args: str, wrapper: bool) -> subprocess.CompletedProcess[str]:
    command = [str(ROOT / "scripts" / "make")] if wrapper else ["make", "-C", str(ROOT)]
    return subprocess.run(
        [*command, "--no-print-directory", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("code", [1, 2, 3, 4])
def test_scripts_make_exits_with_the_tasks_own_code(tmp_path: Path, code: int) -> None:
    folder, calls = stub_bin(tmp_path, code)
    done = make(f"BIN={folder}", f"STAMP={folder}/.installed", "sandbox", wrapper=True)
    assert done.returncode == code, done.stderr
    assert calls.read_text() == "inv deploy --env sandbox\n"
    assert f"Error {code}" in done.stderr  # make's own line still names it


def test_plain_make_cannot_pass_it_through_but_names_it(tmp_path: Path) -> None:
    folder, _ = stub_bin(tmp_path, 3)
    done = make(f"BIN={folder}", f"STAMP={folder}/.installed", "sandbox", wrapper=False)
    assert done.returncode == 2  # GNU make's fixed status for a failed recipe
    assert "Error 3" in done.stderr


def test_success_is_zero_and_each_target_runs_its_task(tmp_path: Path) -> None:
    folder, calls = stub_bin(tmp_path, 0)
    for target, expected in [
        ("sandbox", "inv deploy --env sandbox"),
        ("golive", "inv golive --env sandbox"),
        ("smoke", "inv deploy.smoke --env sandbox"),
    ]:
        done = make(f"BIN={folder}", f"STAMP={folder}/.installed", target, wrapper=True)
        assert done.returncode == 0, done.stderr
        assert calls.read_text().splitlines()[-1] == expected


def test_the_first_failure_decides_and_later_targets_do_not_run(tmp_path: Path) -> None:
    folder, calls = stub_bin(tmp_path, 4)
    done = make(f"BIN={folder}", f"STAMP={folder}/.installed", "sandbox", "golive", wrapper=True)
    assert done.returncode == 4
    assert calls.read_text() == "inv deploy --env sandbox\n"


def test_deploy_prod_without_a_tag_is_a_usage_error_before_anything_runs(tmp_path: Path) -> None:
    folder, calls = stub_bin(tmp_path, 0)
    done = make(f"BIN={folder}", f"STAMP={folder}/.installed", "deploy-prod", wrapper=True)
    assert done.returncode == 2
    assert "error: deploy-prod needs IMAGE_TAG" in done.stderr
    assert not calls.exists()


def test_dry_run_shows_the_command(tmp_path: Path) -> None:
    folder, calls = stub_bin(tmp_path, 3)
    done = make("-n", f"BIN={folder}", f"STAMP={folder}/.installed", "sandbox", wrapper=True)
    assert done.returncode == 0
    assert f"{folder}/inv deploy --env sandbox" in done.stdout
    assert not calls.exists()
