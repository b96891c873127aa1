"""Output of `inv infra.*`: engine phases, the plan with its destructive changes, the apply."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbooks.render._console import out, say
from runbooks.render._json import emit_json

if TYPE_CHECKING:
    from adinsights_ops.infra import InfraPlan, InfraResult


def phase(event: Any) -> None:
    """An engine's phase (stderr): `-- name: detail`."""
    say(f"-- {event.name}" + (f": {event.detail}" if event.detail else ""))


def plan(found: InfraPlan | None, environment: str, as_json: bool) -> None:
    """The changes, `!` marking those that remove or replace a resource; or JSON. None: no engine."""
    if found is None:
        if as_json:
            emit_json({"engine": None, "changes": [], "no_changes": True})
        else:
            out(f"no infrastructure engine configured for {environment}: nothing to plan")
        return
    if as_json:
        emit_json(found)
    else:
        plan_lines(found, environment)


def plan_lines(found: InfraPlan, environment: str) -> None:
    kind = getattr(found.handle, "change_set_type", "")
    out(
        f"infrastructure plan for {environment}: {found.engine} {found.target}"
        + (f" ({kind} change set)" if kind else "")
    )
    for change in found.changes:
        out(f"  {'!' if change.destructive else ' '} {change.line()}")
    out(found.summary())
    if any(c.destructive for c in found.changes):
        out("! = removes or replaces a resource (data in it may be lost)")


def to_approve(found: InfraPlan, environment: str, as_json: bool) -> None:
    """The plan shown before the question: in full, or one line on stderr under --json."""
    if as_json:
        say(f"{found.engine} {found.target}: {found.summary()}")
    else:
        plan_lines(found, environment)


def applied(result: InfraResult, environment: str, as_json: bool) -> None:
    """What the apply did and the stack's outputs (or JSON)."""
    if result.outcome == "skipped":
        out(f"no infrastructure engine configured for {environment}: nothing to apply")
        return
    if as_json:
        emit_json(result)
        return
    out(result.detail)
    for key, value in sorted(result.outputs.items()):
        out(f"  {key} = {value}")
