"""Task-definition revisions: plan a new revision (only the image tag changes), register it, prune old ones.

Import these through `adinsights_ops.ecs`; this module only keeps `ecs.py` to one idea.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import OpsError, UsageError

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

# What register_task_definition accepts back from describe_task_definition; everything else
# (arn, revision, status, registeredAt, compatibilities, ...) is output only.
REGISTER_KEYS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
)


class NoMatchingContainer(OpsError):
    """A service's task definition runs no image from the repository a rollout would retag."""

    def __init__(self, service: str, task_definition: str, repository: str) -> None:
        super().__init__(
            f"{service}: task definition {short_arn(task_definition)} has no container "
            f"whose image comes from {repository}"
        )
        self.service = service
        self.task_definition = task_definition
        self.repository = repository


@attrs.frozen
class Change:
    """One changed field of a task definition, as diff values."""

    field: str
    old: str
    new: str


@attrs.frozen
class RevisionPlan:
    """What a rollout will register for one service: its current revision plus the image changes."""

    service: str
    current: str
    family: str
    changes: tuple[Change, ...]
    register_input: Mapping[str, Any] = attrs.field(repr=False, eq=False)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def short_arn(arn: str) -> str:
    """`family:revision` from a task-definition ARN (or the input if it is not one)."""
    return arn.rsplit("/", 1)[-1]


def split_image(image: str) -> tuple[str, str | None]:
    """(`registry/repo`, tag) of an image reference; tag is None for digests and untagged images."""
    if "@" in image:
        return image.split("@", 1)[0], None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = image.rsplit(":", 1)
        return name, tag
    return image, None


def repository_of(image: str) -> str:
    """The repository path of an image, without its registry host (`adinsights/backend`)."""
    name, _ = split_image(image)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest
    return name


def retag(image: str, tag: str) -> str:
    name, _ = split_image(image)
    return f"{name}:{tag}"


def plan_revision(
    ecs: ECSClient, *, service: str, task_definition: str, repository: str, image_tag: str
) -> RevisionPlan:
    """Plan a revision of `task_definition` in which the containers of `repository` run `image_tag`.

    Reads only. Everything but those images is carried over as it is, tags included.
    """
    described = ecs.describe_task_definition(taskDefinition=task_definition, include=["TAGS"])
    current: Mapping[str, Any] = described["taskDefinition"]
    register: dict[str, Any] = {k: current[k] for k in REGISTER_KEYS if current.get(k) is not None}
    containers = [dict(c) for c in current["containerDefinitions"]]
    changes: list[Change] = []
    matched = False
    for container in containers:
        image = container.get("image", "")
        if repository_of(image) != repository:
            continue
        matched = True
        new_image = retag(image, image_tag)
        if new_image != image:
            changes.append(
                Change(f"containerDefinitions[{container['name']}].image", image, new_image)
            )
            container["image"] = new_image
    if not matched:
        raise NoMatchingContainer(service, current["taskDefinitionArn"], repository)
    register["containerDefinitions"] = containers
    if described.get("tags"):
        register["tags"] = described["tags"]
    return RevisionPlan(
        service=service,
        current=current["taskDefinitionArn"],
        family=current["family"],
        changes=tuple(changes),
        register_input=register,
    )


def register_revision(ecs: ECSClient, plan: RevisionPlan) -> str:
    """Register the planned revision; the current ARN when nothing changes (idempotent re-runs)."""
    if not plan.changed:
        return plan.current
    response = ecs.register_task_definition(**plan.register_input)
    return response["taskDefinition"]["taskDefinitionArn"]


@attrs.frozen
class PruneResult:
    deregistered: tuple[str, ...]
    kept: tuple[str, ...]
    protected: tuple[str, ...]
    dry_run: bool
    why: Mapping[str, str] = attrs.field(factory=dict)
    """protected revision (family:revision) -> what still references it"""


def _ecs_target(target: Mapping[str, Any] | None) -> str | None:
    parameters = (target or {}).get("EcsParameters") or {}
    arn = parameters.get("TaskDefinitionArn")
    return str(arn) if arn else None


def scheduled_task_definitions(scheduler: Any = None, events: Any = None) -> dict[str, str]:
    """Every task-definition revision an EventBridge Scheduler schedule or an EventBridge rule runs:
    `family:revision` (or a bare family, meaning its newest ACTIVE revision) -> which one runs it.

    Reads only. Schedules of every group and rules of every event bus are looked at.
    """
    found: dict[str, str] = {}
    if scheduler is not None:
        for page in scheduler.get_paginator("list_schedules").paginate():
            for item in page.get("Schedules", []):
                name = item["Name"]
                group = item.get("GroupName") or "default"
                schedule = scheduler.get_schedule(Name=name, GroupName=group)
                arn = _ecs_target(schedule.get("Target"))
                if arn:
                    found.setdefault(short_arn(arn), f"schedule {name}")
    if events is not None:
        buses: list[str] = []
        token: str | None = None
        while True:
            answer = events.list_event_buses(**({"NextToken": token} if token else {}))
            buses.extend(b["Name"] for b in answer.get("EventBuses", []))
            token = answer.get("NextToken")
            if not token:
                break
        for bus in buses or ["default"]:
            for page in events.get_paginator("list_rules").paginate(EventBusName=bus):
                for rule in page.get("Rules", []):
                    targets = events.get_paginator("list_targets_by_rule").paginate(
                        Rule=rule["Name"], EventBusName=bus
                    )
                    for target_page in targets:
                        for target in target_page.get("Targets", []):
                            arn = _ecs_target(target)
                            if arn:
                                found.setdefault(short_arn(arn), f"rule {rule['Name']}")
    return found


def in_use_task_definitions(ecs: ECSClient, *, cluster: str, services: Sequence[str]) -> set[str]:
    """Every revision a service deployment or a running task of the cluster uses."""
    used: set[str] = set()
    for start in range(0, len(services), 10):
        response = ecs.describe_services(
            cluster=cluster, services=list(services[start : start + 10])
        )
        for svc in response["services"]:
            used.add(svc["taskDefinition"])
            used.update(d["taskDefinition"] for d in svc.get("deployments", []))
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, desiredStatus="RUNNING"):
        arns.extend(page["taskArns"])
    for start in range(0, len(arns), 100):
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + 100])["tasks"]
        used.update(t["taskDefinitionArn"] for t in tasks)
    return used


def check_keep(keep: object) -> int:
    """`keep` as a count of revisions to keep per family: a whole number of at least 1."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise UsageError(
            "--keep must be a whole number of at least 1 (the newest revision is never "
            f"pruned), got {keep!r}"
        )
    return keep


def prune_task_definitions(
    ecs: ECSClient,
    *,
    cluster: str,
    families: Iterable[str],
    services: Sequence[str],
    keep: int = 10,
    protect: Collection[str] | Mapping[str, str] = (),
    dry_run: bool = False,
    scheduler: Any = None,
    events: Any = None,
) -> PruneResult:
    """Deregister all but the newest `keep` ACTIVE revisions of each family.

    Never deregisters a revision still referenced: one a service deployment (current, PRIMARY or
    ACTIVE) or a running task uses, one an EventBridge Scheduler schedule or EventBridge rule runs
    (when the `scheduler` / `events` clients are given), nor any in `protect` (the journal's
    rollback targets; a mapping says why). All references are read before anything is
    deregistered. With `dry_run`, only says what it would do.
    """
    check_keep(keep)
    why: dict[str, str] = {}
    for arn in in_use_task_definitions(ecs, cluster=cluster, services=services):
        why.setdefault(short_arn(arn), "a service or a running task uses it")
    for ref, where in scheduled_task_definitions(scheduler, events).items():
        why.setdefault(ref, f"{where} runs it")
    reasons = protect if isinstance(protect, Mapping) else dict.fromkeys(protect, "protected")
    for arn, reason in reasons.items():
        why.setdefault(short_arn(arn), reason)
    deregistered: list[str] = []
    kept: list[str] = []
    protected: list[str] = []
    for family in families:
        arns: list[str] = []
        paginator = ecs.get_paginator("list_task_definitions")
        for page in paginator.paginate(familyPrefix=family, status="ACTIVE", sort="DESC"):
            arns.extend(
                a for a in page["taskDefinitionArns"] if short_arn(a).rsplit(":", 1)[0] == family
            )
        arns.sort(key=lambda a: int(a.rsplit(":", 1)[1]), reverse=True)
        for index, arn in enumerate(arns):
            if index < keep:
                kept.append(arn)
            elif short_arn(arn) in why:
                protected.append(arn)
            else:
                if not dry_run:
                    ecs.deregister_task_definition(taskDefinition=arn)
                deregistered.append(arn)
    return PruneResult(
        tuple(deregistered),
        tuple(kept),
        tuple(protected),
        dry_run,
        {short_arn(a): why[short_arn(a)] for a in protected},
    )
