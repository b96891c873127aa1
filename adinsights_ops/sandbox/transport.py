"""Answer the AWS calls of clients in the sandbox server's own process without HTTP.

botocore lets a `before-send` handler answer a request itself (moto's in-process mock works that
way). `InProcess` hands the request to the server's WSGI application, so the call goes through the
server whole: the simulated scheduler's tick, the calls, effects and CloudTrail events it records,
the idempotency of client tokens. Only the socket, the HTTP parsing and the thread per request are
skipped: an in-process rehearsal deploy takes a third less CPU.

The application runs on one thread of the handler's own, not on the caller's. A caller is often
deep in its stack (a test runner, a task program, the pipeline, botocore), and the answer adds
dozens of frames (werkzeug, Flask, moto's recursive serializer): CPython 3.11 then maps and unmaps a
frame-stack chunk each time the stack crosses a chunk's edge, and those page faults cost more system
time than the transport saved. The thread starts shallow and stays within its first chunks.

It steps aside (the call goes over HTTP as usual) for:
- a call from another process: a forked child holds a copy of moto's state, not the server's;
- every call while faults are in force: a reset or a timeout needs a real connection, and a
  faulted deploy should meet botocore's own handling of them.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlsplit

from adinsights_ops.aws import EventHook

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class InProcess:
    """A botocore `before-send` handler: `app` answers, in process `pid` (the server's), unless
    `faulted()` says faults are in force. One per server: its calls take turns on one thread."""

    def __init__(
        self, app: WsgiApp, faulted: Callable[[], bool], pid: int, *, timeout: float = 60.0
    ) -> None:
        self._app = app
        self._faulted = faulted
        self._pid = pid
        self._timeout = timeout  # as a client's read timeout: an answer that never comes
        self._guard = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    def hook(self) -> EventHook:
        """For `Aws(hooks=...)`: every service's requests."""
        return ("before-send", self)

    def __call__(self, request: Any, **_: Any) -> Any:
        if os.getpid() != self._pid or self._faulted():
            return None  # over HTTP
        from botocore.awsrequest import AWSResponse, HTTPHeaders
        from botocore.exceptions import ReadTimeoutError
        from werkzeug.test import EnvironBuilder

        url = urlsplit(request.url)
        body = request.body
        if hasattr(body, "read"):  # a file-like body (S3 uploads may be)
            body = body.read()
        environ = EnvironBuilder(
            path=url.path,  # still percent-encoded: the builder decodes it into PATH_INFO
            query_string=url.query,
            method=request.method,
            headers=[
                (name, value.decode() if isinstance(value, bytes) else value)
                for name, value in request.headers.items()
            ],
            data=body or b"",
            base_url=f"{url.scheme}://{url.netloc}",
        ).get_environ()
        if threading.current_thread() is self._thread:
            status, headers, data = self._answer(environ)
        else:
            pending = self._pool().submit(self._answer, environ)
            try:
                status, headers, data = pending.result(timeout=self._timeout)
            except FutureTimeout:
                raise ReadTimeoutError(endpoint_url=request.url) from None
        answer = AWSResponse(request.url, int(status.split()[0]), HTTPHeaders(), _Raw(data))
        for name, value in headers.items():
            answer.headers[name] = value
        return answer

    def close(self) -> None:
        """Stop the thread (after the call it may be answering); a later call starts another."""
        with self._guard:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _pool(self) -> ThreadPoolExecutor:
        with self._guard:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="sandbox-in-process")
            return self._executor

    def _answer(self, environ: dict[str, Any]) -> tuple[str, Any, bytes]:
        from werkzeug.test import run_wsgi_app

        self._thread = threading.current_thread()
        answer, status, headers = run_wsgi_app(self._app, environ)
        try:
            return status, headers, b"".join(answer)
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()


class _Raw(io.BytesIO):
    """The raw body botocore reads an answer from: whole (`stream`) or in parts (`read`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        if chunk:
            yield chunk
