"""The deploy's plan, its report, the lock and the run history (runbook section 5)."""

from __future__ import annotations

from typing import Any

from runbooks.render._console import out, say
from runbooks.render._json import emit_json
from runbooks.render._progress import short_arn

SMOKE_PATHS = "/api/health/ /api/health/airbyte/ /api/health/dbt/ /api/timezone/ /metrics/app"


def plan_lines(plan: Any, *, dry_run: bool = True) -> list[str]:
    """What a deploy will do (`pipeline.plan`): the dry run's text, shown before an approval too."""
    note = " (dry run: nothing was changed)" if dry_run else ""
    drift = (
        "drift to fix: " + "; ".join(plan.airbyte_drift)
        if plan.airbyte_drift
        else "connections match the manifests"
    )
    lines = [
        f"plan: deploy {plan.image.ecr_tag} to {plan.environment}{note}",
        "  preflight:",
        *(f"    ok  {check}" for check in plan.checks),
        f"  lock: {plan.lock}",
        "  data state: Airbyte "
        + drift
        + ("; then a validation sync and a dbt build" if plan.data_validation else ""),
        f"  infrastructure: {plan.infrastructure}",
        f"  snapshot: {plan.snapshot}",
        "  task definitions:",
    ]
    for rev in plan.revisions:
        lines.append(
            f"    {rev.service}: {short_arn(rev.current)} -> next revision of {rev.family}"
        )
        lines.extend(f"        {c.field}: {c.old} -> {c.new}" for c in rev.changes or ())
        if not rev.changes:
            lines.append("        no change (already on this tag)")
    lines.append("  one-off tasks on the new backend revision:")
    lines.extend(f"    {command}" for command in plan.one_off_commands)
    lines.append(f"  warm: POST /api/dashboards/aggregate-snapshot/; {plan.warm_command}")
    lines.append(f"  smoke: {SMOKE_PATHS}")
    return lines


def plan(plan: Any, as_json: bool) -> None:
    """`deploy --dry-run`: the plan on stdout."""
    if as_json:
        emit_json(plan)
        return
    for line in plan_lines(plan):
        out(line)


def report_lines(report: Any) -> list[str]:
    lines = [
        f"deploy {report.run_id} of {report.image_tag} to {report.environment}: {report.outcome}"
    ]
    lines.extend(
        f"  {s.name:<15} {s.outcome:<8} {s.elapsed:6.1f}s  {s.detail}" for s in report.steps
    )
    if report.outcome != "succeeded":
        lines.append(f"failed at: {report.failed_step}: {report.error}")
        lines.extend(f"  {line}" for line in report.details)
    lines.append("services now:")
    lines.extend(f"  {service:<18} {revision}" for service, revision in report.services.items())
    if report.snapshot:
        kept = " (kept)" if report.outcome != "succeeded" else ""
        lines.append(f"RDS snapshot: {report.snapshot}{kept}")
    if report.lock:
        lines.append(f"lock: {report.lock}")
    lines.extend(f"warning: {warning}" for warning in report.warnings)
    if report.next_command:
        lines.append(f"next: {report.next_command}")
    return lines


def report(report: Any, as_json: bool) -> None:
    """The deploy's report on stdout (or JSON); the caller turns its outcome into an exit code."""
    if as_json:
        emit_json(report)
        return
    for line in report_lines(report):
        out(line)


def finished(report: Any) -> None:
    """Exit 0 when the deploy succeeded, else its documented code with one `error:` line."""
    from invoke.exceptions import Exit

    from adinsights_ops.errors import EXIT_FAILED, EXIT_NEEDS_HUMAN

    if report.outcome == "succeeded":
        return
    code = EXIT_NEEDS_HUMAN if report.outcome in ("needs-human", "fenced") else EXIT_FAILED
    raise Exit(f"error: deploy {report.outcome} at step {report.failed_step}: {report.error}", code)


def lock(env: str, held: Any, as_json: bool) -> None:
    """`deploy.lock-status`: who holds the lock."""
    if as_json:
        emit_json(held.body() if held else None)
        return
    if held is None:
        out(f"{env}: not locked")
        return
    state = "held by a holder that is GONE" if held.gone else "held"
    out(f"{env}: {state}: {held.describe()}, reason: {held.reason}")
    out(f"  since {held.started}, last renewed {held.renewed or held.started}")


def unlock_notice(env: str, held: Any, as_json: bool) -> None:
    """`deploy.unlock`, before it asks: whose lock it is (stderr under --json)."""
    show = say if as_json else out
    if held is None:
        show(f"{env}: not locked; nothing removed")
        return
    show(f"{env}: locked by {held.describe()} ({held.reason}), since {held.started}")
    if not held.gone:
        show(
            "warning: its holder looks alive; it will stop at its next step (fenced) and "
            "leave what it changed so far"
        )


def unlocked(environment: str, held: Any, removed: Any, as_json: bool) -> None:
    """`deploy.unlock`'s result."""
    if as_json:
        gone = None
        if removed is not None:
            gone = {"run_id": removed.run_id, "who": removed.who, "reason": removed.reason}
        emit_json({"environment": environment, "locked": held is not None, "removed": gone})
    elif removed is not None:
        out(f"removed the lock of run {removed.run_id} held by {removed.who}; recorded why")


def runs(env: str, found: Any, as_json: bool) -> None:
    """`deploy.status`: the last runs in the journal."""
    if as_json:
        emit_json(found)
        return
    for r in found:
        last = r.steps[-1].name if r.steps else "-"
        out(
            f"{r.run_id}  {r.kind:<11} {r.image_tag or '-':<16} {r.outcome:<12} "
            f"last step {last:<14} {r.who}"
        )
        if r.outcome == "interrupted":
            out(
                f"  its holder is gone: inv deploy --env {env} --resume {r.run_id}, or "
                f"inv deploy.unlock --env {env} --force --reason '<why>'"
            )


def smoke(report: Any, expected: str, environment: str, as_json: bool) -> None:
    """`deploy.smoke`: each endpoint as a check item; exit 1 when one failed."""
    from adinsights_ops import checks_report as cr
    from runbooks.render._checks import checks

    items = [
        (cr.passed if check.ok else cr.failed)(
            check.path,
            f"GET {check.path}: {check.status} in {check.latency_ms:.0f} ms",
            check.detail,
        )
        for check in report.checks
    ]
    checks(cr.report(f"smoke (expecting {expected})", environment, items), as_json)
