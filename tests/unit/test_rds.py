"""RDS snapshots, pruning and restore-by-rename on the seeded sandbox, checked through boto3."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from moto.rds.models import rds_backends

from adinsights_ops import rds
from adinsights_ops.errors import EXIT_NEEDS_HUMAN, OpsError, UsageError, WaitTimedOut
from tests.simulated import Simulated

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

NOW = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
STAMP = "20310504030201"


def client(sim: Simulated) -> Any:
    return sim.client("rds")


def instance_names(sim: Simulated) -> set[str]:
    return {i["DBInstanceIdentifier"] for i in client(sim).describe_db_instances()["DBInstances"]}


def describe(sim: Simulated, name: str) -> dict[str, Any]:
    found: dict[str, Any] = client(sim).describe_db_instances(DBInstanceIdentifier=name)[
        "DBInstances"
    ][0]
    return found


def take(sim: Simulated, label: str, age_days: float = 0.0) -> rds.Snapshot:
    snap = rds.snapshot(client(sim), instance=sim.env.rds_instance, label=label, clock=sim.clock)
    if age_days:
        stored = rds_backends[sim.env.account][sim.env.region].database_snapshots[snap.id]
        stored.created = stored.created - timedelta(days=age_days)
    return snap


def ids(snapshots: Any) -> list[str]:
    return [getattr(s, "snapshot", s).id for s in snapshots]


# -- snapshot ---------------------------------------------------------------------------------------


def test_snapshot_is_named_tagged_and_available(sim: Simulated) -> None:
    tags = {rds.TAG_ENVIRONMENT: "sandbox", rds.TAG_RELEASE: "v1.3.0", rds.TAG_RUN_ID: "run-1"}
    snap = rds.snapshot(
        client(sim),
        instance=sim.env.rds_instance,
        label="Pre-Deploy sandbox v1.3.0 @ 05:12Z",
        tags=tags,
        clock=sim.clock,
    )
    assert snap.id == "pre-deploy-sandbox-v1-3-0-05-12z"
    assert (snap.instance, snap.status, snap.kind, snap.size_gb) == (
        "adinsights-sandbox",
        "available",
        "manual",
        100,
    )
    stored = client(sim).list_tags_for_resource(ResourceName=snap.arn)["TagList"]
    assert {t["Key"]: t["Value"] for t in stored} == tags
    assert snap.tags == tags


def test_snapshot_again_returns_the_existing_one(sim: Simulated) -> None:
    first = take(sim, "pre-deploy-sandbox-v1")
    again = take(sim, "pre-deploy-sandbox-v1")
    assert again == first
    assert sim.calls["CreateDBSnapshot"] == 1
    manual = rds.list_snapshots(client(sim), instance=sim.env.rds_instance, kind="manual")
    assert ids(manual) == ["pre-deploy-sandbox-v1"]


def test_snapshot_of_another_instance_with_that_name_is_refused(sim: Simulated) -> None:
    take(sim, "shared-name")
    with pytest.raises(OpsError, match="is of adinsights-sandbox, not other-db"):
        rds.snapshot(client(sim), instance="other-db", label="shared-name", clock=sim.clock)


def test_snapshot_of_a_missing_instance(sim: Simulated) -> None:
    with pytest.raises(rds.InstanceNotFound, match="no RDS instance named nope"):
        rds.snapshot(client(sim), instance="nope", label="x", clock=sim.clock)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("manual-sandbox-20261126-051200", "manual-sandbox-20261126-051200"),
        ("1.3.0", "snapshot-1-3-0"),
        ("a--b__c..", "a-b-c"),
        ("-Ünïcode release-", "n-code-release"),
        ("x" * 300 + "-", "x" * 255),
        ("a" * 254 + "-b", "a" * 254),
    ],
)
def test_snapshot_ids_follow_rds_rules(label: str, expected: str) -> None:
    ident = rds.snapshot_id(label)
    assert ident == expected
    assert len(ident) <= 255 and ident[0].isalpha() and "--" not in ident
    assert not ident.endswith("-")


def test_a_label_without_letters_or_digits_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        rds.snapshot_id("--- !!")


class SlowSnapshots:
    """An RDS client whose new snapshots report `statuses` before what RDS says (moto is instant)."""

    def __init__(self, real: Any, statuses: list[str]) -> None:
        self.real, self.statuses = real, statuses
        self.exceptions = real.exceptions

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def describe_db_snapshots(self, **kwargs: Any) -> Mapping[str, Any]:
        answer: Mapping[str, Any] = self.real.describe_db_snapshots(**kwargs)
        if self.statuses and answer["DBSnapshots"]:
            answer["DBSnapshots"][0]["Status"] = self.statuses.pop(0)
        return answer


def slow_snapshots(real: Any, statuses: list[str]) -> RDSClient:
    """A SlowSnapshots where the library takes an RDS client (it answers the calls it makes)."""
    return cast("RDSClient", SlowSnapshots(real, statuses))


def test_snapshot_waits_until_available(sim: Simulated) -> None:
    slow = slow_snapshots(client(sim), ["creating", "creating", "creating"])
    before = sim.clock.now
    snap = rds.snapshot(slow, instance=sim.env.rds_instance, label="slow", clock=sim.clock)
    assert snap.status == "available"
    assert len(sim.clock.slept) == 3 and sim.clock.now > before


def test_snapshot_that_fails_or_never_finishes(sim: Simulated) -> None:
    failing = slow_snapshots(client(sim), ["creating", "failed"])
    with pytest.raises(rds.SnapshotFailed, match="is failed"):
        rds.snapshot(failing, instance=sim.env.rds_instance, label="bad", clock=sim.clock)
    stuck = slow_snapshots(client(sim), ["creating"] * 100)
    with pytest.raises(WaitTimedOut) as raised:
        rds.snapshot(
            stuck,
            instance=sim.env.rds_instance,
            label="stuck",
            timeout=60,
            clock=sim.clock,
        )
    last = raised.value.last_state
    assert isinstance(last, rds.Snapshot) and last.status == "creating"


def test_latest_snapshot_by_kind(sim: Simulated) -> None:
    assert rds.latest_snapshot(client(sim), instance=sim.env.rds_instance) is None
    take(sim, "pre-deploy-old", age_days=3)
    take(sim, "pre-deploy-new", age_days=1)
    latest = rds.latest_snapshot(client(sim), instance=sim.env.rds_instance)
    assert latest is not None and latest.id == "pre-deploy-new"
    automated = rds.latest_snapshot(client(sim), instance=sim.env.rds_instance, kind="automated")
    assert automated is not None and automated.kind == "automated"
    assert automated.id.startswith("rds:")
    with pytest.raises(UsageError):
        rds.latest_snapshot(client(sim), instance=sim.env.rds_instance, kind="weekly")


# -- prune ------------------------------------------------------------------------------------------


def seed_for_pruning(sim: Simulated) -> str:
    """pre-deploy-1..7 aged 40, 35, 30, 12, 10, 5, 1 days, an old manual one, an old automated one."""
    for n, age in enumerate([40, 35, 30, 12, 10, 5, 1], start=1):
        take(sim, f"pre-deploy-{n}", age_days=age)
    take(sim, "manual-by-hand", age_days=100)
    automated = rds.latest_snapshot(client(sim), instance=sim.env.rds_instance, kind="automated")
    assert automated is not None
    stored = rds_backends[sim.env.account][sim.env.region].database_snapshots[automated.id]
    stored.created = stored.created - timedelta(days=100)
    return automated.id


def existing(sim: Simulated) -> set[str]:
    return set(ids(rds.list_snapshots(client(sim), instance=sim.env.rds_instance)))


def test_prune_keeps_k_newest_and_young_ones_and_never_automated(sim: Simulated) -> None:
    automated = seed_for_pruning(sim)
    before = existing(sim)

    plan = rds.prune_snapshots(
        client(sim), instance=sim.env.rds_instance, keep=2, younger_than_days=14, dry_run=True
    )
    assert ids(plan.deleted) == ["pre-deploy-3", "pre-deploy-2", "pre-deploy-1"]
    assert existing(sim) == before  # a dry run deletes nothing
    assert sim.calls["DeleteDBSnapshot"] == 0

    done = rds.prune_snapshots(
        client(sim), instance=sim.env.rds_instance, keep=2, younger_than_days=14
    )
    assert ids(done.deleted) == ids(plan.deleted)
    assert existing(sim) == before - {"pre-deploy-1", "pre-deploy-2", "pre-deploy-3"}
    reasons = {k.snapshot.id: k.reason for k in done.kept}
    assert reasons["pre-deploy-7"] == "the newest"
    assert reasons["pre-deploy-6"] == "among the newest 2"
    assert reasons["pre-deploy-5"] == reasons["pre-deploy-4"] == "younger than 14 days"
    assert reasons["manual-by-hand"] == "not a pre-deploy-* snapshot"
    assert reasons[automated].startswith("automated")


def test_prune_never_deletes_the_newest(sim: Simulated) -> None:
    seed_for_pruning(sim)
    result = rds.prune_snapshots(
        client(sim), instance=sim.env.rds_instance, keep=0, younger_than_days=0
    )
    assert "pre-deploy-7" not in ids(result.deleted)
    assert {s for s in existing(sim) if s.startswith("pre-deploy-")} == {"pre-deploy-7"}


def test_prune_takes_now_from_the_caller(sim: Simulated) -> None:
    seed_for_pruning(sim)
    result = rds.prune_snapshots(
        client(sim),
        instance=sim.env.rds_instance,
        keep=1,
        younger_than_days=14,
        dry_run=True,
        now=datetime.now(UTC) - timedelta(days=60),  # everything is "younger" then
    )
    assert result.deleted == ()


def test_prune_refuses_negative_numbers(sim: Simulated) -> None:
    with pytest.raises(UsageError):
        rds.prune_snapshots(client(sim), instance=sim.env.rds_instance, keep=-1)


# -- restore ----------------------------------------------------------------------------------------


def test_restore_swaps_the_restored_copy_in_under_the_name(sim: Simulated) -> None:
    name = sim.env.rds_instance
    before = describe(sim, name)
    snap = take(sim, "pre-deploy-before-restore")
    phases: list[str] = []

    result = rds.restore(
        client(sim),
        snapshot_id=snap.id,
        instance=name,
        clock=sim.clock,
        now=NOW,
        on_event=lambda p: phases.append(f"{p.name}: {p.detail}"),
    )

    assert result.old_instance == f"{name}-old-{STAMP}"
    assert instance_names(sim) == {name, f"{name}-old-{STAMP}"}
    now_named = describe(sim, name)
    assert now_named["InstanceCreateTime"] > before["InstanceCreateTime"]  # the restored copy
    old = describe(sim, result.old_instance)
    assert old["InstanceCreateTime"] == before["InstanceCreateTime"]
    assert result.previous_identity.endswith(f"{before['InstanceCreateTime']:%Y-%m-%dT%H:%M:%S.%f}")
    assert result.restored_identity != result.previous_identity
    for field in ("DBInstanceClass", "MultiAZ", "VpcSecurityGroups"):
        assert now_named[field] == before[field], field
    assert now_named["DBSubnetGroup"]["DBSubnetGroupName"] == "adinsights-sandbox-db"
    tags = client(sim).list_tags_for_resource(ResourceName=now_named["DBInstanceArn"])["TagList"]
    assert {"Key": "adinsights:restored-from", "Value": snap.id} in tags
    assert snap.created is not None
    assert result.data_loss_window == NOW - snap.created
    assert phases == [
        f"restoring: {snap.id} -> {name}-restore-{STAMP}",
        f"renaming: {name} -> {name}-old-{STAMP}",
        f"renaming: {name}-restore-{STAMP} -> {name}",
    ]


def make_instance(sim: Simulated, name: str) -> None:
    other = boto3.client("rds", region_name=sim.env.region)
    other.create_db_instance(
        DBInstanceIdentifier=name,
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20,
        MasterUsername="squatter",
        MasterUserPassword="not-a-secret-123",
    )


def test_restore_refuses_when_a_target_name_is_taken_and_renames_nothing(sim: Simulated) -> None:
    name = sim.env.rds_instance
    snap = take(sim, "pre-deploy-x")
    make_instance(sim, f"{name}-old-{STAMP}")
    original = describe(sim, name)["InstanceCreateTime"]

    with pytest.raises(rds.NameTaken, match=f"{name}-old-{STAMP} already exists"):
        rds.restore(client(sim), snapshot_id=snap.id, instance=name, clock=sim.clock, now=NOW)

    assert instance_names(sim) == {name, f"{name}-old-{STAMP}"}
    assert describe(sim, name)["InstanceCreateTime"] == original
    assert sim.calls["RestoreDBInstanceFromDBSnapshot"] == sim.calls["ModifyDBInstance"] == 0


def test_restore_checks_again_right_before_renaming(sim: Simulated) -> None:
    name = sim.env.rds_instance
    snap = take(sim, "pre-deploy-y")
    original = describe(sim, name)["InstanceCreateTime"]
    # Someone creates the name while the restore runs.
    client(sim).meta.events.register(
        "after-call.rds.RestoreDBInstanceFromDBSnapshot",
        lambda **_: make_instance(sim, f"{name}-old-{STAMP}"),
    )

    with pytest.raises(rds.NameTaken) as raised:
        rds.restore(client(sim), snapshot_id=snap.id, instance=name, clock=sim.clock, now=NOW)

    assert f"the restored copy is {name}-restore-{STAMP}" in str(raised.value)
    assert sim.calls["ModifyDBInstance"] == 0
    assert describe(sim, name)["InstanceCreateTime"] == original
    assert instance_names(sim) == {name, f"{name}-old-{STAMP}", f"{name}-restore-{STAMP}"}


def test_restore_stopped_half_way_says_which_instance_has_which_name(sim: Simulated) -> None:
    name = sim.env.rds_instance
    snap = take(sim, "pre-deploy-z")
    renames: list[str] = []

    def second_rename_fails(params: dict[str, Any], **_: Any) -> None:
        renames.append(params["DBInstanceIdentifier"])
        if len(renames) == 2:
            raise ConnectionError("network went away")

    client(sim).meta.events.register(
        "before-parameter-build.rds.ModifyDBInstance", second_rename_fails
    )

    with pytest.raises(rds.RestoreIncomplete) as raised:
        rds.restore(client(sim), snapshot_id=snap.id, instance=name, clock=sim.clock, now=NOW)

    error = raised.value
    assert error.exit_code == EXIT_NEEDS_HUMAN
    assert f"renaming {name}-restore-{STAMP} to {name}" in str(error)
    old, temp = f"{name}-old-{STAMP}", f"{name}-restore-{STAMP}"
    assert error.names[0] == f"{name}: no instance has this name"
    assert error.names[1].startswith(f"{old}: the original instance (db-")
    assert error.names[2].startswith(f"{temp}: the restored instance (db-")
    assert all(line.endswith(", available)") for line in error.names[1:])
    assert describe(sim, old)["InstanceCreateTime"] < describe(sim, temp)["InstanceCreateTime"]


def test_restore_of_a_missing_snapshot_changes_nothing(sim: Simulated) -> None:
    with pytest.raises(rds.SnapshotNotFound):
        rds.restore(client(sim), snapshot_id="nope", instance=sim.env.rds_instance, clock=sim.clock)
    assert instance_names(sim) == {sim.env.rds_instance}
