"""RDS snapshots and restores an operator calls directly (runbook 2.2 manual snapshots, 6 rollback)."""

from __future__ import annotations

from typing import Any

from invoke import Collection, Context, task

from runbooks import options
from runbooks.common import ENV_HELP, JSON_HELP, confirm, ops_task, say, to_json


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if value is not None else "-"


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours}h{mins:02d}m"


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
    from adinsights_ops.errors import UsageError
    from adinsights_ops.journal import who
    from adinsights_ops.loader import open_environment

    if label is not None:  # given, it must make a snapshot name (never '' = the default name)
        options.text(label, "--label", what="a snapshot name with letters or digits")
        try:
            rds.snapshot_id(label)
        except UsageError:
            options.refuse("--label", label, "a snapshot name with letters or digits")
    with open_environment(env) as ops:
        name = label or f"manual-{ops.name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        say(
            f"snapshotting {ops.env.rds_instance} as {rds.snapshot_id(name)} (waits until available)"
        )
        snap = rds.snapshot(
            ops.aws.client("rds"),
            instance=ops.env.rds_instance,
            label=name,
            tags={rds.TAG_ENVIRONMENT: ops.name, rds.TAG_CREATED_BY: who()},
            clock=ops.clock,
        )
    if json:
        print(to_json(snap))
        return
    print(f"{snap.id}: {snap.status}, {snap.size_gb} GB, taken {_when(snap.created)}")


@task(klass=options.OpsTask, help={"env": ENV_HELP, "json": JSON_HELP})
@ops_task
def snapshots(c: Context, env: str = options.ENV_DEFAULT, json: bool = False) -> None:
    """List the database's snapshots (manual and automated), newest first."""
    from adinsights_ops import rds
    from adinsights_ops.loader import open_environment

    with open_environment(env) as ops:
        found = rds.list_snapshots(ops.aws.client("rds"), instance=ops.env.rds_instance)
    if json:
        print(to_json(found))
        return
    print(f"{'snapshot':<52} {'kind':<9} {'status':<10} {'size':>6}  {'taken':<24} release/run")
    for s in found:
        origin = " ".join(v for k, v in s.tags.items() if k in (rds.TAG_RELEASE, rds.TAG_RUN_ID))
        print(
            f"{s.id:<52} {s.kind:<9} {s.status:<10} {s.size_gb:>4}GB  {_when(s.created):<24} "
            f"{origin or '-'}"
        )
    print(f"{len(found)} snapshots of {ops.env.rds_instance}")


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
    from invoke.exceptions import Exit

    from adinsights_ops import config, rds
    from adinsights_ops.loader import open_environment

    keep = options.whole(keep, "--keep", maximum=10000, what="pre-deploy snapshots to keep")
    days = options.number(days, "--days", maximum=36500, unit="days")
    environment = config.load(env)
    needs_approval = environment.approval_required and not dry_run
    if needs_approval and not confirm(environment.name, yes, "delete old pre-deploy snapshots"):
        raise Exit("error: not confirmed; nothing was changed", 2)
    with open_environment(environment) as ops:
        result = rds.prune_snapshots(
            ops.aws.client("rds"),
            instance=ops.env.rds_instance,
            keep=keep,
            younger_than_days=days,
            dry_run=dry_run,
        )
    if json:
        print(to_json(result))
        return
    verb = "would delete" if dry_run else "deleted"
    for s in result.deleted:
        print(f"{verb:<12} {s.id}  (taken {_when(s.created)})")
    for k in result.kept:
        print(f"{'kept':<12} {k.snapshot.id}  ({k.reason})")
    print(f"{len(result.deleted)} {verb}, {len(result.kept)} kept")


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

    from invoke.exceptions import Exit

    from adinsights_ops import rds
    from adinsights_ops.errors import UsageError
    from adinsights_ops.loader import open_environment
    from runbooks.common import ProgressPrinter

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
        say(f"restore {snap.id} (taken {_when(snap.created)}) as {instance}.")
        say(f"DATA LOSS: everything written to {instance} in the last {_span(lost)} is not in it.")
        say(f"The current instance is kept, renamed {instance}-old-<time>.")
        if not confirm(ops.name, yes, f"restore {instance} from {snap.id}"):
            raise Exit("error: not confirmed; nothing was changed", 2)
        printer = ProgressPrinter()
        result = rds.restore(
            client, snapshot_id=snap.id, instance=instance, clock=ops.clock, on_event=printer
        )
        printer.close()
    if json:
        print(to_json(result))
        return
    print(f"{instance} now runs snapshot {snap.id}; the previous instance is {result.old_instance}")
    print(f"data-loss window: {_span(result.data_loss_window.total_seconds())} before the restore")


ns = Collection("rds")
for t in (snapshot, snapshots, prune, restore):
    ns.add_task(t)
