"""`inv infra.plan` and `infra.apply` as functions (runbook section 2): preview, apply under lock.

`settings_with` puts a caller's choices over the environment's settings; `preview` plans and always
discards the change set (or plan file); `apply_locked` plans, asks `approve`, and applies while
holding the environment's lock, released in every case.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from adinsights_ops import lock
from adinsights_ops.config._infra import InfraSettings
from adinsights_ops.errors import UsageError
from adinsights_ops.infra._model import InfraPlan, InfraResult, OnPhase
from adinsights_ops.infra._plan import engine_for, plan_and_apply
from adinsights_ops.infra._settings import for_environment
from adinsights_ops.journal import new_run_id

if TYPE_CHECKING:
    from adinsights_ops.opsenv import OpsEnv
    from adinsights_ops.shell import Runner

LOCK_GRACE = 600  # seconds the lock outlives the engine's own timeout


def settings_with(
    ops: OpsEnv,
    *,
    engine: str | None = None,
    template: str | None = None,
    stack: str | None = None,
) -> InfraSettings:
    """The environment's settings with the caller's choices on top (given > config > default);
    a template is taken relative to the current folder."""
    return for_environment(
        ops.env,
        engine=engine or None,
        template=str(Path(template).resolve()) if template else None,
        stack_name=stack or None,
    )


def preview(
    ops: OpsEnv,
    settings: InfraSettings,
    *,
    runner: Runner | None = None,
    on_event: OnPhase | None = None,
) -> InfraPlan | None:
    """What the engine would change (None: no engine configured); its change set (or plan file)
    is discarded in every case."""
    engine = engine_for(ops, settings, runner=runner, on_event=on_event)
    if engine is None:
        return None
    found = engine.plan()
    engine.discard(found)
    return found


def no_engine(ops: OpsEnv) -> InfraResult:
    return InfraResult(
        "none", "skipped", f"skipped: no infrastructure engine configured for {ops.env.name}"
    )


def apply_locked(
    ops: OpsEnv,
    settings: InfraSettings,
    *,
    approve: Callable[[InfraPlan], bool],
    reason: str = "",
    runner: Runner | None = None,
    on_event: OnPhase | None = None,
) -> InfraResult:
    """Plan, ask `approve(plan)`, and apply, holding the environment's lock meanwhile.

    The engine is made (template, parameters, folder checked) before the lock is taken: a refusal
    changes nothing. No engine configured: outcome "skipped", no lock. Not approved: the plan is
    discarded and a usage error (exit 2) says nothing was changed.
    """
    engine = engine_for(ops, settings, runner=runner, on_event=on_event)
    if engine is None:
        return no_engine(ops)
    s3 = ops.aws.s3()
    held = lock.acquire(
        s3,
        bucket=ops.env.state_bucket,
        environment=ops.name,
        run_id=new_run_id(),
        reason=reason or "infra.apply",
        ttl=settings.timeout + LOCK_GRACE,
    )
    try:
        result = plan_and_apply(ops, approve=approve, engine=engine)
    finally:
        lock.release(s3, bucket=ops.env.state_bucket, lock=held)
    if result.outcome == "declined":
        raise UsageError("not confirmed; nothing was changed")
    return result
