"""Output of `inv cost.*`: the bill by line, the budget, scaling, the off-hours schedule, sizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runbooks.render._console import out, out_console, say
from runbooks.render._json import emit_json

if TYPE_CHECKING:
    from adinsights_ops.cost import (
        BudgetResult,
        CostReport,
        RightsizeReport,
        ScaleResult,
        ScheduleResult,
    )


def money(value: Any) -> str:
    return f"{value:,.2f}"


def report(rep: CostReport, format: str) -> None:
    """The month's bill as JSON, CSV (line, service, amount) or the table by runbook line."""
    from adinsights_ops import cost

    if format == "json":
        emit_json(cost.as_dict(rep))
    elif format == "csv":
        _csv(cost.as_rows(rep))
    else:
        _report_table(rep)


def _csv(rows: list[dict[str, Any]]) -> None:
    import csv

    writer = csv.DictWriter(
        out_console().file, fieldnames=["line", "service", "amount"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)


def _report_table(rep: CostReport) -> None:
    from datetime import timedelta

    span = f"{rep.start} to {rep.end - timedelta(days=1)}"
    kind = "month to date" if rep.month_to_date else "whole month"
    estimated = ", estimated" if rep.estimated else ""
    out(f"{rep.environment}: AWS cost {rep.month} ({kind}: {span}{estimated}), {rep.currency}")
    total = rep.total
    for line in rep.lines:
        share = f"{line.amount / total * 100:5.1f}%" if total else "    -"
        out(f"  {line.name:<22} {money(line.amount):>12}  {share}")
    out(f"  {'total':<22} {money(total):>12}")
    if rep.unmapped:
        listed = ", ".join(f"{s.service} {money(s.amount)}" for s in rep.unmapped)
        out(f"other is made of services the runbook's lines do not name: {listed}")
    if not total:
        say("Cost Explorer returned nothing for this period (is Cost Explorer enabled?)")


def budget(
    result: BudgetResult,
    *,
    recipients: Sequence[str],
    dry_run: bool,
    as_json: bool,
) -> None:
    """The budget, its alerts and who gets them, what changed (or would), and the spend."""
    from adinsights_ops import cost

    if as_json:
        emit_json(result)
        return
    alerts = ", ".join(f"{kind} > {threshold:g}%" for kind, threshold in cost.THRESHOLDS)
    to = ", ".join(recipients)
    out(
        f"budget {result.name}: {money(result.amount)} {result.currency}/month; "
        f"alerts {alerts} to {to}"
    )
    verb = "would " if dry_run else ""
    if result.unchanged:
        out("  already as configured: nothing to do")
    for change in result.changes:
        out(f"  {verb}{change.detail}")
    for extra in result.extra_notifications:
        out(f"  left alone: an alert this task does not manage ({extra})")
    if result.actual_spend is not None:
        share = result.spent_share
        forecast = (
            f", forecast {money(result.forecasted_spend)}"
            if result.forecasted_spend is not None
            else ""
        )
        out(
            f"spend this month: {money(result.actual_spend)} {result.currency}"
            + (f" ({share:.1f}% of the limit)" if share is not None else "")
            + forecast
        )


def scaling(cluster: str, direction: str) -> None:
    """The line before a scale-down or scale-up starts (stderr)."""
    if direction == "down":
        say(f"scaling {cluster} down to 0 (waits for each service)")
    else:
        say(f"scaling {cluster} back up (waits for each service)")


def scaled(result: ScaleResult, as_json: bool) -> None:
    """Each service's count before and after; what was remembered, or that it was restored."""
    if as_json:
        emit_json(result)
        return
    for s in result.services:
        what = f"{s.before} -> {s.after}" if s.changed else f"already {s.after}"
        out(f"  {s.service:<18} {what}")
    for note in result.notes:
        out(f"  note: {note}")
    if result.direction == "down":
        counts = ", ".join(f"{k}={v}" for k, v in result.remembered.items()) or "nothing"
        kept = " (kept from an earlier scale-down)" if result.kept_remembered else ""
        out(f"remembered in {result.parameter}: {counts}{kept}")
        out(f"bring it back with: inv cost.scale-up --env {result.environment}")
    else:
        out(f"restored; {result.parameter} deleted")


def schedule(result: ScheduleResult, *, remove: bool, dry_run: bool, as_json: bool) -> None:
    """The off-hours crons and the counts restored; each change made (or that would be)."""
    if as_json:
        emit_json(result)
        return
    verb = "would " if dry_run else ""
    if not remove:
        out(
            f"off-hours for {result.environment}: down {result.down}, up {result.up}, "
            f"in {result.timezone}"
        )
        counts = ", ".join(f"{k}={v}" for k, v in result.counts.items())
        out(f"  up restores: {counts}")
    for change in result.changes:
        out(f"  {verb}{change.detail}")
    for name in result.unchanged:
        out(f"  unchanged: {name}")
    if not result.changes:
        out("  nothing to do" + ("" if not remove else ": no off-hours actions exist"))


def rightsize(rep: RightsizeReport, as_json: bool) -> None:
    """Each service's size, CPU and memory use (average/maximum) and the suggestion."""
    if as_json:
        emit_json(rep)
        return
    out(
        f"{rep.environment}: utilisation over {rep.days} days "
        f"({rep.start:%Y-%m-%d} to {rep.end:%Y-%m-%d})"
    )
    out(
        f"  {'service':<18} {'cpu/MiB':<10} {'CPU avg/max':<12} {'mem avg/max':<12} "
        f"{'suggestion':<24} suggested"
    )
    for s in rep.services:
        size = f"{s.cpu or '?'}/{s.memory or '?'}"
        suggested = (
            f"{s.suggested_cpu}/{s.suggested_memory}"
            if s.action not in ("keep", "not available")
            else "-"
        )
        out(
            f"  {s.service:<18} {size:<10} {_pct(s.cpu_use):<12} {_pct(s.memory_use):<12} "
            f"{s.action:<24} {suggested}"
        )
    for s in rep.services:
        for why in [s.reason] if not s.cpu_use.available or not s.memory_use.available else []:
            out(f"  {s.service}: {why}")
        for note in s.notes:
            out(f"  {s.service}: {note}")


def _pct(use: Any) -> str:
    if not use.available:
        return "n/a"
    return f"{use.average:.0f}%/{use.maximum:.0f}%"
