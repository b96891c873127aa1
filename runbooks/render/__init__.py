"""All terminal and JSON output of the tasks.

- `say(line)`: a human line on stderr (progress, logs); above the live progress while it runs.
- `out(line)`: a line of a human-readable result on stdout.
- `emit_json(value)` / `to_json(value)` / `error_json(message, code)`: the `--json` contract.
- `table(title, columns, rows)`: rows as a rich table on a terminal, aligned lines otherwise.
- `checks(report, as_json)`: a CheckReport, exit 1 when an item failed.
- `Progress()`: the live rollout progress (`on_event=`), a `rich.live.Live` area on a terminal.
- `confirm(...)`, `approve(...)`: prompts through click; Ctrl-C or end of input is "no".

On a terminal rich does the work (the terminal's width, `NO_COLOR`); on anything else each line is
written plain, exactly as before, so pipes and tests see stable text.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runbooks.render._checks import checks
    from runbooks.render._console import (
        err_console,
        make_console,
        out,
        out_console,
        say,
        table,
        using,
    )
    from runbooks.render._json import emit_json, error_json, to_json
    from runbooks.render._progress import Progress, short_arn
    from runbooks.render._prompt import (
        NOT_CONFIRMED,
        approve,
        ask,
        check_approval,
        confirm,
        confirm_word,
        interactive,
        yes_no,
    )

# Each name is imported from its module when first used (module __getattr__), so importing the
# package, as every task module does, loads neither rich nor click: `inv --list` prints nothing
# through them.
_MODULE_OF = {
    "checks": "_checks",
    "err_console": "_console",
    "make_console": "_console",
    "out": "_console",
    "out_console": "_console",
    "say": "_console",
    "table": "_console",
    "using": "_console",
    "emit_json": "_json",
    "error_json": "_json",
    "to_json": "_json",
    "Progress": "_progress",
    "short_arn": "_progress",
    "NOT_CONFIRMED": "_prompt",
    "approve": "_prompt",
    "ask": "_prompt",
    "check_approval": "_prompt",
    "confirm": "_prompt",
    "confirm_word": "_prompt",
    "interactive": "_prompt",
    "yes_no": "_prompt",
}


__all__ = [
    "NOT_CONFIRMED",
    "Progress",
    "approve",
    "ask",
    "check_approval",
    "checks",
    "confirm",
    "confirm_word",
    "emit_json",
    "err_console",
    "error_json",
    "interactive",
    "make_console",
    "out",
    "out_console",
    "say",
    "short_arn",
    "table",
    "to_json",
    "using",
    "yes_no",
]


def __getattr__(name: str) -> Any:
    where = _MODULE_OF.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value
