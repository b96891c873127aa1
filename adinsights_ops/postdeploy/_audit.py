"""The audit part of the post-deploy checks: credential activity, and no secret value in the logs.

Credential activity is CloudTrail's LookupEvents for Secrets Manager and KMS over the window: it
fails on destructive events (a secret deleted, a key disabled or scheduled for deletion) and on
denied reads of secrets or keys. An endpoint that does not implement LookupEvents (moto) makes the
item "not available", saying so.

The leaked-secret scan reads the current value of every secret that the services' task definitions
inject (Secrets Manager, or SSM parameters), then the recent events of the log groups those task
definitions log to, and looks for each value (and for a JSON secret's fields, and a URL's password)
as a substring, here, in this process. The values are never sent anywhere (a CloudWatch Logs filter
pattern would put them into CloudTrail), never printed, logged or put in a result or an error: a
finding names the secret, the log group, the stream and the time only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from adinsights_ops.checks_report import CheckItem, failed, not_available, passed

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

    from adinsights_ops.aws import Aws

SOURCES = {"secretsmanager.amazonaws.com": "Secrets Manager", "kms.amazonaws.com": "KMS"}
DESTRUCTIVE = frozenset(
    {
        "DeleteSecret",
        "ScheduleKeyDeletion",
        "DisableKey",
        "DisableKeyRotation",
        "PutKeyPolicy",
        "DeleteAlias",
    }
)
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
MIN_FRAGMENT = 8  # shorter values would match ordinary words
Fragments = tuple[tuple[str, str], ...]


@attrs.frozen
class WatchedSecret:
    """A secret the services are given and the fragments of its value to look for.

    `fragments` holds (what, value) pairs: never printed, serialised or compared (repr=False,
    eq=False); only `name`, `used_by` and the kinds leave this module.
    """

    name: str
    used_by: tuple[str, ...]
    fragments: Fragments = attrs.field(repr=False, eq=False)


@attrs.frozen
class Leak:
    """A secret's value found in a log event: where, never what."""

    secret: str
    what: str  # "its value", "its field password", "the password in its URL"
    log_group: str
    log_stream: str
    at: datetime


@attrs.frozen
class LogScan:
    groups: tuple[str, ...]
    secrets: tuple[str, ...]
    events: int
    leaks: tuple[Leak, ...]
    truncated: tuple[str, ...] = ()
    missing_groups: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()  # "name: reason" of secrets that could not be read


def cloudtrail_client(aws: Aws) -> Any:
    """A CloudTrail client that retries little: LookupEvents allows two calls a second, and an
    endpoint that does not implement it should not be asked eight times."""
    if "cloudtrail" in aws.injected:
        return aws.injected["cloudtrail"]
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5)
    return aws.session().client("cloudtrail", endpoint_url=aws.endpoint_url, config=config)


def _unimplemented(exc: BaseException) -> str | None:
    """Why the endpoint lacks LookupEvents (None: it has it and failed for another reason)."""
    if isinstance(exc, NotImplementedError):
        return "LookupEvents is not implemented by this endpoint"
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    # An AWS API answers errors with a code; a bare HTTP 500/501 is an endpoint without the API.
    if code in ("NotImplemented", "501") or (code == "500" and status == 500):
        return (
            f"LookupEvents is not implemented by this endpoint (HTTP {status}, no AWS error code)"
        )
    return None


def credential_activity(
    cloudtrail: Any, *, start: datetime, end: datetime, max_pages: int = 10
) -> CheckItem:
    """Secrets Manager and KMS events of CloudTrail in [start, end]: counts, destructive, denied."""
    name = "audit: credential activity"
    counts: dict[str, int] = {}
    destructive: list[str] = []
    denied: list[str] = []
    truncated = False
    try:
        for source, label in SOURCES.items():
            events, more = _lookup(cloudtrail, source, start, end, max_pages)
            truncated = truncated or more
            counts[label] = len(events)
            for event in events:
                event_name = str(event.get("EventName", "?"))
                who = str(event.get("Username", "unknown"))
                when = event.get("EventTime")
                at = (
                    when.astimezone(UTC).strftime("%H:%M:%SZ")
                    if isinstance(when, datetime)
                    else "?"
                )
                if event_name in DESTRUCTIVE:
                    destructive.append(f"{event_name} by {who} at {at}")
                if _error_code(event) in DENIED:
                    denied.append(f"{event_name} denied for {who} at {at}")
    except Exception as exc:
        why = _unimplemented(exc)
        if why is not None:
            return not_available(
                name,
                f"CloudTrail {why}: credential activity cannot be read here "
                "(on AWS this lists the Secrets Manager and KMS events of the window)",
            )
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code is None:
            raise
        return failed(name, f"CloudTrail LookupEvents refused: {code}")
    summary = ", ".join(f"{n} {label} events" for label, n in counts.items())
    span = f"{start:%H:%M}Z-{end:%H:%M}Z"
    partial = " (more than read: only the newest pages)" if truncated else ""
    if destructive or denied:
        return failed(
            name,
            f"{summary} in {span}{partial}: review them",
            "; ".join((destructive + denied)[:8]),
        )
    return passed(name, f"{summary} in {span}{partial}; none destructive, none denied")


def _lookup(
    cloudtrail: Any, source: str, start: datetime, end: datetime, max_pages: int
) -> tuple[list[dict[str, Any]], bool]:
    events: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(max_pages):
        kwargs: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": source}],
            "StartTime": start,
            "EndTime": end,
            "MaxResults": 50,
        }
        if token:
            kwargs["NextToken"] = token
        answer = cloudtrail.lookup_events(**kwargs)
        events.extend(answer.get("Events", []))
        token = answer.get("NextToken")
        if not token:
            return events, False
    return events, True


def _error_code(event: dict[str, Any]) -> str | None:
    try:
        detail = json.loads(event.get("CloudTrailEvent") or "{}")
    except ValueError:
        return None
    code = detail.get("errorCode") if isinstance(detail, dict) else None
    return str(code) if code else None


# -- the secrets the services are given, and where they log -----------------------------------


def _fragments(value: str, json_key: str | None) -> Fragments:
    """What of a secret's value to look for: the value, a JSON secret's string fields, a URL's
    password; none shorter than MIN_FRAGMENT characters."""
    found: list[tuple[str, str]] = []
    parsed: Any = None
    if value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
    if json_key is not None and isinstance(parsed, dict):
        field = parsed.get(json_key)
        value = field if isinstance(field, str) else ""
        parsed = None
    found.append(("its value", value))
    if isinstance(parsed, dict):
        found += [(f"its field {k}", v) for k, v in parsed.items() if isinstance(v, str)]
    if "://" in value:
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        if password:
            found.append(("the password in its URL", password))
    return tuple((what, text) for what, text in found if len(text) >= MIN_FRAGMENT)


def _read_secret(
    secretsmanager: SecretsManagerClient, ssm: SSMClient, value_from: str
) -> tuple[str, Fragments | None, str | None]:
    """(display name, fragments or None, why not). Errors name the reference and a code only."""
    from botocore.exceptions import ClientError

    try:
        if value_from.startswith("arn:") and ":secretsmanager:" in value_from:
            parts = value_from.split(":")
            arn, json_key = ":".join(parts[:7]), (parts[7] if len(parts) > 7 and parts[7] else None)
            answer = secretsmanager.get_secret_value(SecretId=arn)
            text: object = answer.get("SecretString")
            label = str(answer.get("Name", parts[6]))
            if json_key:
                label += f" ({json_key})"
            if not isinstance(text, str):
                return label, None, "no string value"
            return label, _fragments(text, json_key), None
        name = value_from.split(":parameter", 1)[1] if ":parameter" in value_from else value_from
        got = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        return name, _fragments(str(got.get("Value", "")), None), None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        return value_from.rsplit(":", 1)[-1], None, str(code)


def watched_secrets(
    ecs: ECSClient,
    secretsmanager: SecretsManagerClient,
    ssm: SSMClient,
    *,
    cluster: str,
    services: Sequence[str],
) -> tuple[tuple[WatchedSecret, ...], tuple[str, ...], tuple[str, ...]]:
    """(secrets the services' current task definitions inject, their log groups, unreadable)."""
    from adinsights_ops.ecs._views import describe

    references: dict[str, list[str]] = {}
    groups: dict[str, None] = {}
    for service, state in describe(ecs, cluster=cluster, services=list(services)).items():
        td = ecs.describe_task_definition(taskDefinition=state.task_definition)["taskDefinition"]
        for container in td.get("containerDefinitions", []):
            for secret in container.get("secrets", []):
                references.setdefault(secret["valueFrom"], []).append(f"{service}:{secret['name']}")
            logging: dict[str, Any] = dict(container.get("logConfiguration") or {})
            group = (logging.get("options") or {}).get("awslogs-group")
            if logging.get("logDriver") == "awslogs" and group:
                groups[group] = None
    watched, unreadable = [], []
    for value_from, users in references.items():
        label, fragments, why = _read_secret(secretsmanager, ssm, value_from)
        if fragments is None:
            unreadable.append(f"{label}: {why}")
            continue
        watched.append(WatchedSecret(label, tuple(users), fragments))
    return tuple(watched), tuple(groups), tuple(unreadable)


def _events(
    logs: CloudWatchLogsClient, group: str, start_ms: int, end_ms: int, limit: int
) -> Iterator[dict[str, Any]]:
    token: str | None = None
    seen = 0
    while True:
        kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start_ms, "endTime": end_ms}
        if token:
            kwargs["nextToken"] = token
        page = logs.filter_log_events(**kwargs)
        for event in page.get("events", []):
            yield dict(event)
            seen += 1
            if seen >= limit:
                return
        new_token = page.get("nextToken")
        if not new_token or new_token == token:
            return
        token = new_token


def scan_logs(
    logs: CloudWatchLogsClient,
    *,
    groups: Sequence[str],
    secrets: Sequence[WatchedSecret],
    start: datetime,
    end: datetime,
    max_events: int = 20000,
) -> LogScan:
    """Look for each secret's fragments in the groups' events between start and end."""
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    leaks: list[Leak] = []
    seen: set[tuple[str, str, str]] = set()
    total, truncated, missing = 0, [], []
    for group in groups:
        count = 0
        try:
            for event in _events(logs, group, start_ms, end_ms, max_events):
                count += 1
                message = str(event.get("message", ""))
                for secret in secrets:
                    for what, fragment in secret.fragments:
                        if fragment in message:
                            stream = str(event.get("logStreamName", "?"))
                            if (secret.name, group, stream) in seen:
                                break
                            seen.add((secret.name, group, stream))
                            at = datetime.fromtimestamp(int(event.get("timestamp", 0)) / 1000, UTC)
                            leaks.append(Leak(secret.name, what, group, stream, at))
                            break
        except logs.exceptions.ResourceNotFoundException:
            missing.append(group)
            continue
        total += count
        if count >= max_events:
            truncated.append(group)
    return LogScan(
        groups=tuple(groups),
        secrets=tuple(s.name for s in secrets),
        events=total,
        leaks=tuple(leaks),
        truncated=tuple(truncated),
        missing_groups=tuple(missing),
    )


def leaked_secrets(
    ecs: ECSClient,
    secretsmanager: SecretsManagerClient,
    ssm: SSMClient,
    logs: CloudWatchLogsClient,
    *,
    cluster: str,
    services: Sequence[str],
    start: datetime,
    end: datetime,
    max_events: int = 20000,
) -> CheckItem:
    """The scan as a check item: fails on a leak, a missing log group or an unreadable secret."""
    name = "audit: leaked secrets"
    secrets, groups, unreadable = watched_secrets(
        ecs, secretsmanager, ssm, cluster=cluster, services=services
    )
    scan = scan_logs(
        logs, groups=groups, secrets=secrets, start=start, end=end, max_events=max_events
    )
    span = f"{start:%H:%M}Z-{end:%H:%M}Z"
    scope = (
        f"{scan.events} events of {len(scan.groups)} log groups in {span} "
        f"for the current values of {len(scan.secrets)} secrets"
    )
    notes = []
    if scan.truncated:
        notes.append(f"read only the first {max_events} events of {', '.join(scan.truncated)}")
    if scan.leaks:
        found = "; ".join(
            f"{leak.secret} ({leak.what}) in {leak.log_group} stream {leak.log_stream} "
            f"at {leak.at:%Y-%m-%dT%H:%M:%SZ}"
            for leak in scan.leaks[:10]
        )
        return failed(name, f"LEAKED: {found}", f"scanned {scope}; rotate these secrets now")
    problems = [f"log group {g} does not exist" for g in scan.missing_groups]
    problems += [f"cannot read {u}: not scanned for" for u in unreadable]
    if problems:
        return failed(name, "; ".join(problems), f"scanned {scope}")
    return passed(name, f"none found in {scope}", "; ".join(notes))
