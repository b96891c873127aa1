"""The deploy runbook (section 5) as ordered, journaled, resumable steps built on the primitives.

    preflight -> lock -> data-state -> infrastructure -> snapshot -> register -> one-off
    -> rollout -> warm -> smoke -> announce

Preflight's checks read only, so a refusal changes nothing. The lock is the first change. Every step
is journaled (start, end, outcome, elapsed, outputs) as it happens, so a crashed run can be resumed
from its first unfinished step. A failure after the new revisions are registered puts the app back
on the revisions it ran before (`_failure`); the RDS snapshot is kept; the report (`_report`) says
what state each service is in and what to run next.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from adinsights_ops import ecs, lock
from adinsights_ops.errors import OpsError, UsageError, describe_error
from adinsights_ops.journal import Journal, RunRecord, check_run_id, new_run_id
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.pipeline import _preflight as preflight
from adinsights_ops.pipeline._failure import failed
from adinsights_ops.pipeline._locking import acquire, close
from adinsights_ops.pipeline._plan import Plan, plan_deploy
from adinsights_ops.pipeline._report import DeployReport, journal_warning, report
from adinsights_ops.pipeline._state import DeployRun
from adinsights_ops.pipeline._steps import STEPS, restore
from adinsights_ops.release import ImageTag
from adinsights_ops.shell import Runner

if TYPE_CHECKING:
    from adinsights_ops.dbt import PreparedBuild

resolve_tag = preflight.resolve_tag
FINAL = ("succeeded", "rolled-back", "fenced")
"""Outcomes a run cannot be resumed from (a new deploy is the way on)."""


def plan(ops: OpsEnv, tag: ImageTag) -> Plan:
    """Everything a deploy would do, read-only (the dry run)."""
    return plan_deploy(ops, tag)


def resumable(journal: Journal, run_id: str) -> RunRecord:
    """The record of run `run_id` if a deploy can be resumed from it; UsageError saying why not."""
    record = journal.load(check_run_id(run_id))
    if record.kind != "deploy":
        raise UsageError(f"run {run_id} is a {record.kind}, not a deploy")
    if record.outcome in FINAL:
        how = {
            "succeeded": "it succeeded",
            "rolled-back": "it was rolled back; deploy again with a new run",
            "fenced": "it lost its lock to another run; start a new deploy",
        }[record.outcome]
        raise UsageError(
            f"run {run_id} already ended ({record.outcome}): nothing to resume ({how})"
        )
    return record


def deploy(
    ops: OpsEnv,
    *,
    image_tag: ImageTag | str | None = None,
    resume: str | None = None,
    open_source: Callable[[str], OpsEnv] | None = None,
    reason: str = "",
    on_event: ecs.OnEvent | None = None,
    on_step: Callable[[str], None] | None = None,
    runner: Runner | None = None,
    dbt_prepared: PreparedBuild | None = None,
) -> DeployReport:
    """Carry out the deploy of `image_tag` (or resume run `resume`); returns the report.

    `image_tag` is a parsed ImageTag (as `resolve_tag` returns it) or its text; None is the
    environment's default. Raises only before anything changed: UsageError for a refused preflight
    or resume, EnvironmentLocked when another run holds the lock (or the resumed run's holder is
    alive). Approval is the caller's business (it happens before this). Once the lock is held,
    every error of any kind ends in the report: rolled back, resumable, or needing a human, never
    a traceback.

    `dbt_prepared` is the data-state step's dbt build started ahead (`prepare_data_state`): the
    step builds on it instead of starting dbt then. It stays the caller's to cancel (its context
    manager does) when the step is not reached; a resume past the step cancels it at once.
    """
    journal = ops.journal()
    if resume is not None:
        record: RunRecord | None = resumable(journal, resume)
        assert record is not None
        tag = resolve_tag(ops.env, record.image_tag)
        run_id = record.run_id
    else:
        record = None
        tag = resolve_tag(ops.env, image_tag)
        run_id = new_run_id()
    checked = preflight.run(ops, tag, open_source=open_source)
    if record is not None:
        _check_unchanged_since(ops, record)
    held = acquire(ops, journal, run_id, reason or f"deploy {tag.ecr_tag}")
    heartbeat = lock.Heartbeat(
        ops.aws.s3(), bucket=ops.env.state_bucket, lock=held, ttl=ops.env.release.lock_ttl
    ).start()
    try:
        if record is None:
            record = journal.start("deploy", image_tag=tag.ecr_tag, run_id=run_id)
        else:
            record.notes.append(f"resumed by {held.who}")
            record.outcome = "running"
            record.finished = None
            journal.save(record)
    except Exception as exc:  # nothing changed yet but the lock: give it back, say why
        heartbeat.stop()
        with contextlib.suppress(Exception):
            lock.release(ops.aws.s3(), bucket=ops.env.state_bucket, lock=held)
        raise OpsError(
            f"could not write the journal, so nothing was done: {describe_error(exc)}"
        ) from None
    run = DeployRun(
        ops=ops,
        tag=tag,
        record=record,
        journal=journal,
        lock=held,
        checks=checked.checks,
        on_event=on_event,
        heartbeat=heartbeat,
        runner=runner,
        dbt_prepared=dbt_prepared,
    )
    done = record.step("data-state")
    if dbt_prepared is not None and done is not None and done.outcome in ("done", "skipped"):
        run.dbt_prepared = None
        dbt_prepared.cancel()  # resumed past the step: no build to wait for
    try:
        return _carry_out(run, on_step)
    finally:
        heartbeat.stop()  # already stopped on every path but a bug's; never left renewing


def _check_unchanged_since(ops: OpsEnv, record: RunRecord) -> None:
    """A resume past registration goes on only if no one else changed the services meanwhile."""
    started = record.step("rollout")
    if not record.previous_revisions or (started is not None and started.started):
        return
    names = list(record.previous_revisions)
    now = {
        s.name: (s.primary.task_definition if s.primary else s.task_definition)
        for s in ecs.status(ops.aws.ecs(), cluster=ops.env.ecs.cluster, services=names)
    }
    moved = [n for n in names if now.get(n) != record.previous_revisions[n]]
    if moved:
        raise UsageError(
            f"run {record.run_id} cannot be resumed: {', '.join(moved)} changed since it registered "
            f"its revisions (another deploy?); start a new deploy: inv deploy --env {ops.name} "
            f"--image-tag {record.image_tag}"
        )


def _carry_out(run: DeployRun, on_step: Callable[[str], None] | None) -> DeployReport:
    journal, record = run.journal, run.record
    for name, body in STEPS:
        done = record.step(name)
        if done is not None and done.outcome in ("done", "skipped"):
            restore(run, name, done.outputs)
            continue
        try:
            if on_step is not None:
                on_step(name)
            run.fence()  # a run that lost its lock changes nothing more
            with journal.step(record, name) as step:
                outputs = body(run)
                step.outputs.update(outputs)
                if "skipped" in outputs:
                    step.outcome = "skipped"
        except (Exception, KeyboardInterrupt) as exc:
            return failed(run, name, exc)
    warnings = []
    try:
        journal.finish(record, "succeeded")
    except Exception as exc:
        warnings.append(journal_warning(run, exc))
    held = close(run, "succeeded")
    return report(run, "succeeded", lock_state=held, warnings=tuple(warnings))
