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
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, cast

from invoke import Task
from invoke.exceptions import ParseError
from invoke.parser import Argument

from adinsights_ops.errors import EXIT_USAGE, UsageError

VERBOSE_HELP = (
    "show the debug log live on stderr (AWS and HTTP calls, subprocesses; secrets redacted); it is "
    "always written under the tool's home, and the last line names the file"
)
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


class _Number:
    """Invoke's cast for an int or float option, whose refusal names the option.

    Invoke casts with `int(value)` while it parses and lets the ValueError out (a traceback under
    `inv`); this raises ParseError instead, which `inv` prints as one line and `adinsights-ops`
    turns into exit 2. It reads as `int` or `float` where Invoke looks (help shows `--limit=INT`).
    Full-width digits, which `int()` accepts, are refused: they look like digits and are not.
    """

    def __init__(self, kind: type, flag: str, what: str = "") -> None:
        self.kind = kind
        self.flag = flag
        self.what = what
        self.__name__ = kind.__name__

    def __call__(self, value: Any) -> Any:
        expected = "a whole number" if self.kind is int else "a number"
        expected += f" ({self.what})" if self.what else ""
        try:
            if isinstance(value, str) and not value.isascii():
                raise ValueError(value)
            return self.kind(value)
        except (TypeError, ValueError):
            raise ParseError(f"{self.flag} {show(value)}: expected {expected}") from None

    def __eq__(self, other: object) -> bool:
        return other is self.kind or other is self

    def __hash__(self) -> int:
        return hash(self.kind)


class NumbersTask(Task[Callable[..., Any]]):
    """An Invoke task whose int and float options refuse a non-number with a one-line error.

    @task(klass=NumbersTask, help={...})
    """

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if opts.get("kind") in (int, float):
            what = opts.get("help") or ""
            opts["kind"] = _Number(opts["kind"], "--" + opts["names"][0], what)
        return opts


class OpsTask(NumbersTask):
    """The runbook's task: numbers refused by name, one short form per flag, help with types.

    @task(klass=options.OpsTask, help={...}, short={"dry_run": "d", "reason": ""})

    - `short` names an option's short form where Invoke's first-free-letter choice would differ
      from the one the flag has in every other task (docs/reference/options.md); "" gives the
      option none. The letter Invoke would have given a mapped option stays unused, so no other
      option of the task moves to it.
    - Each option's help ends with its type and default, e.g. "how many runs (int, default 10)"
      (see `Option`). A help value may be a function returning the text: it is called when the
      help is first read, so a table it lists is never imported by `--list` or a plain run.
    """

    def __init__(self, *args: Any, short: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.short = dict(short or {})

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        claimed = {letter for letter in self.short.values() if letter}
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names | claimed)
        if name in self.short:
            long = opts["names"][0]
            would = next((ch for ch in long if ch != long and ch not in taken_names), None)
            if would is not None:
                taken_names.add(would)  # left unused: the options after this one keep theirs
            letter = self.short[name]
            opts["names"] = [long, letter] if letter else [long]
        return opts

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Any]:
        unknown = set(self.short) - set(self.argspec(self.body).parameters)
        if unknown:
            raise ValueError(f"{self.name}: short forms for options it does not have: {unknown}")
        arguments = [Option.of(argument) for argument in super().get_arguments(ignore_unknown_help)]
        names = [name for argument in arguments for name in argument.names]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"{self.name}: flag names given to two options: {twice}")
        if "verbose" not in names:
            arguments.append(
                Option(names=("verbose",), kind=bool, default=False, help=VERBOSE_HELP)
            )
        return arguments

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task with its debug log open (runbooks.debuglog); `--verbose` shows it live."""
        from invoke.exceptions import Exit

        from runbooks.debuglog import run_log

        verbose = bool(kwargs.pop("verbose", False))
        given = " ".join(
            f"--{k.replace('_', '-')}={v}" for k, v in kwargs.items() if v not in (None, False, "")
        )
        with run_log(verbose=verbose, title=f"task {self.name} {given}".rstrip()) as log:
            try:
                return super().__call__(*args, **kwargs)
            except Exit as exc:
                log.announce = exc.code != EXIT_USAGE  # a refused command line stays one line
                raise


class Option(Argument):
    """An Invoke option whose help, as `--help` shows it, ends with its type and default.

    `plain_help` is the help as written, which usage errors quote ("expected a whole number (how
    many runs)"). A help given as a function is called on first reading, never while parsing.
    """

    _described: str | Callable[[], str] | None

    @classmethod
    def of(cls, argument: Argument) -> Option:
        return cls(
            names=argument.names,
            kind=argument.kind,
            default=argument.default,
            help=argument.help,
            positional=argument.positional,
            optional=argument.optional,
            incrementable=argument.incrementable,
            attr_name=argument.attr_name,
        )

    @property
    def plain_help(self) -> str:
        if callable(self._described):
            self._described = self._described()
        return str(self._described or "")

    @property
    def help(self) -> str:
        opts = {"kind": self.kind, "default": self.default, "positional": self.positional}
        return with_type_and_default(self.plain_help, opts)

    @help.setter
    def help(self, value: Any) -> None:
        self._described = value


def plain_help(arg: Any) -> str:
    """An option's help as written, without the "(int, default 10)" that `--help` adds."""
    return str(getattr(arg, "plain_help", None) or arg.help or "")


def with_type_and_default(described: str, opts: dict[str, Any]) -> str:
    """An option's help with "(TYPE, default VALUE)" after it, as `--help` shows it.

    TYPE is int, float, str, or "switch" for an on/off flag. The default is the task's own (a
    switch is off unless its default is True); an option without one says "no default", or
    "required" when it must be given. Help that already explains its default in words (the
    environment's value, $ADINSIGHTS_ENV, ...) gets only the type.
    """
    kind = opts.get("kind", str)
    default = opts.get("default")
    if kind is bool or isinstance(default, bool):
        kind_name, shown = "switch", "default on" if default else "default off"
    else:
        kind_name = getattr(kind, "__name__", "str")
        if opts.get("positional"):
            shown = "required"
        elif default is None or default == "":
            shown = "no default"
        elif isinstance(default, float):
            shown = f"default {default:g}"
        elif isinstance(default, str):
            shown = f"default {shlex.quote(default)}"
        else:
            shown = f"default {default}"
    if "default" in described and shown not in ("required", "default off", "default on"):
        suffix = f"({kind_name})"
    else:
        suffix = f"({kind_name}, {shown})"
    return f"{described} {suffix}" if described else suffix


def scenario_help() -> str:
    """`--scenario`'s help: every scenario of the sandbox's table, with what goes wrong in it."""
    from adinsights_ops.sandbox.scenarios import DESCRIPTIONS

    listed = "; ".join(f"{name}: {what}" for name, what in DESCRIPTIONS.items())
    return f"sandbox only: the failure scenario to rehearse, one of: {listed}"


def show(value: object) -> str:
    """A value as the operator gave it: strings quoted (so '' and '\\n' are visible), numbers bare."""
    return repr(value) if isinstance(value, str) else str(value)


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
