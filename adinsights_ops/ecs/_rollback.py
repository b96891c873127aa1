"""Putting services back on known revisions (`inv rollback`), and which revisions those may be."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from adinsights_ops.ecs._rollout import deploy_revisions
from adinsights_ops.ecs._settle import DEFAULT_POLL, Rollout, RolloutFailed
from adinsights_ops.ecs._taskdefs import short_arn
from adinsights_ops.ecs._views import OnEvent
from adinsights_ops.errors import NeedsHuman, OpsError
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock, check_timeout

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

    from adinsights_ops.opsenv import OpsEnv


def rollback_to(
    ecs: ECSClient,
    *,
    cluster: str,
    targets: Mapping[str, str],
    singletons: Collection[str] = (),
    timeout: float = 900.0,
    on_event: OnEvent | None = None,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_POLL,
) -> Rollout:
    """Put services back on the given revisions and wait; a failure here needs a human (exit 4)."""
    timeout = check_timeout(timeout)
    try:
        return deploy_revisions(
            ecs,
            cluster=cluster,
            targets=targets,
            singletons=singletons,
            timeout=timeout,
            on_event=on_event,
            clock=clock,
            backoff=backoff,
        )
    except RolloutFailed as exc:
        raise NeedsHuman(
            f"rollback did not settle: {'; '.join(f'{s}: {r}' for s, r in exc.failures.items())}",
            details=[f"{o.service}: runs {short_arn(o.now)}" for o in exc.rollout.outcomes],
        ) from exc


def rollback_targets(ops: OpsEnv, *, history: int = 5) -> dict[str, str]:
    """Revisions the journal may roll back to -> why: the target of `inv rollback` (the previous
    revisions of the newest deploy that changed something) and those of the last `history`
    deploys. Reads only; a journal that cannot be read raises (never prune blind)."""
    from adinsights_ops.journal import deployed_before

    journal = ops.journal()
    targets: dict[str, str] = {}
    try:
        record, revisions = deployed_before(journal)
    except OpsError:
        pass  # nothing deployed through this tool yet: there is no rollback target
    else:
        for arn in revisions.values():
            targets[arn] = f"the rollback target (before deploy {record.run_id})"
    for run in journal.runs(kind="deploy", limit=history):
        for arn in run.previous_revisions.values():
            targets.setdefault(arn, f"deploy {run.run_id} rolls back to it")
    return targets
