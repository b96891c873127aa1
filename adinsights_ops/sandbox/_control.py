"""The sandbox server's control API under `/_sandbox/` (see `server.py` for the routes)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from adinsights_ops.sandbox.faults import plan_from

if TYPE_CHECKING:
    from adinsights_ops.sandbox.server import SandboxServer

CONTROL = "/_sandbox"


class NoRoute(Exception):
    """A control request for a route that does not exist (404)."""


def _read_json(environ: dict[str, Any]) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return json.loads(environ["wsgi.input"].read(length) or b"{}")


def faults_report(server: SandboxServer) -> dict[str, Any]:
    injector = server.injector
    if injector is None:
        return {"plan": None, "injected": [], "counts": {}}
    return injector.report()


def route(server: SandboxServer, method: str, path: str, environ: dict[str, Any]) -> Any:
    """The payload of a control request; NoRoute for an unknown one."""
    if path == CONTROL and method == "GET":
        return server.describe()
    if path == CONTROL + "/scenario" and method == "PUT":
        server.set_scenario(_read_json(environ).get("name", "none"))
        return server.describe()
    if path == CONTROL + "/calls":
        if method == "GET":
            with server._lock:
                return {"calls": list(server.calls)}
        if method == "DELETE":
            with server._lock:
                server.calls.clear()
            return {}
    if path == CONTROL + "/faults":
        if method == "PUT":
            server.set_faults(plan_from(_read_json(environ)))
            return faults_report(server)
        if method == "GET":
            return faults_report(server)
        if method == "DELETE":
            server.set_faults(None)
            return faults_report(server)
    if path == CONTROL + "/effects":
        if method == "GET":
            return server.effects_report()
        if method == "DELETE":
            server.reset_effects()
            return server.effects_report()
    raise NoRoute(f"no {method} {path}")


def answer(
    server: SandboxServer, environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """Answer a control request as JSON; errors too, never a stack trace."""
    path = environ.get("PATH_INFO", "").rstrip("/")
    method = environ.get("REQUEST_METHOD", "GET")
    status = "200 OK"
    try:
        payload = route(server, method, path, environ)
    except NoRoute as exc:
        status, payload = "404 Not Found", {"error": str(exc)}
    except Exception as exc:  # the control API answers errors as JSON, never a stack trace
        status, payload = "400 Bad Request", {"error": str(exc)}
    data = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]
