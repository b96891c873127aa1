"""ECS results: services' state, a one-off task's exit and log tail, a scale, a prune."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runbooks.render._console import out
from runbooks.render._json import emit_json
from runbooks.render._progress import short_arn


def services(states: Sequence[Any], tags: Mapping[str, str], as_json: bool) -> None:
    """`ecs.status`: each service's revision, image tag, running/desired and rollout state."""
    if as_json:
        emit_json(
            [
                {
                    "service": s.name,
                    "task_definition": s.task_definition,
                    "image_tag": tags[s.name],
                    "running": s.running,
                    "desired": s.desired,
                    "rollout_state": s.rollout_state,
                    "deployments": len(s.deployments),
                }
                for s in states
            ]
        )
        return
    out(f"{'service':<18} {'revision':<32} {'image':<16} {'running':>8}  rollout")
    for s in states:
        out(
            f"{s.name:<18} {short_arn(s.task_definition):<32} {tags[s.name]:<16} "
            f"{s.running:>3}/{s.desired:<4}  {s.rollout_state or '-'}"
            + (f" ({len(s.deployments)} deployments)" if len(s.deployments) > 1 else "")
        )


def task(result: Any, as_json: bool) -> None:
    """A one-off task's exit code and the tail of its log."""
    if as_json:
        emit_json(result)
        return
    out(
        f"task {short_arn(result.task_arn)}: exit code {result.exit_code} "
        f"({result.stop_code or 'no stop code'}) after {result.elapsed:.1f}s"
    )
    if result.log_tail:
        out(f"last {len(result.log_tail)} log lines ({result.log_stream}):")
        for line in result.log_tail:
            out(f"  | {line}")


def scaled(state: Any, as_json: bool) -> None:
    """`ecs.scale`: the service's count once it settled."""
    if as_json:
        emit_json(
            {
                "service": state.name,
                "task_definition": state.task_definition,
                "running": state.running,
                "desired": state.desired,
                "rollout_state": state.rollout_state,
            }
        )
        return
    out(f"{state.name}: {state.running}/{state.desired} running")


def pruned(result: Any, keep: int, dry_run: bool, as_json: bool) -> None:
    """`ecs.prune`: the revisions deregistered (or that would be), kept and protected."""
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "keep": keep,
                "deregistered": list(result.deregistered),
                "kept": list(result.kept),
                "protected": list(result.protected),
            }
        )
        return
    verb = "would deregister" if dry_run else "deregistered"
    for arn in result.deregistered:
        out(f"{verb} {short_arn(arn)}")
    out(
        f"{len(result.deregistered)} {verb}, {len(result.kept)} kept, "
        f"{len(result.protected)} protected (in use)"
    )


def scale_down_plan(environment: str, states: Sequence[Any]) -> list[str]:
    """What `cost.scale-down` will do, from the services as they run now: shown before it asks."""
    return [
        f"plan: scale every service of {environment} to 0 (cost.scale-up brings the counts back)",
        *(f"  {s.name}: {s.desired} -> 0 tasks" for s in states),
    ]
