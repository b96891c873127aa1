"""One root error, subclasses that carry data, and the exit codes the command line maps them to.

Exit codes (documented in docs/reference/exit-codes.md and relied on by scripts):

    0  done
    1  the operation failed and what it changed was rolled back
    2  usage or configuration error (nothing was changed)
    3  the environment is locked by someone else
    4  needs a human: a rollback failed or the state is unknown
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_NEEDS_HUMAN = 4


class OpsError(Exception):
    """Root of every error the library raises on purpose."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[str] = list(details)

    def __str__(self) -> str:
        return self.message


class ConfigError(OpsError):
    """The environments file (or another input) is wrong; carries where and what was expected."""

    exit_code = EXIT_USAGE

    def __init__(self, source: str, key: str, expected: str) -> None:
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {expected}")
        self.source = source
        self.key = key
        self.expected = expected


class UsageError(OpsError):
    """Bad input from the operator (unknown environment, malformed tag, missing approval)."""

    exit_code = EXIT_USAGE


class AccountMismatch(UsageError):
    """The credentials in use belong to another AWS account than the environment's."""

    def __init__(self, environment: str, expected: str, actual: str) -> None:
        super().__init__(
            f"environment {environment!r} is account {expected}, "
            f"but the credentials in use are for account {actual}"
        )
        self.environment = environment
        self.expected = expected
        self.actual = actual


class EnvironmentLocked(OpsError):
    """Someone else holds the environment's lock."""

    exit_code = EXIT_LOCKED

    def __init__(
        self,
        environment: str,
        holder: Mapping[str, Any],
        *,
        gone: bool = False,
        details: Sequence[str] = (),
    ) -> None:
        who = holder.get("who", "?")
        run_id = holder.get("run_id", "?")
        since = holder.get("started", "?")
        reason = holder.get("reason", "")
        until = holder.get("expires", "")
        super().__init__(
            f"environment {environment!r} is locked by {who} (run {run_id}, since {since}"
            + (f", reason: {reason}" if reason else "")
            + (", its holder is gone" if gone else (f", lease ends {until}" if until else ""))
            + ")"
        )
        self.environment = environment
        self.holder = dict(holder)
        self.gone = gone
        self.details = list(details)


class WaitTimedOut(OpsError):
    """A wait passed its deadline; carries what was awaited and the last state seen."""

    def __init__(self, what: str, timeout: float, last_state: object) -> None:
        super().__init__(f"timed out after {timeout:.0f}s waiting for {what}")
        self.what = what
        self.timeout = timeout
        self.last_state = last_state


class WaitFailed(OpsError):
    """A wait saw a state that can never become success."""

    def __init__(self, what: str, reason: str, last_state: object) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason
        self.last_state = last_state


class AwsCallFailed(OpsError):
    """An AWS call failed for a reason that retrying will not fix."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code


class NeedsHuman(OpsError):
    """The state is unknown or a rollback failed: a person must look before anything else runs."""

    exit_code = EXIT_NEEDS_HUMAN

    def __init__(self, message: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message, details=details)


def describe_error(exc: BaseException) -> str:
    """One clear line for any error a run can meet: ours, botocore's, a lost connection, Ctrl-C.

    botocore is looked up only when it is already imported, so this stays on the ground floor.
    """
    import sys

    if isinstance(exc, OpsError):
        return str(exc) or type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None and isinstance(exc, botocore.ClientError):
        response = getattr(exc, "response", {}) or {}
        error = response.get("Error", {})
        attempts = response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        code = error.get("Code") or "error"
        message = (error.get("Message") or "").splitlines()[0] if error.get("Message") else ""
        retried = f" (after {attempts + 1} attempts)" if attempts else ""
        return f"AWS {exc.operation_name} failed{retried}: {code}" + (
            f": {message}" if message else ""
        )
    parsers = sys.modules.get("botocore.parsers")
    if parsers is not None and isinstance(exc, parsers.ResponseParserError):
        first = (str(exc).splitlines() or [""])[0]
        return f"AWS answered with something that could not be read: {first}"
    if botocore is not None and isinstance(exc, botocore.BotoCoreError):
        first = (str(exc).splitlines() or [""])[0]
        return f"AWS call failed: {type(exc).__name__}: {first}"
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
