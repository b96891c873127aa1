"""What every task shares: error mapping, confirmation, JSON output, live progress."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from invoke.exceptions import Exit

from runbooks.options import scenario_help

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

    return wrapper  # type: ignore[return-value]


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


def error_json(message: str | None, code: int) -> str:
    """The error object printed on stdout under `--json`: the `error:` line without its prefix."""
    lines = (message or "").splitlines() or ["failed"]
    first = lines[0].removeprefix("error: ").strip()
    found: dict[str, Any] = {"error": first, "exit_code": code}
    details = [line.strip() for line in lines[1:] if line.strip()]
    if details:
        found["details"] = details
    return json.dumps(found, sort_keys=True)


def confirm(environment: str, yes: bool, action: str) -> bool:
    """Production-style approval: `--yes`, or the environment's name typed at the prompt."""
    if yes:
        return True
    if not sys.stdin.isatty():
        from adinsights_ops.errors import UsageError

        raise UsageError(f"{action} on {environment} needs approval: pass --yes (not interactive)")
    answer = input(f"{action} on {environment}. Type the environment name to go on: ")
    return answer.strip() == environment


def _default(value: Any) -> Any:
    import attrs

    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=True)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def to_json(value: Any) -> str:
    import attrs

    if attrs.has(type(value)):
        value = attrs.asdict(value, recurse=True, value_serializer=lambda _i, _a, v: _plain(v))
    return json.dumps(value, indent=2, default=_default, sort_keys=True)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def say(message: str = "") -> None:
    """Progress and human-facing lines go to stderr; results go to stdout."""
    print(message, file=sys.stderr, flush=True)


def short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class ProgressPrinter:
    """Renders rollout events: a live status line on a terminal, plain change lines otherwise."""

    def __init__(self, stream: Any = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.last: dict[str, tuple[Any, ...]] = {}
        self.status: dict[str, str] = {}
        self.started = time.monotonic()
        self._line_open = False

    def _write(self, text: str) -> None:
        if self._line_open:
            self.stream.write("\r\033[K")
            self._line_open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event: Any) -> None:
        from adinsights_ops.ecs_views import Phase, Progress, ServiceEvent

        if isinstance(event, Phase):
            self._write(f"-- {event.name}" + (f": {event.detail}" if event.detail else ""))
        elif isinstance(event, ServiceEvent):
            self._write(f"   {event.created_at:%H:%M:%S} {event.message}")
        elif isinstance(event, Progress):
            mark = "ok" if event.done else "..."
            text = (
                f"{event.service} {event.running}/{event.desired} "
                f"{event.rollout_state or '-'} {short(event.task_definition)} {mark}"
            )
            if self.live:
                self.status[event.service] = text
                line = " | ".join(self.status.values()) + f"  [{event.elapsed:.0f}s]"
                self.stream.write("\r\033[K" + line[:200])
                self.stream.flush()
                self._line_open = True
                return
            key = (
                event.running,
                event.desired,
                event.rollout_state,
                event.done,
                event.task_definition,
            )
            if self.last.get(event.service) != key:
                self.last[event.service] = key
                self._write(f"   [{event.elapsed:5.1f}s] {text}")

    def close(self) -> None:
        if self._line_open:
            self.stream.write("\n")
            self._line_open = False


def render_checks(report: Any, as_json: bool) -> None:
    """Print a CheckReport as a table (or JSON) and exit 1 when any item failed."""
    from invoke.exceptions import Exit

    if as_json:
        print(to_json(report))
    else:
        print(f"{report.title}: {report.environment}")
        width = max((len(i.name) for i in report.items), default=10)
        for item in report.items:
            mark = {"pass": "pass", "fail": "FAIL", "not available": "n/a "}[item.status]
            print(
                f"  {mark}  {item.name:<{width}}  {item.evidence}"
                + (f" ({item.detail})" if item.detail else "")
            )
        counts = report.counts()
        print(
            f"{counts['pass']} pass, {counts['fail']} fail, {counts['not available']} not available"
        )
    if not report.ok:
        raise Exit(
            f"error: {len(report.failures)} check(s) failed: "
            + ", ".join(i.name for i in report.failures),
            1,
        )
