"""Cost settings of an environment (runbook section 8): what `cost:` in the environments file holds."""

from __future__ import annotations

import attrs

PRODUCTION_NAMES = frozenset({"production", "prod"})
DEFAULT_DOWN = "0 20 * * MON-FRI"
DEFAULT_UP = "0 7 * * MON-FRI"
DEFAULT_TIMEZONE = "America/Jamaica"
SANDBOX_BUDGET = 450.0


@attrs.frozen
class CostSettings:
    """What `inv cost.*` reads from an environment's (proposed) `cost:` section."""

    monthly_budget: float | None = None  # USD; `inv cost.budgets --amount` overrides it
    budget_sns_topic: str | None = None  # an SNS topic ARN notified besides notifications.email_to
    offhours_allowed: bool = True  # never true in production, whatever the file says
    offhours_down: str = DEFAULT_DOWN  # cron (5 fields, or AWS `cron(...)`) in offhours_timezone
    offhours_up: str = DEFAULT_UP
    offhours_timezone: str = DEFAULT_TIMEZONE
    rightsize_days: int = 14
