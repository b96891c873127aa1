"""The embedded sandbox: a moto server plus honest simulations of what moto does not model.

`connect(env)` returns a running sandbox for a command: the one `inv sandbox.up` keeps in the
foreground (found through its state file) or, when none runs, a new one inside this process that
lives as long as the command. Nothing outside this package and the environment loader knows that an
environment is a sandbox: the primitives just get clients pointed at this endpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from adinsights_ops.config import Environment
    from adinsights_ops.sandbox.faults import FaultPlan
    from adinsights_ops.sandbox.scheduler import SchedulerTimings
    from adinsights_ops.sandbox.server import SandboxServer

CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox-not-a-secret"}


def home() -> Path:
    """Where the tool keeps local state (adinsights_ops.paths.home, kept here for the sandbox)."""
    from adinsights_ops.paths import home as tool_home

    return tool_home()


def state_file(env_name: str) -> Path:
    return home() / f"sandbox-{env_name}.json"


def control(
    endpoint: str, path: str = "", *, method: str = "GET", body: Any = None, timeout: float = 2.0
) -> dict[str, Any]:
    """Call the sandbox's control API."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{endpoint}/_sandbox{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer


def running(env_name: str) -> str | None:
    """The endpoint of a live `inv sandbox.up` for this environment, or None."""
    found = _live(env_name)
    return found[0] if found is not None else None


def _live(env_name: str) -> tuple[str, dict[str, Any]] | None:
    """A live `inv sandbox.up` for this environment: its endpoint and its status, or None."""
    path = state_file(env_name)
    try:
        endpoint = json.loads(path.read_text())["endpoint"]
        status = control(endpoint, timeout=1.0)
        if status.get("environment") == env_name:
            return str(endpoint), status
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        pass
    return None


@attrs.define
class Sandbox:
    """A sandbox a command talks to; `embedded` is set when this process owns the server."""

    endpoint: str
    embedded: SandboxServer | None = None
    restore_scenario: str | None = None
    read_timeout: float | None = None
    """The read timeout its clients should use (a fault plan's), None for the usual one."""

    @property
    def app_url(self) -> str:
        return f"{self.endpoint}/_sandbox/app"

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None
        elif self.restore_scenario is not None:
            with contextlib.suppress(OSError, urllib.error.URLError):
                control(
                    self.endpoint, "/scenario", method="PUT", body={"name": self.restore_scenario}
                )


def start(
    env: Environment,
    *,
    scenario: str = "none",
    port: int = 0,
    timings: SchedulerTimings | None = None,
    faults: FaultPlan | None = None,
) -> SandboxServer:
    """Start and seed a sandbox server in this process.

    `faults` defaults to the spec in $ADINSIGHTS_SANDBOX_FAULTS (a preset name or JSON), if set.
    """
    from adinsights_ops.sandbox._loader import share_data_loader

    share_data_loader()  # before moto is imported: its sessions parse AWS's data files once
    from adinsights_ops.sandbox.server import SandboxServer

    if faults is None:
        faults = faults_from_environment()
    server = SandboxServer(env, port=port, scenario=scenario, timings=timings, faults=faults)
    with _seed_requests_unlogged():
        server.start()
    return server


@contextlib.contextmanager
def _seed_requests_unlogged() -> Iterator[None]:
    """The few hundred HTTP requests that start and seed a sandbox are its own, not the command's:
    they stay out of the run's debug log (urllib3 logs each at DEBUG), which they would fill and slow.
    """
    import logging

    logger = logging.getLogger("urllib3.connectionpool")
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(level)


def faults_from_environment() -> FaultPlan | None:
    """The fault plan $ADINSIGHTS_SANDBOX_FAULTS asks embedded sandboxes for; a bad one is exit 2."""
    from adinsights_ops.sandbox.faults import ENV_VAR, parse_spec

    spec = os.environ.get(ENV_VAR, "").strip()
    return parse_spec(spec) if spec else None


def connect(env: Environment, *, scenario: str | None = None) -> Sandbox:
    """A running sandbox for `env`: the shared one if `inv sandbox.up` runs, else an embedded one.

    A scenario asked for on a shared sandbox holds for this command only (close() restores it).
    """
    from adinsights_ops.sandbox.scenarios import scenario_for

    if scenario is not None:
        scenario_for(scenario, env)  # unknown names fail before anything starts
    found = _live(env.name)
    if found is None:
        server = start(env, scenario=scenario or "none")
        return Sandbox(server.endpoint, embedded=server, read_timeout=server.client_read_timeout())
    endpoint, status = found
    previous = None
    if scenario is not None:
        previous = status.get("scenario", "none")
        control(endpoint, "/scenario", method="PUT", body={"name": scenario})
        status = control(endpoint)  # the scenario's faults may change the read timeout
    timeout = status.get("client_read_timeout")
    return Sandbox(
        endpoint,
        restore_scenario=previous,
        read_timeout=float(timeout) if isinstance(timeout, int | float) else None,
    )
