"""Airbyte for one environment (`airbyte._runs`): sync its connections, diff and apply them, and
the host check's settings, against the simulated Airbyte over HTTP on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from adinsights_ops.airbyte import Drift, SyncOutcome, _runs
from adinsights_ops.aws import Aws
from adinsights_ops.errors import OpsError, UsageError
from adinsights_ops.opsenv import OpsEnv
from tests.unit.test_airbyte_contract import GOOGLE, META, Harness, airbyte_harness


@pytest.fixture
def h(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with airbyte_harness() as harness:
        monkeypatch.setattr(_runs, "client_for", lambda _ops: harness.client)
        yield harness


def ops_of(h: Harness, **changes: Any) -> OpsEnv:
    env = attrs.evolve(h.env, **changes) if changes else h.env
    return OpsEnv(env, Aws(region="eu-west-1"), clock=h.clock)


def test_sync_environment_syncs_every_connection_and_names_each_event(h: Harness) -> None:
    heard: list[str] = []
    report = _runs.sync_environment(ops_of(h), on_event=lambda name, _e: heard.append(name))
    assert [o.name for o in report.outcomes] == ["meta_ads", "google_ads"]
    assert report.failed == () and set(heard) == {"meta_ads", "google_ads"}
    report.check()  # nothing failed: no error


def test_sync_environment_of_one_connection(h: Harness) -> None:
    report = _runs.sync_environment(ops_of(h), connection="google_ads")
    assert [(o.name, o.connection_id) for o in report.outcomes] == [("google_ads", GOOGLE)]


def test_a_failed_sync_is_an_outcome_and_check_names_it() -> None:
    failed = _runs.SyncReport(
        "sandbox",
        (
            SyncOutcome("meta_ads", META, error=OpsError("boom")),
            SyncOutcome("google_ads", GOOGLE),
        ),
    )
    with pytest.raises(OpsError, match="1 of 2 syncs failed: meta_ads"):
        failed.check()


def test_an_environment_without_airbyte_is_a_usage_error(h: Harness) -> None:
    with pytest.raises(UsageError, match="has no airbyte section"):
        _runs.sync_environment(ops_of(h, airbyte=None))
    with pytest.raises(UsageError, match="has no airbyte section"):
        _runs.drifts_for(ops_of(h, airbyte=None))


def test_apply_environment_shows_the_drift_patches_it_and_checks_again(h: Harness) -> None:
    ops = ops_of(h)
    seen: list[Any] = []
    patched: list[Any] = []
    result = _runs.apply_environment(ops, on_drifts=seen.append, on_patched=patched.append)
    assert seen and list(seen[0]) == list(result.drifts) and result.drifts
    assert result.attempted and result.remaining == () and result.in_sync
    assert [p.connection for p in patched] == [p.connection for p in result.patched]
    assert _runs.drifts_for(ops) == []
    again = _runs.apply_environment(ops)
    assert (again.attempted, again.drifts, again.in_sync) == (False, (), True)


def test_apply_environment_dry_run_patches_nothing(h: Harness) -> None:
    ops = ops_of(h)
    result = _runs.apply_environment(ops, dry_run=True)
    assert result.drifts and not result.attempted and not result.in_sync
    assert _runs.drifts_for(ops) == list(result.drifts)


def test_apply_environment_needs_approval_where_the_environment_asks(h: Harness) -> None:
    ops = ops_of(h, approval_required=True)
    with pytest.raises(UsageError, match="not confirmed: nothing changed"):
        _runs.apply_environment(ops, approve=lambda: False)
    assert _runs.drifts_for(ops)  # still there
    assert _runs.apply_environment(ops, approve=lambda: True).in_sync


def test_remaining_drift_after_apply_is_an_error() -> None:
    drift = Drift("meta_ads", META, "status", "inactive", "active", {"status": "active"})
    result = _runs.ApplyResult(False, (drift,), (), (drift,), attempted=True)
    with pytest.raises(OpsError, match="1 field\\(s\\) still differ"):
        result.check()


def test_check_host_without_ssh_settings_is_a_usage_error_before_any_connection(
    h: Harness,
) -> None:
    assert h.env.airbyte is not None
    env = attrs.evolve(h.env, airbyte=attrs.evolve(h.env.airbyte, ssh=None))
    made: list[Any] = []

    def connect(**kw: Any) -> Any:
        made.append(kw)
        raise AssertionError("no connection may be made")

    with pytest.raises(UsageError, match=r"airbyte\.ssh\) is not configured for sandbox"):
        _runs.check_host(env, connection_factory=connect)
    assert made == []
