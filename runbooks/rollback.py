"""Runbook section 6: `inv rollback --env E [--to-run RUN_ID]`."""

from __future__ import annotations

from invoke import Collection, Context, task

from runbooks.common import (
    ENV_HELP,
    JSON_HELP,
    ProgressPrinter,
    confirm,
    ops_task,
    say,
    short,
    to_json,
)


@task(
    default=True,
    help={
        "env": ENV_HELP,
        "to_run": "roll back to before this run id (default: the last deploy)",
        "yes": "approve without the typed confirmation (production)",
        "json": JSON_HELP,
    },
)
@ops_task
def rollback(c: Context, env: str, to_run: str = "", yes: bool = False, json: bool = False) -> None:
    """Put the app back on the revisions deployed before a run (from the journal)."""
    from invoke.exceptions import Exit

    from adinsights_ops import config, pipeline
    from adinsights_ops.loader import open_environment

    environment = config.load(env)
    if environment.approval_required and not confirm(environment.name, yes, "roll back"):
        raise Exit("error: not confirmed; nothing was changed", 2)
    with open_environment(environment) as ops:
        printer = ProgressPrinter()
        say(f"rolling back {ops.name}")
        record, result = pipeline.rollback(ops, to_run=to_run or None, on_event=printer)
        printer.close()
    if json:
        print(to_json({"run_id": record.run_id, "rollout": result}))
        return
    print(f"rollback {record.run_id} of {ops.name}: {record.notes[0] if record.notes else ''}")
    for o in result.outcomes:
        state = (
            "restored"
            if o.state == "deployed"
            else "already there"
            if o.state == "unchanged"
            else o.state
        )
        print(f"  {o.service:<18} {state:<13} runs {short(o.now)} (was {short(o.previous)})")


ns = Collection("rollback")
ns.add_task(rollback, default=True)
