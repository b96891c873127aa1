"""Named failure scenarios an operator can rehearse in the sandbox (`--scenario NAME`)."""

from __future__ import annotations

from adinsights_ops.config import Environment
from adinsights_ops.errors import UsageError
from adinsights_ops.sandbox.scheduler import Scenario

DESCRIPTIONS = {
    "none": "everything works",
    "failing-rollout": "the backend's new revision keeps failing its tasks; ECS's circuit breaker trips",
    "failing-migration": "the one-off `manage.py migrate` exits 1 with a Django traceback in its log",
    "failing-smoke": "after the rollout, /api/health/dbt/ answers 503 and /metrics/app is malformed",
    "throttled": "a share of AWS calls is answered with ThrottlingException (retries must cope)",
}


def names() -> list[str]:
    return list(DESCRIPTIONS)


def scenario_for(name: str, env: Environment) -> Scenario:
    """The scheduler's Scenario for a name; unknown names are a usage error listing the known ones."""
    if name == "none":
        return Scenario()
    if name == "failing-rollout":
        return Scenario(name=name, failing_services=frozenset({env.ecs.services["backend"].name}))
    if name == "failing-migration":
        return Scenario(name=name, failing_commands={"migrate": 1})
    if name in ("failing-smoke", "throttled"):
        # Not the scheduler's business: the app simulator and the client-side fault hook act.
        return Scenario(name=name)
    raise UsageError(f"unknown sandbox scenario {name!r} (known: {', '.join(DESCRIPTIONS)})")
