"""`infra.plan` and `infra.apply` as library functions: a preview leaves no change set, an apply
holds the environment's lock and releases it, a refusal is a usage error."""

from __future__ import annotations

import pytest

from adinsights_ops import lock
from adinsights_ops.errors import UsageError
from adinsights_ops.infra import _operations as ops_
from tests.simulated import Simulated


def test_preview_plans_and_discards_its_change_set(sim: Simulated) -> None:
    found = ops_.preview(sim.ops, ops_.settings_with(sim.ops))
    assert found is not None and found.changes
    stacks = sim.client("cloudformation").list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in stacks] == ["DELETE_COMPLETE"]


def test_preview_without_an_engine_is_none(sim: Simulated) -> None:
    assert ops_.preview(sim.ops, ops_.settings_with(sim.ops, engine="none")) is None


def test_apply_locked_applies_under_the_lock_and_releases_it(sim: Simulated) -> None:
    held: list[object] = []

    def approve(_plan: object) -> bool:
        held.append(lock.read(sim.ops.aws.s3(), bucket=sim.env.state_bucket, environment="sandbox"))
        return True

    result = ops_.apply_locked(sim.ops, ops_.settings_with(sim.ops), approve=approve, reason="t")
    assert result.outcome == "applied" and held and held[0] is not None
    assert lock.read(sim.ops.aws.s3(), bucket=sim.env.state_bucket, environment="sandbox") is None


def test_a_declined_apply_is_a_usage_error_and_releases_the_lock(sim: Simulated) -> None:
    with pytest.raises(UsageError, match="not confirmed; nothing was changed"):
        ops_.apply_locked(sim.ops, ops_.settings_with(sim.ops), approve=lambda _p: False)
    assert lock.read(sim.ops.aws.s3(), bucket=sim.env.state_bucket, environment="sandbox") is None


def test_apply_locked_without_an_engine_is_skipped_without_a_lock(sim: Simulated) -> None:
    sim.calls.clear()
    settings = ops_.settings_with(sim.ops, engine="none")
    result = ops_.apply_locked(sim.ops, settings, approve=lambda _p: True)
    assert result.outcome == "skipped" and not sim.calls
