"""Starting an embedded sandbox keeps its own seeding requests out of the command's debug log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from adinsights_ops import sandbox
from adinsights_ops.config import load
from adinsights_ops.sandbox import server as sandbox_server
from runbooks import debuglog


class _Seeding:
    """Stands in for SandboxServer: its start() makes "requests" as seeding does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def start(self) -> None:
        logging.getLogger("urllib3.connectionpool").debug('"POST / HTTP/1.1" 200 seeding')


def test_seed_requests_stay_out_of_the_debug_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(tmp_path))
    monkeypatch.setattr(sandbox_server, "SandboxServer", _Seeding)
    pool = logging.getLogger("urllib3.connectionpool")
    with debuglog.run_log(announce=False) as log:
        sandbox.start(load("sandbox"))
        assert pool.level == logging.DEBUG  # the run's level again once the sandbox is up
        pool.debug('"POST / HTTP/1.1" 200 the command')
    text = log.path.read_text()
    assert "the command" in text  # the command's own requests are logged
    assert "seeding" not in text
