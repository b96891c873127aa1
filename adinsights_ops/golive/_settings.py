"""The go-live checklist's limits and places (proposed environments-file keys: `golive.*`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from adinsights_ops.config import Environment


@attrs.frozen
class GoLiveSettings:
    """Limits and places of the checklist (proposed environments-file keys: `golive.*`)."""

    snapshot_max_age_hours: float = 24.0
    runbook_max_age_days: float = 90.0
    runbook_min_bytes: int = 400
    timezone: str | None = None
    """The local time zone of the 05:00 dbt build; None: what the app's /api/timezone/ says."""
    frontend_api_variables: tuple[str, ...] = (
        "VITE_API_BASE_URL",
        "VITE_API_URL",
        "API_BASE_URL",
        "API_URL",
        "REACT_APP_API_URL",
    )
    feature_flags_parameter: str = "/adinsights/{env}/feature-flags"
    runbooks: tuple[str, ...] = (
        "docs/runbooks/operations.md",
        "docs/runbooks/alerts.md",
        "docs/runbooks/tenant-onboarding.md",
        "docs/runbooks/tenant-offboarding.md",
    )
    slo_document: str = "docs/ops/slo-sli.md"
    signoff_file: str = "golive/signoff.yaml"


DEFAULTS = GoLiveSettings()


def settings_for(env: Environment) -> GoLiveSettings:
    """The environment's settings: its `golive` section when config has one, else the defaults."""
    section = getattr(env, "golive", None)
    if section is None:
        return DEFAULTS
    names = {f.name for f in attrs.fields(GoLiveSettings)}
    given = {k: v for k, v in attrs.asdict(section).items() if k in names and v is not None}
    return attrs.evolve(DEFAULTS, **given)
