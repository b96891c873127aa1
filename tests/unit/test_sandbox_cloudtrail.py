"""CloudTrail in the sandbox: boto3's CloudTrail client against a sandbox server in this process.

The server answers LookupEvents from the calls it answered: event names, times, users, resources,
the CloudTrailEvent JSON with the errorCode of a refused call; time range, one lookup attribute,
MaxResults and NextToken as the API has them. One server for the module (seeding takes seconds);
each test makes its own calls with its own access key, and looks them up by it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from adinsights_ops import config, sandbox
from adinsights_ops.config import Environment
from adinsights_ops.postdeploy import _audit as audit
from adinsights_ops.sandbox.faults import THROTTLE, plan_from
from adinsights_ops.sandbox.server import SandboxServer

ENVIRONMENTS = Path(__file__).parents[2] / "environments.yaml"
SENTINEL = "SENTINEL-trail-must-never-hold-this-value"


@pytest.fixture(scope="module")
def env() -> Environment:
    return config.load("sandbox", ENVIRONMENTS)


@pytest.fixture(scope="module")
def server(env: Environment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(tmp_path_factory.mktemp("home")))
        monkeypatch.delenv("ADINSIGHTS_SANDBOX_FAULTS", raising=False)
        started = sandbox.start(env)
        try:
            yield started
        finally:
            started.remember = False
            started.stop()


def client(server: SandboxServer, service: str, user: str = "sandbox") -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name="eu-west-1",
        endpoint_url=server.endpoint,
        aws_access_key_id=user,
        aws_secret_access_key="sandbox",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def user() -> str:
    """A fresh access key: the events of one test, whatever the others did."""
    return f"AKIA{uuid.uuid4().hex[:12].upper()}"


def by_user(trail: Any, name: str, **kwargs: Any) -> list[dict[str, Any]]:
    attribute = [{"AttributeKey": "Username", "AttributeValue": name}]
    events: list[dict[str, Any]] = trail.lookup_events(LookupAttributes=attribute, **kwargs)[
        "Events"
    ]
    return events


def secret_arn(server: SandboxServer) -> str:
    return str(client(server, "secretsmanager").list_secrets()["SecretList"][0]["ARN"])


def test_a_secret_read_is_an_event_shaped_as_aws_shapes_it(server: SandboxServer) -> None:
    name, arn = user(), secret_arn(server)
    before = datetime.now(UTC)
    client(server, "secretsmanager", name).get_secret_value(SecretId=arn)
    [event] = by_user(client(server, "cloudtrail"), name)
    assert event["EventName"] == "GetSecretValue"
    assert event["EventSource"] == "secretsmanager.amazonaws.com"
    assert event["Username"] == name and event["AccessKeyId"] == name
    assert event["ReadOnly"] == "true"
    assert before - timedelta(seconds=1) <= event["EventTime"] <= datetime.now(UTC)
    assert event["Resources"] == [
        {"ResourceType": "AWS::SecretsManager::Secret", "ResourceName": arn}
    ]
    detail = json.loads(event["CloudTrailEvent"])
    assert detail["eventName"] == "GetSecretValue"
    assert detail["eventSource"] == "secretsmanager.amazonaws.com"
    assert detail["eventID"] == event["EventId"]
    assert detail["userIdentity"]["accessKeyId"] == name
    assert detail["userIdentity"]["accountId"] == server.env.account
    assert detail["awsRegion"] == "eu-west-1"
    assert detail["requestParameters"] == {"secretId": arn}
    assert detail["readOnly"] is True and detail["eventType"] == "AwsApiCall"
    assert "errorCode" not in detail


def test_no_secret_value_reaches_the_trail_and_seeding_is_not_in_it(server: SandboxServer) -> None:
    name, arn = user(), secret_arn(server)
    secrets = client(server, "secretsmanager", name)
    current = secrets.get_secret_value(SecretId=arn)["SecretString"]
    secrets.put_secret_value(SecretId=arn, SecretString=SENTINEL)
    secrets.put_secret_value(SecretId=arn, SecretString=current)  # as it was
    kms = client(server, "kms", name)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=SENTINEL.encode())["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == SENTINEL.encode()
    events = by_user(client(server, "cloudtrail"), name)
    names = [e["EventName"] for e in events]
    assert names == [
        "Decrypt",
        "Encrypt",
        "CreateKey",
        "PutSecretValue",
        "PutSecretValue",
        "GetSecretValue",
    ]
    assert events[0]["Resources"][0]["ResourceName"].startswith("arn:aws:kms:")  # named by ARN
    assert events[3]["ReadOnly"] == "false"
    text = json.dumps(events, default=str)
    assert SENTINEL not in text and current not in text
    everyone = client(server, "cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateSecret"}]
    )
    assert everyone["Events"] == []  # the server's own seeding is not a caller's activity


def test_a_denied_call_is_an_event_with_its_error_code(server: SandboxServer) -> None:
    name = user()
    kms = client(server, "kms", name)
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"}
        ],
    }
    key = kms.create_key(Policy=json.dumps(deny))["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as refused:
        kms.describe_key(KeyId=key)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError):
        client(server, "secretsmanager", name).get_secret_value(SecretId="no-such-secret")
    missing, denied, _ = by_user(client(server, "cloudtrail"), name)
    detail = json.loads(denied["CloudTrailEvent"])
    assert denied["EventName"] == "DescribeKey"
    assert detail["errorCode"] == "AccessDeniedException"
    assert denied["Resources"] == [{"ResourceType": "AWS::KMS::Key", "ResourceName": key}]
    assert json.loads(missing["CloudTrailEvent"])["errorCode"] == "ResourceNotFoundException"


def test_the_audit_check_reads_the_trail_and_fails_on_a_denied_read(server: SandboxServer) -> None:
    time.sleep(1.1)  # the other tests' events before the window (StartTime is sent in seconds)
    start = datetime.now(UTC)
    trail = client(server, "cloudtrail")
    client(server, "secretsmanager").get_secret_value(SecretId=secret_arn(server))
    end = datetime.now(UTC) + timedelta(seconds=2)
    item = audit.credential_activity(trail, start=start, end=end)
    assert item.status == "pass", item
    assert "Secrets Manager events" in item.evidence and "none denied" in item.evidence
    name = user()
    kms = client(server, "kms", name)
    deny = {"Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]}
    key = kms.create_key(Policy=json.dumps(deny))["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError):
        kms.describe_key(KeyId=key)
    item = audit.credential_activity(trail, start=start, end=end)
    assert item.status == "fail"
    assert f"DescribeKey denied for {name}" in item.detail


def test_a_throttled_call_is_an_event_with_the_throttle(server: SandboxServer) -> None:
    name, arn = user(), secret_arn(server)
    server.set_faults(
        plan_from({"rules": [{"operation": "GetSecretValue", "kind": THROTTLE, "times": 1}]})
    )
    try:
        with pytest.raises(ClientError):
            client(server, "secretsmanager", name).get_secret_value(SecretId=arn)
    finally:
        server.set_faults(None)
    [event] = by_user(client(server, "cloudtrail"), name)
    assert json.loads(event["CloudTrailEvent"])["errorCode"] == "ThrottlingException"


def test_filters_by_event_name_source_resource_and_read_only(server: SandboxServer) -> None:
    name, arn = user(), secret_arn(server)
    secrets = client(server, "secretsmanager", name)
    secrets.get_secret_value(SecretId=arn)
    secrets.describe_secret(SecretId=arn)
    secrets.tag_resource(SecretId=arn, Tags=[{"Key": "audit", "Value": name}])
    client(server, "ecs", name).list_clusters()
    trail = client(server, "cloudtrail")

    def names(key: str, value: str) -> list[str]:
        found = trail.lookup_events(
            LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}]
        )["Events"]
        return [e["EventName"] for e in found if e["Username"] == name]

    assert names("EventName", "DescribeSecret") == ["DescribeSecret"]
    assert names("EventSource", "ecs.amazonaws.com") == ["ListClusters"]
    assert names("EventSource", "secretsmanager.amazonaws.com") == [
        "TagResource",
        "DescribeSecret",
        "GetSecretValue",
    ]
    assert names("ResourceName", arn) == ["TagResource", "DescribeSecret", "GetSecretValue"]
    assert names("ResourceType", "AWS::SecretsManager::Secret")[0] == "TagResource"
    assert names("ReadOnly", "false") == ["TagResource"]
    assert names("AccessKeyId", name) == [
        "ListClusters",
        "TagResource",
        "DescribeSecret",
        "GetSecretValue",
    ]


def test_start_and_end_time_bound_the_events(server: SandboxServer) -> None:
    name, arn = user(), secret_arn(server)
    secrets = client(server, "secretsmanager", name)
    secrets.get_secret_value(SecretId=arn)
    time.sleep(1.1)
    middle = datetime.now(UTC)
    time.sleep(0.1)
    secrets.describe_secret(SecretId=arn)
    trail = client(server, "cloudtrail")
    after = by_user(trail, name, StartTime=middle)
    until = by_user(trail, name, EndTime=middle)
    assert [e["EventName"] for e in after] == ["DescribeSecret"]
    assert [e["EventName"] for e in until] == ["GetSecretValue"]
    assert (
        by_user(
            trail, name, StartTime=middle - timedelta(hours=2), EndTime=middle - timedelta(hours=1)
        )
        == []
    )
    with pytest.raises(ClientError) as refused:
        trail.lookup_events(StartTime=middle, EndTime=middle - timedelta(minutes=1))
    assert refused.value.response["Error"]["Code"] == "InvalidTimeRangeException"


def test_pages_newest_first_with_next_token_stable_under_new_events(
    server: SandboxServer,
) -> None:
    name, arn = user(), secret_arn(server)
    secrets = client(server, "secretsmanager", name)
    for _ in range(7):
        secrets.get_secret_value(SecretId=arn)
    trail = client(server, "cloudtrail")
    attribute = [{"AttributeKey": "Username", "AttributeValue": name}]
    first = trail.lookup_events(LookupAttributes=attribute, MaxResults=3)
    secrets.describe_secret(SecretId=arn)  # arrives between pages: not on the next ones
    second = trail.lookup_events(
        LookupAttributes=attribute, MaxResults=3, NextToken=first["NextToken"]
    )
    third = trail.lookup_events(
        LookupAttributes=attribute, MaxResults=3, NextToken=second["NextToken"]
    )
    pages = [first["Events"], second["Events"], third["Events"]]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert "NextToken" not in third
    ids = [e["EventId"] for page in pages for e in page]
    assert len(set(ids)) == 7
    times = [e["EventTime"] for page in pages for e in page]
    assert times == sorted(times, reverse=True)
    assert {e["EventName"] for page in pages for e in page} == {"GetSecretValue"}
    paginator = trail.get_paginator("lookup_events")
    every = [
        e
        for page in paginator.paginate(LookupAttributes=attribute, PaginationConfig={"PageSize": 2})
        for e in page["Events"]
    ]
    assert [e["EventName"] for e in every] == ["DescribeSecret"] + ["GetSecretValue"] * 7


def test_requests_the_api_refuses(server: SandboxServer) -> None:
    trail = client(server, "cloudtrail")
    two = [
        {"AttributeKey": "Username", "AttributeValue": "a"},
        {"AttributeKey": "EventName", "AttributeValue": "b"},
    ]
    unknown = [{"AttributeKey": "Colour", "AttributeValue": "blue"}]
    token = trail.lookup_events(MaxResults=1)["NextToken"]
    for kwargs, code in (
        ({"MaxResults": 51}, "InvalidMaxResultsException"),
        ({"LookupAttributes": two}, "InvalidLookupAttributesException"),
        ({"LookupAttributes": unknown}, "InvalidLookupAttributesException"),
        ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
        ({"NextToken": token, "LookupAttributes": two[:1]}, "InvalidNextTokenException"),
    ):
        with pytest.raises(ClientError) as refused:
            trail.lookup_events(**kwargs)
        assert refused.value.response["Error"]["Code"] == code, kwargs
    assert trail.lookup_events(EventCategory="insight")["Events"] == []


def test_an_operation_moto_lacks_is_a_clean_answer_not_a_traceback(
    server: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="werkzeug")
    trail = client(server, "cloudtrail")
    trail.lookup_events(MaxResults=1)
    with pytest.raises(ClientError) as refused:
        trail.list_event_data_stores()
    time.sleep(0.5)  # werkzeug logs a request's error after it has answered it
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == []  # werkzeug logs "Error on request" with the traceback otherwise
    assert refused.value.response["Error"]["Code"] == "NotImplemented"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
