"""The go-live checklist (runbook §9) against the seeded sandbox under mock_aws.

`world` (from test_postdeploy) is the blueprint plus observability seeding, the simulated app and
Airbyte on HTTP. Each item passes on a state that satisfies it and fails, with its reason in the
evidence, on one that does not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from adinsights_ops import golive
from adinsights_ops.errors import EXIT_USAGE, UsageError
from adinsights_ops.golive import _docs as gd
from adinsights_ops.golive import _items as gi
from adinsights_ops.golive import _schedules as gs
from tests.simulated import ROOT, Simulated
from tests.unit.test_postdeploy import World, by_name, open_world

GOOGLE = "3c7e0d44-8b2a-4b8e-bc61-0e5a4f9d2b02"
DOCS = (
    "docs/runbooks/operations.md",
    "docs/runbooks/alerts.md",
    "docs/runbooks/tenant-onboarding.md",
    "docs/runbooks/tenant-offboarding.md",
    "docs/ops/slo-sli.md",
)
SIGNED = """
items:
  penetration-test:
    who: Jane Doe (security)
    when: 2026-01-15
    reference: PENTEST-2026-01 report; JIRA SEC-42 closed
  security-review:
    title: Security review sign-off
    who: Sam Roe
    when: "2026-01-20"
    reference: https://wiki.example/security-review
"""


@pytest.fixture
def world(sim: Simulated) -> Iterator[World]:
    with open_world(sim) as made:
        yield made


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the repository's documents and sign-off template (not a git repository)."""
    for relative in (*DOCS, "golive/signoff.yaml"):
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, target)
    return tmp_path


def frontend_expected(world: World) -> str:
    """Fails while the sandbox blueprint's frontend task definition sets no API URL variable."""
    ecs = world.client("ecs")
    family = "adinsights-sandbox-frontend"
    td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    names = {v["name"] for c in td["containerDefinitions"] for v in c.get("environment", [])}
    return "pass" if names & set(golive.DEFAULTS.frontend_api_variables) else "fail"


def evaluate(world: World, root: Path, **kwargs: Any) -> dict[str, Any]:
    return by_name(golive.evaluate(world.ops, root=root, **kwargs))


# -- the whole checklist on the seeded sandbox -------------------------------------------------


def test_the_seeded_sandbox_passes_what_it_seeds_and_fails_the_rest(
    world: World, root: Path
) -> None:
    report = golive.evaluate(world.ops, root=root)
    statuses = {i.name: i.status for i in report.items}
    assert statuses == {
        "1. aggregate snapshot": "pass",
        "2. frontend API": frontend_expected(world),
        "2. feature flags off": "pass",
        "3. airbyte meta_ads": "pass",
        "3. airbyte google_ads": "fail",  # the sandbox's deliberate drift: every 2 hours
        "4. dbt daily build": "pass",
        "4. dbt notifications": "pass",
        "5. rotation reminders": "pass",
        "6. runbook operations": "pass",
        "6. runbook alerts": "pass",
        "6. runbook tenant-onboarding": "pass",
        "6. runbook tenant-offboarding": "pass",
        "7. SLO/SLI monitoring": "pass",
        "8. sign-off: penetration-test": "fail",
        "8. sign-off: security-review": "fail",
    }
    items = by_name(report)
    assert "for tenant tenant-demo: HTTP 200" in items["1. aggregate snapshot"].evidence
    if statuses["2. frontend API"] == "fail":
        assert "sets none of VITE_API_BASE_URL" in items["2. frontend API"].evidence
    assert "schedule 0 0 */2 * * ? is not hourly" in items["3. airbyte google_ads"].evidence
    assert "cron(0 5 * * ? *) America/Jamaica, ENABLED" in items["4. dbt daily build"].evidence
    assert "task definition adinsights-sandbox-backend:1" in items["4. dbt daily build"].evidence
    assert "celery-beat runs 1/1" in items["5. rotation reminders"].evidence
    assert "file mtime (not in a git repository)" in items["6. runbook alerts"].evidence
    assert items["7. SLO/SLI monitoring"].evidence.startswith(
        "5 alarms named by docs/ops/slo-sli.md"
    )
    assert "who, when, reference missing" in items["8. sign-off: security-review"].evidence
    assert not report.ok


def test_fixing_what_failed_makes_the_checklist_pass(world: World, root: Path) -> None:
    (root / "golive/signoff.yaml").write_text(SIGNED)
    world.airbyte.set_connection(
        GOOGLE, schedule={"scheduleType": "cron", "cronExpression": "0 0 * * * ?"}
    )
    set_frontend_variable(world, "VITE_API_BASE_URL", world.sim.env.health_base_url + "/api/")
    report = golive.evaluate(world.ops, root=root)
    assert [i.name for i in report.items if i.status != "pass"] == []
    items = by_name(report)
    assert items["8. sign-off: penetration-test"].evidence == (
        "Penetration test findings addressed: signed by Jane Doe (security) on 2026-01-15"
    )
    assert report.ok


# -- 1 -----------------------------------------------------------------------------------------


def test_a_stale_or_refused_snapshot_fails(world: World, root: Path) -> None:
    later = datetime.now(UTC) + timedelta(hours=30)
    stale = gi.snapshot(world.ops, golive.DEFAULTS, later)[0]
    assert stale.status == "fail" and stale.evidence.startswith("stale: POST")
    ops = attrs.evolve(world.ops, env=attrs.evolve(world.ops.env, sample_tenant="tenant-nobody"))
    refused = gi.snapshot(ops, golive.DEFAULTS, datetime.now(UTC))[0]
    assert refused.status == "fail"
    assert "HTTP 404" in refused.evidence


# -- 2 -----------------------------------------------------------------------------------------


def set_frontend_variable(world: World, name: str, value: str) -> None:
    ecs = world.client("ecs")
    env = world.sim.env
    service = env.ecs.services["frontend"].name
    current = ecs.describe_services(cluster=env.ecs.cluster, services=[service])["services"][0]
    td = ecs.describe_task_definition(taskDefinition=current["taskDefinition"])["taskDefinition"]
    containers = td["containerDefinitions"]
    variables = [v for v in containers[0]["environment"] if v["name"] != name]
    containers[0]["environment"] = [*variables, {"name": name, "value": value}]
    keep = ("family", "networkMode", "requiresCompatibilities", "cpu", "memory")
    new = ecs.register_task_definition(containerDefinitions=containers, **{k: td[k] for k in keep})[
        "taskDefinition"
    ]["taskDefinitionArn"]
    ecs.update_service(cluster=env.ecs.cluster, service=service, taskDefinition=new)


def test_the_frontend_must_call_this_environments_api(world: World) -> None:
    set_frontend_variable(world, "VITE_API_BASE_URL", "https://api.staging.example")
    item = gi.frontend(world.ops, golive.DEFAULTS)[0]
    assert item.status == "fail"
    assert (
        "VITE_API_BASE_URL=https://api.staging.example, expected http://127.0.0.1/sandbox-app"
        in (item.evidence)
    )


def test_a_feature_flag_left_on_fails(world: World) -> None:
    world.client("ssm").put_parameter(
        Name="/adinsights/sandbox/feature-flags",
        Value=json.dumps({"new_dashboards": False, "beta_exports": True, "legacy": "off"}),
        Type="String",
        Overwrite=True,
    )
    item = gi.frontend(world.ops, golive.DEFAULTS)[1]
    assert item.status == "fail"
    assert item.evidence == "/adinsights/sandbox/feature-flags: on: beta_exports"
    world.client("ssm").delete_parameter(Name="/adinsights/sandbox/feature-flags")
    gone = gi.frontend(world.ops, golive.DEFAULTS)[1]
    assert gone.status == "fail" and "does not exist" in gone.evidence


# -- 3 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "hourly"),
    [
        ({"scheduleType": "cron", "cronExpression": "0 0 * * * ?"}, True),
        ({"scheduleType": "cron", "cronExpression": "0 15 0/1 ? * * *"}, True),
        ({"scheduleType": "basic", "basicTiming": "Every 1 HOURS"}, True),
        ({"scheduleType": "cron", "cronExpression": "0 0 */2 * * ?"}, False),
        ({"scheduleType": "cron", "cronExpression": "0 0 5 * * ?"}, False),
        ({"scheduleType": "basic", "basicTiming": "Every 24 HOURS"}, False),
        ({"scheduleType": "manual"}, False),
    ],
)
def test_what_counts_as_hourly(schedule: dict[str, str], hourly: bool) -> None:
    assert gi.hourly(schedule) is hourly


def test_an_airbyte_connection_without_its_alarm_fails(world: World) -> None:
    world.client("cloudwatch").delete_alarms(
        AlarmNames=[golive.airbyte_alarm("sandbox", "meta_ads")]
    )
    world.client("cloudwatch").disable_alarm_actions(
        AlarmNames=[golive.airbyte_alarm("sandbox", "google_ads")]
    )
    meta, google = gi.airbyte(world.ops)
    assert meta.status == "fail"
    assert meta.evidence == "alarm adinsights-sandbox-airbyte-meta-ads-sync-failures does not exist"
    assert google.status == "fail"
    assert "has its actions disabled" in google.evidence


# -- 4 and 5 -----------------------------------------------------------------------------------


def test_the_dbt_schedule_must_run_at_five_local_and_notify(world: World) -> None:
    scheduler = world.client("scheduler")
    found = scheduler.get_schedule(Name="adinsights-sandbox-dbt-daily")
    scheduler.update_schedule(
        Name="adinsights-sandbox-dbt-daily",
        ScheduleExpression="cron(0 6 * * ? *)",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=found["Target"],
        State="DISABLED",
    )
    world.client("events").disable_rule(Name="adinsights-sandbox-dbt-notify")
    build, notify = gs.dbt_schedule_items(world.ops, golive.DEFAULTS)
    assert build.status == "fail"
    assert build.evidence == (
        "cron(0 6 * * ? *) is not daily at 05:00; time zone UTC, the app's is America/Jamaica; "
        "state DISABLED"
    )
    assert notify.status == "fail" and "DISABLED" in notify.evidence


def test_a_missing_dbt_schedule_or_a_rule_in_its_place_fails(world: World) -> None:
    world.client("scheduler").delete_schedule(Name="adinsights-sandbox-dbt-daily")
    missing = gs.dbt_schedule_items(world.ops, golive.DEFAULTS)[0]
    assert missing.status == "fail"
    assert missing.evidence.startswith("no schedule adinsights-sandbox-dbt-daily")
    world.client("events").put_rule(
        Name="adinsights-sandbox-dbt-daily", ScheduleExpression="cron(0 5 * * ? *)"
    )
    rule = gs.dbt_schedule_items(world.ops, golive.DEFAULTS)[0]
    assert "is an EventBridge rule, not an EventBridge Scheduler schedule" in rule.evidence


def test_a_schedule_whose_target_is_gone_fails(world: World) -> None:
    sns = world.client("sns")
    topic = sns.create_topic(Name="adinsights-sandbox-alerts")["TopicArn"]
    sns.delete_topic(TopicArn=topic)
    item = gs.rotation(world.ops)[0]
    assert item.status == "fail"
    assert "sns target arn:aws:sns:eu-west-1:123456789012:adinsights-sandbox-alerts" in (
        item.evidence
    )


def test_rotation_reminders_need_the_schedule_and_celery_beat(world: World) -> None:
    env = world.sim.env
    world.client("ecs").update_service(
        cluster=env.ecs.cluster, service=env.ecs.services["beat"].name, desiredCount=0
    )
    world.sim.clock.advance(120)
    stopped = gs.rotation(world.ops)[0]
    assert stopped.status == "fail" and "celery-beat runs 0/0" in stopped.evidence
    world.client("scheduler").delete_schedule(
        Name="adinsights-sandbox-credential-rotation-reminder"
    )
    missing = gs.rotation(world.ops)[0]
    assert missing.evidence == "no schedule adinsights-sandbox-credential-rotation-reminder"


# -- 6 and 7 -----------------------------------------------------------------------------------


def test_a_missing_short_or_old_runbook_fails(root: Path) -> None:
    now = datetime.now(UTC)
    (root / "docs/runbooks/alerts.md").unlink()
    (root / "docs/runbooks/tenant-onboarding.md").write_text("# TODO\n")
    old = (now - timedelta(days=200)).timestamp()
    os.utime(root / "docs/runbooks/operations.md", (old, old))
    items = {i.name: i for i in gd.runbooks(root, golive.DEFAULTS, now)}
    assert items["6. runbook alerts"].evidence == "docs/runbooks/alerts.md does not exist"
    assert items["6. runbook tenant-onboarding"].evidence.endswith("fewer than 400 bytes")
    assert items["6. runbook operations"].evidence.endswith("older than 90 days")
    assert "200 days ago" in items["6. runbook operations"].evidence
    assert items["6. runbook tenant-offboarding"].status == "pass"


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), *args],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example",
            "GIT_COMMITTER_DATE": "2026-01-02T03:04:05+00:00",
            "GIT_AUTHOR_DATE": "2026-01-02T03:04:05+00:00",
        },
    )


def test_a_committed_runbook_is_dated_by_git(root: Path) -> None:
    git(root, "init", "-q")
    git(root, "add", "docs")
    git(root, "commit", "-q", "-m", "docs")
    path = root / "docs/runbooks/alerts.md"
    assert gd.last_updated(path, root) == (
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "git log",
    )
    path.write_text(path.read_text() + "\nchanged\n")
    assert gd.last_updated(path, root)[1] == "file mtime (changed since its last commit)"
    fresh = root / "docs/runbooks/new.md"
    fresh.write_text("x")
    assert gd.last_updated(fresh, root)[1] == "file mtime (not committed yet)"


def test_the_slo_document_must_name_alarms_that_exist(world: World, root: Path) -> None:
    doc = root / "docs/ops/slo-sli.md"
    doc.write_text(doc.read_text() + "\n| extra | `adinsights-{env}-nobody-watches` |\n")
    [item] = gd.slo(world.ops, root, golive.DEFAULTS)
    assert item.status == "fail"
    assert item.evidence == "adinsights-sandbox-nobody-watches does not exist"


def test_the_slo_document_names_the_alarms_the_sandbox_seeds() -> None:
    text = (ROOT / "docs/ops/slo-sli.md").read_text()
    named = gd.named_alarms(text)
    assert named == {f"adinsights-{{env}}-{sli}" for sli in golive.SLI_ALARMS}


# -- 8 and the evidence ------------------------------------------------------------------------


def test_the_template_is_unsigned() -> None:
    entries = golive.read_signoff(ROOT / "golive/signoff.yaml")
    assert [(e.key, e.signed) for e in entries] == [
        ("penetration-test", False),
        ("security-review", False),
    ]


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("2026-02-30", "when '2026-02-30' is not a date (YYYY-MM-DD)"),
        ("next week", "when 'next week' is not a date (YYYY-MM-DD)"),
        ("2099-01-01", "when 2099-01-01 is in the future"),
    ],
)
def test_a_signoff_needs_a_real_past_date(tmp_path: Path, when: str, problem: str) -> None:
    path = tmp_path / "signoff.yaml"
    path.write_text(SIGNED.replace("2026-01-15", f'"{when}"'))
    entries = golive.read_signoff(path, today=datetime(2026, 3, 1).date())
    assert entries[0].problem == problem
    assert entries[1].signed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "not found"),
        ("items: [unclosed", "is not valid YAML (line 1)"),
        ("items: 3", "expected `items:` mapping names to who/when/reference"),
        ("items:\n  penetration-test: {who: a}\n", "item security-review is missing"),
    ],
)
def test_a_missing_or_broken_signoff_file_is_a_usage_error(
    world: World, tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "signoff.yaml"
    if text is not None:
        path.write_text(text)
    world.sim.calls.clear()
    with pytest.raises(UsageError) as caught:
        golive.evaluate(world.ops, root=tmp_path, signoff=path)
    assert caught.value.exit_code == EXIT_USAGE
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert world.sim.calls == {}  # nothing was asked of AWS


def test_the_evidence_is_saved_as_markdown_and_json(world: World, root: Path) -> None:
    report = golive.evaluate(world.ops, root=root)
    moment = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
    markdown, data = golive.save_evidence(report, root / "golive/evidence", now=moment)
    assert markdown == root / "golive/evidence/sandbox-20260301T123005Z.md"
    assert data == root / "golive/evidence/sandbox-20260301T123005Z.json"
    saved = json.loads(data.read_text())
    assert saved["ok"] is False
    failing = 4 if frontend_expected(world) == "fail" else 3
    assert saved["counts"] == {"pass": 15 - failing, "fail": failing, "not available": 0}
    assert [i["name"] for i in saved["items"]] == [i.name for i in report.items]
    text = markdown.read_text()
    assert text.startswith("# Go-live checklist: sandbox")
    assert "| 8. sign-off: security-review | fail |" in text
