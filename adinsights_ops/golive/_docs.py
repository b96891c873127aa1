"""Go-live checklist items 6 and 7: the runbooks and the SLO/SLI document, with their dates.

A document's date is its last commit's (`git log`) when it is committed and unchanged, else its
modification time; the evidence says which, and why.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from adinsights_ops.checks_report import CheckItem, failed, passed
from adinsights_ops.golive._items import alarm_problems

if TYPE_CHECKING:
    from adinsights_ops.golive._settings import GoLiveSettings
    from adinsights_ops.opsenv import OpsEnv

ALARM_NAME = re.compile(r"`(adinsights-\{env\}-[a-z0-9-]+)`")


def last_updated(path: Path, repo: Path) -> tuple[datetime, str]:
    """When the file last changed: its last commit's date when it is committed and unchanged,
    else its modification time; and which of the two it is (and why)."""
    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", "-C", str(repo), *args, "--", str(path)],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None

    logged = git("log", "-1", "--format=%cI")
    if logged is None or logged.returncode != 0:
        return mtime, "file mtime (not in a git repository)"
    if not logged.stdout.strip():
        return mtime, "file mtime (not committed yet)"
    status = git("status", "--porcelain")
    if status is not None and status.stdout.strip():
        return mtime, "file mtime (changed since its last commit)"
    return datetime.fromisoformat(logged.stdout.strip()), "git log"


def _document(path: Path, root: Path, settings: GoLiveSettings, now: datetime) -> tuple[bool, str]:
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    if not path.is_file():
        return False, f"{shown} does not exist"
    size = path.stat().st_size
    when, source = last_updated(path, root)
    age = (now - when).total_seconds() / 86400
    evidence = f"{shown}: {size} bytes, updated {when:%Y-%m-%d} ({age:.0f} days ago, {source})"
    if size < settings.runbook_min_bytes:
        return False, f"{evidence}: fewer than {settings.runbook_min_bytes} bytes"
    if age > settings.runbook_max_age_days:
        return False, f"{evidence}: older than {settings.runbook_max_age_days:g} days"
    return True, evidence


def runbooks(root: Path, settings: GoLiveSettings, now: datetime) -> tuple[CheckItem, ...]:
    items = []
    for relative in settings.runbooks:
        ok, evidence = _document(root / relative, root, settings, now)
        name = f"6. runbook {Path(relative).stem}"
        items.append(passed(name, evidence) if ok else failed(name, evidence))
    return tuple(items)


def named_alarms(text: str) -> set[str]:
    """The alarm names (`adinsights-{env}-...`) in the last column of the document's tables."""
    found: set[str] = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and cells:
            found.update(ALARM_NAME.findall(cells[-1]))
    return found


def slo(ops: OpsEnv, root: Path, settings: GoLiveSettings) -> tuple[CheckItem, ...]:
    name = "7. SLO/SLI monitoring"
    path = root / settings.slo_document
    ok, evidence = _document(path, root, settings, datetime.now(UTC))
    if not ok:
        return (failed(name, evidence),)
    named = sorted(n.format(env=ops.name) for n in named_alarms(path.read_text(encoding="utf-8")))
    if not named:
        return (failed(name, f"{settings.slo_document} names no alarm (`adinsights-{{env}}-...`)"),)
    problems, states = alarm_problems(ops, named)
    bad = [f"{a} {why}" for a, why in problems.items() if why]
    if bad:
        return (failed(name, "; ".join(bad), evidence),)
    return (
        passed(
            name,
            f"{len(named)} alarms named by {settings.slo_document} exist with actions",
            ", ".join(states),
        ),
    )
