"""Announcing a release (runbook section 5, step 8): Slack webhook, SES email, the activity log.

`announce()` sends to every configured channel and returns an `Announcement` saying, per channel,
sent / failed (with a reason) / skipped (not configured). It raises nothing: a failed announcement
must not fail a deploy that succeeded, so it is reported instead.

A Slack incoming-webhook URL is a secret: whoever has it can post to the channel. It travels as a
`Secret` (masked in repr and str), and no log line, exception or result of this module contains it;
failures say "the Slack webhook" and what went wrong. Errors from `requests` are not chained onto
ours because their text carries the URL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, final

import attrs
import requests

from adinsights_ops.errors import OpsError
from adinsights_ops.health import DEFAULT_BACKOFF, send
from adinsights_ops.masked import Masked
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

log = logging.getLogger("adinsights_ops.notify")

ACTIVITY_LOG_HEADING = "# Release activity log\n\n"
# Loggers that write request URLs; while a webhook is called, its URL is scrubbed from their records.
REDACTED_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "requests")


class NotifyFailed(OpsError):
    """A notification could not be sent; `channel` is slack, email or activity-log."""

    def __init__(self, channel: str, reason: str) -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason


class SlackFailed(NotifyFailed):
    def __init__(self, reason: str) -> None:
        super().__init__("slack", reason)


class EmailFailed(NotifyFailed):
    def __init__(self, reason: str) -> None:
        super().__init__("email", reason)


@final
class Secret(Masked):
    """A Slack webhook URL or other secret string (see `masked.Masked`)."""

    __slots__ = ()


WebhookSource = Secret | str | Callable[[], Secret | str]
Outcome = Literal["sent", "failed", "skipped"]


@attrs.frozen
class SlackDelivery:
    status: int
    attempts: int
    latency_ms: float


@attrs.frozen
class ActivityLogEntry:
    """What `append_activity_log` did: the line it wrote, or found already written for the run."""

    path: Path
    line: str
    appended: bool


@attrs.frozen
class ChannelOutcome:
    channel: str
    outcome: Outcome
    detail: str


@attrs.frozen
class Announcement:
    """Per-channel outcome of announcing one run."""

    run_id: str
    channels: tuple[ChannelOutcome, ...]

    @property
    def ok(self) -> bool:
        """True when no configured channel failed."""
        return all(c.outcome != "failed" for c in self.channels)

    def outcome(self, channel: str) -> ChannelOutcome:
        return next(c for c in self.channels if c.channel == channel)

    def summary(self) -> str:
        return ", ".join(
            f"{c.channel}: {c.outcome}" + (f" ({c.detail})" if c.outcome != "sent" else "")
            for c in self.channels
        )


# -- Slack ------------------------------------------------------------------------------------


def webhook_url_from_secret(secretsmanager: SecretsManagerClient, *, secret_id: str) -> Secret:
    """The Slack webhook URL stored in Secrets Manager (a plain URL, or JSON with `url`/`webhook_url`)."""
    from botocore.exceptions import ClientError

    try:
        value = secretsmanager.get_secret_value(SecretId=secret_id).get("SecretString") or ""
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        reason = f"cannot read the Slack webhook secret {secret_id!r} ({code})"
    else:
        url = _url_in(value)
        if url is not None:
            return Secret(url)
        reason = f"the secret {secret_id!r} does not hold a webhook URL (its value is not shown)"
    raise SlackFailed(reason)


def _url_in(value: str) -> str | None:
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        found = (data.get("url") or data.get("webhook_url")) if isinstance(data, dict) else None
        text = found.strip() if isinstance(found, str) else ""
    return text if text.startswith(("https://", "http://")) else None


def slack(
    session: requests.Session | None,
    *,
    webhook_url: Secret | str,
    text: str,
    timeout: float = 10.0,
    attempts: int = 3,
    budget: float = 30.0,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> SlackDelivery:
    """Post `text` to a Slack incoming webhook; raises `SlackFailed` (never naming the URL)."""
    url = webhook_url.reveal() if isinstance(webhook_url, Secret) else webhook_url
    own = session is None
    http = requests.Session() if session is None else session
    reason: str
    redact = _Redact(url)
    for name in REDACTED_LOGGERS:
        logging.getLogger(name).addFilter(redact)
    try:
        exchange = send(
            http,
            "POST",
            url,
            json_body={"text": text},
            timeout=timeout,
            attempts=attempts,
            budget=budget,
            clock=clock,
            backoff=backoff,
        )
    except Exception as exc:  # anything unforeseen: its text may hold the URL, so only its type
        reason = f"the Slack webhook could not be called ({type(exc).__name__})"
    else:
        tries = f" after {exchange.attempts} attempts" if exchange.attempts > 1 else ""
        if exchange.status is not None and 200 <= exchange.status < 300:
            log.info("Slack webhook: HTTP %s%s", exchange.status, tries)
            return SlackDelivery(exchange.status, exchange.attempts, exchange.latency_ms)
        if exchange.status is None:
            reason = f"the Slack webhook did not answer{tries}: {exchange.error}"
        else:
            lines = _scrub(exchange.text, url).strip().splitlines()
            answer = lines[0][:120] if lines else ""
            reason = f"the Slack webhook answered HTTP {exchange.status}{tries}" + (
                f": {answer}" if answer else ""
            )
    finally:
        for name in REDACTED_LOGGERS:
            logging.getLogger(name).removeFilter(redact)
        if own:
            http.close()
    # Raised outside the except block so that no exception with the URL in it is chained on.
    log.warning("%s", reason)
    raise SlackFailed(reason)


class _Redact(logging.Filter):
    """Takes the webhook URL out of log records made while it is used (urllib3 logs request paths
    at DEBUG, and a Slack webhook's path is its secret)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = _scrub(message, self.url)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def _scrub(text: str, url: str) -> str:
    """`text` without the URL, its path or a long part of its path (an answer could echo them)."""
    path = "/" + url.split("://", 1)[-1].partition("/")[2].split("?")[0]
    parts = [part for part in path.split("/") if len(part) >= 12]
    for secret in (url, path, *parts):
        if len(secret) > 1:
            text = text.replace(secret, "<webhook>")
    return text


# -- email ------------------------------------------------------------------------------------


def email(ses: Any, *, sender: str, recipients: Sequence[str], subject: str, body: str) -> str:
    """Send a plain-text email through SES; its message id. Raises `EmailFailed`.

    The sender (or its domain) must be verified in SES, and in the SES sandbox the recipients too.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    if not recipients:
        raise EmailFailed("no recipients")
    try:
        answer = ses.send_email(
            Source=sender,
            Destination={"ToAddresses": list(recipients)},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
            },
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reason = f"SES refused the message: {error.get('Code', '?')}: {error.get('Message', '')}"
        raise EmailFailed(reason) from exc
    except BotoCoreError as exc:
        raise EmailFailed(f"SES could not be called: {exc}") from exc
    message_id = str(answer["MessageId"])
    log.info("email %s sent to %d recipient(s)", message_id, len(recipients))
    return message_id


# -- activity log -----------------------------------------------------------------------------


def append_activity_log(
    path: str | Path,
    *,
    line: str,
    run_id: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    heading: str = ACTIVITY_LOG_HEADING,
) -> ActivityLogEntry:
    """Append `- <UTC time> <line>` to a Markdown activity log, creating it with a heading if missing.

    Idempotent per run: when `run_id` is given and a line of the log already contains it, nothing is
    written and that line is returned (`appended` False), so a resumed run does not log twice.
    """
    target = Path(path)
    text = " ".join(line.split()).removeprefix("- ")
    if run_id is not None:
        if run_id not in text:
            text = f"{text} (run {run_id})"
        if target.exists():
            for existing in target.read_text(encoding="utf-8").splitlines():
                if run_id in existing:
                    return ActivityLogEntry(target, existing, appended=False)
    stamp = now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = f"- {stamp} {text}"
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = not target.exists() or target.stat().st_size == 0
    with target.open("a", encoding="utf-8") as handle:
        if fresh:
            handle.write(heading)
        elif not target.read_bytes().endswith(b"\n"):
            handle.write("\n")
        handle.write(entry + "\n")
    return ActivityLogEntry(target, entry, appended=True)


# -- all of them ------------------------------------------------------------------------------


def announce(
    session: requests.Session | None,
    *,
    run_id: str,
    text: str,
    subject: str | None = None,
    slack_webhook: WebhookSource | None = None,
    ses: Any = None,
    sender: str | None = None,
    recipients: Sequence[str] = (),
    activity_log: str | Path | None = None,
    log_line: str | None = None,
    timeout: float = 10.0,
    attempts: int = 3,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_BACKOFF,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Announcement:
    """Announce a release on every configured channel; what happened on each (raises nothing).

    `slack_webhook` may be a function that fetches it (e.g. `webhook_url_from_secret`): a failure
    to fetch is then reported as Slack's failure. Email needs `ses`, `sender` and `recipients`. The
    activity log gets `log_line` (default: the first line of `text`) with the run id.
    """
    outcomes: list[ChannelOutcome] = []

    def slack_channel() -> str:
        assert slack_webhook is not None
        webhook = slack_webhook() if callable(slack_webhook) else slack_webhook
        delivery = slack(
            session,
            webhook_url=webhook,
            text=text,
            timeout=timeout,
            attempts=attempts,
            clock=clock,
            backoff=backoff,
        )
        return f"HTTP {delivery.status}"

    def email_channel() -> str:
        assert sender is not None
        title = subject or (text.strip().splitlines()[0][:120] if text.strip() else "Release")
        message_id = email(ses, sender=sender, recipients=recipients, subject=title, body=text)
        return f"message {message_id} to {len(recipients)} recipient(s)"

    def log_channel() -> str:
        assert activity_log is not None
        first = text.strip().splitlines()[0] if text.strip() else "release announced"
        entry = append_activity_log(activity_log, line=log_line or first, run_id=run_id, now=now)
        return f"{entry.path}" + ("" if entry.appended else " (already logged for this run)")

    channels: list[tuple[str, bool, Callable[[], str]]] = [
        ("slack", slack_webhook is not None, slack_channel),
        ("email", ses is not None and bool(sender) and bool(recipients), email_channel),
        ("activity-log", activity_log is not None, log_channel),
    ]
    for name, configured, deliver in channels:
        if not configured:
            outcomes.append(ChannelOutcome(name, "skipped", "not configured"))
            continue
        try:
            detail = deliver()
        except NotifyFailed as exc:
            outcomes.append(ChannelOutcome(name, "failed", exc.reason))
        except OpsError as exc:
            outcomes.append(ChannelOutcome(name, "failed", exc.message))
        except Exception as exc:  # reported, not raised; its text could hold a secret, so its type
            outcomes.append(ChannelOutcome(name, "failed", f"unexpected {type(exc).__name__}"))
        else:
            outcomes.append(ChannelOutcome(name, "sent", detail))
    announcement = Announcement(run_id, tuple(outcomes))
    log.info("announcement of run %s: %s", run_id, announcement.summary())
    return announcement
