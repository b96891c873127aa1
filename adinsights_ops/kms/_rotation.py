"""The emergency DEK rotation of runbook §10: celery-beat paused, `manage.py rotate_deks`, beat restored.

Import it through `adinsights_ops.kms`.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops import ecs, lock
from adinsights_ops.ecs import TaskFailed, TaskResult
from adinsights_ops.ecs import _oneoff as oneoff
from adinsights_ops.ecs._views import OnEvent, Phase, describe
from adinsights_ops.errors import NeedsHuman
from adinsights_ops.journal import Journal, RunRecord, Step, new_run_id, utcnow, who
from adinsights_ops.waiting import Backoff, check_timeout, wait_until

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

    from adinsights_ops.opsenv import OpsEnv


RUN_KIND = "rotate-deks"
PAUSE_STEP, RUN_STEP, RESTORE_STEP = "pause-beat", "rotate-deks", "restore-beat"
BEAT_COUNT = "beat_desired"  # the journaled desired count of celery-beat before it was paused
COMMAND = ("python", "manage.py", "rotate_deks")
BEAT_POLL = Backoff(initial=2.0, factor=1.25, maximum=10.0, jitter=0.2)


class BeatNotRestored(NeedsHuman):
    """celery-beat could not be put back: it stays paused until a person restores it."""


# -- rotate_deks: the emergency rotation of runbook 10 ---------------------------------------------


@attrs.frozen
class Rotation:
    run_id: str
    task: TaskResult
    beat_service: str
    beat_restored: int  # the desired count celery-beat was given back
    recovered: tuple[str, ...] = ()  # what this run repaired first (a beat left paused by a crash)


def _beat_tasks(client: ECSClient, cluster: str, service: str) -> list[str]:
    """Tasks of `service` that may still run: desired RUNNING, or told to stop but not stopped."""
    running = client.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")
    alive = list(running["taskArns"])
    stopping = client.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED")
    arns = stopping["taskArns"]
    for start in range(0, len(arns), 100):
        tasks = client.describe_tasks(cluster=cluster, tasks=arns[start : start + 100])["tasks"]
        alive += [t["taskArn"] for t in tasks if t.get("lastStatus") != "STOPPED"]
    return alive


def _emit(on_event: OnEvent | None, name: str, detail: str) -> None:
    if on_event is not None:
        on_event(Phase(name, detail))


def _save_quietly(journal: Journal, record: RunRecord) -> None:
    """Journal writes in cleanup must not hide the error being cleaned up after."""
    with contextlib.suppress(Exception):
        journal.save(record)


def _recover(
    ops: OpsEnv, journal: Journal, record: RunRecord, on_event: OnEvent | None
) -> tuple[str, ...]:
    """Restore a beat that an earlier run paused and never restored; close unfinished runs.

    Holding the lock, no other rotation runs: an unfinished record is a run that died.
    """
    client, cluster = ops.aws.ecs(), ops.env.ecs.cluster
    beat = ops.env.ecs.services["beat"].name
    desired = describe(client, cluster=cluster, services=[beat])[beat].desired
    said: list[str] = []
    for run in journal.runs(kind=RUN_KIND, limit=20):
        if run.run_id == record.run_id:
            continue
        pause, restore = run.step(PAUSE_STEP), run.step(RESTORE_STEP)
        count = int(pause.outputs.get(BEAT_COUNT, 0)) if pause else 0
        left_paused = count > 0 and (restore is None or restore.outcome != "done")
        if run.finished is not None and not left_paused:
            continue
        if left_paused and desired == 0:
            message = f"run {run.run_id} left {beat} paused; restored it to {count} first"
            _emit(on_event, "recovering", message)
            _scale_beat(ops, count, on_event)
            desired = count
            said.append(message)
        if left_paused:
            run.steps.append(_restored_step(beat, count, by=record.run_id))
        if run.finished is None:
            run.notes.append(f"found unfinished by run {record.run_id}")
            journal.finish(run, "failed")
        else:
            journal.save(run)
    record.notes.extend(said)
    return tuple(said)


def _restored_step(beat: str, count: int, by: str | None = None) -> Step:
    outputs: dict[str, Any] = {"service": beat, "desired": count}
    if by is not None:
        outputs["by_run"] = by
    return Step(RESTORE_STEP, utcnow(), utcnow(), "done", outputs=outputs)


def _scale_beat(ops: OpsEnv, count: int, on_event: OnEvent | None) -> None:
    """Set celery-beat's desired count and wait until that many tasks run."""
    ecs.scale(
        ops.aws.ecs(),
        cluster=ops.env.ecs.cluster,
        service=ops.env.ecs.services["beat"].name,
        desired=count,
        timeout=ops.env.ecs.rollout_timeout,
        on_event=on_event,
        clock=ops.clock,
    )


def _restore_beat(ops: OpsEnv, count: int, on_event: OnEvent | None) -> None:
    beat = ops.env.ecs.services["beat"].name
    _emit(on_event, "restoring", f"{beat} to {count}")
    during = sys.exc_info()[1]  # what interrupted the rotation, if anything
    try:
        _scale_beat(ops, count, on_event)
    except (Exception, KeyboardInterrupt) as exc:
        details = [f"restore it: inv ecs.scale --env {ops.name} --service {beat} --count {count}"]
        if during is not None:
            details.append(f"the rotation itself stopped first: {during or type(during).__name__}")
        raise BeatNotRestored(
            f"{beat} could not be restored to {count} tasks ({exc or type(exc).__name__})",
            details=details,
        ) from exc


def _rotate(
    ops: OpsEnv, journal: Journal, record: RunRecord, timeout: float, on_event: OnEvent | None
) -> tuple[TaskResult, int]:
    """Pause beat, run the command, restore beat (always); returns (task result, beat count)."""
    client, settings = ops.aws.ecs(), ops.env.ecs
    beat, backend = settings.services["beat"].name, settings.services["backend"].name
    before = describe(client, cluster=settings.cluster, services=[beat])[beat].desired
    try:
        with journal.step(record, PAUSE_STEP) as step:
            step.outputs.update({"service": beat, BEAT_COUNT: before})
            journal.save(record)  # on record before beat is touched: a crash can be repaired
            _emit(on_event, "pausing", f"{beat} from {before} to 0 tasks")
            _scale_beat(ops, 0, on_event)
            wait_until(
                lambda: _beat_tasks(client, settings.cluster, beat),
                what=f"every {beat} task to stop",
                success=lambda alive: not alive,
                timeout=settings.rollout_timeout,
                backoff=BEAT_POLL,
                clock=ops.clock,
            )
        with journal.step(record, RUN_STEP) as step:
            task_definition = describe(client, cluster=settings.cluster, services=[backend])[
                backend
            ].task_definition
            step.outputs["task_definition"] = ecs.short_arn(task_definition)
            try:
                result = ecs.run_task(
                    client,
                    cluster=settings.cluster,
                    task_definition=task_definition,
                    command=COMMAND,
                    network=oneoff.network(ops),
                    container=settings.one_off_container,
                    timeout=timeout,
                    logs=ops.aws.logs(),
                    on_event=on_event,
                    clock=ops.clock,
                )
            except TaskFailed as exc:
                step.outputs["exit_code"] = exc.result.exit_code
                raise
            step.outputs.update(task=ecs.short_arn(result.task_arn), exit_code=result.exit_code)
    finally:
        _restore_beat(ops, before, on_event)
        record.steps.append(_restored_step(beat, before))
        _save_quietly(journal, record)
    return result, before


def rotate_deks(
    ops: OpsEnv, *, timeout: float | None = None, on_event: OnEvent | None = None
) -> Rotation:
    """Run `manage.py rotate_deks` as a one-off task with celery-beat paused (runbook 10).

    Takes the environment's lock (EnvironmentLocked when a deploy or another rotation holds it).
    Beat gets its previous desired count back in every case, also when the command fails
    (TaskFailed) or the run is interrupted; BeatNotRestored (exit 4) when even that fails.
    """
    settings = ops.env.ecs
    task_timeout = check_timeout(timeout or settings.task_timeout)  # before the lock or beat
    s3, journal = ops.aws.s3(), ops.journal()
    run_id = new_run_id()
    held = lock.acquire(
        s3,
        bucket=ops.env.state_bucket,
        environment=ops.name,
        run_id=run_id,
        reason=RUN_KIND,
        ttl=task_timeout + 3 * settings.rollout_timeout + 600,
    )
    record = RunRecord(
        run_id=run_id, environment=ops.name, kind=RUN_KIND, who=who(), started=utcnow()
    )
    try:
        journal.save(record)
        recovered = _recover(ops, journal, record, on_event)
        result, restored = _rotate(ops, journal, record, task_timeout, on_event)
    except BaseException as exc:
        record.notes.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        needs_human = isinstance(exc, NeedsHuman)
        record.outcome, record.finished = ("needs-human" if needs_human else "failed"), utcnow()
        _save_quietly(journal, record)
        raise
    finally:
        with contextlib.suppress(Exception):  # an unreleased lock expires; the error matters more
            lock.release(s3, bucket=ops.env.state_bucket, lock=held)
    journal.finish(record, "succeeded")
    beat = settings.services["beat"].name
    return Rotation(run_id, result, beat, restored, recovered)
