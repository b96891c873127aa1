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
