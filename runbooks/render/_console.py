"""The two consoles (results on stdout, progress and messages on stderr) and plain lines.

On a terminal, output goes through rich: its width is the terminal's, `NO_COLOR` turns colour off.
Anywhere else (a pipe, a file, a test's captured stream) every line is written as plain text, exactly
as the tasks have always printed it, so scripts and tests can compare lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Protocol

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text


class _Above(Protocol):
    """A live display that prints a line above itself (the progress while it is shown)."""

    def print_above(self, text: str) -> None: ...


_override: dict[str, Console] = {}
_active: list[_Above] = []


def make_console(
    file: IO[str] | None = None,
    *,
    stderr: bool = False,
    width: int | None = None,
    force_terminal: bool | None = None,
) -> Console:
    """A rich console with the terminal's width (or `width`); with `NO_COLOR` set, no styles
    at all (rich alone drops only the colours, keeping bold and italic escapes)."""
    if os.environ.get("NO_COLOR", ""):
        return Console(
            file=file,
            stderr=stderr,
            width=width,
            force_terminal=force_terminal,
            highlight=False,
            color_system=None,
        )
    return Console(
        file=file, stderr=stderr, width=width, force_terminal=force_terminal, highlight=False
    )


def err_console() -> Console:
    """The stderr console (progress, messages). It looks up sys.stderr at each write."""
    return _override.get("err") or make_console(stderr=True)


def out_console() -> Console:
    """The stdout console (human-readable results)."""
    return _override.get("out") or make_console()


@contextmanager
def using(*, out: Console | None = None, err: Console | None = None) -> Iterator[None]:
    """Render to these consoles for a while (tests: `Console(file=StringIO(), width=100)`)."""
    saved = dict(_override)
    if out is not None:
        _override["out"] = out
    if err is not None:
        _override["err"] = err
    try:
        yield
    finally:
        _override.clear()
        _override.update(saved)


def activate(display: _Above) -> None:
    _active.append(display)


def deactivate(display: _Above) -> None:
    if display in _active:
        _active.remove(display)


def say(message: str = "") -> None:
    """A human line on stderr; while a live progress is shown, printed above it."""
    if _active:
        _active[-1].print_above(message)
        return
    console = err_console()
    if console.is_terminal:
        console.print(Text(message), soft_wrap=True)
    else:
        console.file.write(message + "\n")
        console.file.flush()


def out(message: str = "") -> None:
    """A line of a task's human-readable result on stdout."""
    console = out_console()
    console.file.write(message + "\n")
    console.file.flush()


def table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    indent: str = "  ",
) -> None:
    """Rows under a title on stdout: a rich table on a terminal, plain aligned lines otherwise.

    Plain: the title (when not empty), then each row indented, its cells padded to the column's
    width and separated by two spaces (the last cell unpadded).
    """
    console = out_console()
    cells = [[str(cell) for cell in row] for row in rows]
    if console.is_terminal:
        grid = Table(title=title or None, box=box.SIMPLE_HEAD, title_justify="left")
        for name in columns:
            grid.add_column(name, overflow="fold")
        for row in cells:
            grid.add_row(*row)
        console.print(grid)
        return
    for line in plain_table(title, cells, indent=indent):
        out(line)


def plain_table(title: str, cells: Sequence[Sequence[str]], *, indent: str = "  ") -> list[str]:
    lines = [title] if title else []
    count = max((len(row) for row in cells), default=0)
    widths = [max((len(row[i]) for row in cells if i < len(row)), default=0) for i in range(count)]
    for row in cells:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + list(row[-1:])
        lines.append((indent + "  ".join(padded)).rstrip())
    return lines
