"""Updating the status page (runbook 5.8) against the sandbox's Statuspage stand-in, over HTTP.

Statuspage's request shape (incident with a components map, `Authorization: OAuth`), what each
deploy outcome says, a resend after a kill between the send and the journal, the token kept out of
every output, the generic webhook, and the environments file's `notifications.status_page`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest
import yaml
from werkzeug.serving import make_server

from adinsights_ops import config, statuspage
from adinsights_ops.config._settings import StatusPage
from adinsights_ops.errors import ConfigError
from adinsights_ops.sandbox.statuspage_sim import (
    SANDBOX_COMPONENT,
    SANDBOX_PAGE,
    StatuspageSimulator,
)
from adinsights_ops.waiting import Backoff
from tests.simulated import ENVIRONMENTS, FakeClock

TOKEN = "SENTINEL-statuspage-key-4c3b2a"
SECRET_ID = "adinsights/test/statuspage-api-key"
RUN = "20260504T030000Z-1a2b3c"
NO_JITTER = Backoff(initial=1.0, factor=2.0, maximum=8.0, jitter=0.0)
PAGE = StatusPage(
    kind="statuspage",
    url="https://api.statuspage.invalid/v1",
    page_id=SANDBOX_PAGE,
    component=SANDBOX_COMPONENT,
    token_secret=SECRET_ID,
)


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
def sim() -> StatuspageSimulator:
    return StatuspageSimulator(
        token=TOKEN, pages={SANDBOX_PAGE: {SANDBOX_COMPONENT: "ADinsights API"}}
    )


@pytest.fixture
def base(sim: StatuspageSimulator) -> Iterator[str]:
    with serve(sim) as url:
        yield url


@pytest.fixture
def secrets(base: str) -> Iterator[Any]:
    """Secrets Manager (moto) holding the token and the stand-in's URL, as the sandbox stores it."""
    with moto.mock_aws():
        client = boto3.Session(region_name="eu-west-1").client("secretsmanager")
        client.create_secret(
            Name=SECRET_ID, SecretString=json.dumps({"token": TOKEN, "url": f"{base}/v1"})
        )
        yield client


def announce(
    secrets: Any, announcement: str, page: StatusPage | None = PAGE
) -> statuspage.ChannelResult:
    return statuspage.announce(
        page,
        secretsmanager=lambda: secrets,
        run_id=RUN,
        announcement=announcement,
        title=f"[sandbox] v1.3.0 {announcement}",
        body=f"ADinsights v1.3.0 deploy to sandbox: {announcement} (run {RUN})",
        environment="sandbox",
        clock=FakeClock(),
        backoff=NO_JITTER,
    )


def test_a_successful_deploy_resolves_an_incident_and_sets_the_component_operational(
    sim: StatuspageSimulator, secrets: Any
) -> None:
    result = announce(secrets, "succeeded")
    assert result.outcome == "sent", result.detail
    (incident,) = sim.incidents_of(SANDBOX_PAGE)
    assert result.detail == f"HTTP 201 incident {incident['id']} (resolved, component operational)"
    assert incident["name"] == "[sandbox] v1.3.0 succeeded"
    assert incident["status"] == "resolved" and incident["impact"] == "none"
    (update,) = incident["incident_updates"]
    assert update["body"].endswith(f"(run {RUN})") and update["deliver_notifications"] is False
    assert incident["metadata"] == {"adinsights_ops": {"run_id": RUN, "outcome": "succeeded"}}
    assert sim.components[SANDBOX_PAGE][SANDBOX_COMPONENT]["status"] == "operational"
    # The request had Statuspage's shape and carried the idempotency key.
    (posted,) = sim.posted
    assert posted.path == f"/v1/pages/{SANDBOX_PAGE}/incidents"
    assert posted.body["incident"]["components"] == {SANDBOX_COMPONENT: "operational"}
    assert posted.body["incident"]["component_ids"] == [SANDBOX_COMPONENT]
    assert posted.idempotency_key == statuspage.idempotency_key(RUN, "succeeded")


@pytest.mark.parametrize(
    ("announcement", "incident_status", "component_status", "notified"),
    [
        ("rolled-back:rollout", "monitoring", "operational", False),
        ("failed:snapshot", "resolved", "operational", False),
        ("needs-human:rollout", "investigating", "degraded_performance", True),
    ],
)
def test_a_failed_deploy_says_where_the_service_stands(
    sim: StatuspageSimulator,
    secrets: Any,
    announcement: str,
    incident_status: str,
    component_status: str,
    notified: bool,
) -> None:
    result = announce(secrets, announcement)
    assert result.outcome == "sent", result.detail
    (incident,) = sim.incidents_of(SANDBOX_PAGE)
    assert incident["status"] == incident_status
    assert incident["incident_updates"][0]["deliver_notifications"] is notified
    assert sim.components[SANDBOX_PAGE][SANDBOX_COMPONENT]["status"] == component_status
    assert result.detail.endswith(f"({incident_status}, component {component_status})")


def test_a_resend_after_a_kill_between_send_and_journal_posts_once(
    sim: StatuspageSimulator, secrets: Any
) -> None:
    """The pipeline journals the channel after sending: a kill in between means a resumed run
    sends again, with the same idempotency key, and the page keeps one incident."""
    journal: dict[str, str] = {}
    first = announce(secrets, "rolled-back:smoke")  # ... killed here, before journal[...] = ...
    assert first.outcome == "sent" and "status-page" not in journal
    again = announce(secrets, "rolled-back:smoke")  # the resumed run
    journal["status-page"] = again.outcome
    assert again.outcome == "sent"
    assert len(sim.incidents_of(SANDBOX_PAGE)) == 1
    assert again.detail == first.detail  # the first answer, replayed
    assert [p.replayed for p in sim.posted] == [False, True]
    assert sim.posted[0].idempotency_key == sim.posted[1].idempotency_key
    # Another announcement of the same run is another incident.
    assert announce(secrets, "needs-human:rollback").outcome == "sent"
    assert len(sim.incidents_of(SANDBOX_PAGE)) == 2


def test_the_token_is_never_in_a_result_a_log_or_what_the_stand_in_kept(
    sim: StatuspageSimulator, base: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with moto.mock_aws():
        client = boto3.Session(region_name="eu-west-1").client("secretsmanager")
        wrong = "SENTINEL-wrong-statuspage-key-77aa"
        client.create_secret(
            Name=SECRET_ID, SecretString=json.dumps({"api_key": wrong, "url": f"{base}/v1"})
        )
        refused = announce(client, "succeeded")
        client.put_secret_value(
            SecretId=SECRET_ID, SecretString=json.dumps({"token": TOKEN, "url": f"{base}/v1"})
        )
        sent = announce(client, "succeeded")
    assert refused == statuspage.ChannelResult(
        "failed", "Statuspage answered HTTP 401: Could not authenticate"
    )
    assert sent.outcome == "sent"
    kept = json.dumps([repr(p) for p in sim.posted]) + json.dumps(sim.incidents_of(SANDBOX_PAGE))
    # Ours and the HTTP stack's records (botocore's DEBUG dumps of Secrets Manager answers are the
    # debug log's to redact, as for every secret read).
    logged = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(("botocore", "boto3"))
    )
    assert "POST /v1/pages/sandboxpage01/incidents" in logged
    for text in (repr(refused), repr(sent), logged, kept):
        assert TOKEN not in text and wrong not in text and "SENTINEL" not in text
    token = statuspage.Token(TOKEN)
    assert TOKEN not in repr(token) + str(token) + repr(statuspage.Credentials(token))
    with pytest.raises(TypeError):
        __import__("pickle").dumps(token)


def test_an_error_answer_that_echoes_the_token_is_masked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("403 Forbidden", [("Content-Type", "application/json")])
        return [json.dumps({"error": f"key {environ.get('HTTP_AUTHORIZATION')} refused"}).encode()]

    with serve(echo) as url, pytest.raises(statuspage.StatusPageFailed) as raised:
        statuspage.post_status(
            None,
            PAGE,
            token=statuspage.Token(TOKEN),
            url=url,
            outcome="succeeded",
            title="t",
            body="b",
            run_id=RUN,
            environment="sandbox",
            key="k",
        )
    assert raised.value.reason == "Statuspage answered HTTP 403: key OAuth ********** refused"
    assert TOKEN not in caplog.text


def test_a_missing_secret_or_an_unreachable_page_fails_the_channel_not_the_caller(
    sim: StatuspageSimulator, secrets: Any
) -> None:
    missing = StatusPage("statuspage", PAGE.url, SANDBOX_PAGE, SANDBOX_COMPONENT, "nosuch")
    result = announce(secrets, "succeeded", missing)
    assert result == statuspage.ChannelResult(
        "failed", "cannot read the status page token secret 'nosuch' (ResourceNotFoundException)"
    )
    secrets.put_secret_value(SecretId=SECRET_ID, SecretString="plain-token-no-url")
    unreachable = StatusPage("statuspage", "http://127.0.0.1:9/v1", SANDBOX_PAGE, "x", SECRET_ID)
    result = announce(secrets, "succeeded", unreachable)
    assert (
        result.outcome == "failed" and "Statuspage did not answer after 3 attempts" in result.detail
    )
    assert announce(secrets, "succeeded", None) == statuspage.ChannelResult(
        "skipped", "not configured"
    )
    assert sim.posted == []


def test_a_generic_webhook_gets_the_outcome_as_json(
    sim: StatuspageSimulator, base: str, secrets: Any
) -> None:
    hook = StatusPage(kind="webhook", url=f"{base}/webhook", component="api")
    result = announce(secrets, "rolled-back:smoke", hook)  # no token: none sent
    assert result == statuspage.ChannelResult(
        "sent", "HTTP 200 (monitoring, component operational)"
    )
    (posted,) = sim.posted
    assert posted.path == "/webhook"
    assert posted.body == {
        "event": "deploy",
        "environment": "sandbox",
        "run_id": RUN,
        "outcome": "rolled-back",
        "status": "monitoring",
        "component": "api",
        "component_status": "operational",
        "title": "[sandbox] v1.3.0 rolled-back:smoke",
        "body": f"ADinsights v1.3.0 deploy to sandbox: rolled-back:smoke (run {RUN})",
    }
    # Resent with the same key: answered once more, recorded as a replay.
    announce(secrets, "rolled-back:smoke", hook)
    assert [p.replayed for p in sim.posted] == [False, True]


def test_the_stand_in_refuses_what_statuspage_refuses(sim: StatuspageSimulator, base: str) -> None:
    import requests

    auth = {"Authorization": f"OAuth {TOKEN}"}
    incidents = f"{base}/v1/pages/{SANDBOX_PAGE}/incidents"
    bad = {"incident": {"name": "", "status": "fine", "components": {"nope": "broken"}}}
    answer = requests.post(incidents, json=bad, headers=auth, timeout=5)
    assert answer.status_code == 422
    assert answer.json()["error"] == [
        "Name can't be blank",
        "Status is not included in the list ('fine')",
        "Component nope not found",
    ]
    assert requests.get(incidents, timeout=5).status_code == 401
    assert (
        requests.get(f"{base}/v1/pages/other/incidents", headers=auth, timeout=5).status_code == 404
    )
    key = {**auth, "Idempotency-Key": "k1"}
    good = {"incident": {"name": "n", "status": "resolved"}}
    assert requests.post(incidents, json=good, headers=key, timeout=5).status_code == 201
    other = {"incident": {"name": "other", "status": "resolved"}}
    assert requests.post(incidents, json=other, headers=key, timeout=5).status_code == 422
    assert len(requests.get(incidents, headers=auth, timeout=5).json()) == 1
    component = f"{base}/v1/pages/{SANDBOX_PAGE}/components/{SANDBOX_COMPONENT}"
    patched = requests.patch(
        component, json={"component": {"status": "major_outage"}}, headers=auth, timeout=5
    )
    assert patched.status_code == 200 and patched.json()["status"] == "major_outage"
    seen = requests.get(f"{base}/_posted", timeout=5).json()
    assert [p["status"] for p in seen] == [422, 201, 422, 200]


# -- the environments file ---------------------------------------------------------------------


def load_with(tmp_path: Path, status_page: Any) -> config.Environment:
    data = yaml.safe_load(ENVIRONMENTS.read_text())["sandbox"]
    data["notifications"]["status_page"] = status_page
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump({"sandbox": data}))
    return config.load("sandbox", path)


def test_the_sandbox_has_a_status_page_and_a_webhook_needs_only_its_url(tmp_path: Path) -> None:
    page = config.load("sandbox", ENVIRONMENTS).notifications.status_page
    assert page is not None and page.kind == "statuspage" and page.token_secret
    hook = load_with(tmp_path, {"kind": "webhook", "url": "https://hooks.example.test/status"})
    assert hook.notifications.status_page == StatusPage(
        "webhook", "https://hooks.example.test/status"
    )
    default = load_with(
        tmp_path, {"kind": "statuspage", "page_id": "p", "component": "c", "token_secret": "s"}
    ).notifications.status_page
    assert default is not None and default.url == "https://api.statuspage.io/v1"


@pytest.mark.parametrize(
    ("status_page", "problems"),
    [
        (
            {"kind": "statuspage", "url": "ftp://x", "colour": "red"},
            [
                "sandbox.notifications.status_page.url: expected an http(s):// URL, got 'ftp://x'",
                "sandbox.notifications.status_page.page_id: missing (required)",
                "sandbox.notifications.status_page.component: missing (required)",
                "sandbox.notifications.status_page.token_secret: missing (required)",
                "sandbox.notifications.status_page.colour: unknown key (known: component, kind, "
                "page_id, token_secret, url)",
            ],
        ),
        (
            {"kind": "webhook", "page_id": "p"},
            [
                "sandbox.notifications.status_page.url: missing (required)",
                "sandbox.notifications.status_page.page_id: is for kind statuspage only "
                "(a webhook has its url)",
            ],
        ),
        (
            {"kind": "pager", "page_id": "<STATUSPAGE_PAGE_ID>", "url": "https://x"},
            [
                "sandbox.notifications.status_page.kind: expected one of statuspage, webhook, "
                "got 'pager'",
                "sandbox.notifications.status_page.page_id: still the placeholder "
                "<STATUSPAGE_PAGE_ID>: fill it in",
            ],
        ),
        ("yes", ["sandbox.notifications.status_page: expected a mapping, got str 'yes'"]),
    ],
)
def test_every_status_page_problem_is_reported_at_once_with_its_dotted_key(
    tmp_path: Path, status_page: Any, problems: list[str]
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_with(tmp_path, status_page)
    error = raised.value
    found = error.details or [f"{error.key}: {error.expected}"]
    assert found == problems
