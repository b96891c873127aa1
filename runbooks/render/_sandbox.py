"""Output of `inv sandbox.*`: where the shared sandbox runs, its status, a reset."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from runbooks.render._console import out, say
from runbooks.render._json import emit_json

if TYPE_CHECKING:
    from adinsights_ops.sandbox._shared import Serving, SharedStatus


def ready(serving: Serving) -> None:
    injecting = f", faults {json.dumps(serving.faults)}" if serving.faults is not None else ""
    out(
        f"sandbox {serving.environment} ready at {serving.endpoint} "
        f"(scenario {serving.scenario}{injecting})"
    )
    say("other `--env sandbox` commands now use it; Ctrl-C stops it")


def stopped() -> None:
    say("sandbox stopped")


def status(found: SharedStatus, as_json: bool) -> None:
    """Where the shared sandbox runs, its scenario, since when and its faults; or that none runs."""
    env, info = found.environment, found.info
    if as_json:
        shown: dict[str, Any] = {
            "environment": env,
            "running": found.running,
            "endpoint": found.endpoint,
        }
        if found.running:
            shown.update({k: info.get(k) for k in ("scenario", "started", "faults")})
        emit_json(shown)
        return
    if not found.running:
        out(f"no shared sandbox runs for {env}: commands start their own (or run `inv sandbox.up`)")
        return
    out(
        f"sandbox {env} at {found.endpoint}, scenario {info.get('scenario')}, "
        f"since {info.get('started')}"
        + (f", faults {json.dumps(info['faults'])}" if info.get("faults") else "")
    )


def reset(env: str, forgot: bool) -> None:
    out(
        f"sandbox {env}: "
        + ("forgotten; the next one starts from the blueprint" if forgot else "nothing remembered")
    )
