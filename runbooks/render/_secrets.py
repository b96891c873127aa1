"""`secrets.audit`: the findings as a table (never a secret's value: the library gives none)."""

from __future__ import annotations

from typing import Any

from runbooks.render._console import out, say
from runbooks.render._json import emit_json


def audit(result: Any, sample: Any, as_json: bool) -> None:
    """The findings on stdout (or JSON), exit 1 when there are any; `ok: ...` on stderr if none."""
    from invoke.exceptions import Exit

    if as_json:
        emit_json(result)
    elif result.findings:
        width = max(len(f.check) for f in result.findings)
        subject = min(max(len(f.subject) for f in result.findings), 48)
        out(f"{'check':<{width}}  {'subject':<{subject}}  detail")
        for f in result.findings:
            out(f"{f.check:<{width}}  {f.subject:<{subject}}  {f.detail}")
    checked = ", ".join(result.task_definitions)
    if result.findings:
        raise Exit(f"error: {len(result.findings)} findings in {checked}", 1)
    say(f"ok: {len(result.variables)} variables in {checked} match {sample}; secrets and key fine")
