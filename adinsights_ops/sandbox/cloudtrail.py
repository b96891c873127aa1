"""CloudTrail in the sandbox: LookupEvents answered from the AWS calls the server answered.

moto has no LookupEvents. The sandbox server sees every AWS request it answers, so it keeps the
trail itself: one management event per answered call (the server's own seeding excepted, and S3
object reads and writes, which are data events that LookupEvents does not return), shaped as AWS
shapes them: EventId, EventName, ReadOnly, AccessKeyId, EventTime, EventSource, Username,
Resources and the CloudTrailEvent JSON (userIdentity, eventSource, requestParameters, errorCode
and errorMessage of a refused call, ...). A call answered with an error (AccessDeniedException
from a KMS key policy, a throttle the fault plan injected) is an event with its errorCode, as on AWS.

`requestParameters` holds the identifiers of the resources a call named (secretId, keyId, cluster,
...), never other parameters: no secret value or plaintext ever reaches the trail.

LookupEvents follows the API: StartTime/EndTime (default the last 90 days), one LookupAttribute
(EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId),
MaxResults 1 to 50 (default 50), newest events first, NextToken to page on (stable while new
events arrive), the API's Invalid*Exception answers for bad requests. The user name of an event is
the access key the call was signed with (the sandbox has no IAM users).
"""

from __future__ import annotations

import collections
import json
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from adinsights_ops.sandbox._lookup import LookupRefused, parse
from adinsights_ops.sandbox._requests import aws_error, call_is_mutating, signing_service
from adinsights_ops.sandbox.effects import request_params

KEEP_EVENTS = 100_000
"""The trail keeps this many newest events (a sandbox lives hours, not 90 days)."""

SOURCES = {"email": "ses", "execute-api": "apigateway"}
"""Signing name -> event source prefix, where they differ."""

RESOURCES: dict[str, dict[str, str]] = {
    "secretsmanager": {
        "SecretId": "AWS::SecretsManager::Secret",
        "Name": "AWS::SecretsManager::Secret",
    },
    "kms": {"KeyId": "AWS::KMS::Key", "AliasName": "AWS::KMS::Alias"},
    "ecs": {
        "cluster": "AWS::ECS::Cluster",
        "service": "AWS::ECS::Service",
        "taskDefinition": "AWS::ECS::TaskDefinition",
    },
    "rds": {
        "DBInstanceIdentifier": "AWS::RDS::DBInstance",
        "DBClusterIdentifier": "AWS::RDS::DBCluster",
        "DBSnapshotIdentifier": "AWS::RDS::DBSnapshot",
        "DBClusterSnapshotIdentifier": "AWS::RDS::DBClusterSnapshot",
    },
    "ssm": {"Name": "AWS::SSM::Parameter"},
    "logs": {"logGroupName": "AWS::Logs::LogGroup"},
    "cloudformation": {"StackName": "AWS::CloudFormation::Stack"},
}
"""Per signing service: request parameter -> the CloudTrail resource type it names."""

_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")


@attrs.frozen
class TrailEvent:
    """One management event of the trail."""

    seq: int
    at: float
    event_id: str
    name: str
    source: str
    username: str
    access_key: str
    read_only: bool
    resources: tuple[tuple[str, str], ...]
    detail: str  # the CloudTrailEvent JSON

    def matches(self, key: str, value: str) -> bool:
        if key == "EventId":
            return self.event_id == value
        if key == "EventName":
            return self.name == value
        if key == "ReadOnly":
            return str(self.read_only).lower() == value.lower()
        if key == "Username":
            return self.username == value
        if key == "ResourceType":
            return any(kind == value for kind, _ in self.resources)
        if key == "ResourceName":
            return any(name == value for _, name in self.resources)
        if key == "EventSource":
            return self.source == value
        return self.access_key == value  # AccessKeyId

    def answer(self) -> dict[str, Any]:
        """The event as LookupEvents returns it."""
        return {
            "EventId": self.event_id,
            "EventName": self.name,
            "ReadOnly": str(self.read_only).lower(),
            "AccessKeyId": self.access_key,
            "EventTime": self.at,
            "EventSource": self.source,
            "Username": self.username,
            "Resources": [{"ResourceType": t, "ResourceName": n} for t, n in self.resources],
            "CloudTrailEvent": self.detail,
        }


def answers(environ: Mapping[str, Any], operation: str) -> bool:
    """True for the requests the trail answers instead of moto: CloudTrail's LookupEvents."""
    return operation == "LookupEvents" and signing_service(dict(environ)) == "cloudtrail"


def event_source(service: str) -> str:
    return f"{SOURCES.get(service, service)}.amazonaws.com"


def _scope(environ: Mapping[str, Any]) -> tuple[str, str]:
    """(access key id, region) of a SigV4-signed request."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    if len(scope) >= 5:
        return scope[0], scope[2]
    return "", ""


def _error(status: str, headers: list[tuple[str, str]], body: bytes) -> tuple[str, str] | None:
    """(errorCode, errorMessage) of an error answer; None for a success."""
    if status[:1] in ("2", "3"):
        return None
    code, message = "", ""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        code = str(parsed.get("__type") or parsed.get("code") or parsed.get("Code") or "")
        message = str(parsed.get("message") or parsed.get("Message") or "")
    else:
        found = _XML_CODE.search(body or b"")
        code = found.group(1).decode("utf-8", "replace") if found else ""
        said = _XML_MESSAGE.search(body or b"")
        message = said.group(1).decode("utf-8", "replace") if said else ""
    if not code:
        code = next((v for k, v in headers if k.lower() == "x-amzn-errortype"), "")
    code = code.split(":", 1)[0].rsplit("#", 1)[-1] or status.split(" ", 1)[0]
    return code, message


def _resources(
    service: str, params: Mapping[str, Any], answer: Mapping[str, Any], path: str
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for param, kind in RESOURCES.get(service, {}).items():
        value = params.get(param)
        if isinstance(value, str) and value:
            found.append((kind, value))
    if service == "kms":
        # KMS events name the key by its ARN (Decrypt names no key; its answer does)
        arn = answer.get("KeyId") or (answer.get("KeyMetadata") or {}).get("Arn")
        if isinstance(arn, str) and arn.startswith("arn:"):
            found = [(k, n) for k, n in found if k != "AWS::KMS::Key"] + [("AWS::KMS::Key", arn)]
    if service == "s3":
        bucket = path.lstrip("/").split("/", 1)[0]
        if bucket:
            found.append(("AWS::S3::Bucket", bucket))
    return list(dict.fromkeys(found))


class Trail:
    """The sandbox's CloudTrail: what the server answered, and LookupEvents over it."""

    def __init__(self, account: str, region: str, *, keep: int = KEEP_EVENTS) -> None:
        self.account = account
        self.region = region
        self.events: collections.deque[TrailEvent] = collections.deque(maxlen=keep)
        self._seq = 0
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.events.clear()

    def record(
        self,
        environ: Mapping[str, Any],
        *,
        operation: str,
        protocol: str,
        body: bytes,
        at: float,
        status: str,
        headers: list[tuple[str, str]],
        answer: bytes,
    ) -> TrailEvent | None:
        """Keep the event of one answered call (None: not a management event)."""
        service = signing_service(dict(environ))
        if not service or " " in operation:
            return None  # unsigned, or not an AWS operation the server could name
        access_key, region = _scope(environ)
        params = dict(request_params(body, protocol, str(environ.get("QUERY_STRING", ""))))
        answered: Any = {}
        if status.startswith("2") and protocol == "json":
            try:
                answered = json.loads(answer or b"{}")
            except ValueError:
                answered = {}
        resources = _resources(
            service,
            params,
            answered if isinstance(answered, dict) else {},
            str(environ.get("PATH_INFO", "")),
        )
        read_only = not call_is_mutating(operation)
        source = event_source(service)
        event_id = str(uuid.uuid4())
        request_id = next(
            (v for k, v in headers if k.lower() in ("x-amzn-requestid", "x-amz-request-id")),
            str(uuid.uuid4()),
        )
        username = access_key or "anonymous"
        identifiers = {
            param[:1].lower() + param[1:]: value
            for param, value in params.items()
            if param in RESOURCES.get(service, {}) and isinstance(value, str)
        }
        detail: dict[str, Any] = {
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": access_key,
                "arn": f"arn:aws:iam::{self.account}:user/{username}",
                "accountId": self.account,
                "accessKeyId": access_key,
                "userName": username,
            },
            "eventTime": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "eventName": operation,
            "awsRegion": region or self.region,
            "sourceIPAddress": str(environ.get("REMOTE_ADDR", "127.0.0.1")),
            "userAgent": str(environ.get("HTTP_USER_AGENT", "")),
            "requestParameters": identifiers or None,
            "responseElements": None,
        }
        error = _error(status, headers, answer)
        if error is not None:
            detail["errorCode"] = error[0]
            if error[1]:
                detail["errorMessage"] = error[1]
        detail.update(
            {
                "requestID": request_id,
                "eventID": event_id,
                "readOnly": read_only,
                "resources": [
                    {"accountId": self.account, "type": kind, "ARN": name}
                    for kind, name in resources
                ],
                "eventType": "AwsApiCall",
                "managementEvent": True,
                "recipientAccountId": self.account,
                "eventCategory": "Management",
            }
        )
        with self._lock:
            self._seq += 1
            event = TrailEvent(
                seq=self._seq,
                at=at,
                event_id=event_id,
                name=operation,
                source=source,
                username=username,
                access_key=access_key,
                read_only=read_only,
                resources=tuple(resources),
                detail=json.dumps(detail),
            )
            self.events.append(event)
        return event

    def lookup_answer(self, body: bytes, now: float) -> tuple[str, list[tuple[str, str]], bytes]:
        """(status, headers, body) of CloudTrail's answer to a LookupEvents request."""
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise LookupRefused("SerializationException", "expected a JSON object")
            answer = self.lookup(request, now)
        except LookupRefused as exc:
            return aws_error("json", "400 Bad Request", exc.code, str(exc))
        except ValueError:
            return aws_error("json", "400 Bad Request", "SerializationException", "malformed JSON")
        data = json.dumps(answer).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            ("Content-Length", str(len(data))),
        ]
        return "200 OK", headers, data

    def lookup(self, request: Mapping[str, Any], now: float) -> dict[str, Any]:
        """LookupEvents' answer to a parsed request; LookupRefused for one the API refuses."""
        query = parse(request, now)
        if query.insight:
            return {"Events": []}  # the sandbox has no CloudTrail Insights
        page: list[TrailEvent] = []
        more = False
        for event in self._newest_first(query.before):
            if not query.start <= event.at <= query.end:
                continue
            if query.attribute is not None and not event.matches(*query.attribute):
                continue
            if len(page) == query.limit:
                more = True
                break
            page.append(event)
        answer: dict[str, Any] = {"Events": [event.answer() for event in page]}
        if more:
            answer["NextToken"] = query.token(page[-1].seq)
        return answer

    def _newest_first(self, before: int | None) -> Iterator[TrailEvent]:
        with self._lock:
            events = list(self.events)
        for event in reversed(events):
            if before is None or event.seq < before:
                yield event
