"""Announcements: Slack to a local HTTP receiver, SES and Secrets Manager under mock_aws, the log.

The webhook URL is a secret; every test that can fail or log checks that it shows up nowhere.
"""

from __future__ import annotations

import json
import logging
import pickle
import socket
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest
from moto.ses.models import ses_backends
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from adinsights_ops import notify
from adinsights_ops.notify import EmailFailed, Secret, SlackFailed
from adinsights_ops.waiting import Backoff
from tests.simulated import FakeClock

REGION = "eu-west-1"
ACCOUNT = "123456789012"
TOKEN = "SENTINEL-slack-hook-9f8e7d6c5b4a"
HOOK_PATH = f"/services/T0SANDBOX/B0SANDBOX/{TOKEN}"
NO_JITTER = Backoff(initial=1.0, factor=2.0, maximum=8.0, jitter=0.0)
SENDER = "releases@adinsights.example"
RECIPIENTS = ("ops@adinsights.example", "product@adinsights.example")
NOW = datetime(2026, 5, 4, 3, 0, 0, tzinfo=UTC)


class Receiver:
    """A Slack-webhook stand-in: records what it is sent; answers planned (status, body), then ok."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[tuple[int, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.received.append(
            {
                "method": request.method,
                "path": request.path,
                "content_type": request.content_type,
                "json": request.get_json(silent=True),
            }
        )
        status, body = self.answers.pop(0) if self.answers else (200, "ok")
        return Response(body, status=status, content_type="text/plain")(environ, start_response)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def hook(receiver: Receiver) -> Iterator[Secret]:
    with serve(receiver) as base:
        yield Secret(base + HOOK_PATH)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def aws() -> Iterator[Any]:
    with moto.mock_aws():
        session = boto3.Session(region_name=REGION)
        yield session.client


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{HOOK_PATH}"


def every_text_of(exc: BaseException) -> str:
    """str, repr, and the whole printed traceback (with any chained exceptions)."""
    return "\n".join([str(exc), repr(exc), "".join(traceback.format_exception(exc))])


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything logged on our side (werkzeug's lines are the receiver's, i.e. Slack's, own log)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))


def sent_messages() -> list[Any]:
    return list(ses_backends[ACCOUNT][REGION].sent_messages)


# -- Slack --------------------------------------------------------------------------------------


def test_slack_posts_the_text_as_json(
    receiver: Receiver, hook: Secret, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    delivery = notify.slack(None, webhook_url=hook, text="ADinsights v1.3.0 is live", clock=clock)

    assert (delivery.status, delivery.attempts) == (200, 1)
    (request,) = receiver.received
    assert request["method"] == "POST"
    assert request["path"] == HOOK_PATH
    assert request["content_type"] == "application/json"
    assert request["json"] == {"text": "ADinsights v1.3.0 is live"}
    assert TOKEN not in logged(caplog)


def test_a_slack_error_names_the_webhook_never_its_url(
    receiver: Receiver, hook: Secret, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Slack answers an unknown hook with 404 "no_service"; this one also echoes the path.
    receiver.answers = [(404, f"no_service {HOOK_PATH}")]

    with pytest.raises(SlackFailed) as excinfo:
        notify.slack(None, webhook_url=hook, text="hello", clock=clock)

    exc = excinfo.value
    assert exc.channel == "slack"
    assert str(exc) == "slack: the Slack webhook answered HTTP 404: no_service <webhook>"
    assert exc.__cause__ is None and exc.__context__ is None
    assert TOKEN not in every_text_of(exc)
    assert TOKEN not in logged(caplog)
    assert len(receiver.received) == 1  # a 404 is not retried
    assert clock.slept == []


def test_an_unreachable_slack_webhook_is_retried_then_fails_without_the_url(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = closed_url()

    with pytest.raises(SlackFailed) as excinfo:
        notify.slack(None, webhook_url=Secret(url), text="hello", clock=clock, backoff=NO_JITTER)

    assert excinfo.value.reason == (
        "the Slack webhook did not answer after 3 attempts: could not connect (ConnectionError)"
    )
    assert clock.slept == [1.0, 2.0]
    port = url.split(":")[2].split("/")[0]
    for secret in (TOKEN, port):
        assert secret not in every_text_of(excinfo.value)
    assert TOKEN not in logged(caplog)


def test_a_transient_slack_error_is_retried(
    receiver: Receiver, hook: Secret, clock: FakeClock
) -> None:
    receiver.answers = [(503, "service unavailable")]

    delivery = notify.slack(None, webhook_url=hook, text="hi", clock=clock, backoff=NO_JITTER)

    assert (delivery.status, delivery.attempts) == (200, 2)
    assert [r["json"] for r in receiver.received] == [{"text": "hi"}] * 2
    assert clock.slept == [1.0]


def test_a_secret_is_masked_everywhere_but_reveal() -> None:
    secret = Secret("https://hooks.slack.com" + HOOK_PATH)

    assert secret.reveal().endswith(TOKEN)
    for text in (repr(secret), str(secret), f"{secret!s:>5}", format(secret), repr([secret])):
        assert TOKEN not in text
        assert "*" in text
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_webhook_url_is_read_from_secrets_manager(aws: Any) -> None:
    secretsmanager = aws("secretsmanager")
    url = "https://hooks.slack.com" + HOOK_PATH
    secretsmanager.create_secret(Name="adinsights/sandbox/slack-webhook", SecretString=url)
    secretsmanager.create_secret(
        Name="adinsights/sandbox/slack-json", SecretString=json.dumps({"url": url})
    )

    for secret_id in ("adinsights/sandbox/slack-webhook", "adinsights/sandbox/slack-json"):
        secret = notify.webhook_url_from_secret(secretsmanager, secret_id=secret_id)
        assert secret.reveal() == url
        assert TOKEN not in repr(secret)


def test_a_missing_or_wrong_webhook_secret_fails_without_its_value(aws: Any) -> None:
    secretsmanager = aws("secretsmanager")
    secretsmanager.create_secret(Name="adinsights/sandbox/not-a-url", SecretString=TOKEN)

    with pytest.raises(SlackFailed) as missing:
        notify.webhook_url_from_secret(secretsmanager, secret_id="adinsights/sandbox/nothing")
    assert missing.value.reason == (
        "cannot read the Slack webhook secret 'adinsights/sandbox/nothing' "
        "(ResourceNotFoundException)"
    )
    with pytest.raises(SlackFailed) as wrong:
        notify.webhook_url_from_secret(secretsmanager, secret_id="adinsights/sandbox/not-a-url")
    assert "does not hold a webhook URL" in wrong.value.reason
    assert TOKEN not in every_text_of(wrong.value)


# -- email --------------------------------------------------------------------------------------


def test_email_is_sent_through_ses(aws: Any) -> None:
    ses = aws("ses")
    ses.verify_email_identity(EmailAddress=SENDER)

    message_id = notify.email(
        ses, sender=SENDER, recipients=RECIPIENTS, subject="v1.3.0 released", body="All green."
    )

    (message,) = sent_messages()
    assert message.id == message_id
    assert (message.source, message.subject, message.body) == (
        SENDER,
        "v1.3.0 released",
        "All green.",
    )
    assert message.destinations["ToAddresses"] == list(RECIPIENTS)
    assert ses.get_send_quota()["SentLast24Hours"] == len(RECIPIENTS)


def test_email_from_an_unverified_sender_fails_with_ses_reason(aws: Any) -> None:
    ses = aws("ses")

    with pytest.raises(EmailFailed) as excinfo:
        notify.email(ses, sender=SENDER, recipients=RECIPIENTS, subject="s", body="b")
    assert "MessageRejected" in excinfo.value.reason
    with pytest.raises(EmailFailed, match="no recipients"):
        notify.email(ses, sender=SENDER, recipients=(), subject="s", body="b")
    assert sent_messages() == []


# -- activity log -------------------------------------------------------------------------------


def test_activity_log_is_created_and_appended_once_per_run(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "ops" / "agent-activity-log.md"

    first = notify.append_activity_log(
        path, line="sandbox: v1.3.0 deployed\n  all checks green", run_id="run-1", now=lambda: NOW
    )
    again = notify.append_activity_log(
        path, line="sandbox: v1.3.0 deployed (resumed)", run_id="run-1", now=lambda: NOW
    )
    other = notify.append_activity_log(
        path, line="- sandbox: v1.3.1 deployed", run_id="run-2", now=lambda: NOW
    )

    expected_first = "- 2026-05-04T03:00:00Z sandbox: v1.3.0 deployed all checks green (run run-1)"
    assert (first.appended, first.line) == (True, expected_first)
    assert (again.appended, again.line) == (False, expected_first)
    assert other.appended
    assert path.read_text(encoding="utf-8") == (
        "# Release activity log\n\n"
        f"{expected_first}\n"
        "- 2026-05-04T03:00:00Z sandbox: v1.3.1 deployed (run run-2)\n"
    )


def test_activity_log_keeps_an_existing_file_and_its_last_line(tmp_path: Path) -> None:
    path = tmp_path / "log.md"
    path.write_text("# Agent activity log\n\n- earlier entry", encoding="utf-8")

    notify.append_activity_log(path, line="later entry", now=lambda: NOW)

    assert path.read_text(encoding="utf-8").splitlines() == [
        "# Agent activity log",
        "",
        "- earlier entry",
        "- 2026-05-04T03:00:00Z later entry",
    ]


# -- announce -----------------------------------------------------------------------------------


def test_announce_sends_on_every_configured_channel(
    aws: Any, receiver: Receiver, hook: Secret, clock: FakeClock, tmp_path: Path
) -> None:
    ses = aws("ses")
    ses.verify_email_identity(EmailAddress=SENDER)
    log_path = tmp_path / "agent-activity-log.md"

    announcement = notify.announce(
        None,
        run_id="run-7",
        text="ADinsights v1.3.0 deployed to sandbox\nsmoke: 5/5 ok",
        slack_webhook=hook,
        ses=ses,
        sender=SENDER,
        recipients=RECIPIENTS,
        activity_log=log_path,
        clock=clock,
        now=lambda: NOW,
    )

    assert announcement.ok
    assert [(c.channel, c.outcome) for c in announcement.channels] == [
        ("slack", "sent"),
        ("email", "sent"),
        ("activity-log", "sent"),
    ]
    assert receiver.received[0]["json"] == {
        "text": "ADinsights v1.3.0 deployed to sandbox\nsmoke: 5/5 ok"
    }
    (message,) = sent_messages()
    assert message.subject == "ADinsights v1.3.0 deployed to sandbox"
    assert announcement.outcome("email").detail == f"message {message.id} to 2 recipient(s)"
    assert log_path.read_text(encoding="utf-8").endswith(
        "- 2026-05-04T03:00:00Z ADinsights v1.3.0 deployed to sandbox (run run-7)\n"
    )


def test_a_failed_channel_is_reported_and_the_others_still_go(
    receiver: Receiver,
    hook: Secret,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.answers = [(500, f"internal error for {TOKEN}")] * 3
    log_path = tmp_path / "log.md"

    announcement = notify.announce(
        None,
        run_id="run-8",
        text="v1.3.0 deployed",
        slack_webhook=lambda: hook,
        activity_log=log_path,
        clock=clock,
        backoff=NO_JITTER,
        now=lambda: NOW,
    )

    assert not announcement.ok
    slack = announcement.outcome("slack")
    assert (slack.outcome, slack.detail) == (
        "failed",
        "the Slack webhook answered HTTP 500 after 3 attempts: internal error for <webhook>",
    )
    assert announcement.outcome("email").outcome == "skipped"
    assert announcement.outcome("email").detail == "not configured"
    assert announcement.outcome("activity-log").outcome == "sent"
    assert "run-8" in log_path.read_text(encoding="utf-8")
    for text in (repr(announcement), announcement.summary(), logged(caplog)):
        assert TOKEN not in text


def test_a_webhook_that_cannot_be_fetched_is_a_failed_channel(clock: FakeClock) -> None:
    def missing() -> Secret:
        raise SlackFailed("cannot read the Slack webhook secret 'x' (ResourceNotFoundException)")

    def broken() -> Secret:
        raise RuntimeError(f"boom {TOKEN}")

    for source, reason in (
        (missing, "cannot read the Slack webhook secret 'x' (ResourceNotFoundException)"),
        (broken, "unexpected RuntimeError"),
    ):
        announcement = notify.announce(None, run_id="r", text="t", slack_webhook=source)
        assert announcement.outcome("slack").outcome == "failed"
        assert announcement.outcome("slack").detail == reason
        assert TOKEN not in repr(announcement)
        assert announcement.outcome("activity-log").outcome == "skipped"
