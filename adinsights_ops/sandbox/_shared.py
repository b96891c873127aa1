"""The shared sandbox (`inv sandbox.up`, `sandbox.status`, `sandbox.reset`) as functions.

`serve` runs one sandbox in the foreground until SIGTERM or Ctrl-C, its endpoint in a state file so
that other commands for the environment use it; `status` says whether one runs and where; `reset`
forgets what the sandbox remembers between commands.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops import config
from adinsights_ops.errors import UsageError

if TYPE_CHECKING:
    from adinsights_ops.config import Environment
    from adinsights_ops.sandbox.faults import FaultPlan


def sandbox_environment(name: str) -> Environment:
    """Load `name`, refusing (exit 2) an environment that is not a sandbox."""
    environment = config.load(name)
    if not environment.sandbox:
        raise UsageError(f"--env {name!r}: expected a sandbox environment")
    return environment


@attrs.frozen
class Serving:
    """A shared sandbox that has started: where, with which scenario and faults."""

    environment: str
    endpoint: str
    scenario: str
    faults: dict[str, Any] | None = None


def serve(
    environment: Environment,
    *,
    scenario: str = "none",
    port: int = 0,
    faults: str = "",
    on_ready: Callable[[Serving], None] | None = None,
    on_stopped: Callable[[], None] | None = None,
) -> None:
    """Run a sandbox for `environment` until SIGTERM or Ctrl-C; other commands use it meanwhile.

    An unknown scenario, a bad fault spec or a sandbox already running for the environment are
    refused (exit 2) before anything starts. `faults` is a preset or a JSON spec; left empty,
    $ADINSIGHTS_SANDBOX_FAULTS.
    """
    from adinsights_ops import sandbox
    from adinsights_ops.sandbox.faults import parse_spec
    from adinsights_ops.sandbox.scenarios import scenario_for

    name = environment.name
    scenario_for(scenario, environment)  # an unknown scenario fails before anything starts
    plan: FaultPlan | None = parse_spec(faults) if faults else sandbox.faults_from_environment()
    if sandbox.running(name):
        raise UsageError(f"a sandbox for {name} already runs ({sandbox.running(name)})")
    server = sandbox.start(environment, scenario=scenario, port=port, faults=plan)
    state = sandbox.state_file(name)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps(server.describe()))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if on_ready is not None:
            spec = plan.spec() if plan is not None else None
            on_ready(Serving(name, server.endpoint, scenario, spec))
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        state.unlink(missing_ok=True)
        server.stop()
        if on_stopped is not None:
            on_stopped()


@attrs.frozen
class SharedStatus:
    """Whether a shared sandbox runs for the environment; where, and what it said about itself."""

    environment: str
    endpoint: str | None
    info: dict[str, Any] = attrs.field(factory=dict)

    @property
    def running(self) -> bool:
        return self.endpoint is not None


def status(name: str) -> SharedStatus:
    """The shared sandbox of the sandbox environment `name`, if `inv sandbox.up` runs it."""
    from adinsights_ops import sandbox

    sandbox_environment(name)
    endpoint = sandbox.running(name)
    info = sandbox.control(endpoint) if endpoint is not None else {}
    return SharedStatus(name, endpoint, info)


def reset(name: str) -> bool:
    """Forget what the sandbox remembers between commands, and its cached blueprint (the next
    sandbox is seeded anew: new ids, a new KMS key); False when there was nothing to forget.

    Refused (exit 2) while a shared sandbox runs for the environment.
    """
    from adinsights_ops import sandbox
    from adinsights_ops.sandbox import persist, snapshot

    environment = sandbox_environment(name)
    if sandbox.running(name):
        raise UsageError(f"a sandbox for {name} runs now: stop `inv sandbox.up` first")
    forgot_blueprint = snapshot.forget_environment(name)
    return persist.forget(environment) or forgot_blueprint
