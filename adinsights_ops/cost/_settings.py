"""Cost settings of an environment (runbook section 8), and which environments may be scaled down.

The environments file has no `cost:` section yet, so `settings_for(env)` returns these defaults (or
`env.cost` once config.py reads one). `CostSettings` itself lives with the
other settings types in `config`.

Off-hours scaling (scale-down, scale-up, schedules) stops every service: it is never allowed in
production. An environment counts as production when it is called `production` or `prod`, takes
only release tags (`branch_rule: tags`), or is promoted into from another environment
(`release.promotion_from`); `cost.offhours_allowed: false` can forbid it anywhere else too.
"""

from __future__ import annotations

from typing import Any

from adinsights_ops.config._cost import (
    PRODUCTION_NAMES,
    SANDBOX_BUDGET,
    CostSettings,
)
from adinsights_ops.errors import UsageError


class ProductionRefused(UsageError):
    """Off-hours scaling was asked of a production environment (exit 2, nothing touched)."""

    def __init__(self, environment: str, action: str, why: str) -> None:
        super().__init__(
            f"{action} is refused for {environment}: {why}; off-hours scaling is for staging "
            "and the sandbox only"
        )
        self.environment = environment
        self.action = action


def settings_for(env: Any) -> CostSettings:
    """The environment's cost settings: `env.cost` when config provides it, else the defaults."""
    found = getattr(env, "cost", None)
    if isinstance(found, CostSettings):
        return found
    if getattr(env, "sandbox", False):
        return CostSettings(monthly_budget=SANDBOX_BUDGET)
    return CostSettings()


def production_reason(env: Any) -> str | None:
    """Why `env` (a name or an Environment) counts as production, or None when it does not."""
    name = env if isinstance(env, str) else str(getattr(env, "name", ""))
    if name.lower() in PRODUCTION_NAMES:
        return f"it is called {name!r}"
    if isinstance(env, str):
        return None
    if getattr(env, "branch_rule", None) == "tags":
        return "it deploys release tags only (branch_rule: tags)"
    release = getattr(env, "release", None)
    if release is not None and getattr(release, "promotion_from", None):
        return f"releases are promoted into it from {release.promotion_from}"
    if not settings_for(env).offhours_allowed:
        return "cost.offhours_allowed is false"
    return None


def refuse_production(env: Any, action: str) -> None:
    """Raise ProductionRefused when `env` (a name or an Environment) is production. No AWS call."""
    why = production_reason(env)
    if why is not None:
        name = env if isinstance(env, str) else env.name
        raise ProductionRefused(name, action, why)
