"""One sandbox server in the test process that every in-process command of a module finds.

The server is registered the way `inv sandbox.up` registers itself (its state file under
ADINSIGHTS_OPS_HOME), so commands run through `tests/cli/runner.py` talk to it instead of starting
an embedded sandbox of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


@contextmanager
def shared_sandbox(home: Path) -> Iterator[Any]:
    """A started SandboxServer (with `.home`), found by commands while ADINSIGHTS_OPS_HOME=home."""
    from adinsights_ops import config, sandbox

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADINSIGHTS_OPS_HOME", str(home))
        server: Any = sandbox.start(config.load("sandbox"))  # given `.home` below
        state = sandbox.state_file("sandbox")
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps(server.describe()))
        server.home = home
        try:
            yield server
        finally:
            state.unlink(missing_ok=True)
            server.stop()
