"""Thresholds and names of the post-deploy checks, and the window they look at."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import attrs

from adinsights_ops.errors import UsageError

if TYPE_CHECKING:
    from adinsights_ops.config import Environment

_WINDOW = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_WINDOW = 60.0
MAX_WINDOW = 86400.0


@attrs.frozen
class PostDeploySettings:
    """Thresholds and names of the post-deploy checks (proposed environments-file keys: `checks.*`)."""

    window: float = 1800.0
    """Seconds after the deploy that are compared with as many seconds before it."""
    load_balancer: str | None = None
    """The ALB's `LoadBalancer` dimension (app/<name>/<id>); None: found with list_metrics."""
    errors_5xx_max: float = 10.0
    """5xx responses after the deploy that fail the check when also more than factor x before."""
    errors_5xx_factor: float = 2.0
    latency_p95_max: float = 1.0
    """Seconds: a p95 target response time above this fails, whatever it was before."""
    latency_regression: float = 1.5
    """A p95 more than this many times the one before fails, when also above `latency_floor`."""
    latency_floor: float = 0.3
    celery_namespace: str = "ADinsights/Celery"
    queue_metric: str = "QueueDepth"
    queue_depth_max: float = 100.0
    """Messages waiting in any queue (maximum over the window) that fail the check."""
    sync_interval: float = 3600.0
    """How often Airbyte syncs each connection (hourly)."""
    sync_grace: float = 1800.0
    dbt_max_age: float = 26 * 3600.0
    """The daily 05:00 build plus two hours."""
    log_scan_max_events: int = 20000
    """Log events read per log group by the leaked-secret scan (beyond: reported as truncated)."""
    cloudtrail_max_pages: int = 10


DEFAULTS = PostDeploySettings()


def settings_for(env: Environment) -> PostDeploySettings:
    """The environment's settings: its `checks` section when config has one, else the defaults."""
    section = getattr(env, "checks", None)
    if section is None:
        return DEFAULTS
    names = {f.name for f in attrs.fields(PostDeploySettings)}
    given = {k: v for k, v in attrs.asdict(section).items() if k in names and v is not None}
    return attrs.evolve(DEFAULTS, **given)


def parse_window(text: str) -> float:
    """`30m`, `1h`, `90s`, `1h30m` -> seconds (from 1m to 24h); anything else is a UsageError."""
    cleaned = text.strip().lower()
    parts = _WINDOW.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise UsageError(f"window {text!r} is not a duration: use 30m, 1h, 90s or 1h30m")
    seconds = float(sum(int(n) * _UNIT[u] for n, u in parts))
    if not MIN_WINDOW <= seconds <= MAX_WINDOW:
        raise UsageError(f"window {text!r} must be between 1m and 24h")
    return seconds


def span(seconds: float) -> str:
    """`1h30m`, `45m`, `12s`: a duration for people."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h" + (f"{minutes:02d}m" if minutes else "")
    if minutes:
        return f"{minutes}m" + (f"{secs:02d}s" if secs and minutes < 10 else "")
    return f"{secs}s"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
