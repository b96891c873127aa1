"""What a deploy carries from step to step (`DeployRun`), and what every step may raise or read.

Outputs are plain JSON values: they are what the journal keeps and what a resumed run reads back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops import ecs
from adinsights_ops.ecs import _oneoff as oneoff
from adinsights_ops.errors import OpsError
from adinsights_ops.journal import Journal, RunRecord
from adinsights_ops.lock import Heartbeat, Lock
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.release import ImageTag
from adinsights_ops.shell import Runner

if TYPE_CHECKING:
    from adinsights_ops.dbt import PreparedBuild

Outputs = dict[str, Any]


class StepFailed(OpsError):
    """A step found something wrong (carries lines worth showing the operator)."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


@attrs.define
class DeployRun:
    """The state a deploy carries from step to step."""

    ops: OpsEnv
    tag: ImageTag
    record: RunRecord
    journal: Journal
    lock: Lock | None = None
    checks: tuple[str, ...] = ()
    on_event: ecs.OnEvent | None = None
    targets: dict[str, str] = attrs.field(factory=dict)
    snapshot_id: str | None = None
    rollout: ecs.Rollout | None = None
    heartbeat: Heartbeat | None = None
    runner: Runner | None = None
    """Runs the infrastructure step's shell commands (Terraform): the caller's (a task passes
    Invoke's `c`); None: a plain local runner."""
    dbt_prepared: PreparedBuild | None = None
    """The data-state step's dbt build, started ahead (`prepare_data_state`); the step takes it."""
    _task_network: dict[str, Any] | None = attrs.field(default=None, init=False, repr=False)

    def task_network(self) -> dict[str, Any]:
        """The one-off tasks' network configuration, read once per run (`oneoff.network`)."""
        if self._task_network is None:
            self._task_network = oneoff.network(self.ops)
        return self._task_network

    @property
    def cluster(self) -> str:
        return self.ops.env.ecs.cluster

    def fence(self) -> None:
        """Raise LockLost unless this run still holds the environment's lock (before every step)."""
        if self.heartbeat is not None:
            self.lock = self.heartbeat.ensure()

    def save(self) -> None:
        """Journal the record now (progress inside a step, so a resume knows what was done)."""
        self.journal.save(self.record)

    def task_key(self, step: str, index: int) -> str:
        """The idempotency key of a one-off task of this run (ECS startedBy: at most 36 chars)."""
        return f"{self.record.run_id}:{step}:{index}"[-36:]


def snapshot_name(env: str, tag: ImageTag, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"pre-deploy-{env}-{tag.ecr_tag.replace('.', '-')}-{stamp}"


def app_state(run: DeployRun) -> dict[str, str]:
    """Service -> the revision its PRIMARY deployment runs now."""
    names = [ref.name for ref in run.ops.env.ecs.services.values()]
    states = ecs.status(run.ops.aws.ecs(), cluster=run.cluster, services=names)
    return {
        s.name: ecs.short_arn(s.primary.task_definition if s.primary else s.task_definition)
        for s in states
    }
