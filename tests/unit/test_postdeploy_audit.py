"""The audit part of the post-deploy checks: the leaked-secret scan and CloudTrail's credential events.

The scan must find a planted secret value and never let it out: not in the report, its JSON, its
Markdown, the printed table, an exception or a log record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from invoke.exceptions import Exit

from adinsights_ops import postdeploy
from adinsights_ops.checks_report import to_markdown
from adinsights_ops.postdeploy import _audit as pa
from adinsights_ops.sandbox.blueprint_secrets import sentinel
from runbooks.common import render_checks, to_json
from tests.simulated import Simulated
from tests.unit.test_postdeploy import World, by_name, open_world

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(sim: Simulated) -> Iterator[World]:
    with open_world(sim) as made:
        yield made


def plant(world: World, group: str, message: str, stream: str = "ecs/backend/abc123") -> None:
    logs = world.client("logs")
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    at = int((world.now - timedelta(minutes=2)).timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": at, "message": message}]
    )


def secret(world: World, name: str) -> str:
    value: str = world.client("secretsmanager").get_secret_value(
        SecretId=f"adinsights/sandbox/{name}"
    )["SecretString"]
    return value


def everything_said(report: Any, capsys: pytest.CaptureFixture[str], caplog: Any) -> str:
    """The report as JSON and Markdown, the printed table and every log record."""
    with pytest.raises(Exit) as caught:
        render_checks(report, as_json=False)
    printed = capsys.readouterr()
    return "\n".join(
        [
            to_json(report),
            to_markdown(report),
            printed.out,
            printed.err,
            str(caught.value.message),
            caplog.text,
            repr(report),
        ]
    )


def test_the_scan_passes_on_ordinary_log_lines(world: World) -> None:
    item = by_name(postdeploy.check_audit(world.ops, now=world.now))["audit: leaked secrets"]
    assert item.status == "pass"
    assert item.evidence.startswith("none found in 6 events of 4 log groups")
    assert "for the current values of 4 secrets" in item.evidence


def test_a_leaked_secret_fails_the_check_and_is_never_shown(
    world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="adinsights_ops")
    value = secret(world, "django-secret-key")
    plant(world, "/ecs/adinsights-sandbox/backend", f"settings loaded: SECRET_KEY={value} ok")
    report = postdeploy.check_audit(world.ops, now=world.now)
    item = by_name(report)["audit: leaked secrets"]
    assert item.status == "fail"
    assert item.evidence.startswith("LEAKED: adinsights/sandbox/django-secret-key (its value) in ")
    assert "/ecs/adinsights-sandbox/backend stream ecs/backend/abc123" in item.evidence
    said = everything_said(report, capsys, caplog)
    assert "django-secret-key" in said
    assert value not in said
    assert "SENTINEL-" not in said


def test_the_password_of_a_database_url_is_found_on_its_own(
    world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    password = sentinel("database-url")
    assert password in secret(world, "database-url")
    plant(
        world,
        "/ecs/adinsights-sandbox/worker",
        f"connecting as adinsights with password {password}",
        stream="ecs/worker/def456",
    )
    report = postdeploy.check_audit(world.ops, now=world.now)
    item = by_name(report)["audit: leaked secrets"]
    assert item.status == "fail"
    assert "adinsights/sandbox/database-url (the password in its URL)" in item.evidence
    assert password not in everything_said(report, capsys, caplog)


def test_a_secret_outside_the_window_is_not_read(world: World) -> None:
    value = secret(world, "django-secret-key")
    logs = world.client("logs")
    group, stream = "/ecs/adinsights-sandbox/backend", "ecs/backend/old"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    old = int((world.now - timedelta(hours=2)).timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": old, "message": value}]
    )
    item = by_name(postdeploy.check_audit(world.ops, now=world.now))["audit: leaked secrets"]
    assert item.status == "pass"
    wide = postdeploy.check_audit(world.ops, window=3 * 3600, now=world.now)
    assert by_name(wide)["audit: leaked secrets"].status == "fail"


def test_an_unreadable_secret_or_missing_log_group_fails_the_scan(world: World) -> None:
    world.client("secretsmanager").delete_secret(
        SecretId="adinsights/sandbox/slack-webhook-url", ForceDeleteWithoutRecovery=True
    )
    world.client("logs").delete_log_group(logGroupName="/ecs/adinsights-sandbox/frontend")
    item = by_name(postdeploy.check_audit(world.ops, now=world.now))["audit: leaked secrets"]
    assert item.status == "fail"
    assert "log group /ecs/adinsights-sandbox/frontend does not exist" in item.evidence
    assert "cannot read adinsights/sandbox/slack-webhook-url-" in item.evidence
    assert item.evidence.endswith(": ResourceNotFoundException: not scanned for")


def test_a_json_secret_is_scanned_field_by_field() -> None:
    text = json.dumps({"username": "adinsights", "password": "hunter2-but-longer", "port": 5432})
    everything = pa._fragments(text, None)
    assert [what for what, _ in everything] == [
        "its value",
        "its field username",
        "its field password",
    ]
    assert pa._fragments(text, "password") == (("its value", "hunter2-but-longer"),)
    assert pa._fragments("short", None) == ()
    watched = pa.WatchedSecret("db", ("backend:DB",), everything)
    assert "hunter2" not in repr(watched)


# -- CloudTrail --------------------------------------------------------------------------------


def test_cloudtrail_without_lookup_events_is_not_available(world: World) -> None:
    item = by_name(postdeploy.check_audit(world.ops, now=world.now))["audit: credential activity"]
    assert item.status == "not available"
    assert "LookupEvents is not implemented by this endpoint" in item.evidence


def stubbed() -> tuple[Any, Stubber]:
    client = boto3.client("cloudtrail", region_name="eu-west-1")
    return client, Stubber(client)


def event(name: str, user: str = "ecs-task", error: str | None = None) -> dict[str, Any]:
    detail = {"eventName": name, **({"errorCode": error} if error else {})}
    return {
        "EventId": name,
        "EventName": name,
        "Username": user,
        "EventTime": NOW - timedelta(minutes=5),
        "CloudTrailEvent": json.dumps(detail),
    }


def test_an_http_500_without_an_aws_error_code_is_not_available() -> None:
    client, stub = stubbed()
    stub.add_client_error("lookup_events", service_error_code="500", http_status_code=500)
    with stub:
        item = pa.credential_activity(client, start=NOW - timedelta(minutes=30), end=NOW)
    assert item.status == "not available"
    assert "HTTP 500, no AWS error code" in item.evidence


def test_access_denied_to_cloudtrail_is_a_failure() -> None:
    client, stub = stubbed()
    stub.add_client_error("lookup_events", service_error_code="AccessDeniedException")
    with stub:
        item = pa.credential_activity(client, start=NOW - timedelta(minutes=30), end=NOW)
    assert item.status == "fail"
    assert item.evidence == "CloudTrail LookupEvents refused: AccessDeniedException"


def test_ordinary_credential_activity_passes_with_counts() -> None:
    client, stub = stubbed()
    stub.add_response(
        "lookup_events", {"Events": [event("GetSecretValue"), event("GetSecretValue")]}
    )
    stub.add_response("lookup_events", {"Events": [event("Decrypt")]})
    with stub:
        item = pa.credential_activity(client, start=NOW - timedelta(minutes=30), end=NOW)
        stub.assert_no_pending_responses()
    assert item.status == "pass"
    assert item.evidence == (
        "2 Secrets Manager events, 1 KMS events in 11:30Z-12:00Z; none destructive, none denied"
    )


def test_destructive_or_denied_credential_events_fail_for_review() -> None:
    client, stub = stubbed()
    stub.add_response(
        "lookup_events",
        {
            "Events": [event("GetSecretValue", "intruder", error="AccessDenied")],
            "NextToken": "page-2",
        },
    )
    stub.add_response("lookup_events", {"Events": [event("DeleteSecret", "alice")]})
    stub.add_response("lookup_events", {"Events": [event("ScheduleKeyDeletion", "bob")]})
    with stub:
        item = pa.credential_activity(client, start=NOW - timedelta(minutes=30), end=NOW)
        stub.assert_no_pending_responses()
    assert item.status == "fail"
    assert item.evidence.startswith("2 Secrets Manager events, 1 KMS events")
    assert "DeleteSecret by alice at 11:55:00Z" in item.detail
    assert "ScheduleKeyDeletion by bob" in item.detail
    assert "GetSecretValue denied for intruder" in item.detail


def test_more_pages_than_allowed_are_reported_as_partial() -> None:
    client, stub = stubbed()
    for _ in range(2):
        stub.add_response("lookup_events", {"Events": [event("Decrypt")], "NextToken": "more"})
    with stub:
        events, more = pa._lookup(client, "kms.amazonaws.com", NOW, NOW, max_pages=2)
    assert (len(events), more) == (2, True)
