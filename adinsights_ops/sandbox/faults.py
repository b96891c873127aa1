"""Client-side fault injection for the `throttled` scenario.

A botocore `before-send` hook answers a share of requests with HTTP 400 ThrottlingException before
they leave the process. It sits below botocore's retry layer, so the standard retry mode really has
to retry them, exactly as it would against a throttling AWS API.
"""

from __future__ import annotations

import json
import random
import threading
from typing import Any

MESSAGE = "Rate exceeded (sandbox scenario: throttled)"
JSON_BODY = json.dumps({"__type": "ThrottlingException", "message": MESSAGE}).encode()
XML_BODY = (
    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    f"<Message>{MESSAGE}</Message></Error><RequestId>sandbox</RequestId></ErrorResponse>"
).encode()


class Throttler:
    """Answer `share` of the requests with ThrottlingException; counts what it did."""

    def __init__(self, share: float = 0.25, seed: int | None = None, max_in_a_row: int = 3) -> None:
        self.share = share
        self.random = random.Random(seed)
        self.max_in_a_row = max_in_a_row  # never more than botocore's retries could absorb
        self.throttled = 0
        self.passed = 0
        self._in_a_row = 0
        self._lock = threading.Lock()

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from botocore.compat import HTTPHeaders

        with self._lock:
            if self._in_a_row < self.max_in_a_row and self.random.random() < self.share:
                self._in_a_row += 1
                self.throttled += 1
                headers = HTTPHeaders()
                if "X-Amz-Target" in request.headers:  # JSON protocols (ECS, Logs, KMS, ...)
                    headers["Content-Type"] = "application/x-amz-json-1.1"
                    headers["x-amzn-ErrorType"] = "ThrottlingException"
                    return AWSResponse(request.url, 400, headers, _Raw(JSON_BODY))
                headers["Content-Type"] = "text/xml"
                return AWSResponse(request.url, 400, headers, _Raw(XML_BODY))
            self._in_a_row = 0
            self.passed += 1
            return None


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body

    def read(self, *_: Any) -> bytes:
        return self.body
