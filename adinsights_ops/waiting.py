"""Waiting as data: poll until a success predicate holds, a failure predicate fires, or a deadline.

Every wait has a deadline on a monotonic clock and an exponential backoff with jitter; the clock and the
sleep are injectable so tests never really wait. Retries are for transient errors only (throttling,
5xx, dropped connections), each bounded by attempts *and* time.
"""

from __future__ import annotations

import math
import random
import re
import sys
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import attrs

from adinsights_ops.errors import UsageError, WaitFailed, WaitTimedOut

T = TypeVar("T")


class Clock(Protocol):
    """What a wait needs from time: a monotonic reading and a way to pass time."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()


@attrs.frozen
class Backoff:
    """Exponential backoff: `initial` seconds, times `factor` each poll, capped at `maximum`.

    Jitter spreads each delay by up to +/- `jitter` of itself so that many waiters do not poll in step.
    """

    initial: float = 1.0
    factor: float = 1.5
    maximum: float = 10.0
    jitter: float = 0.2

    def delays(self, rng: random.Random | None = None) -> Callable[[], float]:
        """A generator function of successive delays."""
        rnd = rng or random.Random()
        state = {"next": self.initial}

        def next_delay() -> float:
            base = state["next"]
            state["next"] = min(base * self.factor, self.maximum)
            spread = base * self.jitter
            return max(0.0, base + rnd.uniform(-spread, spread))

        return next_delay


MAX_TIMEOUT = 7 * 24 * 3600.0  # a week: anything longer is a typo, not a wait
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def check_timeout(value: object, *, name: str = "timeout", maximum: float = MAX_TIMEOUT) -> float:
    """`value` as a timeout in seconds, or UsageError: a finite number above 0, at most a week.

    Every primitive that waits calls this before its first AWS call, so a negative, zero, NaN,
    infinite or absurd timeout refuses the request instead of starting work it cannot watch.
    Strings are taken only when they are plain ASCII numbers (no full-width digits, no spaces).
    """
    number = math.nan
    plain = isinstance(value, str) and _NUMBER.fullmatch(value) is not None
    if (isinstance(value, int | float) and not isinstance(value, bool)) or plain:
        number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number) or number <= 0 or number > maximum:
        raise UsageError(
            f"{name} must be a number of seconds above 0 and at most {maximum:.0f} "
            f"({maximum / 86400:g} days), got {value!r}"
        )
    return number


@attrs.frozen
class Poll(Generic[T]):
    """One observation made during a wait."""

    state: T
    elapsed: float
    attempt: int


def wait_until(
    poll: Callable[[], T],
    *,
    what: str,
    success: Callable[[T], bool],
    failure: Callable[[T], str | None] | None = None,
    timeout: float,
    backoff: Backoff = Backoff(),
    clock: Clock = SYSTEM_CLOCK,
    on_poll: Callable[[Poll[T]], None] | None = None,
    wait_first: bool = False,
) -> T:
    """Poll until `success(state)`; return that state.

    With `wait_first`, the first poll comes after the backoff's first delay instead of at once: for
    work just started that cannot be done yet, so no call is spent on a state known in advance.

    Raises `WaitFailed` as soon as `failure(state)` returns a reason, and `WaitTimedOut` (carrying the
    last state seen) when `timeout` seconds pass on `clock`. The last sleep is cut short so the deadline
    is never overslept. An invalid `timeout` (see `check_timeout`) is a UsageError before any poll.
    """
    timeout = check_timeout(timeout)
    start = clock.monotonic()
    deadline = start + timeout
    next_delay = backoff.delays()
    attempt = 0
    if wait_first:
        clock.sleep(min(next_delay(), timeout))
    while True:
        attempt += 1
        state = poll()
        now = clock.monotonic()
        if on_poll is not None:
            on_poll(Poll(state=state, elapsed=now - start, attempt=attempt))
        if success(state):
            return state
        reason = failure(state) if failure is not None else None
        if reason is not None:
            raise WaitFailed(what, reason, state)
        remaining = deadline - now
        if remaining <= 0:
            raise WaitTimedOut(what, timeout, state)
        clock.sleep(min(next_delay(), remaining))


THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


def is_transient(exc: BaseException) -> bool:
    """True for errors that a retry can fix: throttling, 5xx answers, dropped or timed-out connections.

    Looks botocore and requests up in `sys.modules` only: if they were never imported, the error cannot
    be one of theirs, and importing them here would slow every start-up.
    """
    botocore_exc = sys.modules.get("botocore.exceptions")
    if botocore_exc is not None:
        if isinstance(exc, botocore_exc.ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return error.get("Code", "") in THROTTLING_CODES or int(status) >= 500
        connection_errors = (
            botocore_exc.EndpointConnectionError,
            botocore_exc.ConnectionClosedError,
            botocore_exc.ReadTimeoutError,
            botocore_exc.ConnectTimeoutError,
        )
        if isinstance(exc, connection_errors):
            return True
    requests_exc = sys.modules.get("requests.exceptions")
    if requests_exc is not None:
        if isinstance(exc, requests_exc.ConnectionError | requests_exc.Timeout):
            return True
        if isinstance(exc, requests_exc.HTTPError) and exc.response is not None:
            return exc.response.status_code in (429, 502, 503, 504)
    return isinstance(exc, ConnectionError | TimeoutError)


@attrs.frozen
class RetryPolicy:
    """How often and for how long a transient failure is retried."""

    attempts: int = 5
    max_seconds: float = 60.0
    initial: float = 0.5
    maximum: float = 8.0


DEFAULT_RETRY = RetryPolicy()


def retry_transient(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Call `fn`, retrying only transient errors, bounded by attempts and by time; re-raise the last."""
    import tenacity

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            error = state.outcome.exception()
            if error is not None:
                on_retry(state.attempt_number, error)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts)
        | tenacity.stop_after_delay(policy.max_seconds),
        wait=tenacity.wait_exponential_jitter(multiplier=policy.initial, max=policy.maximum),
        retry=tenacity.retry_if_exception(is_transient),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)
