"""RDS snapshots and restores (runbook 2.2 manual snapshots, 5 pre-deploy snapshot, 6 database rollback).

A snapshot is named from a label (sanitised to RDS's rules), tagged, and waited for; taking it again
returns the existing one. Pruning keeps the newest K `pre-deploy-` snapshots and anything younger
than N days, and never touches automated snapshots or the newest one. A restore never overwrites:
the snapshot becomes a new instance `<instance>-restore-<time>`, then the names are swapped
(`<instance>` -> `<instance>-old-<time>`, the restored one -> `<instance>`), each rename waited for.
RDS refuses to rename onto a taken name but moto silently deletes the holder, so every target name is
checked first; and when a swap stops half-way, the error says which instance has which name now.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.ecs._views import Phase
from adinsights_ops.errors import NeedsHuman, OpsError, UsageError
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock, check_timeout, wait_until

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


TAG_ENVIRONMENT = "adinsights:environment"
TAG_RELEASE = "adinsights:release"
TAG_RUN_ID = "adinsights:run-id"
TAG_CREATED_BY = "adinsights:created-by"
TAG_RESTORED_FROM = "adinsights:restored-from"
KINDS = ("manual", "automated", "all")
MAX_SNAPSHOT_ID = 255
MAX_INSTANCE_ID = 63
RDS_POLL: Backoff = Backoff(initial=5.0, factor=1.5, maximum=30.0, jitter=0.2)
SNAPSHOT_FAILED = frozenset({"failed", "deleting", "deleted"})
INSTANCE_FAILED = frozenset({"failed", "incompatible-restore", "incompatible-parameters"})

OnPhase = Callable[[Phase], None]


@attrs.frozen
class Snapshot:
    """One DB snapshot as RDS describes it."""

    id: str
    instance: str
    created: datetime | None
    size_gb: int
    status: str
    tags: Mapping[str, str] = attrs.field(factory=dict)
    kind: str = "manual"  # manual | automated (RDS's SnapshotType)
    arn: str = ""

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> Snapshot:
        return cls(
            id=d["DBSnapshotIdentifier"],
            instance=d.get("DBInstanceIdentifier", ""),
            created=d.get("SnapshotCreateTime"),
            size_gb=int(d.get("AllocatedStorage", 0)),
            status=d.get("Status", ""),
            tags={t["Key"]: t["Value"] for t in d.get("TagList", [])},
            kind=d.get("SnapshotType", "manual"),
            arn=d.get("DBSnapshotArn", ""),
        )


@attrs.frozen
class Kept:
    """A snapshot that pruning left alone, and why."""

    snapshot: Snapshot
    reason: str


@attrs.frozen
class Prune:
    """What pruning deleted (or, in a dry run, would delete) and what it kept."""

    deleted: tuple[Snapshot, ...]
    kept: tuple[Kept, ...]
    dry_run: bool


@attrs.frozen
class Restore:
    """A finished restore: `instance` is now the snapshot's data; the original is `old_instance`."""

    instance: str
    snapshot: Snapshot
    old_instance: str
    restored_identity: str  # DbiResourceId and creation time (see _identity)
    previous_identity: str
    data_loss_window: timedelta  # snapshot time -> restore time: writes in it are not in `instance`
    elapsed: float


class InstanceNotFound(OpsError):
    def __init__(self, instance: str) -> None:
        super().__init__(f"no RDS instance named {instance}")
        self.instance = instance


class SnapshotNotFound(OpsError):
    def __init__(self, snapshot_id: str) -> None:
        super().__init__(f"no RDS snapshot named {snapshot_id}")
        self.snapshot_id = snapshot_id


class SnapshotFailed(OpsError):
    def __init__(self, snapshot_id: str, status: str) -> None:
        super().__init__(f"snapshot {snapshot_id} is {status}: it cannot become available")
        self.snapshot_id = snapshot_id
        self.status = status


class NameTaken(OpsError):
    """A restore would rename onto a name another instance has: refused before that rename."""

    def __init__(self, name: str, state: str) -> None:
        super().__init__(
            f"an RDS instance named {name} already exists; refusing to rename onto it. {state}"
        )
        self.name = name
        self.state = state


class RestoreIncomplete(NeedsHuman):
    """The swap stopped half-way; `names` says which instance has which name now."""

    def __init__(self, step: str, cause: BaseException, names: Sequence[str]) -> None:
        super().__init__(
            f"restore stopped while {step}: {cause or type(cause).__name__}", details=names
        )
        self.step = step
        self.names = list(names)


def snapshot_id(label: str) -> str:
    """An RDS snapshot identifier from a label: lowercase letters, digits and single hyphens,
    starting with a letter, at most 255 characters, no trailing hyphen."""
    text = re.sub(r"[^a-z0-9]+", "-", label.strip().lower()).strip("-")
    if not text:
        raise UsageError(f"snapshot label {label!r} has no letters or digits")
    if not text[0].isalpha():
        text = f"snapshot-{text}"
    return text[:MAX_SNAPSHOT_ID].rstrip("-")


def find_snapshot(rds: RDSClient, ident: str) -> Snapshot | None:
    """The snapshot named `ident`, or None."""
    try:
        found = rds.describe_db_snapshots(DBSnapshotIdentifier=ident)["DBSnapshots"]
    except rds.exceptions.DBSnapshotNotFoundFault:
        return None
    return Snapshot.from_api(found[0]) if found else None


def _wait_snapshot(
    rds: RDSClient, ident: str, timeout: float, clock: Clock, backoff: Backoff
) -> Snapshot:
    def poll() -> Snapshot:
        found = find_snapshot(rds, ident)
        if found is None:
            raise SnapshotNotFound(ident)
        return found

    def failure(s: Snapshot) -> str | None:
        return f"status {s.status}" if s.status in SNAPSHOT_FAILED else None

    try:
        return wait_until(
            poll,
            what=f"snapshot {ident} to be available",
            success=lambda s: s.status == "available",
            failure=failure,
            timeout=timeout,
            backoff=backoff,
            clock=clock,
        )
    except OpsError as exc:
        last = getattr(exc, "last_state", None)
        if isinstance(last, Snapshot) and last.status in SNAPSHOT_FAILED:
            raise SnapshotFailed(ident, last.status) from exc
        raise


def snapshot(
    rds: RDSClient,
    *,
    instance: str,
    label: str,
    tags: Mapping[str, str] | None = None,
    timeout: float = 1800.0,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = RDS_POLL,
) -> Snapshot:
    """Take a manual snapshot of `instance` named from `label`, tagged, and wait until available.

    A snapshot of that name that already exists (a re-run) is waited for and returned.
    """
    timeout = check_timeout(timeout)
    if not str(label).strip():
        raise UsageError("snapshot label is empty: give one, e.g. pre-deploy-v1.4.0")
    ident = snapshot_id(label)
    existing = find_snapshot(rds, ident)
    if existing is None:
        try:
            rds.create_db_snapshot(
                DBInstanceIdentifier=instance,
                DBSnapshotIdentifier=ident,
                Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
            )
        except rds.exceptions.DBInstanceNotFoundFault:
            raise InstanceNotFound(instance) from None
        except rds.exceptions.DBSnapshotAlreadyExistsFault:
            existing = find_snapshot(rds, ident)  # made by a run racing this one
    if existing is not None and existing.instance != instance:
        raise OpsError(f"snapshot {ident} exists but is of {existing.instance}, not {instance}")
    return _wait_snapshot(rds, ident, timeout, clock, backoff)


def list_snapshots(rds: RDSClient, *, instance: str, kind: str = "all") -> list[Snapshot]:
    """The snapshots of `instance` (manual, automated or all), newest first."""
    if kind not in KINDS:
        raise UsageError(f"snapshot kind must be one of {', '.join(KINDS)}, got {kind!r}")
    kwargs: dict[str, Any] = {"DBInstanceIdentifier": instance}
    if kind != "all":
        kwargs["SnapshotType"] = kind
    found: list[Snapshot] = []
    for page in rds.get_paginator("describe_db_snapshots").paginate(**kwargs):
        found.extend(Snapshot.from_api(s) for s in page["DBSnapshots"])
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda s: s.created or oldest, reverse=True)


def latest_snapshot(rds: RDSClient, *, instance: str, kind: str = "manual") -> Snapshot | None:
    """The newest available snapshot of `instance` of that kind, or None."""
    return next(
        (s for s in list_snapshots(rds, instance=instance, kind=kind) if s.status == "available"),
        None,
    )


def prune_snapshots(
    rds: RDSClient,
    *,
    instance: str,
    keep: int = 5,
    younger_than_days: float = 14,
    prefix: str = "pre-deploy-",
    dry_run: bool = False,
    now: datetime | None = None,
) -> Prune:
    """Delete old `prefix` snapshots of `instance`: the newest `keep` of them stay, and so does any
    younger than `younger_than_days`. Automated snapshots, other manual ones, snapshots that are
    not available and the newest `prefix` snapshot are never deleted."""
    if keep < 0 or younger_than_days < 0:
        raise UsageError("keep and younger_than_days must be 0 or more")
    at = now or datetime.now(UTC)
    cutoff = at - timedelta(days=younger_than_days)
    kept: list[Kept] = []
    candidates: list[Snapshot] = []
    for snap in list_snapshots(rds, instance=instance, kind="all"):
        if snap.kind != "manual":
            kept.append(Kept(snap, f"{snap.kind} (RDS expires these itself)"))
        elif not snap.id.startswith(prefix):
            kept.append(Kept(snap, f"not a {prefix}* snapshot"))
        elif snap.status != "available":
            kept.append(Kept(snap, f"status {snap.status}"))
        else:
            candidates.append(snap)  # newest first
    deleted: list[Snapshot] = []
    for index, snap in enumerate(candidates):
        if index == 0:
            kept.append(Kept(snap, "the newest"))
        elif index < keep:
            kept.append(Kept(snap, f"among the newest {keep}"))
        elif snap.created is None or snap.created > cutoff:
            kept.append(Kept(snap, f"younger than {younger_than_days:g} days"))
        elif dry_run:
            deleted.append(snap)
        else:
            try:
                rds.delete_db_snapshot(DBSnapshotIdentifier=snap.id)
            except rds.exceptions.InvalidDBSnapshotStateFault as exc:
                kept.append(Kept(snap, f"RDS refused to delete it: {exc}"))
                continue
            deleted.append(snap)
    return Prune(tuple(deleted), tuple(kept), dry_run)
