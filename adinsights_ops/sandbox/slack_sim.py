"""A stand-in for a Slack incoming webhook: accepts JSON posts and keeps them for inspection.

The sandbox's `slack-webhook-url` secret points here (with its sentinel in the path, as a real
webhook carries its token), so the deploy's announce step sends a real HTTP request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any


class SlackSimulator:
    """WSGI app: POST any path with a JSON body with `text` -> 200 "ok"; anything else -> 400."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or not isinstance(payload, dict)
            or "text" not in payload
        ):
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"invalid_payload"]
        with self._lock:
            self.messages.append(payload)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
