"""Task-definition revisions: plan a new revision (only the image tag changes), register it, prune old ones.

Import these through `adinsights_ops.ecs`; this module only keeps `ecs.py` to one idea.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import OpsError

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


def prune_task_definitions(
    ecs: ECSClient,
    *,
    cluster: str,
    families: Iterable[str],
    services: Sequence[str],
    keep: int = 10,
    protect: Collection[str] = (),
    dry_run: bool = False,
) -> PruneResult:
    """Deregister all but the newest `keep` ACTIVE revisions of each family.

    Never deregisters a revision that a service deployment or a running task uses, nor any in
    `protect` (the journal's rollback targets). With `dry_run`, only says what it would do.
    """
    if keep < 1:
        raise OpsError("keep must be at least 1: the newest revision is never pruned")
    in_use = in_use_task_definitions(ecs, cluster=cluster, services=services) | set(protect)
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
            elif arn in in_use:
                protected.append(arn)
            else:
                if not dry_run:
                    ecs.deregister_task_definition(taskDefinition=arn)
                deregistered.append(arn)
    return PruneResult(tuple(deregistered), tuple(kept), tuple(protected), dry_run)
