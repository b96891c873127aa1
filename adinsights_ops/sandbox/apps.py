"""The HTTP simulators the sandbox server mounts under `/_sandbox/<name>/`.

Each is a small WSGI application standing in for something that cannot run here (the ADinsights
app's endpoints, the Airbyte public API). They are honest stand-ins: they follow the real contracts
and say in their answers that they are simulations where a field allows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from adinsights_ops.config import Environment

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def simulators(env: Environment, server: Any) -> dict[str, WsgiApp]:
    """name -> WSGI app, mounted at /_sandbox/<name>/ on the sandbox server."""
    apps: dict[str, WsgiApp] = {}
    return apps
