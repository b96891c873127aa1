"""Where the tool keeps its local files: $ADINSIGHTS_OPS_HOME, else ~/.adinsights-ops."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The tool's home folder (journal copies, sandbox state, dbt targets)."""
    return Path(os.environ.get("ADINSIGHTS_OPS_HOME") or Path.home() / ".adinsights-ops")


def cache_home() -> Path:
    """Where the tool keeps what it can always make again (a seeded sandbox blueprint):
    $ADINSIGHTS_OPS_CACHE, else $XDG_CACHE_HOME/adinsights-ops, else ~/.cache/adinsights-ops."""
    explicit = os.environ.get("ADINSIGHTS_OPS_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "adinsights-ops"


def journal_copy(environment: str, run_id: str) -> Path:
    """Where a run record is kept locally when the state bucket cannot be written."""
    return home() / "journal" / environment / f"{run_id}.json"


def dbt_target(environment: str) -> Path:
    """The dbt target folder of an environment's builds (run_results.json and the other artifacts)."""
    return home() / "dbt" / environment / "target"
