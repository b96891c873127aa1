"""RDS snapshots and restores an operator calls directly (runbook 2.2 manual snapshots, 6 rollback)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, Context, task

from runbooks import lazy, options, render
from runbooks.common import ENV_HELP, JSON_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _rds as show
else:
    show = lazy.module("runbooks.render._rds")


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "label": "snapshot name (default manual-<env>-<utc time>); made RDS-safe",
        "json": JSON_HELP,
    },
)
@ops_task
def snapshot(
    c: Context, env: str = options.ENV_DEFAULT, label: str | None = None, json: bool = False
) -> None:
    """Take a manual snapshot of the environment's database and wait until it is available."""
    from datetime import UTC, datetime

    from adinsights_ops import rds
    from adinsights_ops.journal import who
    from adinsights_ops.loader import open_environment

    _check_label(label)
    with open_environment(env) as ops:
        name = label or f"manual-{ops.name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        render.say(
            f"snapshotting {ops.env.rds_instance} as {rds.snapshot_id(name)} (waits until available)"
        )
        snap = rds.snapshot(
            ops.aws.client("rds"),
            instance=ops.env.rds_instance,
            label=name,
            tags={rds.TAG_ENVIRONMENT: ops.name, rds.TAG_CREATED_BY: who()},
            clock=ops.clock,
        )
    show.taken(snap, json)


def _check_label(label: str | None) -> None:
    """Given, `--label` must make a snapshot name (never '' for the default name): else exit 2."""
    from adinsights_ops import rds
    from adinsights_ops.errors import UsageError

    if label is None:
        return
    options.text(label, "--label", what="a snapshot name with letters or digits")
    try:
        rds.snapshot_id(label)
    except UsageError:
        options.refuse("--label", label, "a snapshot name with letters or digits")


@task(klass=options.OpsTask, help={"env": ENV_HELP, "json": JSON_HELP})
@ops_task
def snapshots(c: Context, env: str = options.ENV_DEFAULT, json: bool = False) -> None:
    """List the database's snapshots (manual and automated), newest first."""
    from adinsights_ops import rds
    from adinsights_ops.loader import open_environment

    with open_environment(env) as ops:
        found = rds.list_snapshots(ops.aws.client("rds"), instance=ops.env.rds_instance)
    show.listed(found, ops.env.rds_instance, (rds.TAG_RELEASE, rds.TAG_RUN_ID), json)


@task(
    klass=options.OpsTask,
    short={"days": "", "dry_run": "d"},
    help={
        "env": ENV_HELP,
        "keep": "pre-deploy snapshots to keep, newest first (the newest is always kept)",
        "days": "also keep pre-deploy snapshots younger than this many days",
        "dry_run": "only say what would be deleted",
        "yes": "approve without the typed confirmation (production)",
        "json": JSON_HELP,
    },
)
@ops_task
def prune(
    c: Context,
    env: str = options.ENV_DEFAULT,
    keep: int = 5,
    days: float = 14.0,
    dry_run: bool = False,
    yes: bool = False,
    json: bool = False,
) -> None:
    """Delete old pre-deploy snapshots (never automated ones, never the newest)."""
    from adinsights_ops import config, rds
    from adinsights_ops.loader import open_environment

    keep = options.whole(keep, "--keep", maximum=10000, what="pre-deploy snapshots to keep")
    days = options.number(days, "--days", maximum=36500, unit="days")
    environment = config.load(env)
    needs_approval = environment.approval_required and not dry_run
    if needs_approval:
        render.approve(environment, yes, "delete old pre-deploy snapshots", ())
    with open_environment(environment) as ops:
        result = rds.prune_snapshots(
            ops.aws.client("rds"),
            instance=ops.env.rds_instance,
            keep=keep,
            younger_than_days=days,
            dry_run=dry_run,
        )
    show.pruned(result, dry_run, json)


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "snapshot": "snapshot id to restore (default: the newest manual snapshot)",
        "yes": "approve without the typed confirmation",
        "json": JSON_HELP,
    },
)
@ops_task
def restore(
    c: Context,
    env: str = options.ENV_DEFAULT,
    snapshot: str | None = None,
    yes: bool = False,
    json: bool = False,
) -> None:
    """Restore the database from a snapshot and swap it in under the instance's name (runbook 6)."""
    from datetime import UTC, datetime

    from adinsights_ops import rds
    from adinsights_ops.errors import UsageError
    from adinsights_ops.loader import open_environment

    if snapshot is not None:  # given, it names one (never '' = the newest)
        options.text(snapshot, "--snapshot", what="a snapshot id (see rds.snapshots)")
    with open_environment(env) as ops:
        client, instance = ops.aws.client("rds"), ops.env.rds_instance
        snap = (
            rds.find_snapshot(client, snapshot)
            if snapshot
            else rds.latest_snapshot(client, instance=instance)
        )
        if snap is None:
            if snapshot is not None:
                options.refuse(
                    "--snapshot", snapshot, f"a snapshot of {instance} (see rds.snapshots)"
                )
            raise UsageError(f"no snapshot of {instance} to restore: take one (rds.snapshot)")
        now = datetime.now(UTC)
        lost = (now - snap.created).total_seconds() if snap.created else 0.0
        # The plan, then the question, on every environment (a restore loses data).
        plan = show.restore_plan(snap, instance, lost)
        render.approve(ops.env, yes, f"restore {instance} from {snap.id}", plan, always=True)
        with render.Progress() as progress:
            result = rds.restore(
                client, snapshot_id=snap.id, instance=instance, clock=ops.clock, on_event=progress
            )
    show.restored(result, instance, snap, json)


ns = Collection("rds")
for t in (snapshot, snapshots, prune, restore):
    ns.add_task(t)
