"""Run the `adinsights-ops` program in this process on an argv, with its output captured.

One in-process run costs milliseconds where a subprocess costs a second of imports, so a corpus of
hundreds of invocations stays fast. An exception that escapes the program is what an operator would
see as a traceback: it is rendered into stderr, with exit code 1, as Python itself would.
"""

from __future__ import annotations

import contextlib
import io
import sys
import traceback
from collections.abc import Iterator

import attrs
from invoke import Program

from runbooks.collection import ns
from runbooks.program import OpsProgram


@attrs.frozen
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def run(*args: str, stdin: str = "", plain_invoke: bool = False) -> Result:
    """`adinsights-ops *args`: the exit code, stdout and stderr; stdin is not a terminal.

    With `plain_invoke`, Invoke's own Program runs the same collection, as `inv` does.
    """
    program = Program(namespace=ns) if plain_invoke else OpsProgram()
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        _stdin(io.StringIO(stdin)),
    ):
        try:
            program.run(["adinsights-ops", *args], exit=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # an escaped exception: the traceback an operator would see
            err.write(traceback.format_exc())
            code = 1
    return Result(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _stdin(stream: io.StringIO) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = stream
    try:
        yield
    finally:
        sys.stdin = saved
