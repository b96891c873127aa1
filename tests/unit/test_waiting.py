"""Deadlines, backoff and transient-error retries, on a fake clock: nothing here really waits."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from adinsights_ops.errors import WaitFailed, WaitTimedOut
from adinsights_ops.waiting import Backoff, RetryPolicy, is_transient, retry_transient, wait_until
from tests.simulated import FakeClock


def states(*values: str) -> Callable[[], str]:
    it = iter(values)
    return lambda: next(it)


def test_returns_the_state_that_succeeded() -> None:
    clock = FakeClock()
    got = wait_until(
        states("a", "b", "done"), what="x", success=lambda s: s == "done", timeout=60, clock=clock
    )
    assert got == "done" and len(clock.slept) == 2


def test_wait_first_looks_after_the_first_delay_not_at_once() -> None:
    clock = FakeClock()
    polled_at: list[float] = []

    def poll() -> str:
        polled_at.append(clock.monotonic())
        return "done"

    start = clock.monotonic()
    wait_until(
        poll,
        what="x",
        success=lambda s: s == "done",
        timeout=60,
        clock=clock,
        backoff=Backoff(initial=3, factor=2, maximum=10, jitter=0),
        wait_first=True,
    )
    assert polled_at == [start + 3]


def test_wait_first_never_sleeps_past_the_deadline() -> None:
    clock = FakeClock()
    start = clock.monotonic()
    with pytest.raises(WaitTimedOut):
        wait_until(
            lambda: "not yet",
            what="x",
            success=lambda s: s == "done",
            timeout=2,
            clock=clock,
            backoff=Backoff(initial=5, factor=2, maximum=10, jitter=0),
            wait_first=True,
        )
    assert clock.monotonic() - start == pytest.approx(2)


def test_failure_predicate_stops_at_once() -> None:
    clock = FakeClock()
    with pytest.raises(WaitFailed) as raised:
        wait_until(
            states("a", "broken", "done"),
            what="thing",
            success=lambda s: s == "done",
            failure=lambda s: "it broke" if s == "broken" else None,
            timeout=60,
            clock=clock,
        )
    assert raised.value.reason == "it broke" and raised.value.last_state == "broken"


def test_timeout_carries_the_last_state_and_never_oversleeps() -> None:
    clock = FakeClock()
    start = clock.monotonic()
    counter = iter(range(1000))
    with pytest.raises(WaitTimedOut) as raised:
        wait_until(
            lambda: next(counter),
            what="forever",
            success=lambda s: False,
            timeout=30,
            backoff=Backoff(initial=7, factor=2, maximum=100, jitter=0),
            clock=clock,
        )
    assert raised.value.last_state == len(clock.slept)
    assert clock.monotonic() - start == pytest.approx(30)
    assert "forever" in str(raised.value)


def test_backoff_grows_to_its_cap_with_bounded_jitter() -> None:
    delays = Backoff(initial=1, factor=2, maximum=8, jitter=0.25).delays(random.Random(7))
    seen = [delays() for _ in range(8)]
    bases = [1, 2, 4, 8, 8, 8, 8, 8]
    for got, base in zip(seen, bases, strict=True):
        assert base * 0.75 <= got <= base * 1.25


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {
                "RequestId": "r",
                "HostId": "h",
                "HTTPStatusCode": status,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        "Op",
    )


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (client_error("ThrottlingException", 400), True),
        (client_error("TooManyRequestsException", 429), True),
        (client_error("InternalError", 500), True),
        (client_error("ServiceUnavailable", 503), True),
        (client_error("AccessDenied", 403), False),
        (client_error("ValidationException", 400), False),
        (EndpointConnectionError(endpoint_url="http://x"), True),
        (ValueError("bad"), False),
        (ConnectionResetError(), True),
    ],
)
def test_transient_errors_are_told_apart(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_retry_transient_retries_then_succeeds_without_waiting() -> None:
    slept: list[float] = []
    attempts = iter([client_error("Throttling", 400), client_error("InternalError", 500), None])

    def call() -> str:
        error = next(attempts)
        if error is not None:
            raise error
        return "ok"

    assert retry_transient(call, sleep=slept.append) == "ok"
    assert len(slept) == 2


def test_retry_transient_does_not_retry_a_permanent_error() -> None:
    calls = []

    def call() -> None:
        calls.append(1)
        raise client_error("AccessDenied", 403)

    with pytest.raises(ClientError):
        retry_transient(call, sleep=lambda _: None)
    assert len(calls) == 1


def test_retry_transient_is_bounded_by_attempts() -> None:
    calls = []

    def call() -> None:
        calls.append(1)
        raise client_error("Throttling", 400)

    with pytest.raises(ClientError):
        retry_transient(call, policy=RetryPolicy(attempts=3), sleep=lambda _: None)
    assert len(calls) == 3
