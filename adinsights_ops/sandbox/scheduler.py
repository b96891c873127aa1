"""A simulated ECS scheduler: what ECS does to services and tasks, done to moto's in-memory backend.

moto (5.2) stores ECS services and tasks but has no scheduler. After UpdateService the old
deployment stays IN_PROGRESS forever, services never start tasks, there are no service events, and
a one-off task always exits 0 without output. A client that only speaks boto3 (our rollout,
rollback and one-off code, botocore's `services_stable` waiter) would never see a deployment
progress or fail.

`EcsScheduler` edits `moto.ecs.models.ecs_backends[account][region]` so that, seen through the API,
the sandbox behaves like the ECS service scheduler: a new deployment replaces tasks one at a time
within minimumHealthyPercent/maximumPercent and ends COMPLETED with a steady-state event, or trips
the deployment circuit breaker and rolls back (rules in `rollout.py`); one-off tasks stop with an
exit code and leave log lines in CloudWatch Logs (`oneoff.py`). It is a simulation: nothing runs,
durations are `SchedulerTimings` and failures are a `Scenario`.

Drive it with `install()` once, then `tick()` before reading (the sandbox server does so before each
request; tests pass a fake `clock`). Every action due since the last tick is replayed at its own
simulated time, so the outcome does not depend on how often `tick()` is called.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
from moto.ecs.exceptions import TaskDefinitionNotFoundException
from moto.ecs.models import EC2ContainerServiceBackend, Service, Task, ecs_backends

from adinsights_ops.sandbox import moto_ecs as m
from adinsights_ops.sandbox import rollout
from adinsights_ops.sandbox._pace import paced
from adinsights_ops.sandbox.oneoff import output_for
from adinsights_ops.sandbox.rollout import BREAKER_REASON
from adinsights_ops.sandbox.scenarios import Scenario

if TYPE_CHECKING:
    from adinsights_ops.config import Environment

__all__ = ["BREAKER_REASON", "EcsScheduler", "Scenario", "SchedulerTimings"]

_MARK = "_adinsights_simulated_scheduler"  # set on the backend instance that this scheduler wraps
# What install() sets on the backend instance, its mark last (a snapshot leaves them out).
WRAPPED = ("create_service", "update_service", "run_task", "list_tasks", _MARK)
_SETTLE_LIMIT = 10_000  # actions per service in settle(); only a rollout that cannot end hits it


@attrs.define
class SchedulerTimings:
    """Simulated durations, in seconds of the scheduler's clock."""

    task_seconds: float = 0.3
    """Time between two start/stop actions of one deployment."""
    oneoff_seconds: float = 1.0
    """A one-off task runs this long, then stops."""
    failure_threshold: int = 3
    """Failed tasks of a deployment before the circuit breaker (when enabled) trips."""
    per_service_task_seconds: Mapping[str, float] = attrs.field(factory=dict)
    """task_seconds overridden per service name (benchmarks)."""

    @classmethod
    def for_polling(cls, first: float | None) -> SchedulerTimings:
        """Timings paced to clients whose first look comes `first` seconds after they start waiting.

        A deployment's start/stop actions and a one-off task's run each take a little less than
        `first` (less than the shortest first pause the pollers' jitter allows), so the first look
        sees the work done and each later look sees the next action: a waiting client meets every
        state and event it would meet at any pace, only sooner. None keeps the defaults.
        """
        if first is None:
            return cls()
        step = paced(first)
        return cls(task_seconds=step, oneoff_seconds=step)

    @classmethod
    def for_environment(cls, env: Environment) -> SchedulerTimings:
        """Timings paced to the environment's polling (`ecs.polling.first`), where it sets one."""
        return cls.for_polling(env.ecs.poll_first)


@attrs.frozen
class _OneOff:
    cluster: str
    task_arn: str
    stop_at: float
    exit_code: int
    command: tuple[str, ...]
    container: str | None


class EcsScheduler:
    """Simulates the ECS service scheduler on moto's ECS backend for one account and region."""

    def __init__(
        self,
        account_id: str,
        region: str,
        *,
        timings: SchedulerTimings | None = None,
        scenario: Scenario | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.timings = timings or SchedulerTimings()
        self.scenario: Scenario = scenario or Scenario()
        self._clock = clock
        self._wall_clock = wall_clock
        self._records: dict[str, rollout.ServiceRecord] = {}
        self._oneoffs: dict[str, _OneOff] = {}
        self._installed = False
        self._settling = False
        self._mono = clock()
        self._wall = wall_clock()

    @property
    def backend(self) -> EC2ContainerServiceBackend:
        return ecs_backends[self.account_id][self.region]

    def install(self) -> None:
        """Wrap the backend instance's create_service, update_service, run_task and list_tasks.

        Instance attributes shadow the class's methods, so other moto users are untouched. moto's
        reset() empties the instance; `tick()` notices and installs again on the fresh backend.
        """
        backend = self.backend
        self._installed = True
        if vars(backend).get(_MARK) is self:
            return
        self._records.clear()
        self._oneoffs.clear()
        wrappers: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
            "create_service": self._wrap_create_service,
            "update_service": self._wrap_update_service,
            "run_task": self._wrap_run_task,
            "list_tasks": self._wrap_list_tasks,
        }
        for name, wrap in wrappers.items():
            original = types.MethodType(getattr(type(backend), name), backend)
            vars(backend)[name] = wrap(original)
        vars(backend)[_MARK] = self

    def records(self) -> tuple[dict[str, rollout.ServiceRecord], dict[str, Any]]:
        """What this scheduler knows beyond moto (for a snapshot of a settled sandbox)."""
        return self._records, self._oneoffs

    def adopt(self, known: tuple[dict[str, rollout.ServiceRecord], dict[str, Any]]) -> None:
        """Take over `records()` of a snapshot just restored into moto, on its backend."""
        self.install()
        records, oneoffs = known
        self._records.clear()
        self._records.update(records)
        self._oneoffs.clear()
        self._oneoffs.update(oneoffs)

    def tick(self) -> None:
        """Bring every service and one-off task up to now, each due action at its own time."""
        if self._installed and vars(self.backend).get(_MARK) is not self:
            self.install()  # moto was reset since
        now = self._now()
        for service in list(self.backend.services.values()):
            record = self._record(service)
            while record is not None and record.next_action_at is not None:
                if record.next_action_at > now:
                    break
                self._step(service, record, record.next_action_at)
        for oneoff in sorted(self._oneoffs.values(), key=lambda o: o.stop_at):
            if oneoff.stop_at <= now:
                self._stop_oneoff(oneoff, oneoff.stop_at)

    def settle(self) -> None:
        """Finish everything in flight now, as if it went well (seeding "already deployed").

        Deployments complete without the scenario's failures; one-off tasks stop now with their
        exit code. A deployment that the circuit breaker already marked FAILED stays as it is.
        """
        self.tick()
        self._settling = True
        try:
            for service in list(self.backend.services.values()):
                record = self._record(service)
                for _ in range(_SETTLE_LIMIT):
                    if record is None or record.next_action_at is None:
                        break
                    self._step(service, record, self._mono)
            for oneoff in list(self._oneoffs.values()):
                self._stop_oneoff(oneoff, self._mono)
        finally:
            self._settling = False

    # -- wrappers around moto's backend methods -------------------------------------------------

    def _wrap_create_service(self, original: Callable[..., Any]) -> Callable[..., Service]:
        def create_service(*args: Any, **kwargs: Any) -> Service:
            self.tick()
            configuration = m.requested_deployment_configuration()
            service: Service = original(*args, **kwargs)
            if configuration is not None:
                m.set_fields(service, deployment_configuration=configuration)
            self._record(service)  # its first deployment starts now
            return service

        return create_service

    def _wrap_update_service(self, original: Callable[..., Any]) -> Callable[..., Service]:
        def update_service(service_properties: dict[str, Any]) -> Service:
            self.tick()
            force = bool(service_properties.get("force_new_deployment"))
            cluster = str(service_properties.get("cluster") or "default").split("/")[-1]
            name = str(service_properties.get("service", "")).split("/")[-1]
            existing = self.backend.services.get(f"{cluster}:{name}")
            stamps = [
                {k: d[k] for k in ("id", "createdAt", "updatedAt")}
                for d in (existing.deployments if existing else [])
            ]
            service: Service = original(service_properties)
            # moto's forceNewDeployment renames the primary in place; _reconcile starts a new one.
            for deployment, stamp in zip(service.deployments, stamps, strict=False):
                deployment.update(stamp)
            if _key(service) in self._records:
                self._reconcile(service, force=force)
            else:
                self._record(service)
            return service

        return update_service

    def _wrap_run_task(self, original: Callable[..., Any]) -> Callable[..., list[Task]]:
        def run_task(*args: Any, **kwargs: Any) -> list[Task]:
            self.tick()
            tasks: list[Task] = original(*args, **kwargs)
            for task in tasks:
                self._adopt_oneoff(task)
            return tasks

        return run_task

    def _wrap_list_tasks(self, original: Callable[..., Any]) -> Callable[..., list[Task]]:
        def list_tasks(
            cluster_str: str | None = None,
            container_instance: str | None = None,
            family: str | None = None,
            started_by: str | None = None,
            service_name: str | None = None,
            desiredStatus: str | None = None,
        ) -> list[Task]:
            if cluster_str is None:  # moto's own lookup of every task (tagging), not ListTasks
                everything: list[Task] = original()
                return everything
            status = desiredStatus or "RUNNING"  # the API's default; moto has none
            tasks: list[Task] = original(
                cluster_str, container_instance, family, started_by, None, status
            )
            if service_name:
                group = m.service_group(service_name.split("/")[-1])
                tasks = [t for t in tasks if t.group == group]
            return tasks

        return list_tasks

    # -- services -------------------------------------------------------------------------------

    def _record(self, service: Service) -> rollout.ServiceRecord | None:
        """The scheduler's record of `service`; a new service starts its first deployment."""
        if not service.deployments or not service.task_definition:
            return None  # EXTERNAL / CODE_DEPLOY deployment controllers: not ours to schedule
        record = self._records.get(_key(service))
        if record is None:
            record = self._records[_key(service)] = rollout.ServiceRecord()
            service.task_definition = self._arn(service.task_definition)
            first = m.new_deployment(service, service.task_definition, self._wall)
            service.deployments[:] = [first]  # replaces moto's, which claims tasks that never ran
            self._reconcile(service)
        elif self._changed(service):  # without our update_service: CloudFormation, DeleteService
            self._reconcile(service)
        return record

    def _changed(self, service: Service) -> bool:
        primary = service.deployments[0]
        return self._arn(service.task_definition or "") != primary["taskDefinition"] or primary[
            "desiredCount"
        ] != rollout.desired(service)

    def _reconcile(self, service: Service, *, force: bool = False) -> None:
        """Start a deployment if the task definition changed (or forced); schedule the work."""
        record = self._records[_key(service)]
        service.task_definition = self._arn(service.task_definition or "")
        rollout.begin(service, service.task_definition, self._wall, force=force)
        rollout.refresh(self.backend, service, self._wall)
        if rollout.plan(self.backend, service) is None:
            rollout.check_done(self.backend, service, record, self._wall)
            return
        record.steady = False
        if record.next_action_at is None:
            record.next_action_at = self._mono + self._task_seconds(service)

    def _step(self, service: Service, record: rollout.ServiceRecord, due: float) -> None:
        """Make the one start/stop due at `due`, then schedule the next one if any."""
        backend, at = self.backend, self._wall_at(due)
        action = rollout.plan(backend, service)
        if action is not None:
            fails = (
                not self._settling
                and service.name in self.scenario.failing_services
                and service.deployments[0]["taskDefinition"] not in record.completed
            )
            threshold = self.timings.failure_threshold
            rollout.act(
                backend, service, record, action, at, fails=fails, failure_threshold=threshold
            )
        rollout.refresh(backend, service, at)
        rollout.check_done(backend, service, record, at)
        more = rollout.plan(backend, service) is not None
        record.next_action_at = due + self._task_seconds(service) if more else None

    def _task_seconds(self, service: Service) -> float:
        return self.timings.per_service_task_seconds.get(service.name, self.timings.task_seconds)

    def _arn(self, task_definition: str) -> str:
        """The full ARN of `family`, `family:revision` or an ARN (moto stores what it was given)."""
        try:
            return self.backend.describe_task_definition(task_definition).arn
        except TaskDefinitionNotFoundException:
            return task_definition

    # -- one-off tasks --------------------------------------------------------------------------

    def _adopt_oneoff(self, task: Task) -> None:
        """Take over a RunTask task: RUNNING now, stopped after oneoff_seconds with an exit code."""
        m.mark_running(task, self._wall)
        container, command = m.task_command(self.backend, task)
        joined = " ".join(command)
        failing = self.scenario.failing_commands.items()
        exit_code = next((code for needle, code in failing if needle in joined), 0)
        stop_at = self._mono + self.timings.oneoff_seconds
        self._oneoffs[task.task_arn] = _OneOff(
            task.cluster_name, task.task_arn, stop_at, exit_code, tuple(command), container
        )

    def _stop_oneoff(self, oneoff: _OneOff, due: float) -> None:
        del self._oneoffs[oneoff.task_arn]
        task = self.backend.tasks.get(oneoff.cluster, {}).get(oneoff.task_arn)
        if task is None or task.last_status == "STOPPED":
            return  # stopped through StopTask
        at = self._wall_at(due)
        started = vars(task).get("started_at") or at
        exit_code = oneoff.exit_code
        m.mark_stopped(
            task, at, exit_code=exit_code, reason=m.ESSENTIAL_EXITED, stop_code=m.EXITED_CODE
        )
        m.write_task_logs(
            self.account_id,
            self.region,
            self.backend.describe_task_definition(task.task_definition_arn),
            oneoff.container,
            task,
            output_for(oneoff.command, exit_code),
            start=started,
            end=at,
        )
        m.refresh_cluster_counts(self.backend, oneoff.cluster)

    # -- time -----------------------------------------------------------------------------------

    def _now(self) -> float:
        self._mono, self._wall = self._clock(), self._wall_clock()
        return self._mono

    def _wall_at(self, due: float) -> datetime:
        """The wall-clock time of the moment `due` on the scheduler's (monotonic) clock."""
        return self._wall - timedelta(seconds=self._mono - due)


def _key(service: Service) -> str:
    return f"{service.cluster_name}:{service.name}"
