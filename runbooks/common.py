"""What every task shares: error mapping, confirmation, JSON output, live progress."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from invoke.exceptions import Exit

from runbooks.options import scenario_help

if TYPE_CHECKING:  # the output modules load rich and click: imported when a task first prints
    from runbooks.render import Progress
    from runbooks.render._json import _default

__all__ = [
    "ALWAYS_EXIT_CODE_HELP",
    "DRIFT_FOUND",
    "ENV_HELP",
    "EXIT_CODE_HELP",
    "JSON_HELP",
    "SCENARIO_HELP",
    "ProgressPrinter",
    "_default",
    "confirm",
    "default_env",
    "error_json",
    "ops_task",
    "render_checks",
    "say",
    "to_json",
]

F = TypeVar("F", bound=Callable[..., Any])

ENV_HELP = (
    "environment: sandbox, staging or production (see environments.yaml); "
    "default: $ADINSIGHTS_ENV, which may not be production"
)
ENV_VARIABLE = "ADINSIGHTS_ENV"
NEVER_DEFAULT = ("production",)

JSON_HELP = "print the result as JSON on stdout"
EXIT_CODE_HELP = "exit 1 when differences or failures are found (as `git diff --exit-code`)"
ALWAYS_EXIT_CODE_HELP = "accepted for uniformity: this task always exits 1 when something failed"
DRIFT_FOUND = 1  # --exit-code: differences/failures found (docs/reference/exit-codes.md)
# Built from the sandbox's scenario table when the options are built (scenarios imports no moto).
SCENARIO_HELP = scenario_help


def default_env(given: str | None) -> str:
    """The environment to act on: `--env` when given, else $ADINSIGHTS_ENV; production is never
    a default (it must be typed on the command line). Neither: a UsageError (exit 2)."""
    from adinsights_ops.errors import UsageError

    if given is not None:
        return given
    import os

    name = os.environ.get(ENV_VARIABLE, "").strip()
    if not name:
        raise UsageError(
            f"no environment: this task needs --env NAME (or {ENV_VARIABLE} set to one "
            "that is not production)"
        )
    if name in NEVER_DEFAULT:
        raise UsageError(
            f"{ENV_VARIABLE}={name} refused: {name} is never a default; "
            f"pass --env {name} on the command line"
        )
    return name


def _env_defaulted(body: Callable[..., Any]) -> Callable[..., Any]:
    """`body` with its `env` argument (None when `--env` was not given) from `default_env`."""

    def run(*args: Any, **kwargs: Any) -> Any:
        if "env" in kwargs and kwargs["env"] is None:
            kwargs["env"] = default_env(None)
        return body(*args, **kwargs)

    return run


def ops_task(body: F) -> F:
    """Turn library errors into one clear line and the documented exit code; no tracebacks.

    Under `--json` (or `--format json`) an error is also a JSON object on stdout,
    `{"error": "...", "exit_code": N}`, unless the task had already printed its result there:
    stdout then holds exactly one JSON document either way.
    """

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = kwargs.get("json") is True or kwargs.get("format") == "json"
        watched = _Watched(sys.stdout) if as_json else None
        if watched is not None:
            sys.stdout = watched
        try:
            return _run_mapped(_env_defaulted(body), args, kwargs)
        except Exit as exc:
            if watched is not None and exc.code and not watched.written:
                print(error_json(exc.message, exc.code), file=watched.stream, flush=True)
            raise
        finally:
            if watched is not None and sys.stdout is watched:
                sys.stdout = watched.stream

    return cast(F, wrapper)  # the same call signature: functools.wraps copies the rest


def _run_mapped(body: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    from adinsights_ops.errors import EXIT_FAILED, EXIT_USAGE, NeedsHuman, OpsError

    try:
        return body(*args, **kwargs)
    except OpsError as exc:
        details = getattr(exc, "details", [])
        message = "\n".join([f"error: {exc}", *(f"  {d}" for d in details)])
        if isinstance(exc, NeedsHuman):
            message += "\n  needs a human: check the services above before running anything else"
        raise Exit(message, exc.exit_code) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", EXIT_FAILED) from None
    except Exception as exc:
        botocore = sys.modules.get("botocore.exceptions")
        if botocore is not None and isinstance(
            exc, botocore.NoCredentialsError | botocore.ProfileNotFound
        ):
            raise Exit(f"error: no usable AWS credentials: {exc}", EXIT_USAGE) from None
        parsers = sys.modules.get("botocore.parsers")
        if (
            botocore is not None and isinstance(exc, botocore.ClientError | botocore.BotoCoreError)
        ) or (parsers is not None and isinstance(exc, parsers.ResponseParserError)):
            from adinsights_ops.errors import describe_error

            # Any AWS failure past its retries (refused, 5xx, lost connection, read timeout,
            # an unparsable answer): one line. Nothing was changed by a failed read-only task;
            # a deploy never gets here after its lock is taken (it reports instead).
            raise Exit(f"error: {describe_error(exc)}", EXIT_FAILED) from None
        raise


class _Watched:
    """stdout, noting whether the task wrote anything to it (its JSON result)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.written = False

    def write(self, text: str) -> int:
        if text:
            self.written = True
        result: int = self.stream.write(text)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def confirm(environment: str, yes: bool, action: str) -> bool:
    """`runbooks.render.confirm`: True when the change may go ahead (asked only where needed)."""
    from runbooks.render import confirm as ask

    return ask(environment, yes, action)


def error_json(message: str | None, code: int) -> str:
    """`runbooks.render.error_json`: the `--json` error object."""
    from runbooks.render import error_json as as_json

    return as_json(message, code)


# The output now lives in runbooks.render; these names stay for the modules not yet moved. Each
# imports it when called, not when a task module imports this one (`inv --list` prints with none).


def say(message: str = "") -> None:
    """`runbooks.render.say`: a human line on stderr."""
    from runbooks.render import say as line

    line(message)


def to_json(value: Any) -> str:
    """`runbooks.render.to_json`."""
    from runbooks.render import to_json as as_json

    return as_json(value)


def render_checks(report: Any, as_json: bool) -> None:
    """`runbooks.render.checks`: a CheckReport printed, exit 1 when an item failed."""
    from runbooks.render import checks

    checks(report, as_json)


def ProgressPrinter(*args: Any, **kwargs: Any) -> Progress:  # the name of the class it was
    """`runbooks.render.Progress`: the live rollout progress."""
    from runbooks.render import Progress

    return Progress(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name != "_default":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from runbooks.render._json import _default

    return _default
