"""Runbook section 6: roll back the app, the database or the data; each writes the incident log."""

from __future__ import annotations

from typing import Any

from invoke import Collection, Context, task

from runbooks import options, render
from runbooks.common import ENV_HELP, JSON_HELP, SCENARIO_HELP, ops_task
from runbooks.render import _rollback as show


def _journaled(
    ops: Any, kind: str, tag: str | None, what: str, source: str, target: str, body: Any
) -> Any:
    """Run `body()` as a journaled rollback with an incident-log entry, whatever the outcome."""
    from adinsights_ops.errors import OpsError
    from adinsights_ops.pipeline._rollback import incident_entry

    journal = ops.journal()
    record = journal.start(kind, image_tag=tag)
    record.notes.append(what)
    outcome = "failed"
    try:
        with journal.step(record, kind) as step:
            result = body()
            step.outputs["result"] = (
                str(getattr(result, "summary", lambda: "")() or "") if result else ""
            )
        outcome = "succeeded"
        return result
    except (OpsError, KeyboardInterrupt):
        raise
    finally:
        journal.finish(record, outcome)
        logged = incident_entry(
            ops, record, what=what, source=source, target=target, outcome=outcome
        )
        show.incident_logged(logged)


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
    from adinsights_ops.errors import OpsError
    from adinsights_ops.loader import open_environment
    from adinsights_ops.pipeline._rollback import incident_entry

    environment = config.load(env)
    render.check_approval(environment, yes, "roll back")
    render.approve(environment, yes, "roll back", [f"plan: roll {environment.name} back"])
    with open_environment(environment) as ops:
        printer = render.Progress()
        render.say(f"rolling back {ops.name}")
        try:
            record, result = pipeline.rollback(ops, to_run=to_run or None, on_event=printer)
        except OpsError as exc:
            printer.close()
            runs = ops.journal().runs(kind="rollback", limit=1)
            if runs and runs[0].outcome != "succeeded":
                incident_entry(
                    ops,
                    runs[0],
                    what="app rollback",
                    source="deployed revisions",
                    target="previous revisions",
                    outcome=runs[0].outcome,
                )
            raise exc
        printer.close()
        source = ", ".join(render.short_arn(a) for a in record.previous_revisions.values())
        target = ", ".join(render.short_arn(a) for a in record.deployed_revisions.values())
        logged = incident_entry(
            ops,
            record,
            what=f"app rollback ({record.notes[0]})",
            source=source,
            target=target,
            outcome="succeeded",
        )
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
    from adinsights_ops import config, rds
    from adinsights_ops.errors import UsageError
    from adinsights_ops.loader import open_environment
    from adinsights_ops.pipeline import _rollback as rb

    if bool(to_migration) == bool(restore_snapshot):
        raise UsageError("give exactly one of --to-migration app:NNNN or --restore-snapshot ID")
    app, target = rb.parse_migration(to_migration) if to_migration else ("", "")
    environment = config.load(env)
    with open_environment(environment, scenario=scenario or None) as ops:
        printer = render.Progress()
        if to_migration:
            if environment.approval_required and not render.confirm(
                ops.name, yes, f"migrate {app} back to {target}"
            ):
                raise UsageError("not confirmed; nothing was changed")
            done = _journaled(
                ops,
                "rollback-db",
                None,
                f"migrate {app} back to {target}",
                "current schema",
                f"{app}:{target}",
                lambda: rb.migrate_back(ops, app=app, target=target, on_event=printer),
            )
            printer.close()
            show.migrated(app, target, done, json)
            return
        client = ops.aws.client("rds")
        found = rds.find_snapshot(client, restore_snapshot)
        if found is None:
            raise UsageError(f"no RDS snapshot {restore_snapshot}")
        window = rb.data_loss_window(found.created)
        show.restoring(found, environment.rds_instance, window, json)
        if not yes:
            instance = environment.rds_instance
            render.confirm_word(
                instance,
                f"Type the instance name ({instance}) to restore",
                not_interactive="a restore loses data: pass --yes after reading the window above",
                declined="not confirmed; nothing was changed",
            )
        restored = _journaled(
            ops,
            "rollback-db",
            None,
            f"restore snapshot {found.id}",
            environment.rds_instance,
            found.id,
            lambda: rds.restore(
                client, snapshot_id=found.id, instance=environment.rds_instance, clock=ops.clock
            ),
        )
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

    from adinsights_ops import config
    from adinsights_ops.loader import open_environment
    from adinsights_ops.pipeline import _rollback as rb
    from adinsights_ops.release import parse_version

    version = parse_version(tag)
    environment = config.load(env)
    where = Path(repo) if repo else Path(environment.source).resolve().parent
    with open_environment(environment) as ops:
        render.say(f"rolling data back to {version.given} from {where}")
        done = _journaled(
            ops,
            "rollback-data",
            version.ecr_tag,
            f"data back to {version.given}",
            "current",
            version.given,
            lambda: rb.data_back_to(ops, tag=version.given, repo=where),
        )
    show.data(done, json)


ns = Collection("rollback")
ns.add_task(rollback, default=True)
ns.add_task(db)
ns.add_task(data)
