"""Runbook section 6: roll back the app, the database or the data; each writes the incident log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, Context, task

from runbooks import lazy, options, render
from runbooks.common import ENV_HELP, JSON_HELP, SCENARIO_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _rollback as show
else:
    show = lazy.module("runbooks.render._rollback")


@task(
    klass=options.OpsTask,
    default=True,
    help={
        "env": ENV_HELP,
        "to_run": "roll back to before this run id (default: the last deploy)",
        "yes": "approve without the typed confirmation (production)",
        "json": JSON_HELP,
    },
)
@ops_task
def rollback(
    c: Context,
    env: str = options.ENV_DEFAULT,
    to_run: str = "",
    yes: bool = False,
    json: bool = False,
) -> None:
    """Put the app back on the revisions deployed before a run (from the journal)."""
    if to_run:
        options.run_id(to_run, "--to-run")
    from adinsights_ops import config, pipeline
    from adinsights_ops.loader import open_environment

    environment = config.load(env)
    render.check_approval(environment, yes, "roll back")
    render.approve(environment, yes, "roll back", [f"plan: roll {environment.name} back"])
    with open_environment(environment) as ops:
        printer = render.Progress()
        render.say(f"rolling back {ops.name}")
        try:
            done = pipeline.rollback_app(ops, to_run=to_run or None, on_event=printer)
        finally:
            printer.close()
    record, result, logged = done.record, done.done, done.incident_log
    show.app(ops.name, record, result, logged, json)


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "to_migration": "app:NNNN, e.g. analytics:0042 (runs migrate app NNNN)",
        "restore_snapshot": "instead: restore this RDS snapshot and swap it in under the instance's name",
        "yes": "do not ask (the data-loss window is still printed)",
        "json": JSON_HELP,
        "scenario": SCENARIO_HELP,
    },
)
@ops_task
def db(
    c: Context,
    env: str = options.ENV_DEFAULT,
    to_migration: str = "",
    restore_snapshot: str = "",
    yes: bool = False,
    json: bool = False,
    scenario: str = "",
) -> None:
    """Roll the database back: reversible migrations, or a snapshot restore (data-loss window shown)."""
    if to_migration:
        options.migration(to_migration, "--to-migration")
    from adinsights_ops import config, pipeline
    from adinsights_ops.errors import UsageError
    from adinsights_ops.loader import open_environment
    from adinsights_ops.pipeline import _rollback as rb

    if bool(to_migration) == bool(restore_snapshot):
        raise UsageError("give exactly one of --to-migration app:NNNN or --restore-snapshot ID")
    app, target = rb.parse_migration(to_migration) if to_migration else ("", "")
    environment = config.load(env)
    with open_environment(environment, scenario=scenario or None) as ops:
        if to_migration:
            if environment.approval_required and not render.confirm(
                ops.name, yes, f"migrate {app} back to {target}"
            ):
                raise UsageError("not confirmed; nothing was changed")
            printer = render.Progress()
            try:
                migrated = pipeline.rollback_db(ops, to_migration=to_migration, on_event=printer)
            finally:
                printer.close()
            show.incident_logged(migrated.incident_log)
            show.migrated(app, target, migrated.migration, json)
            return
        plan = pipeline.plan_restore(ops, restore_snapshot)
        found, instance = plan.snapshot, plan.instance
        show.restoring(found, instance, plan.data_loss_window, json)
        if not yes:
            render.confirm_word(
                instance,
                f"Type the instance name ({instance}) to restore",
                not_interactive="a restore loses data: pass --yes after reading the window above",
                declined="not confirmed; nothing was changed",
            )
        done = pipeline.rollback_db(ops, restore=plan)
        show.incident_logged(done.incident_log)
    restored = done.restore
    show.restored(restored, found, json)


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "tag": "the release whose Airbyte manifests and dbt models to go back to",
        "repo": "git repository holding the tag (default: the one around environments.yaml)",
        "json": JSON_HELP,
    },
)
@ops_task
def data(
    c: Context, tag: str, env: str = options.ENV_DEFAULT, repo: str = "", json: bool = False
) -> None:
    """Airbyte manifests as of a release tag applied, and dbt rebuilt at that tag."""
    if repo:
        options.git_repository(repo, "--repo")
    from pathlib import Path

    from adinsights_ops import config, pipeline
    from adinsights_ops.loader import open_environment
    from adinsights_ops.release import parse_version

    version = parse_version(tag)
    environment = config.load(env)
    where = Path(repo) if repo else Path(environment.source).resolve().parent
    with open_environment(environment) as ops:
        render.say(f"rolling data back to {version.given} from {where}")
        rolled = pipeline.rollback_data(ops, tag=version.given, repo=where)
        show.incident_logged(rolled.incident_log)
    done = rolled.done
    show.data(done, json)


ns = Collection("rollback")
ns.add_task(rollback, default=True)
ns.add_task(db)
ns.add_task(data)
