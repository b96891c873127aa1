"""Every run's debug log: a file under the tool's home, live on stderr with `--verbose`.

The file gets the library's records at DEBUG (each AWS call with its outcome and duration, the HTTP
requests urllib3 makes, the subprocesses run, the journal's runs) and is named by the run id once a
run starts (`<home>/logs/<run id>.log`; a task that starts no run keeps the time-stamped name it
opened with). Secrets are redacted before a line is written anywhere: URL passwords, bearer
tokens, Slack webhook paths and `token=`/`password=`/`secret=` values. The last line a task
prints names the file.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

LOGGERS = ("adinsights_ops", "runbooks", "urllib3.connectionpool")
KEEP = 50
"""Logs kept in the folder: older ones are removed when a new run opens its log."""
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
VERBOSE_VARIABLE = "ADINSIGHTS_VERBOSE"

_REDACTIONS = (
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1<redacted>@"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1<redacted>"),
    (re.compile(r"(hooks\.slack\.com/services/)[^\s\"']+"), r"\1<redacted>"),
    (
        re.compile(r"(?i)\b((?:api[_-]?)?(?:token|password|secret|key)=)[^&\s\"']+"),
        r"\1<redacted>",
    ),
)


def redact(text: str) -> str:
    """`text` with every secret-looking value replaced by `<redacted>`."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RunLog:
    """One task's debug log (see the module's doc); `path` is where it is now."""

    def __init__(self, folder: Path, *, verbose: bool, stream: TextIO | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        self.folder = folder
        self.path = folder / f"{stamp}-{os.getpid()}.log"
        self.run_id: str | None = None
        self.file = logging.FileHandler(self.path, encoding="utf-8", delay=True)
        self.file.setLevel(logging.DEBUG)
        self.file.setFormatter(_Redacting(FORMAT))
        self.file.addFilter(self._notice_run)
        # Warnings keep reaching stderr as they did without a handler; --verbose shows all.
        self.console = logging.StreamHandler(stream or sys.stderr)
        self.console.setLevel(logging.DEBUG if verbose else logging.WARNING)
        self.console.setFormatter(_Redacting("%(message)s"))
        self._levels: dict[str, int] = {}
        self.announce = True
        """Name the file at the end (not after a refused command line: that stays one line)."""

    def _notice_run(self, record: logging.LogRecord) -> bool:
        run_id = getattr(record, "run_id", None)
        if self.run_id is None and isinstance(run_id, str) and run_id:
            self.run_id = run_id
        return True

    def open(self, title: str = "") -> None:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self.file)
            if name != "urllib3.connectionpool":
                logger.addHandler(self.console)
        logging.getLogger(__name__).debug("%s (pid %s)", title or " ".join(sys.argv), os.getpid())

    def close(self) -> Path:
        """Detach the handlers, name the file by the run id (when one started); the file's path."""
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(self.file)
            logger.removeHandler(self.console)
            logger.setLevel(self._levels.get(name, logging.NOTSET))
        self.file.close()
        if not self.path.exists():
            self.path.touch()
        if self.run_id is not None and re.fullmatch(r"[A-Za-z0-9._-]+", self.run_id):
            named = self.folder / f"{self.run_id}.log"
            if named.exists():  # a resumed run: its earlier logs stay, this one follows them
                named = self.folder / f"{self.run_id}-{self.path.stem}.log"
            self.path = self.path.rename(named)
        _prune(self.folder, keep=KEEP)
        return self.path


def _prune(folder: Path, *, keep: int) -> None:
    logs = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in logs[keep:]:
        with suppress(OSError):
            old.unlink()


def verbose_from_environment() -> bool:
    return os.environ.get(VERBOSE_VARIABLE, "").strip().lower() in ("1", "true", "yes")


@contextmanager
def run_log(*, verbose: bool = False, announce: bool = True, title: str = "") -> Iterator[RunLog]:
    """The debug log for the block; at its end, `debug log: PATH` on stderr (when `announce`)."""
    from adinsights_ops.paths import home

    log = RunLog(home() / "logs", verbose=verbose or verbose_from_environment())
    log.announce = announce
    log.open(title)
    try:
        yield log
    finally:
        path = log.close()
        if log.announce:
            print(f"debug log: {path}", file=sys.stderr, flush=True)
