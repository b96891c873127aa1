"""Named failure scenarios an operator can rehearse in the sandbox (`--scenario NAME`).

This module imports no moto: a command that only talks to a running `inv sandbox.up` checks its
scenario here without loading the server side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from adinsights_ops.config import Environment
from adinsights_ops.errors import UsageError

if TYPE_CHECKING:
    from adinsights_ops.ecs._taskdefs import RevisionPlan


def _names(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


def _codes(codes: Mapping[str, int]) -> dict[str, int]:
    return dict(codes)


@attrs.frozen
class Scenario:
    """What goes wrong in the sandbox (chosen by name elsewhere, e.g. `--scenario`)."""

    name: str = "none"
    failing_services: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    """New (never completed) task-definition revisions of these services keep failing."""
    failing_commands: Mapping[str, int] = attrs.field(factory=dict, converter=_codes, hash=False)
    """Substring of a one-off command (joined by spaces) -> its exit code, e.g. {"migrate": 1}."""


SEEDED_TAGS = ("release-1.2.0", "release-1.3.0", "main-a1b2c3d")
"""The image tags every sandbox's ECR has (blueprint.seed's defaults)."""

DESCRIPTIONS = {
    "none": "everything works",
    "failing-rollout": "the backend's new revision keeps failing its tasks; ECS's circuit breaker trips",
    "failing-migration": "the one-off `manage.py migrate` exits 1 with a Django traceback in its log",
    "failing-smoke": "after the rollout, /api/health/dbt/ answers 503 and /metrics/app is malformed",
    "throttled": "a quarter of AWS calls is answered with ThrottlingException (retries must cope)",
}


def names() -> list[str]:
    return list(DESCRIPTIONS)


def scenario_for(name: str, env: Environment) -> Scenario:
    """The scheduler's Scenario for a name; unknown names are a usage error listing the known ones."""
    if name == "none":
        return Scenario()
    if name == "failing-rollout":
        return Scenario(name=name, failing_services=frozenset({env.ecs.services["backend"].name}))
    if name == "failing-migration":
        return Scenario(name=name, failing_commands={"migrate": 1})
    if name in ("failing-smoke", "throttled"):
        # Not the scheduler's business: the app simulator and the client-side fault hook act.
        return Scenario(name=name)
    raise UsageError(f"unknown sandbox scenario {name!r} (known: {', '.join(DESCRIPTIONS)})")


def check_exercised(name: str, env: Environment, revisions: Sequence[RevisionPlan]) -> None:
    """Refuse a rehearsal that the planned revisions cannot exercise (UsageError, exit 2).

    failing-rollout needs a new backend revision: when the backend already runs the tag, nothing
    is rolled out and the deploy would pass without rehearsing anything. The error names the
    command that would exercise it. The other scenarios always happen (one-off tasks and the smoke
    test run on every deploy; throttling hits any call).
    """
    scenario_for(name, env)
    if name != "failing-rollout":
        return
    backend = env.ecs.services["backend"].name
    plan = next((p for p in revisions if p.service == backend), None)
    if plan is not None and plan.changed:
        return
    running = _image_tag(env, plan) if plan is not None else None
    others = [_given(tag) for tag in SEEDED_TAGS if tag != running]
    on = f" already runs {running}" if running else "'s revision does not change"
    raise UsageError(
        f"--scenario {name} cannot happen: {backend}{on}, so no new revision is rolled out "
        "and the deploy would pass without rehearsing anything; run "
        f"`inv deploy --env {env.name} --scenario {name} --image-tag {others[-1]}` "
        f"(a tag the sandbox's ECR has), or `inv sandbox.reset --env {env.name}` first "
        "to start again from the blueprint's release"
    )


def _image_tag(env: Environment, plan: RevisionPlan) -> str | None:
    """The tag of the backend image in the planned (unchanged) task definition."""
    repository = env.repositories.get(env.ecs.services["backend"].image, "")
    for container in plan.register_input.get("containerDefinitions", []):
        image = str(container.get("image", ""))
        name, _, tag = image.rpartition(":")
        if tag and "/" not in tag and name.endswith(repository):
            return tag
    return None


def _given(tag: str) -> str:
    """`v1.2.0` for `release-1.2.0` (as an operator types it); main tags as they are."""
    return "v" + tag.removeprefix("release-") if tag.startswith("release-") else tag
