"""The runbook's task class: numbers refused by name, one short form per flag, help with types,
and every run's debug log (`--verbose`). `runbooks.options` re-exports these names.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from invoke import Task
from invoke.exceptions import ParseError
from invoke.parser import Argument

from adinsights_ops.errors import EXIT_USAGE

if TYPE_CHECKING:
    from inspect import Signature

VERBOSE_HELP = (
    "show the debug log live on stderr (AWS and HTTP calls, subprocesses; secrets redacted); it is "
    "always written under the tool's home, and the last line names the file"
)


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

    _signature: tuple[Callable[..., Any], Signature] | None = None

    def __init__(self, *args: Any, short: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.short = dict(short or {})

    def __deepcopy__(self, memo: dict[int, Any]) -> OpsTask:
        """Invoke's copy of the task for the namespace it loads (`inv` copies every task at every
        start). Nothing of a task changes once it is defined but its help, which Invoke hands over
        to the options as it builds them (so the copy gets its own); the rest is shared."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.help = dict(self.help)
        memo[id(self)] = new
        return new

    def argspec(self, body: Callable[..., Any]) -> Signature:
        """Invoke's, worked out once per body: Invoke asks three times per task at every start."""
        if self._signature is None or self._signature[0] is not body:
            self._signature = (body, super().argspec(body))
        return self._signature[1]

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

    def __deepcopy__(self, memo: dict[int, Any]) -> Option:
        """A parse's own copy. Invoke deep-copies every option of every task for each parse; a
        parse only replaces the copy's value (a list option's too: Invoke makes a new list for each
        value given), so what the copy holds is shared, not copied."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        memo[id(self)] = new
        return new

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
