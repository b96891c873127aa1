"""Option values from the command line, checked in one place before anything is opened or called.

Every refusal is a `UsageError` (exit 2) whose message names the option as it is typed (`--keep`),
the value given, and what is expected:

    --keep -1: expected a whole number of 0 or more

Tasks call these at the top of their bodies; `runbooks.program` refuses what Invoke's own parser
cannot take (a non-number for an int option, an unknown flag, an empty value).
"""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path
from typing import NoReturn, cast

from adinsights_ops.errors import UsageError
from runbooks.optask import (
    VERBOSE_HELP,
    NumbersTask,
    OpsTask,
    Option,
    plain_help,
    scenario_help,
    show,
    with_type_and_default,
)

__all__ = [
    "VERBOSE_HELP",
    "NumbersTask",
    "OpsTask",
    "Option",
    "plain_help",
    "scenario_help",
    "show",
    "with_type_and_default",
]

MAX_TIMEOUT = 7 * 24 * 3600.0  # a week: anything longer is a typo, not a wait
RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}")  # journal.new_run_id: 20261126T051500Z-3fa2
MIGRATION = re.compile(r"(?P<app>[a-z_][a-z0-9_]*):(?P<target>[0-9]{4}|zero)")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_CRON_PART = re.compile(r"(?:\*|([0-9]+)(?:-([0-9]+))?)(?:/([0-9]+))?")
_CRON_RANGES = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12))
# `--env` left out: Invoke passes None, and `common.ops_task` puts `default_env()`'s answer (the
# name from $ADINSIGHTS_ENV, never None) in its place before the body runs. A task declares
# `env: str = options.ENV_DEFAULT`, so its body is typed with the name it always receives.
ENV_DEFAULT: str = cast(str, None)


def refuse(flag: str, value: object, expected: str) -> NoReturn:
    raise UsageError(f"{flag} {show(value)}: expected {expected}")


def whole(
    value: object, flag: str, *, minimum: int = 0, maximum: int | None = None, what: str = ""
) -> int:
    """A whole number in [minimum, maximum]; ints (Invoke's parse) and ASCII digit strings."""
    if maximum is not None:
        expected = f"a whole number from {minimum} to {maximum}"
    else:
        expected = f"a whole number of {minimum} or more"
    expected += f" ({what})" if what else ""
    if isinstance(value, bool):
        refuse(flag, value, expected)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and _INTEGER.fullmatch(value):
        number = int(value)
    else:
        refuse(flag, value, expected)
    if number < minimum or (maximum is not None and number > maximum):
        refuse(flag, value, expected)
    return number


def number(
    value: object,
    flag: str,
    *,
    minimum: float = 0.0,
    above: bool = False,
    maximum: float | None = None,
    unit: str = "",
) -> float:
    """A finite number: at least (or, with `above`, more than) `minimum`, at most `maximum`."""
    low = f"above {minimum:g}" if above else f"of {minimum:g} or more"
    expected = f"a number{f' of {unit}' if unit else ''} {low}"
    if maximum is not None:
        expected += f" and at most {maximum:g}"
    parsed = _as_float(value)
    if (
        parsed is None
        or not math.isfinite(parsed)
        or (parsed <= minimum if above else parsed < minimum)
        or (maximum is not None and parsed > maximum)
    ):
        refuse(flag, value, expected)
    return parsed


def _as_float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, str) and value.isascii() and _NUMBER.fullmatch(value.strip()):
        return float(value)
    return None


def timeout(value: object, flag: str = "--timeout", *, maximum: float = MAX_TIMEOUT) -> float:
    """Seconds to wait: finite, above 0, at most a week (a longer wait is a typo)."""
    return number(value, flag, above=True, maximum=maximum, unit="seconds")


def optional_timeout(value: object, flag: str = "--timeout") -> float | None:
    """None when the option was left out (the environment's own timeout applies)."""
    return None if value is None else timeout(value, flag)


def text(value: object, flag: str, *, what: str = "a value") -> str:
    """A non-empty value without control characters (a stray newline is never a name)."""
    if not isinstance(value, str) or not value.strip():
        refuse(flag, value, f"{what} (an empty value is refused, never taken as the default)")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        refuse(flag, value, f"{what} without control characters")
    return value


def optional_text(value: str | None, flag: str, *, what: str = "a value") -> str | None:
    """None when the option was left out; otherwise as `text` (an empty value is refused)."""
    return None if value is None else text(value, flag, what=what)


def run_id(value: object, flag: str) -> str:
    """A journal run id as the journal writes them (20261126T051500Z-3fa2): never a path."""
    expected = "a run id like 20261126T051500Z-3fa2 (see `deploy.status`)"
    if not isinstance(value, str) or not value.isascii() or not RUN_ID.fullmatch(value):
        refuse(flag, value, expected)
    return value


def migration(value: object, flag: str = "--to-migration") -> tuple[str, str]:
    """`app:NNNN` or `app:zero` in ASCII (no full-width digits, no trailing newline)."""
    expected = "app:NNNN or app:zero in ASCII, e.g. analytics:0042"
    if not isinstance(value, str) or not value.isascii():
        refuse(flag, value, expected)
    found = MIGRATION.fullmatch(value)
    if not found:
        refuse(flag, value, expected)
    return found["app"], found["target"]


def command(value: object, flag: str = "--command") -> list[str]:
    """A shell-like command split into words; unbalanced quotes and an empty command refused."""
    if not isinstance(value, str):
        refuse(flag, value, "a command")
    try:
        words = shlex.split(value)
    except ValueError as exc:
        refuse(flag, value, f"a command with balanced quotes ({exc})")
    if not words:
        refuse(flag, value, 'a command, e.g. "python manage.py migrate"')
    return words


def cron(value: str | None, flag: str) -> str | None:
    """A 5-field cron whose numeric fields are values, ranges, lists or steps within range
    (minute 0-59, hour 0-23, day-of-month 1-31, month 1-12); cost.aws_cron checks the rest."""
    if value is None:
        return None
    text(value, flag, what='a cron expression, e.g. "0 20 * * MON-FRI"')
    fields = value.split()
    if len(fields) != 5 or not value.isascii():
        refuse(flag, value, 'a cron expression of 5 fields, e.g. "0 20 * * MON-FRI"')
    for (name, low, high), field in zip(_CRON_RANGES, fields[:4], strict=True):
        if name == "month" and not re.search(r"[0-9]", field):
            continue  # JAN-DEC: names are aws_cron's to check
        for part in field.split(","):
            found = _CRON_PART.fullmatch(part)
            numbers = [int(n) for n in (found.group(1, 2) if found else ()) if n is not None]
            step = found.group(3) if found else None
            if (
                found is None
                or any(not low <= n <= high for n in numbers)
                or (len(numbers) == 2 and numbers[0] > numbers[1])
                or (step is not None and int(step) < 1)
            ):
                refuse(flag, value, f"a cron expression whose {name} field is within {low}-{high}")
    return value


def ascii_text(value: str, flag: str, *, what: str) -> str:
    """As `text`, in ASCII only: full-width digits look like digits and are not."""
    text(value, flag, what=what)
    if not value.isascii():
        refuse(flag, value, f"{what} in ASCII")
    return value


def scenario(value: str | None, flag: str = "--scenario") -> str | None:
    """A sandbox scenario by name (None or '' when left out, as the tasks' defaults are)."""
    if not value:
        return value
    from adinsights_ops.sandbox.scenarios import DESCRIPTIONS

    return choice(value, flag, tuple(DESCRIPTIONS))


def choice(value: object, flag: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        refuse(flag, value, f"one of {', '.join(choices)}")
    return str(value)


def readable_file(value: str, flag: str, *, what: str = "a readable UTF-8 text file") -> Path:
    """A file that exists, is not a folder, can be read and is UTF-8 text."""
    path = Path(value)
    if not value:
        refuse(flag, value, what)
    if path.is_dir():
        refuse(flag, value, f"{what}, not a folder")
    if not path.is_file():
        refuse(flag, value, f"{what} (no such file)")
    try:
        path.read_bytes().decode("utf-8")
    except PermissionError:
        refuse(flag, value, f"{what} (permission denied)")
    except OSError as exc:
        refuse(flag, value, f"{what} ({exc.strerror or exc})")
    except UnicodeDecodeError:
        refuse(flag, value, f"{what} (it is not UTF-8 text)")
    return path


def folder(value: str, flag: str, *, what: str = "a folder") -> Path:
    """An existing folder (a project checkout, a repository)."""
    path = Path(value)
    if not value or not path.is_dir():
        raise UsageError(f"{flag} {show(value)} is not a folder: expected {what}")
    return path


def git_repository(value: str, flag: str) -> Path:
    """A folder holding a git repository (a checkout with .git, or a bare repository)."""
    path = folder(value, flag, what="a git repository")
    if not (path / ".git").exists() and not (
        (path / "HEAD").is_file() and (path / "objects").is_dir()
    ):
        refuse(flag, value, "a git repository folder (this folder has no .git)")
    return path


def output_folder(value: str, flag: str) -> Path:
    """Where files are written: a folder, or a path that does not exist yet (it is created)."""
    path = Path(value)
    if not value:
        refuse(flag, value, "a folder to write into")
    if path.exists() and not path.is_dir():
        refuse(flag, value, "a folder to write into, not an existing file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                refuse(flag, value, f"a folder to write into ({parent} is a file)")
            break
    return path
