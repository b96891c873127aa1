"""A CheckReport (the checks.*, env.check, golive and smoke reports) as lines or JSON."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from runbooks.render import _console
from runbooks.render._json import emit_json

MARKS = {"pass": "pass", "fail": "FAIL", "not available": "n/a "}
STYLES = {"pass": "green", "fail": "bold red", "not available": "yellow"}


def check_lines(report: Any) -> list[tuple[str, str]]:
    """(status, line) for each line of the human report, without colour."""
    lines = [("", f"{report.title}: {report.environment}")]
    width = max((len(i.name) for i in report.items), default=10)
    for item in report.items:
        lines.append(
            (
                item.status,
                f"  {MARKS[item.status]}  {item.name:<{width}}  {item.evidence}"
                + (f" ({item.detail})" if item.detail else ""),
            )
        )
    counts = report.counts()
    lines.append(
        (
            "",
            f"{counts['pass']} pass, {counts['fail']} fail, {counts['not available']} not available",
        )
    )
    return lines


def checks(report: Any, as_json: bool) -> None:
    """Print a CheckReport (stdout) as lines or JSON, and exit 1 when any item failed."""
    from invoke.exceptions import Exit

    if as_json:
        emit_json(report)
    else:
        console = _console.out_console()
        for status, line in check_lines(report):
            if console.is_terminal and status:
                text = Text(line, no_wrap=False)
                mark = MARKS[status]
                text.stylize(STYLES[status], 2, 2 + len(mark))
                console.print(text, soft_wrap=True)
            else:
                _console.out(line)
    if not report.ok:
        raise Exit(
            f"error: {len(report.failures)} check(s) failed: "
            + ", ".join(i.name for i in report.failures),
            1,
        )
