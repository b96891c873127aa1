"""The layer rules (docs/reference/architecture.md), checked by import-linter over `.importlinter`.

Imports made inside functions count too, so a loop cannot come back through a lazy import.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_the_layer_rules_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    enabled = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.disabled
    ]
    try:
        assert lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True) == 0
    finally:
        # import-linter configures logging with dictConfig, which disables every logger that
        # exists: later tests in this process (the debug log's) would log nothing.
        for logger in enabled:
            logger.disabled = False


def test_an_upward_import_breaks_them(tmp_path: Path) -> None:
    """The contracts can fail: the ground floor importing a domain is caught."""
    package = tmp_path / "adinsights_ops"
    for source in (ROOT / "adinsights_ops").rglob("*.py"):
        target = package / source.relative_to(ROOT / "adinsights_ops")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text())
    (tmp_path / "runbooks").mkdir()
    for source in (ROOT / "runbooks").glob("*.py"):
        (tmp_path / "runbooks" / source.name).write_text(source.read_text())
    journal = package / "journal.py"
    journal.write_text(
        journal.read_text()
        + textwrap.dedent(
            """

            def _upward() -> None:
                from adinsights_ops import ecs  # noqa: F401
            """
        )
    )
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(ROOT / ".importlinter"), "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    assert "adinsights_ops.journal is not allowed to import adinsights_ops.ecs" in done.stdout
