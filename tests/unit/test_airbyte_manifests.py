"""The connection manifests in infrastructure/airbyte/, and diff/apply against the simulated Airbyte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adinsights_ops import airbyte, config
from adinsights_ops.airbyte._manifests import diff_connection, parse_manifest
from adinsights_ops.errors import ConfigError
from tests.simulated import ENVIRONMENTS, ROOT
from tests.unit.test_airbyte_contract import GOOGLE, META, Harness, airbyte_harness

MANIFESTS = ROOT / "infrastructure" / "airbyte"


@pytest.fixture
def h() -> Iterator[Harness]:
    with airbyte_harness() as harness:
        yield harness


def manifests() -> list[airbyte.Manifest]:
    return airbyte.load_manifests(MANIFESTS)


def patches(h: Harness) -> list[str]:
    return [c.path.rsplit("/", 1)[-1] for c in h.sim.calls if c.method == "PATCH"]


def test_the_manifests_declare_every_sandbox_connection_hourly_and_active() -> None:
    env = config.load("sandbox", ENVIRONMENTS)
    assert env.airbyte is not None
    assert airbyte.manifests_dir(env) == MANIFESTS
    loaded = {m.connection: m for m in manifests()}
    assert set(loaded) == set(env.airbyte.connections) == {"meta_ads", "google_ads"}
    for m in loaded.values():
        assert (m.status, m.schedule_type, m.cron_expression) == ("active", "cron", "0 0 * * * ?")
        assert m.streams, m.source
        incremental = [s for s in m.streams if s.sync_mode.startswith("incremental")]
        assert all(s.cursor_field for s in incremental), m.source
        assert all(
            s.primary_key for s in m.streams if s.sync_mode == "incremental_deduped_history"
        ), m.source


def test_diff_finds_the_seeded_drift_and_apply_fixes_it(h: Harness) -> None:
    assert h.env.airbyte is not None
    drifts = airbyte.diff(h.client, manifests(), h.env.airbyte.connections)
    assert [(d.connection, d.connection_id, d.field, d.live, d.desired) for d in drifts] == [
        ("google_ads", GOOGLE, "schedule.cronExpression", "0 0 */2 * * ?", "0 0 * * * ?")
    ]
    assert patches(h) == []  # diff is the dry run: it only reads

    applied = airbyte.apply(h.client, drifts)
    assert applied == [airbyte.Applied("google_ads", GOOGLE, ("schedule.cronExpression",))]
    assert patches(h) == [GOOGLE]
    assert h.sim.connection(GOOGLE)["schedule"] == {
        "scheduleType": "cron",
        "cronExpression": "0 0 * * * ?",
    }
    assert airbyte.diff(h.client, manifests(), h.env.airbyte.connections) == []


def test_stream_drift_is_found_and_the_whole_stream_list_is_restored(h: Harness) -> None:
    live = h.sim.connection(META)["configurations"]["streams"]
    by_name = {s["name"]: s for s in live}
    by_name["ads"]["syncMode"] = "full_refresh_append"
    by_name["campaigns"]["cursorField"] = ["created_time"]
    del by_name["ad_sets"]
    by_name["ad_creatives"] = {"name": "ad_creatives", "syncMode": "full_refresh_overwrite"}
    h.sim.set_connection(
        META, configurations={"streams": list(by_name.values())}, status="inactive"
    )

    drifts = airbyte.diff(h.client, manifests(), {"meta_ads": META, "google_ads": GOOGLE})
    found = {(d.connection, d.field): (d.live, d.desired) for d in drifts}
    assert found == {
        ("meta_ads", "status"): ("inactive", "active"),
        ("meta_ads", "streams.campaigns.cursorField"): (("created_time",), ("updated_time",)),
        ("meta_ads", "streams.ad_sets"): (None, "incremental_deduped_history"),
        ("meta_ads", "streams.ads.syncMode"): (
            "full_refresh_append",
            "incremental_deduped_history",
        ),
        ("meta_ads", "streams.ad_creatives"): ("full_refresh_overwrite", None),
        ("google_ads", "schedule.cronExpression"): ("0 0 */2 * * ?", "0 0 * * * ?"),
    }
    applied = airbyte.apply(h.client, drifts)
    assert [a.connection for a in applied] == ["meta_ads", "google_ads"]
    assert patches(h) == [META, GOOGLE]  # one PATCH per connection
    meta = next(m for m in manifests() if m.connection == "meta_ads")
    assert meta.streams is not None
    assert h.sim.connection(META)["configurations"]["streams"] == [s.to_api() for s in meta.streams]
    assert airbyte.diff(h.client, manifests(), {"meta_ads": META, "google_ads": GOOGLE}) == []


def test_apply_of_no_drift_changes_nothing(h: Harness) -> None:
    assert airbyte.apply(h.client, []) == []
    assert patches(h) == []


def test_a_manifest_and_the_environment_must_name_the_same_connections(h: Harness) -> None:
    with pytest.raises(ConfigError, match=r"no manifest declares the connection\(s\) tiktok"):
        airbyte.diff(h.client, manifests(), {"meta_ads": META, "google_ads": GOOGLE, "tiktok": "x"})
    with pytest.raises(ConfigError, match="'google_ads' is not in the environment") as raised:
        airbyte.diff(h.client, manifests(), {"meta_ads": META})
    assert raised.value.source.endswith("google_ads.yaml")
    assert not h.sim.calls  # refused before asking Airbyte anything


def test_only_declared_fields_are_managed() -> None:
    manifest = parse_manifest({"connection": "meta_ads", "status": "active"}, "m.yaml")
    live: dict[str, Any] = {
        "name": "anything",
        "status": "active",
        "schedule": {"scheduleType": "manual"},
        "configurations": {"streams": [{"name": "x", "syncMode": "full_refresh_append"}]},
    }
    assert diff_connection(manifest, live, connection_id=META) == []
    live["status"] = "inactive"
    [drift] = diff_connection(manifest, live, connection_id=META)
    assert (drift.field, drift.live, drift.desired, dict(drift.patch)) == (
        "status",
        "inactive",
        "active",
        {"status": "active"},
    )


@pytest.mark.parametrize(
    ("data", "key", "expected"),
    [
        ({"name": "x"}, "connection", "missing"),
        ({"connection": "a", "schedul": {}}, "schedul", "unknown key"),
        ({"connection": "a", "status": "on"}, "status", "expected one of active, inactive"),
        ({"connection": "a", "schedule": {"scheduleType": "cron"}}, "schedule.cronExpression", ""),
        (
            {
                "connection": "a",
                "schedule": {"scheduleType": "manual", "cronExpression": "0 0 * * * ?"},
            },
            "schedule.cronExpression",
            "only then",
        ),
        (
            {"connection": "a", "streams": [{"name": "s", "syncMode": "incremental"}]},
            "streams[0].syncMode",
            "expected one of",
        ),
        (
            {
                "connection": "a",
                "streams": [{"name": "s", "syncMode": "full_refresh_append", "primaryKey": ["id"]}],
            },
            "streams[0].primaryKey",
            "field paths",
        ),
        (
            {"connection": "a", "streams": [{"name": "s", "syncMode": "full_refresh_append"}] * 2},
            "streams",
            "twice",
        ),
    ],
)
def test_a_bad_manifest_names_the_file_and_the_key(
    data: dict[str, Any], key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_manifest(data, "infrastructure/airbyte/x.yaml")
    assert (raised.value.source, raised.value.key) == ("infrastructure/airbyte/x.yaml", key)
    assert expected in raised.value.expected
    assert raised.value.exit_code == 2


def test_bad_yaml_or_two_manifests_for_one_connection_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("connection: meta_ads\n")
    (tmp_path / "b.yaml").write_text("connection: meta_ads\n")
    with pytest.raises(ConfigError, match="already declared in") as raised:
        airbyte.load_manifests(tmp_path)
    assert raised.value.source.endswith("b.yaml")
    (tmp_path / "b.yaml").write_text("connection: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        airbyte.load_manifests(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        airbyte.load_manifests(tmp_path / "missing")
