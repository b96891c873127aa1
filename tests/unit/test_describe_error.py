"""Every kind of error a run can meet becomes one line naming what failed, on the command line too."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError
from invoke.exceptions import Exit

from adinsights_ops.errors import EXIT_FAILED, UsageError, describe_error
from runbooks.common import ops_task

THROTTLED = ClientError(
    {
        "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded\nmore"},
        "ResponseMetadata": {
            "RequestId": "r",
            "HostId": "h",
            "HTTPStatusCode": 400,
            "HTTPHeaders": {},
            "RetryAttempts": 7,
        },
    },
    "UpdateService",
)
ERRORS = [
    (THROTTLED, "AWS UpdateService failed (after 8 attempts): ThrottlingException: Rate exceeded"),
    (EndpointConnectionError(endpoint_url="https://ecs.example"), "EndpointConnectionError"),
    (ReadTimeoutError(endpoint_url="https://ecs.example"), "ReadTimeoutError"),
    (ConnectionClosedError(endpoint_url="https://ecs.example"), "ConnectionClosedError"),
    (ResponseParserError("Unable to parse response (not XML)\n<html>"), "could not be read"),
    (KeyboardInterrupt(), "interrupted (Ctrl-C)"),
    (RuntimeError("boom\nsecond line"), "RuntimeError: boom"),
    (UsageError("bad tag"), "bad tag"),
]


@pytest.mark.parametrize(("error", "expected"), ERRORS, ids=[type(e).__name__ for e, _ in ERRORS])
def test_one_line_naming_what_failed(error: BaseException, expected: str) -> None:
    line = describe_error(error)
    assert expected in line and "\n" not in line


@pytest.mark.parametrize(
    "error", [e for e, _ in ERRORS[:5]], ids=[type(e).__name__ for e, _ in ERRORS[:5]]
)
def test_a_task_turns_any_aws_failure_into_one_error_line(error: BaseException) -> None:
    @ops_task
    def task() -> None:
        raise error

    with pytest.raises(Exit) as raised:
        task()
    assert raised.value.code == EXIT_FAILED
    message = str(raised.value.message)
    assert message.startswith("error: ") and "\n" not in message
