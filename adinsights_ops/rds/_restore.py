"""Restoring a snapshot under the instance's own name (runbook §6): restore, wait, swap by rename.

Import it through `adinsights_ops.rds`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from adinsights_ops.ecs._views import Phase
from adinsights_ops.errors import UsageError
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock, check_timeout, wait_until

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

from adinsights_ops.rds._snapshots import (
    INSTANCE_FAILED,
    MAX_INSTANCE_ID,
    RDS_POLL,
    TAG_RESTORED_FROM,
    InstanceNotFound,
    NameTaken,
    OnPhase,
    Restore,
    RestoreIncomplete,
    SnapshotFailed,
    SnapshotNotFound,
    find_snapshot,
)


def _instance(rds: RDSClient, name: str) -> Mapping[str, Any] | None:
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"]
    except rds.exceptions.DBInstanceNotFoundFault:
        return None
    return found[0] if found else None


def _restore_options(rds: RDSClient, original: Mapping[str, Any], snap: str) -> dict[str, Any]:
    """Restore settings copied from the original, so the new instance sits where it sat."""
    options: dict[str, Any] = {
        "DBInstanceClass": original["DBInstanceClass"],
        "MultiAZ": bool(original.get("MultiAZ", False)),
        "VpcSecurityGroupIds": [
            g["VpcSecurityGroupId"] for g in original.get("VpcSecurityGroups", [])
        ],
        "PubliclyAccessible": bool(original.get("PubliclyAccessible", False)),
        "CopyTagsToSnapshot": bool(original.get("CopyTagsToSnapshot", False)),
        "DeletionProtection": bool(original.get("DeletionProtection", False)),
    }
    subnet_group = (original.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
    if subnet_group:
        options["DBSubnetGroupName"] = subnet_group
    if original.get("StorageType"):
        options["StorageType"] = original["StorageType"]
    groups = [g["DBParameterGroupName"] for g in original.get("DBParameterGroups", [])]
    if groups and not groups[0].startswith("default."):
        options["DBParameterGroupName"] = groups[0]
    tags = rds.list_tags_for_resource(ResourceName=original["DBInstanceArn"])["TagList"]
    options["Tags"] = [t for t in tags if t["Key"] != TAG_RESTORED_FROM] + [
        {"Key": TAG_RESTORED_FROM, "Value": snap}
    ]
    return options


def _wait_instance(
    rds: RDSClient,
    name: str,
    *,
    identity: str | None,
    what: str,
    timeout: float,
    clock: Clock,
    backoff: Backoff,
) -> Mapping[str, Any]:
    """Wait until `name` is available (and, when given, is the instance with that `identity`)."""

    def poll() -> Mapping[str, Any]:
        return _instance(rds, name) or {}

    def success(d: Mapping[str, Any]) -> bool:
        right = identity is None or (bool(d) and _identity(d) == identity)
        return right and d.get("DBInstanceStatus") == "available"

    def failure(d: Mapping[str, Any]) -> str | None:
        status = d.get("DBInstanceStatus", "")
        return f"status {status}" if status in INSTANCE_FAILED else None

    return wait_until(
        poll,
        what=what,
        success=success,
        failure=failure,
        timeout=timeout,
        backoff=backoff,
        clock=clock,
    )


def _identity(d: Mapping[str, Any]) -> str:
    """Which instance this is, whatever its name: its resource id and creation time (moto gives
    every instance the same DbiResourceId, so the id alone cannot tell two apart there)."""
    created = d.get("InstanceCreateTime")
    when = created.strftime("%Y-%m-%dT%H:%M:%S.%f") if isinstance(created, datetime) else "?"
    return f"{d.get('DbiResourceId', '?')} created {when}"


def _whereabouts(rds: RDSClient, names: Sequence[str], who: Mapping[str, str]) -> list[str]:
    """Which instance (by resource id, as `who` calls them) holds each of `names`, one line each."""
    lines = []
    for name in names:
        try:
            found = _instance(rds, name)
        except Exception as exc:  # reporting must not hide the error being reported
            lines.append(f"{name}: unknown (describe failed: {type(exc).__name__})")
            continue
        if found is None:
            lines.append(f"{name}: no instance has this name")
        else:
            whose = who.get(_identity(found), "another instance")
            lines.append(
                f"{name}: the {whose} ({_identity(found)}, {found.get('DBInstanceStatus')})"
            )
    return lines


def _rename(
    rds: RDSClient,
    name: str,
    new: str,
    *,
    identity: str,
    timeout: float,
    clock: Clock,
    backoff: Backoff,
) -> None:
    """Rename instance `name` to `new` and wait until `new` is that instance, available."""
    rds.modify_db_instance(
        DBInstanceIdentifier=name, NewDBInstanceIdentifier=new, ApplyImmediately=True
    )
    what = f"{name} to be renamed {new}"
    _wait_instance(
        rds, new, identity=identity, what=what, timeout=timeout, clock=clock, backoff=backoff
    )


def _refuse_taken(rds: RDSClient, names: Sequence[str], state: str) -> None:
    for name in names:
        if _instance(rds, name) is not None:
            raise NameTaken(name, state)


def restore(
    rds: RDSClient,
    *,
    snapshot_id: str,
    instance: str,
    timeout: float = 3600.0,
    rename_timeout: float = 900.0,
    clock: Clock = SYSTEM_CLOCK,
    now: datetime | None = None,
    backoff: Backoff = RDS_POLL,
    on_event: OnPhase | None = None,
) -> Restore:
    """Restore `snapshot_id` as a new instance and swap it in under the name `instance`.

    The original is kept, renamed `<instance>-old-<time>`. Refuses (NameTaken, nothing renamed)
    when an instance already has a target name; raises RestoreIncomplete (exit 4) with the name of
    every instance when the swap stops half-way.
    """
    timeout = check_timeout(timeout)
    rename_timeout = check_timeout(rename_timeout, name="rename timeout")
    if not snapshot_id or snapshot_id != snapshot_id.strip():
        raise UsageError(f"snapshot id {snapshot_id!r} is empty or has surrounding spaces")
    started = clock.monotonic()
    at = now or datetime.now(UTC)
    stamp = at.strftime("%Y%m%d%H%M%S")
    temp, old = f"{instance}-restore-{stamp}", f"{instance}-old-{stamp}"
    if len(temp) > MAX_INSTANCE_ID:
        raise UsageError(f"{temp} is longer than the {MAX_INSTANCE_ID} characters RDS allows")

    def phase(name: str, detail: str) -> None:
        if on_event is not None:
            on_event(Phase(name, detail))

    snap = find_snapshot(rds, snapshot_id)
    if snap is None:
        raise SnapshotNotFound(snapshot_id)
    if snap.status != "available":
        raise SnapshotFailed(snapshot_id, snap.status)
    original = _instance(rds, instance)
    if original is None:
        raise InstanceNotFound(instance)
    original_id = _identity(original)
    _refuse_taken(rds, (temp, old), "Nothing was changed.")
    phase("restoring", f"{snapshot_id} -> {temp}")
    rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=temp,
        DBSnapshotIdentifier=snapshot_id,
        **_restore_options(rds, original, snapshot_id),
    )
    restored = _wait_instance(
        rds,
        temp,
        identity=None,
        what=f"restored instance {temp} to be available",
        timeout=timeout,
        clock=clock,
        backoff=backoff,
    )
    restored_id = _identity(restored)
    _refuse_taken(
        rds, (old,), f"Nothing was renamed: {instance} is untouched; the restored copy is {temp}."
    )
    who = {original_id: "original instance", restored_id: "restored instance"}
    rename = functools.partial(_rename, rds, timeout=rename_timeout, clock=clock, backoff=backoff)
    step = f"renaming {instance} to {old}"
    try:
        phase("renaming", f"{instance} -> {old}")
        rename(instance, old, identity=original_id)
        step = f"renaming {temp} to {instance}"
        _refuse_taken(rds, (instance,), f"The original is now {old}; the restored copy is {temp}.")
        phase("renaming", f"{temp} -> {instance}")
        rename(temp, instance, identity=restored_id)
    except (Exception, KeyboardInterrupt) as exc:
        raise RestoreIncomplete(step, exc, _whereabouts(rds, (instance, old, temp), who)) from exc
    return Restore(
        instance=instance,
        snapshot=snap,
        old_instance=old,
        restored_identity=restored_id,
        previous_identity=original_id,
        data_loss_window=at - snap.created if snap.created else timedelta(0),
        elapsed=clock.monotonic() - started,
    )
