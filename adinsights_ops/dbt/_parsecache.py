"""dbt's partial-parse file, carried from one target folder to the next through the cache folder.

dbt parses a project in full (seconds, mostly its own macros) unless the target folder holds the
`partial_parse.msgpack` of an earlier parse, which it checks against the project's files, the
rendered profile, the vars and its own version before it trusts any of it (a mismatch is a full
parse). A new target folder (a fresh tool home, a test's folder, a tag's worktree) would always
parse in full; so the newest file of each project, profiles folder, target and vars is kept in
`paths.cache_home()` and put into a target folder that has none. Losing it costs one full parse.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from pathlib import Path

PARSE_FILE = "partial_parse.msgpack"
_log = logging.getLogger("adinsights_ops.dbt")


def kept_for(project: Path, profiles: Path, target: str, vars: str = "") -> Path:
    """Where the parse of `project` for `target` (with `vars`, as JSON) is kept."""
    from adinsights_ops.paths import cache_home

    key = f"{project}\n{profiles}\n{target}\n{vars}"
    name = hashlib.sha256(key.encode()).hexdigest()[:24]
    return cache_home() / "dbt-parse" / f"{name}.msgpack"


def bring(kept: Path, target_dir: Path) -> None:
    """Put the kept parse into `target_dir` unless it has one of its own."""
    here = target_dir / PARSE_FILE
    if here.exists() or not kept.is_file():
        return
    try:
        shutil.copyfile(kept, here)
    except OSError as exc:
        _log.debug("dbt parse not brought from %s: %s", kept, exc)


def keep(kept: Path, target_dir: Path) -> None:
    """Keep `target_dir`'s parse for the next target folder (whole or not at all)."""
    here = target_dir / PARSE_FILE
    try:
        if not here.is_file():
            return
        if kept.is_file() and kept.stat().st_mtime >= here.stat().st_mtime:
            return
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = kept.with_name(f".{kept.name}.{os.getpid()}.{threading.get_ident()}")
        shutil.copyfile(here, partial)
        partial.replace(kept)
    except OSError as exc:
        _log.debug("dbt parse not kept at %s: %s", kept, exc)
