"""The Airbyte client and the simulated Airbyte API, held to the upstream contract with openapi-core.

`airbyte_harness()` (used by every test_airbyte_* module) serves the simulator over real HTTP on
127.0.0.1 and checks every exchange of the client against `shared/contracts/airbyte-public-api-jobs.yaml`:
the request the client sent and the answer the simulator gave. An answer outside the contract is a
test failure unless it is a documented deviation (`airbyte_sim.CONTRACT_DEVIATIONS`), a 401 the test
asked for, or a fault a test hook injected (it carries `X-Sandbox-Fault`).

The contract has no connection endpoints; `CONNECTIONS` adds GET/PATCH /connections/{connectionId}
as Airbyte's public API defines them (ConnectionResponse, ConnectionPatchRequest; the fields we use).
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.serving import make_server
from werkzeug.test import Client, EnvironBuilder, TestResponse

from adinsights_ops import config
from adinsights_ops.airbyte import AirbyteClient
from adinsights_ops.config import Environment
from adinsights_ops.sandbox.airbyte_sim import (
    CONTRACT_DEVIATIONS,
    FAULT_HEADER,
    AirbyteSimulator,
)
from adinsights_ops.sandbox.airbyte_sim_connections import seed_connections
from adinsights_ops.waiting import RetryPolicy
from tests.simulated import ENVIRONMENTS, ROOT, FakeClock

# A copy of the shared upstream contract is kept with the tests so that they can never be skipped.
CONTRACT = Path(
    os.environ.get(
        "AIRBYTE_CONTRACT", ROOT / "tests" / "contracts" / "airbyte-public-api-jobs.yaml"
    )
)
CLIENT_ID = "adinsights-ops-sandbox"
SECRET = "SENTINEL-airbyte-client-secret-test"
META = "9f1b8a52-2c1e-4f5e-9a51-6d2d7f0c1a01"
GOOGLE = "3c7e0d44-8b2a-4b8e-bc61-0e5a4f9d2b02"

_STREAM = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "syncMode": {
            "enum": [
                "full_refresh_overwrite",
                "full_refresh_append",
                "incremental_append",
                "incremental_deduped_history",
            ]
        },
        "cursorField": {"type": "array", "items": {"type": "string"}},
        "primaryKey": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string"}},
        },
    },
}
_CONNECTION_SCHEMAS: dict[str, Any] = {
    "StreamConfigurations": {
        "type": "object",
        "properties": {"streams": {"type": "array", "items": _STREAM}},
    },
    "ConnectionStatusEnum": {"type": "string", "enum": ["active", "inactive", "deprecated"]},
    "ConnectionResponse": {
        "type": "object",
        "required": [
            "connectionId",
            "name",
            "sourceId",
            "destinationId",
            "workspaceId",
            "status",
            "schedule",
            "dataResidency",
            "configurations",
        ],
        "properties": {
            "connectionId": {"type": "string"},
            "name": {"type": "string"},
            "sourceId": {"type": "string"},
            "destinationId": {"type": "string"},
            "workspaceId": {"type": "string"},
            "status": {"$ref": "#/components/schemas/ConnectionStatusEnum"},
            "schedule": {
                "type": "object",
                "required": ["scheduleType"],
                "properties": {
                    "scheduleType": {"enum": ["manual", "cron", "basic"]},
                    "cronExpression": {"type": "string"},
                    "basicTiming": {"type": "string"},
                },
            },
            "dataResidency": {"type": "string", "enum": ["auto", "us", "eu"]},
            "configurations": {"$ref": "#/components/schemas/StreamConfigurations"},
        },
    },
    "ConnectionPatchRequest": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "status": {"$ref": "#/components/schemas/ConnectionStatusEnum"},
            "schedule": {
                "type": "object",
                "required": ["scheduleType"],
                "properties": {
                    "scheduleType": {"enum": ["manual", "cron"]},
                    "cronExpression": {"type": "string"},
                },
            },
            "configurations": {"$ref": "#/components/schemas/StreamConfigurations"},
        },
    },
}
_CONNECTION_ANSWER = {
    "200": {
        "description": "the connection",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ConnectionResponse"}}
        },
    },
    "403": {"description": "Not allowed"},
    "404": {"description": "Not found"},
}
CONNECTIONS: dict[str, Any] = {
    "/connections/{connectionId}": {
        "parameters": [
            {"name": "connectionId", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "get": {"operationId": "getConnection", "responses": _CONNECTION_ANSWER},
        "patch": {
            "operationId": "patchConnection",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ConnectionPatchRequest"}
                    }
                },
            },
            "responses": _CONNECTION_ANSWER,
        },
    }
}


def contract() -> OpenAPI:
    """The upstream contract plus the connection endpoints, for a server on any host."""
    return _contract(str(CONTRACT))


@functools.cache
def _contract(path: str) -> OpenAPI:
    spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    spec["servers"] = [{"url": "/api/public/v1"}]  # relative: any host, this path prefix
    spec["paths"].update(copy.deepcopy(CONNECTIONS))
    spec["components"]["schemas"].update(copy.deepcopy(_CONNECTION_SCHEMAS))
    return OpenAPI.from_dict(spec)  # validates the spec itself, extension included


def route_of(path: str) -> str:
    """The contract's path template of a request path."""
    path = path.split("?", 1)[0].split("/api/public/v1", 1)[-1]
    path = re.sub(r"^/jobs/\d+$", "/jobs/{jobId}", path)
    return re.sub(r"^/connections/[^/]+$", "/connections/{connectionId}", path)


@attrs.frozen
class Exchange:
    """One request of the client and the simulator's answer, as the contract judged them."""

    method: str
    route: str
    status: int
    fault: str | None
    request_error: Exception | None = attrs.field(eq=False)
    response_error: Exception | None = attrs.field(eq=False)

    @property
    def deviation(self) -> str | None:
        """Why this answer may break the contract, or None if it may not."""
        if self.fault is not None:
            return f"test hook: {self.fault}"
        if isinstance(self.response_error, ResponseNotFound):
            return CONTRACT_DEVIATIONS.get((self.method, self.route, self.status))
        return None


class ContractCheck:
    """A requests response hook validating every exchange with openapi-core."""

    def __init__(self, api: OpenAPI) -> None:
        self.api = api
        self.exchanges: list[Exchange] = []
        self.allow_401 = False
        self._lock = threading.Lock()

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = RequestsOpenAPIRequest(response.request)
        request_error = response_error = None
        try:
            self.api.validate_request(request)
        except Exception as exc:
            request_error = exc
        try:
            self.api.validate_response(request, RequestsOpenAPIResponse(response))
        except Exception as exc:
            response_error = exc
        exchange = Exchange(
            str(response.request.method),
            route_of(str(response.request.path_url)),
            response.status_code,
            response.headers.get(FAULT_HEADER),
            request_error,
            response_error,
        )
        with self._lock:
            self.exchanges.append(exchange)

    def unexpected(self) -> list[str]:
        """Every exchange that breaks the contract without a documented reason."""
        found = []
        for e in self.exchanges:
            if e.request_error is not None:
                found.append(f"client sent {e.method} {e.route}: {e.request_error}")
            if e.response_error is None or e.deviation is not None:
                continue
            if e.status == 401 and self.allow_401:
                continue
            found.append(f"simulator answered {e.method} {e.route} {e.status}: {e.response_error}")
        return found


@attrs.define
class Harness:
    env: Environment
    sim: AirbyteSimulator
    client: AirbyteClient = attrs.field(init=False)  # new_client() needs the rest first
    clock: FakeClock
    check: ContractCheck
    url: str
    retry_sleeps: list[float]

    def new_client(self, *, hooks: tuple[Any, ...] = (), **options: Any) -> AirbyteClient:
        """Another client of the same Airbyte, its exchanges checked too (then `hooks` called)."""
        session = requests.Session()
        session.hooks["response"].extend([self.check, *hooks])
        options.setdefault("client_id", CLIENT_ID)
        options.setdefault("client_secret", SECRET)
        options.setdefault("clock", self.clock)
        options.setdefault("sleep", self.retry_sleeps.append)
        options.setdefault("retry", RetryPolicy(attempts=4, max_seconds=30))
        return AirbyteClient(self.url, session=session, **options)


@contextmanager
def airbyte_harness(**sim_options: Any) -> Iterator[Harness]:
    """The simulator on a real HTTP server, a client of it, one fake clock for both."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    env = config.load("sandbox", ENVIRONMENTS)
    clock = FakeClock()
    sim_options.setdefault("token_seconds", 180)
    sim = AirbyteSimulator(
        client_id=CLIENT_ID,
        client_secret=SECRET,
        connections=seed_connections(env),
        clock=clock.monotonic,
        **sim_options,
    )
    server = make_server("127.0.0.1", 0, sim, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        check = ContractCheck(contract())
        harness = Harness(env, sim, clock, check, url, [])
        harness.client = harness.new_client()
        yield harness
        problems = check.unexpected()
        assert not problems, "exchanges outside the Airbyte contract:\n" + "\n".join(problems)
    finally:
        server.shutdown()
        thread.join(timeout=5)


# -- the simulator's answers, straight through WSGI (werkzeug wrappers) ------------------------


@pytest.fixture
def direct() -> Iterator[tuple[AirbyteSimulator, Client, FakeClock, OpenAPI]]:
    env = config.load("sandbox", ENVIRONMENTS)
    clock = FakeClock()
    sim = AirbyteSimulator(
        client_id=CLIENT_ID,
        client_secret=SECRET,
        connections=seed_connections(env),
        clock=clock.monotonic,
        pending_seconds=1,
        job_seconds=10,
    )
    yield sim, Client(sim), clock, contract()


def _call(api: OpenAPI, client: Client, method: str, path: str, **kwargs: Any) -> TestResponse:
    """Send a request to the simulator; validate the request and the answer with openapi-core."""
    response = client.open(path, method=method, **kwargs)
    # The simulator has read the request's body: validate a fresh copy of the same request.
    request = EnvironBuilder(path=path, method=method, **kwargs).get_request()
    openapi_request = WerkzeugOpenAPIRequest(request)
    api.validate_request(openapi_request)
    api.validate_response(openapi_request, WerkzeugOpenAPIResponse(response))
    return response


def _token(api: OpenAPI, client: Client) -> dict[str, str]:
    answer = _call(
        api,
        client,
        "POST",
        "/api/public/v1/applications/token",
        json={"client_id": CLIENT_ID, "client_secret": SECRET, "grant_type": "client_credentials"},
    )
    assert answer.status_code == 200
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def test_every_job_state_the_simulator_reports_conforms(
    direct: tuple[AirbyteSimulator, Client, FakeClock, OpenAPI],
) -> None:
    sim, client, clock, api = direct
    auth = _token(api, client)
    sync = {"connectionId": META, "jobType": "sync"}
    created = _call(api, client, "POST", "/api/public/v1/jobs", json=sync, headers=auth)
    job_id = created.get_json()["jobId"]
    seen = []
    for step in (0, 2, 20):
        clock.advance(step)
        answer = _call(api, client, "GET", f"/api/public/v1/jobs/{job_id}", headers=auth)
        seen.append(answer.get_json()["status"])
    assert seen == ["pending", "running", "succeeded"]
    assert answer.get_json()["duration"] == "PT11S"
    assert answer.get_json()["rowsSynced"] > 0

    sim.fail_next_job(GOOGLE)
    body = {"connectionId": GOOGLE, "jobType": "sync"}
    failed = _call(api, client, "POST", "/api/public/v1/jobs", json=body, headers=auth)
    clock.advance(30)
    answer = _call(
        api, client, "GET", f"/api/public/v1/jobs/{failed.get_json()['jobId']}", headers=auth
    )
    assert answer.get_json()["status"] == "failed"

    running = _call(api, client, "POST", "/api/public/v1/jobs", json=sync, headers=auth)
    job = running.get_json()["jobId"]
    cancelled = _call(api, client, "DELETE", f"/api/public/v1/jobs/{job}", headers=auth)
    assert cancelled.get_json()["status"] == "cancelled"

    query = {"connectionId": META, "limit": 1, "orderBy": "createdAt|DESC"}
    listed = _call(api, client, "GET", "/api/public/v1/jobs", query_string=query, headers=auth)
    page = listed.get_json()
    assert [j["jobId"] for j in page["data"]] == [job]
    assert "offset=1" in page["next"]

    missing = _call(api, client, "GET", "/api/public/v1/jobs/999999", headers=auth)
    assert missing.status_code == 404


def test_the_409_for_a_second_sync_is_the_one_documented_deviation(
    direct: tuple[AirbyteSimulator, Client, FakeClock, OpenAPI],
) -> None:
    sim, client, _clock, api = direct
    auth = _token(api, client)
    body = {"connectionId": META, "jobType": "sync"}
    first = _call(api, client, "POST", "/api/public/v1/jobs", json=body, headers=auth)
    assert first.status_code == 200
    with pytest.raises(ResponseNotFound) as raised:
        _call(api, client, "POST", "/api/public/v1/jobs", json=body, headers=auth)
    assert "409" in str(raised.value)
    second = client.post("/api/public/v1/jobs", json=body, headers=auth)
    assert second.status_code == 409
    assert second.get_json()["title"] == "try-again-later"
    assert second.get_json()["detail"] == f"A sync is already running for: {META}"
    assert list(CONTRACT_DEVIATIONS) == [("POST", "/jobs", 409)]
    assert len(sim.jobs(META)) == 1  # no second job was created


def test_tokens_are_checked_and_expire(
    direct: tuple[AirbyteSimulator, Client, FakeClock, OpenAPI],
) -> None:
    sim, client, clock, api = direct
    assert client.get("/api/public/v1/jobs").status_code == 401
    wrong = _call(
        api,
        client,
        "POST",
        "/api/public/v1/applications/token",
        json={"client_id": CLIENT_ID, "client_secret": "wrong", "grant_type": "client_credentials"},
    )
    assert wrong.status_code == 403
    # Airbyte takes the form encoding too. Not validated: the contract requires `grant_type` but
    # declares only `grant-type`, and openapi-core reads only declared properties from a form.
    form = client.post(
        "/api/public/v1/applications/token",
        data={"client_id": CLIENT_ID, "client_secret": SECRET, "grant_type": "client_credentials"},
    )
    assert form.get_json()["expires_in"] == sim.token_seconds
    auth = {"Authorization": f"Bearer {form.get_json()['access_token']}"}
    assert client.get("/api/public/v1/jobs", headers=auth).status_code == 200
    clock.advance(sim.token_seconds + 1)
    assert client.get("/api/public/v1/jobs", headers=auth).status_code == 401


def test_connections_answer_as_upstream_defines_them(
    direct: tuple[AirbyteSimulator, Client, FakeClock, OpenAPI],
) -> None:
    _sim, client, _clock, api = direct
    auth = _token(api, client)
    path = f"/api/public/v1/connections/{GOOGLE}"
    got = _call(api, client, "GET", path, headers=auth)
    assert got.get_json()["schedule"]["cronExpression"] == "0 0 */2 * * ?"  # the seeded drift
    hourly = {"schedule": {"scheduleType": "cron", "cronExpression": "0 0 * * * ?"}}
    patched = _call(api, client, "PATCH", path, json=hourly, headers=auth)
    assert patched.get_json()["schedule"]["cronExpression"] == "0 0 * * * ?"
    assert client.patch(path, json={"status": "paused"}, headers=auth).status_code == 400
    missing = _call(api, client, "GET", "/api/public/v1/connections/nope", headers=auth)
    assert missing.status_code == 404


def _answer(method: str, url: str, status: int, body: bytes, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers["Content-Type"] = "application/json"
    response.headers.update(headers)
    response.request = requests.Request(method, url).prepare()
    return response


def test_the_check_reports_answers_outside_the_contract() -> None:
    """The check can fail: a bad status, or a 409 where none is documented, is unexpected."""
    base = "http://127.0.0.1:9"
    check = ContractCheck(contract())
    bad_status = b'{"jobId": 1, "status": "paused", "jobType": "sync", "startTime": "t", "connectionId": "c"}'
    check(_answer("GET", f"{base}/api/public/v1/jobs/1", 200, bad_status))
    check(_answer("DELETE", f"{base}/api/public/v1/jobs/1", 409, b"{}"))
    check(
        _answer(
            "GET",
            f"{base}/api/public/v1/jobs/1",
            200,
            bad_status,
            **{FAULT_HEADER: "forced-status"},
        )
    )
    problems = check.unexpected()
    assert len(problems) == 2
    assert "GET /jobs/{jobId} 200" in problems[0]
    assert "DELETE /jobs/{jobId} 409" in problems[1]
