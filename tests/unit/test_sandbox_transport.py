"""sandbox/transport.py on its own: a WSGI app answering botocore in process, with a deadline."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from adinsights_ops.aws import Aws
from adinsights_ops.sandbox.transport import InProcess

NOWHERE = "http://127.0.0.1:9"  # nothing listens: a call that got here went over HTTP


def sts(hook: InProcess) -> Any:
    aws = Aws(region="eu-west-1", endpoint_url=NOWHERE, max_attempts=1, hooks=(hook.hook(),))
    return aws.sts()


def identity_app(
    delay: float = 0.0, seen: list[dict[str, Any]] | None = None
) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if seen is not None:
            seen.append(environ)
        time.sleep(delay)
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [
            b"<GetCallerIdentityResponse><GetCallerIdentityResult>"
            b"<Account>123456789012</Account><Arn>arn:aws:iam::123456789012:user/x</Arn>"
            b"<UserId>X</UserId></GetCallerIdentityResult></GetCallerIdentityResponse>"
        ]

    return app


def test_the_app_answers_the_request_as_botocore_sent_it() -> None:
    seen: list[dict[str, Any]] = []
    hook = InProcess(identity_app(seen=seen), lambda: False, os.getpid())
    try:
        assert sts(hook).get_caller_identity()["Account"] == "123456789012"
    finally:
        hook.close()
    (environ,) = seen
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["HTTP_HOST"] == "127.0.0.1:9"
    assert b"Action=GetCallerIdentity" in environ["wsgi.input"].read()
    assert environ["HTTP_AUTHORIZATION"].startswith("AWS4-HMAC-SHA256")


def test_an_answer_that_never_comes_is_a_read_timeout() -> None:
    hook = InProcess(identity_app(delay=1.0), lambda: False, os.getpid(), timeout=0.1)
    try:
        with pytest.raises(ReadTimeoutError):
            sts(hook).get_caller_identity()
    finally:
        hook.close()
