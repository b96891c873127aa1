"""JSON on stdout: one document per run, the same rules for every task."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import Any

import attrs


def _default(value: Any) -> Any:
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=True)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def to_json(value: Any) -> str:
    """`value` (attrs classes, dates, sets included) as indented JSON with sorted keys."""
    if attrs.has(type(value)):
        value = attrs.asdict(value, recurse=True, value_serializer=lambda _i, _a, v: _plain(v))
    return json.dumps(value, indent=2, default=_default, sort_keys=True)


def emit_json(value: Any) -> None:
    """The task's result as one JSON document on stdout (never through rich: no wrapping)."""
    print(to_json(value), file=sys.stdout, flush=True)


def error_json(message: str | None, code: int) -> str:
    """The error object printed on stdout under `--json`: the `error:` line without its prefix."""
    lines = (message or "").splitlines() or ["failed"]
    first = lines[0].removeprefix("error: ").strip()
    found: dict[str, Any] = {"error": first, "exit_code": code}
    details = [line.strip() for line in lines[1:] if line.strip()]
    if details:
        found["details"] = details
    return json.dumps(found, sort_keys=True)
