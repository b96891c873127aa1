"""`adinsights-ops`: the runbook's tasks (the collection `inv` runs) as a program with usage errors.

    adinsights-ops deploy --env sandbox        same as `inv deploy --env sandbox`
    adinsights-ops --list | --help TASK | --version
    adinsights-ops --environments PATH deploy --env staging    another environments file

What `inv` leaves to Invoke, this program refuses the documented way: exit 2 and one line on
stderr, `error: <option as typed> <value>: expected <what>`, before any task runs:

- an unknown option or task (with the nearest task name), a missing value, a missing required
  argument, a value for an option that takes none;
- a non-number for an int or float option (Invoke's parser raises ValueError there);
- an empty value (`--image-tag ''`): an option given empty is never taken as its default.

A reader that closes the pipe early (`adinsights-ops deploy.status | head -1`) ends the program
quietly with exit 141, as a shell reports SIGPIPE.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import os
import re
import sys
from pathlib import Path
from typing import Any

from invoke import Program
from invoke.exceptions import Exit, ParseError, UnexpectedExit
from invoke.parser import Argument, Parser, ParserContext

from runbooks.options import plain_help  # option help without --help's "(int, default 10)"

EXIT_USAGE = 2
ENVIRONMENTS_HELP = (
    "the environments file (default: $ADINSIGHTS_ENVIRONMENTS, else environments.yaml in this "
    "folder or the nearest parent, else the packaged sandbox)"
)
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell shows for a writer whose reader went away


_CONTEXTS: dict[tuple[int, bool], list[ParserContext]] = {}


def contexts_of(namespace: Any, ignore_unknown_help: bool = False) -> list[ParserContext]:
    """Every task's parser context, built once per collection.

    Invoke's Task hands each option's help text over once (the second `to_contexts` has none), and
    parsing copies the contexts it is given, so one shared list serves every parse in a process.
    """
    key = (id(namespace), ignore_unknown_help)
    if key not in _CONTEXTS:
        _CONTEXTS[key] = namespace.to_contexts(ignore_unknown_help=ignore_unknown_help)
    return _CONTEXTS[key]


class _Usage(Exception):
    """A usage error found while parsing: printed as `error: ...`, exit 2."""


def _version() -> str:
    from adinsights_ops import __version__

    return __version__


class OpsProgram(Program):
    """Invoke's Program over the runbook's collection, with usage errors mapped to exit 2."""

    def __init__(self) -> None:
        from runbooks.collection import ns

        super().__init__(
            namespace=ns, name="adinsights-ops", binary="adinsights-ops", version=_version()
        )

    def run(self, argv: list[str] | str | None = None, exit: bool = True) -> None:
        """Run `argv` (a list whose first item is the program name); sys.exit(code) unless 0."""
        code = self._run(argv)
        self.exit_code = code
        if code and exit:
            sys.exit(code)

    def _run(self, argv: list[str] | str | None) -> int:
        try:
            try:
                self.create_config()
                self._parse(argv)
                self.update_config()
                with self._environments_file():
                    self.execute()
                sys.stdout.flush()
            except _Usage as usage:
                print(f"error: {usage}", file=sys.stderr)
                if _wants_json(self._argv()):  # the output contract holds for a refused line too
                    from runbooks.render import error_json

                    print(error_json(str(usage), EXIT_USAGE), flush=True)
                return EXIT_USAGE
            except Exit as done:
                if done.message:
                    print(done.message, file=sys.stderr)
                return int(done.code)
            except UnexpectedExit as failed:
                if failed.result.hide:
                    print(failed, file=sys.stderr, end="")
                return int(failed.result.exited)
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
                return 1
        except BrokenPipeError:
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        return 0

    def core_args(self) -> list[Argument]:
        """Invoke's core flags, and `--environments PATH` (the environments file for this run)."""
        return [
            *super().core_args(),
            Argument(names=("environments",), help=ENVIRONMENTS_HELP),
        ]

    def _environments_file(self) -> contextlib.AbstractContextManager[None]:
        """`--environments PATH` in effect while the tasks run (above $ADINSIGHTS_ENVIRONMENTS)."""
        from adinsights_ops import config

        value = self.args.environments.value
        if value == "":
            raise _Usage(
                "--environments '': expected the environments file's path "
                "(an empty value is refused, never taken as the default)"
            )
        return config.chosen_file(value)

    def _contexts(self) -> list[ParserContext]:
        return contexts_of(self.namespace, bool(self.config.tasks.ignore_unknown_help))

    def _make_parser(self) -> Parser:
        """Invoke's parser, over the contexts of the tasks named on the command line only.

        Parsing deep-copies every context it is given; a task not named cannot be switched to, so
        leaving it out changes nothing but the time (completion still gets them all).
        """
        contexts = self._contexts()
        if not self.args.complete.value:
            named = set(self._argv())
            contexts = [c for c in contexts if named & {c.name, *c.aliases}]
        return Parser(initial=self.initial_context, contexts=contexts)

    def _parse(self, argv: list[str] | str | None) -> None:
        """Invoke's parse steps, each refusal turned into a `_Usage` that names what was typed."""
        try:
            self.parse_core(argv.split() if isinstance(argv, str) else argv)  # as Invoke splits it
            # parse_core turned bytecode caching off (Invoke's `--write-pyc`, for a loose tasks.py);
            # the modules a task imports are an installed package's, cached unless -B says not.
            sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)
            self.parse_collection()
            self._refuse_repeated()
            self.parse_tasks()
            self._refuse_odd_values()
            self.parse_cleanup()
        except ParseError as exc:
            context = getattr(exc, "context", None)
            asked = {"--help", "-h"} & set(self._argv())
            if asked and context is not None and context.name and "did not receive" in str(exc):
                # `task --help` on a task with several required arguments: help, not an error.
                self.print_task_help(context.name)
                raise Exit(code=0) from None
            raise _Usage(self._describe(exc)) from None
        except (ValueError, TypeError) as exc:
            # Invoke casts int/float option values while parsing and lets the ValueError through.
            raise _Usage(self._not_a_number(exc)) from None
        except Exit as done:
            if done.message and done.code:  # e.g. `--list nosuch`: Invoke's wording, our exit code
                raise _Usage(str(done.message).rstrip("!").lower()) from None
            raise

    # -- what was typed ---------------------------------------------------------------------

    def _argv(self) -> list[str]:
        return list(getattr(self, "argv", [])[1:])

    def _typed(self, arg: Argument) -> str:
        """The flag as the operator typed it (`-l` or `--limit`), else its long form."""
        forms = [("-" if len(n) == 1 else "--") + n for n in arg.names]
        for token in self._argv():
            for form in forms:
                if (
                    token == form
                    or token.startswith(form + "=")
                    or (len(form) == 2 and token.startswith(form) and not token.startswith("--"))
                ):
                    return form
        return forms[0]

    def _expected(self, arg: Argument, kind: Any = None) -> str:
        kind = kind or arg.kind
        what = {int: "a whole number", float: "a number"}.get(kind, "a value")
        return f"{what} ({plain_help(arg)})" if plain_help(arg) else what

    def _task_names(self) -> list[str]:
        if self.namespace is None:  # set by parse_collection, before any task name is read
            return []
        return sorted(self.namespace.task_names) + [
            alias for aliases in self.namespace.task_names.values() for alias in aliases
        ]

    # -- the parse errors ---------------------------------------------------------------------

    def _describe(self, exc: ParseError) -> str:
        message = str(exc)
        context: ParserContext | None = getattr(exc, "context", None)
        task = context.name if context is not None and context.name else ""
        unknown = re.fullmatch(r"No idea what '(.*)' is!", message, re.DOTALL)
        if unknown:
            return self._unknown(unknown[1], task, context)
        needs = re.fullmatch(r"Flag <\w+: ([^ >]+).*> needed value and was not given one!", message)
        if needs and context is not None:
            arg = _find_arg(context, needs[1])
            if arg is not None:
                return f"{self._typed(arg)} needs a value: expected {self._expected(arg)}"
        takes_none = re.fullmatch(r"Flag <\w+: ([^ >]+).*> doesn't take any value!", message)
        if takes_none and context is not None:
            arg = _find_arg(context, takes_none[1])
            if arg is not None:
                return f"{self._typed(arg)} takes no value (it is an on/off switch)"
        named = re.match(r"(--[\w-]+) ", message)  # e.g. options.NumbersTask's refusal
        if named:
            tokens = set(self._argv())
            for candidate in [context] + [c for c in self._contexts() if tokens & {c.name}]:
                if candidate is not None and named[1] in candidate.flags:
                    typed = self._typed(candidate.flags[named[1]])
                    return typed + message[len(named[1]) :]
        missing = re.fullmatch(
            r"'(.*)' did not receive required positional arguments: (.*)", message
        )
        if missing and context is not None:
            names = re.findall(r"'([^']+)'", missing[2])
            args = [a for a in (_find_arg(context, n) for n in names) if a is not None]
            if args:
                needed = "; ".join(f"--{a.names[0]} ({plain_help(a) or 'required'})" for a in args)
                return f"{missing[1]} needs {needed}"
        return message

    def _unknown(self, token: str, task: str, context: ParserContext | None) -> str:
        for typed in self._argv():
            flag, _, value = typed.partition("=")
            if value == token and context is not None and flag in context.flags:
                return f"{typed}: {flag} takes no value (it is an on/off switch)"
        if token.startswith("-") and task and context is not None:
            flag = token.split("=", 1)[0]
            options = sorted(context.flags)
            near = difflib.get_close_matches(flag, options, n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            return f"{flag}: not an option of {task}{hint}; expected one of {', '.join(options)}"
        if token.startswith("-"):
            return f"{token}: not an option of adinsights-ops (see `adinsights-ops --help`)"
        near = difflib.get_close_matches(token, self._task_names(), n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]}?" if near else ""
        after = f" (after {task}, which takes no more arguments)" if task else ""
        return f"{token!r}{after}: expected a task from `adinsights-ops --list`{hint}"

    def _not_a_number(self, exc: Exception) -> str:
        """Which int/float option got a non-number: parse again with every value kept as text."""
        kinds: dict[tuple[str | None, str], Any] = {}

        def as_text(context: ParserContext) -> ParserContext:
            context = copy.deepcopy(context)
            for arg in context.args.values():
                if arg.kind in (int, float):
                    kinds[(context.name, arg.name)] = arg.kind
                    arg.kind = str
            return context

        try:
            named = set(self._argv())
            contexts = [as_text(c) for c in self._contexts() if named & {c.name, *c.aliases}]
            parser = Parser(initial=as_text(self.initial_context), contexts=contexts)
            result = parser.parse_argv(self._argv())
        except ParseError as again:
            return self._describe(again)
        for context in result:
            for arg in context.args.values():
                kind = kinds.get((context.name, arg.name))
                if kind is None or arg.raw_value is None:
                    continue
                try:
                    kind(arg.raw_value)
                except (ValueError, TypeError):
                    expected = self._expected(arg, kind)
                    return f"{self._typed(arg)} {arg.raw_value!r}: expected {expected}"
        return f"a value could not be read: {exc}"

    def _refuse_repeated(self) -> None:
        """An option given twice is refused: Invoke would keep one value and drop the other."""
        contexts: dict[str, ParserContext] = {}
        for context in self._contexts():
            for name in (context.name, *context.aliases):
                if name is not None:  # a task's context always has its name
                    contexts[name] = context
        current: ParserContext | None = None
        seen: dict[str, str] = {}
        expect_value = False
        for token in self._argv():
            if token == "--":
                break
            if expect_value:  # the value of the option before: never an option or a task
                expect_value = False
                continue
            if token in contexts:
                current, seen = contexts[token], {}
                continue
            if current is None or not token.startswith("-"):
                continue
            flag = token.split("=", 1)[0]
            target = current.inverse_flags.get(flag, flag)
            if target not in current.flags:  # (flags is an alias dict: `get` misses short flags)
                continue
            arg = current.flags[target]
            if arg.name in seen:
                raise _Usage(
                    f"{flag} given twice ({seen[arg.name]} first): give each option once; "
                    "no value is silently dropped"
                )
            seen[arg.name] = flag
            expect_value = (
                "=" not in token and flag not in current.inverse_flags and arg.takes_value
            )

    def _refuse_odd_values(self) -> None:
        """An option given empty (`--resume ''`) is refused: it never means "the default".

        A required argument whose value looks like an option (`deploy.status --nosuch` makes
        `--nosuch` the environment, since Invoke fills positional arguments first) is refused as
        the unknown option it is.
        """
        for context in self.tasks:
            for arg in context.args.values():
                value = arg.raw_value
                if arg.positional and value in ("--help", "-h"):
                    # `task --help` with a required argument missing: Invoke took --help for it.
                    self.args.help.value = context.name
                    arg.set_value(None, cast=False)
                    continue
                if arg.positional and isinstance(value, str) and value.startswith("--"):
                    raise _Usage(self._unknown(value, context.name or "", context))
                if arg.takes_value and value == "":
                    what = plain_help(arg) or "a value"
                    raise _Usage(
                        f"{self._typed(arg)} '': expected {what} "
                        "(an empty value is refused, never taken as the default)"
                    )


def _wants_json(argv: list[str]) -> bool:
    """Whether the command line asked for JSON output (`--json`, `-j`, `--format json`)."""
    for i, token in enumerate(argv):
        if token in ("--json", "-j", "--format=json", "--json=true"):
            return True
        if token == "--format" and argv[i + 1 : i + 2] == ["json"]:
            return True
    return False


def _find_arg(context: ParserContext, name: str) -> Argument | None:
    arg: Argument
    for arg in context.args.values():
        if name in arg.names or name == getattr(arg, "attr_name", None):
            return arg
    return None


def _silence_stdout() -> None:
    """After a broken pipe: nothing more reaches the reader, and no error at interpreter exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        with contextlib.suppress(Exception):
            sys.stdout = Path(os.devnull).open("w")  # noqa: SIM115 (kept for the process's life)


def main() -> None:
    """The `adinsights-ops` console script."""
    from runbooks.shutdown import tune_collector

    tune_collector()  # does not walk every AWS object it made, again and again (see shutdown)
    OpsProgram().run(sys.argv)
