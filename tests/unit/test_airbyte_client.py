"""AirbyteClient: tokens, retries of transient failures only, and a secret that never shows."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import moto
import pytest
from werkzeug.test import Client

from adinsights_ops import airbyte
from adinsights_ops.airbyte import (
    AirbyteAuthFailed,
    AirbyteClient,
    AirbyteNotFound,
    AirbyteUnavailable,
)
from adinsights_ops.aws import Aws
from adinsights_ops.errors import OpsError
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.sandbox.apps import simulators
from adinsights_ops.sandbox.blueprint_secrets import secret_value
from adinsights_ops.waiting import RetryPolicy
from tests.unit.test_airbyte_contract import META, SECRET, Harness, airbyte_harness


@pytest.fixture
def h() -> Iterator[Harness]:
    with airbyte_harness(pending_seconds=1, job_seconds=20, token_seconds=60) as harness:
        yield harness


def statuses(h: Harness, route: str) -> list[int]:
    return [c.status for c in h.sim.calls if c.route == route]


def test_the_token_is_renewed_before_it_expires(h: Harness) -> None:
    h.sim.job_seconds = 300  # five times the token's lifetime
    job = airbyte.sync(h.client, connection_id=META, timeout=900, clock=h.clock)
    assert job.status == "succeeded"
    assert h.sim.tokens_issued >= 5
    assert 401 not in [c.status for c in h.sim.calls]  # renewed in time, never refused


def test_a_401_renews_the_token_once_and_goes_on(h: Harness) -> None:
    h.check.allow_401 = True
    job_id = h.sim.start_job(META)
    h.client.get_job(job_id)
    h.sim.revoke_tokens()  # e.g. Airbyte restarted
    assert h.client.get_job(job_id)["jobId"] == job_id
    assert statuses(h, "/jobs/{jobId}") == [200, 401, 200]
    assert h.sim.tokens_issued == 2


def test_a_token_refused_twice_is_an_auth_failure() -> None:
    with airbyte_harness(token_seconds=0) as h:  # every token is expired on arrival
        h.check.allow_401 = True
        with pytest.raises(AirbyteAuthFailed) as raised:
            h.client.get_job(1)
        assert raised.value.status == 401
        assert statuses(h, "/jobs/{jobId}") == [401, 401]


def test_refused_credentials_fail_at_once_without_showing_the_secret(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "SENTINEL-wrong-airbyte-secret-1234"
    client = h.new_client(client_secret=wrong)
    with pytest.raises(AirbyteAuthFailed) as raised:
        client.list_jobs(connection_id=META)
    assert raised.value.status == 403
    assert "adinsights-ops-sandbox" in str(raised.value)  # names the client id
    assert statuses(h, "/applications/token") == [403]  # not retried
    assert h.retry_sleeps == []
    for text in (str(raised.value), repr(raised.value), repr(client), caplog.text):
        assert wrong not in text
        assert SECRET not in text


def test_the_secret_and_token_never_show_in_logs_or_reprs(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    airbyte.sync(h.client, connection_id=META, timeout=600, clock=h.clock)
    assert "Airbyte POST /jobs -> 200" in caplog.text  # the client does log its requests
    assert SECRET not in caplog.text and SECRET not in repr(h.client)
    assert "Bearer " not in caplog.text


def test_the_secret_is_read_once_and_only_when_needed(h: Harness) -> None:
    reads: list[int] = []

    def read() -> str:
        reads.append(1)
        return SECRET

    client = h.new_client(client_secret=read)
    assert reads == []
    client.list_jobs()
    h.clock.advance(120)  # the token expired: a new one, same secret
    client.list_jobs()
    assert reads == [1]
    assert h.sim.tokens_issued == 2


def test_transient_answers_are_retried_then_succeed(h: Harness) -> None:
    h.sim.fail_requests(1, status=429)
    h.sim.fail_requests(1, status=502)
    h.sim.fail_requests(1, status=504)
    assert h.client.list_jobs(connection_id=META) == []
    assert len(h.retry_sleeps) == 3


def test_transient_failures_are_retried_a_bounded_number_of_times(h: Harness) -> None:
    h.client.list_jobs()  # a token first
    h.sim.fail_requests(10, status=503, path="/jobs")
    with pytest.raises(AirbyteUnavailable) as raised:
        h.client.list_jobs()
    assert raised.value.status == 503
    assert statuses(h, "/jobs") == [200, 503, 503, 503, 503]  # RetryPolicy(attempts=4)
    assert len(h.retry_sleeps) == 3


def test_errors_that_a_retry_cannot_fix_are_not_retried(h: Harness) -> None:
    with pytest.raises(AirbyteNotFound) as raised:
        h.client.get_job(999_999)
    assert raised.value.status == 404 and "no job 999999" in str(raised.value)
    with pytest.raises(OpsError, match="HTTP 400: no connection 00000000"):
        h.client.create_job("00000000-0000-0000-0000-000000000000")
    assert h.retry_sleeps == []


def test_an_unreachable_airbyte_is_unavailable_after_bounded_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    sleeps: list[float] = []
    client = AirbyteClient(
        f"http://127.0.0.1:{port}",
        client_id="x",
        client_secret=SECRET,
        sleep=sleeps.append,
        retry=RetryPolicy(attempts=3, max_seconds=30),
    )
    with pytest.raises(AirbyteUnavailable) as raised:
        client.list_jobs()
    assert raised.value.status is None
    assert "ConnectionError" in str(raised.value)
    assert SECRET not in str(raised.value)
    assert len(sleeps) == 2


def test_the_api_prefix_is_added_once() -> None:
    assert AirbyteClient("https://ab.example/", client_id="x", client_secret="y").base_url == (
        "https://ab.example/api/public/v1"
    )
    assert AirbyteClient(
        "https://ab.example/api/public/v1", client_id="x", client_secret="y"
    ).base_url == ("https://ab.example/api/public/v1")


def test_client_for_reads_the_secret_from_secrets_manager(h: Harness) -> None:
    settings = h.env.airbyte
    assert settings is not None
    with moto.mock_aws():
        sm = boto3.client("secretsmanager", region_name=h.env.region)
        sm.create_secret(Name=settings.client_secret, SecretString=SECRET)
        ops = OpsEnv(h.env, Aws(region=h.env.region), clock=h.clock, airbyte_url=h.url)
        client = airbyte.client_for(ops)
        assert client.base_url == f"{h.url}/api/public/v1"
        assert client.client_id == settings.client_id
        assert client.list_jobs() == []
        sm.delete_secret(SecretId=settings.client_secret, ForceDeleteWithoutRecovery=True)
        unreadable = airbyte.client_for(ops)
        with pytest.raises(OpsError, match="ResourceNotFoundException") as raised:
            unreadable.list_jobs()
        assert settings.client_secret in str(raised.value)


def test_the_sandbox_mounts_the_simulator_and_it_uses_the_sandbox_secret() -> None:
    from adinsights_ops import config
    from tests.simulated import ENVIRONMENTS

    env = config.load("sandbox", ENVIRONMENTS)
    assert env.airbyte is not None
    body: dict[str, Any] = {"client_id": env.airbyte.client_id, "grant_type": "client_credentials"}
    with moto.mock_aws():
        # Built before the sandbox is seeded, as the server does: the secret is read lazily.
        sim = Client(simulators(env, server=None)["airbyte"])
        token = "/api/public/v1/applications/token"
        real = secret_value(env, "airbyte-client-secret")
        assert sim.post(token, json={**body, "client_secret": real}).status_code == 403
        sm = boto3.client("secretsmanager", region_name=env.region)
        sm.create_secret(Name=env.airbyte.client_secret, SecretString=real)
        assert sim.post(token, json={**body, "client_secret": real}).status_code == 200
        assert sim.post(token, json={**body, "client_secret": "nope"}).status_code == 403
        sm.put_secret_value(SecretId=env.airbyte.client_secret, SecretString="rotated")
        assert sim.post(token, json={**body, "client_secret": "rotated"}).status_code == 200
