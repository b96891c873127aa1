"""Files a task writes by default go beside the environments file, never into the installed package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adinsights_ops import config


def test_the_packaged_sandbox_file_writes_into_the_tools_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(tmp_path / "home"))
    env = config.load("sandbox", config.PACKAGED_FILE)
    assert env.output_folder() == tmp_path / "home"


def test_an_environments_file_of_ones_own_writes_beside_itself(tmp_path: Path) -> None:
    mine = tmp_path / "ops" / "environments.yaml"
    mine.parent.mkdir()
    shutil.copy(config.PACKAGED_FILE, mine)
    env = config.load("sandbox", mine)
    assert env.output_folder() == mine.parent.resolve()
