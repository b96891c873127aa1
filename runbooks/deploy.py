"""Runbook section 5: `inv deploy --env E [--image-tag T] [--dry-run] [--yes]`."""

from __future__ import annotations

from typing import Any

from invoke import Collection, Context, task

from runbooks.common import (
    ENV_HELP,
    JSON_HELP,
    SCENARIO_HELP,
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
        "image_tag": "vX.Y.Z (release) or main-<gitsha>; the sandbox defaults to its current release",
        "dry_run": "print the plan (task-definition diffs) and change nothing",
        "yes": "approve without the typed confirmation (production)",
        "json": JSON_HELP,
        "scenario": SCENARIO_HELP,
    },
)
@ops_task
def deploy(
    c: Context,
    env: str,
    image_tag: str = "",
    dry_run: bool = False,
    yes: bool = False,
    json: bool = False,
    scenario: str = "",
) -> None:
    """Deploy a release to an environment (runbook section 5)."""
    from invoke.exceptions import Exit

    from adinsights_ops import config, pipeline
    from adinsights_ops.errors import EXIT_FAILED, EXIT_NEEDS_HUMAN
    from adinsights_ops.loader import open_environment

    environment = config.load(env)
    tag = pipeline.resolve_tag(environment, image_tag or None)
    if environment.approval_required and not dry_run:
        # Ask before anything is opened or called: a refusal changes nothing.
        approved = confirm(environment.name, yes, f"deploy {tag.given}")
        if not approved:
            raise Exit("error: not confirmed; nothing was changed", 2)
    with open_environment(environment, scenario=scenario or None) as ops:
        if dry_run:
            _print_plan(pipeline.plan(ops, tag), json)
            return
        say(f"deploying {tag.ecr_tag} to {ops.name} ({ops.env.ecs.cluster})")
        printer = ProgressPrinter()
        report = pipeline.deploy(
            ops,
            image_tag=tag.given,
            approve=lambda: True,
            on_event=printer,
            on_step=lambda name: say(f"== {name}"),
        )
        printer.close()
    if json:
        print(to_json(report))
    else:
        _print_report(report)
    if report.outcome == "succeeded":
        return
    code = EXIT_NEEDS_HUMAN if report.outcome == "needs-human" else EXIT_FAILED
    raise Exit(f"error: deploy {report.outcome}: {report.error}", code)


def _print_plan(plan: Any, as_json: bool) -> None:
    if as_json:
        print(to_json(plan))
        return
    print(f"plan: deploy {plan.image.ecr_tag} to {plan.environment} (dry run: nothing changed)")
    for rev in plan.revisions:
        print(f"  {rev.service}: {short(rev.current)} -> new revision of {rev.family}")
        for change in rev.changes or ():
            print(f"      {change.field}: {change.old} -> {change.new}")
        if not rev.changes:
            print("      no change (already on this tag)")


def _print_report(report: Any) -> None:
    print(f"deploy {report.run_id} of {report.image_tag} to {report.environment}: {report.outcome}")
    for step in report.steps:
        print(f"  {step.name:<10} {step.outcome:<8} {step.elapsed:6.1f}s  {step.detail}")
    if report.rollout is not None:
        for o in report.rollout.outcomes:
            print(
                f"  {o.service:<18} {o.state:<12} runs {short(o.now)}"
                + (f"  ({o.reason})" if o.reason else "")
            )
    if report.outcome == "rolled-back":
        print(
            f"every service is back on the revision it ran before; the journal has run {report.run_id}."
        )
        print(
            f"next: read the events above, fix, then `inv deploy --env {report.environment}` again."
        )
    elif report.outcome == "needs-human":
        print(
            f"the rollback did not settle: check `inv ecs.status --env {report.environment}` "
            "before anything else runs."
        )


ns = Collection("deploy")
ns.add_task(deploy, default=True)
