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
    from adinsights_ops.sandbox.app_sim import AppSimulator

    # The ADinsights app's endpoints; kept on the server so that a scenario can flip
    # `server.app_simulator.failing_smoke`.
    app = AppSimulator(env, server=server)
    if server is not None:
        server.app_simulator = app
    apps["app"] = app
    if env.airbyte is not None:
        from adinsights_ops.sandbox._airbyte_jobs import paced_seconds
        from adinsights_ops.sandbox.airbyte_sim import AirbyteSimulator

        # The client secret is read from the sandbox's Secrets Manager at each token request
        # (the server is not seeded yet when this runs).
        # Real Airbyte syncs take minutes; the sandbox's are done by a client's first look.
        pending, running = paced_seconds(env.airbyte.poll_first)
        apps["airbyte"] = AirbyteSimulator.for_environment(
            env, pending_seconds=pending, job_seconds=running
        )
    from adinsights_ops.sandbox.slack_sim import SlackSimulator

    apps["slack"] = SlackSimulator()
    from adinsights_ops.sandbox.statuspage_sim import StatuspageSimulator

    apps["statuspage"] = StatuspageSimulator.for_environment(env)
    return apps
