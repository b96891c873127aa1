"""Where the tool keeps its local files: $ADINSIGHTS_OPS_HOME, else ~/.adinsights-ops."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The tool's home folder (journal copies, sandbox state, dbt targets)."""
    return Path(os.environ.get("ADINSIGHTS_OPS_HOME") or Path.home() / ".adinsights-ops")


def journal_copy(environment: str, run_id: str) -> Path:
    """Where a run record is kept locally when the state bucket cannot be written."""
    return home() / "journal" / environment / f"{run_id}.json"
