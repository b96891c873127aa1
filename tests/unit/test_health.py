"""Smoke checks and cache warming against the simulated ADinsights app on a real HTTP server.

The app reads the backend service's task definition from in-process moto (seeded blueprint, fake
clock); a small WSGI middleware in front of it injects answers (503, 429, HTML) and simulated
server time, so retries and latencies are exact and nothing really waits.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.serving import make_server

from adinsights_ops import config, ecs, health
from adinsights_ops.errors import EXIT_FAILED
from adinsights_ops.health import ENDPOINTS, SmokeFailed
from adinsights_ops.sandbox.app_sim import AppSimulator, version_of
from adinsights_ops.sandbox.apps import simulators
from adinsights_ops.waiting import Backoff
from tests.simulated import ENVIRONMENTS, FakeClock, Simulated

NO_JITTER = Backoff(initial=1.0, factor=2.0, maximum=8.0, jitter=0.0)

Environ = dict[str, Any]


class Faults:
    """WSGI middleware: answers planned responses first, and lets simulated time pass per request."""

    def __init__(self, app: Callable[..., Iterable[bytes]], clock: FakeClock) -> None:
        self.app = app
        self.clock = clock
        self.plan: dict[str, list[tuple[int, list[tuple[str, str]], bytes]]] = {}
        self.seconds_per_request = 0.0
        self.seen: list[tuple[str, str]] = []

    def fail(
        self, path: str, status: int, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        answer = body or b'{"status": "error", "detail": "injected"}'
        self.plan.setdefault(path, []).append((status, list((headers or {}).items()), answer))

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        self.seen.append((environ["REQUEST_METHOD"], path))
        if self.seconds_per_request:
            self.clock.advance(self.seconds_per_request)
        planned = self.plan.get(path)
        if planned:
            status, headers, body = planned.pop(0)
            content_type = [("Content-Type", "application/json")] if body[:1] == b"{" else []
            start_response(f"{status} Injected", content_type + headers)
            return [body]
        return self.app(environ, start_response)


@contextmanager
def serve(app: Callable[..., Iterable[bytes]]) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 (a free port) in a thread; its base URL."""
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
def app(sim: Simulated) -> AppSimulator:
    return AppSimulator(sim.env)


@pytest.fixture
def faults(app: AppSimulator, sim: Simulated) -> Faults:
    return Faults(app, sim.clock)


@pytest.fixture
def base_url(faults: Faults) -> Iterator[str]:
    with serve(faults) as url:
        yield url


def smoke(sim: Simulated, base_url: str, **kwargs: Any) -> health.SmokeReport:
    kwargs.setdefault("backoff", NO_JITTER)
    return health.smoke(None, base_url=base_url, clock=sim.clock, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- all well ---------------------------------------------------------------------------------


def test_every_endpoint_passes_and_the_version_is_the_backend_services(
    sim: Simulated, base_url: str
) -> None:
    report = smoke(sim, base_url, expected_version="v1.2.0")

    assert report.ok and report.failures == ()
    assert [c.path for c in report.checks] == list(ENDPOINTS)
    assert [c.url for c in report.checks] == [base_url + path for path in ENDPOINTS]
    assert all(c.status == 200 and c.attempts == 1 for c in report.checks)
    # The blueprint deploys release-1.2.0; the app reports it the way releases are named.
    assert report.version == "v1.2.0"
    assert report.expected_version == "v1.2.0"
    assert "version v1.2.0" in report.check("/api/health/").detail
    assert health.require(report) is report
    assert sim.clock.slept == []


def test_the_version_follows_a_rollout_of_the_backend(sim: Simulated, base_url: str) -> None:
    result = ecs.rollout(
        sim.client("ecs"),
        cluster=sim.env.ecs.cluster,
        services=sim.env.service_images(),
        image_tag="release-1.3.0",
        singletons=sim.env.ecs.singletons,
        clock=sim.clock,
    )
    assert result.succeeded

    report = smoke(sim, base_url, expected_version="v1.3.0")
    assert report.ok
    assert report.version == "v1.3.0"
    # The image tag form of the same release is accepted too.
    assert smoke(sim, base_url, expected_version="release-1.3.0").ok


def test_a_version_mismatch_fails_naming_both_versions(sim: Simulated, base_url: str) -> None:
    report = smoke(sim, base_url, expected_version="v1.3.0")

    assert not report.ok
    (failed,) = report.failures
    assert failed.path == "/api/health/"
    assert failed.status == 200
    assert "'v1.2.0'" in failed.detail and "'v1.3.0'" in failed.detail
    assert report.version == "v1.2.0"
    with pytest.raises(SmokeFailed) as excinfo:
        health.require(report)
    assert excinfo.value.report is report
    assert excinfo.value.exit_code == EXIT_FAILED
    assert "/api/health/" in str(excinfo.value)
    # A main build is compared as it is.
    main = smoke(sim, base_url, expected_version="main-a1b2c3d").check("/api/health/")
    assert not main.ok and "'main-a1b2c3d'" in main.detail


def test_release_versions() -> None:
    assert health.release_version("main-a1b2c3d") == "main-a1b2c3d"
    assert health.release_version("release-1.4.0") == "v1.4.0"
    assert health.release_version(" v1.4.0 ") == "v1.4.0"


# -- failures reported --------------------------------------------------------------------------


def test_failing_smoke_reports_the_dbt_503_and_the_malformed_metrics(
    sim: Simulated, app: AppSimulator, base_url: str
) -> None:
    app.failing_smoke = True

    report = smoke(sim, base_url, expected_version="v1.2.0")

    assert not report.ok
    assert [c.path for c in report.failures] == ["/api/health/dbt/", "/metrics/app"]
    dbt = report.check("/api/health/dbt/")
    assert (dbt.status, dbt.attempts) == (503, 3)  # 503 is transient: retried, then reported
    assert dbt.detail.startswith("HTTP 503 after 3 attempts: error: latest dbt run failed")
    metrics = report.check("/metrics/app")
    assert (metrics.status, metrics.attempts) == (200, 1)
    assert metrics.detail.startswith("not Prometheus text: ValueError")
    assert report.check("/api/health/").ok and report.check("/api/timezone/").ok
    assert sim.clock.slept == [1.0, 2.0]  # only the dbt check was retried
    with pytest.raises(SmokeFailed, match="metrics/app: not Prometheus text"):
        health.require(report)


def test_the_failing_smoke_scenario_of_the_server_switches_the_app() -> None:
    server = SimpleNamespace(scenario_name="none")
    apps = simulators(config.load("sandbox", ENVIRONMENTS), server)
    app = apps["app"]
    assert server.app_simulator is app
    assert isinstance(app, AppSimulator)
    # `failing` is a property read afresh each time (a narrowed `assert not app.failing` would
    # make the type checker take it as False from then on).
    seen = [app.failing]
    server.scenario_name = "failing-smoke"
    seen.append(app.failing)
    server.scenario_name = "none"
    app.failing_smoke = True
    seen.append(app.failing)
    assert seen == [False, True, True]  # off; the server's scenario; the app's own switch


def test_a_transient_503_is_retried_and_then_passes(
    sim: Simulated, faults: Faults, base_url: str
) -> None:
    faults.fail("/api/health/", 503)
    faults.fail("/api/timezone/", 429, headers={"Retry-After": "7"})

    report = smoke(sim, base_url)

    assert report.ok
    assert report.check("/api/health/").attempts == 2
    assert report.check("/api/timezone/").attempts == 2
    assert report.check("/api/health/").detail.startswith("HTTP 200 after 2 attempts")
    assert sim.clock.slept == [1.0, 7.0]  # backoff, then the server's Retry-After
    assert faults.seen.count(("GET", "/api/health/")) == 2


def test_a_404_fails_at_once(sim: Simulated, faults: Faults, base_url: str) -> None:
    report = smoke(sim, base_url + "/not-the-api")

    assert [(c.status, c.attempts, c.ok) for c in report.checks] == [(404, 1, False)] * 5
    assert report.check("/api/health/").detail == "HTTP 404: Not found."
    assert sim.clock.slept == []
    assert len(faults.seen) == 5


def test_an_html_page_is_not_a_healthy_api(sim: Simulated, faults: Faults, base_url: str) -> None:
    faults.fail(
        "/api/health/",
        200,
        headers={"Content-Type": "text/html"},
        body=b"<!doctype html><title>ADinsights</title>",
    )

    report = smoke(sim, base_url)

    (failed,) = report.failures
    assert failed.path == "/api/health/"
    assert failed.detail == "HTTP 200 but the answer is not JSON (text/html)"


def test_latency_of_each_check_is_recorded(sim: Simulated, faults: Faults, base_url: str) -> None:
    faults.seconds_per_request = 0.125
    faults.fail("/api/health/airbyte/", 502)

    report = smoke(sim, base_url)

    assert report.ok
    assert [c.latency_ms for c in report.checks] == [pytest.approx(125.0)] * 5
    # The latency is the last attempt's; the retry's sleep is not part of it.
    assert report.check("/api/health/airbyte/").attempts == 2


def test_no_answer_is_retried_within_attempts_and_time(sim: Simulated) -> None:
    base = f"http://127.0.0.1:{free_port()}"

    report = smoke(sim, base, attempts=3, timeout=2)

    assert not report.ok
    check = report.check("/api/health/")
    assert (check.status, check.attempts) == (None, 3)
    assert check.detail == "no answer after 3 attempts: could not connect (ConnectionError)"
    assert sim.clock.slept == [1.0, 2.0] * 5

    sim.clock.slept.clear()
    bounded = smoke(sim, base, attempts=10, budget=2.5)
    # Delays 1, 2, 4 ...: after the first retry the next one would pass the 2.5 s budget.
    assert [c.attempts for c in bounded.checks] == [2] * 5
    assert sim.clock.slept == [1.0] * 5


def test_no_task_running_means_503_everywhere(sim: Simulated, base_url: str) -> None:
    ecs_client = sim.client("ecs")
    ecs_client.update_service(
        cluster=sim.env.ecs.cluster, service=sim.env.ecs.services["backend"].name, desiredCount=0
    )
    sim.scheduler.settle()

    report = smoke(sim, base_url, attempts=1)

    assert [c.status for c in report.checks] == [503] * 5
    assert "no healthy backend target" in report.check("/api/timezone/").detail


# -- the simulated app's answers -----------------------------------------------------------------


def test_metrics_are_prometheus_text_with_requests_and_queue_depth(
    sim: Simulated, base_url: str
) -> None:
    smoke(sim, base_url)
    text = requests.get(base_url + "/metrics/app", timeout=5).text

    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {"http_requests", "http_request_duration_seconds", "celery_queue_depth"} <= set(families)
    served = {
        s.labels["path"]: s.value
        for s in families["http_requests"].samples
        if s.name == "http_requests_total"
    }
    assert served["/api/health/"] == 1.0
    depth = {s.labels["queue"]: s.value for s in families["celery_queue_depth"].samples}
    assert depth["default"] == 0.0
    answer = requests.get(base_url + "/api/timezone/", timeout=5).json()
    assert answer["timezone"] == "America/Jamaica"
    assert requests.post(base_url + "/api/timezone/", timeout=5).status_code == 405


def test_version_of_an_image() -> None:
    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert version_of(f"{registry}/adinsights/backend:release-1.2.0") == "v1.2.0"
    assert version_of(f"{registry}/adinsights/backend:main-a1b2c3d") == "main-a1b2c3d"
    assert version_of("localhost:5000/adinsights/backend") == "latest"


# -- cache warming ------------------------------------------------------------------------------


def test_warm_cache_builds_the_sample_tenants_snapshot(
    sim: Simulated, faults: Faults, base_url: str
) -> None:
    faults.fail("/api/dashboards/aggregate-snapshot/", 503)
    faults.seconds_per_request = 0.05

    result = health.warm_cache(
        None, base_url=base_url, tenant=sim.env.sample_tenant, clock=sim.clock, backoff=NO_JITTER
    )

    assert result.ok
    assert (result.status, result.attempts) == (200, 2)
    assert result.latency_ms == pytest.approx(50.0)
    assert result.generated_at is not None
    datetime.strptime(result.generated_at, "%Y-%m-%dT%H:%M:%SZ")
    assert faults.seen.count(("POST", "/api/dashboards/aggregate-snapshot/")) == 2
    text = requests.get(base_url + "/metrics/app", timeout=5).text
    assert f'aggregate_snapshots_generated_total{{tenant="{sim.env.sample_tenant}"}} 1.0' in text


def test_warm_cache_for_an_unknown_tenant_fails_at_once(sim: Simulated, base_url: str) -> None:
    result = health.warm_cache(None, base_url=base_url, tenant="tenant-nobody", clock=sim.clock)

    assert not result.ok
    assert (result.status, result.attempts, result.generated_at) == (404, 1, None)
    assert "unknown tenant 'tenant-nobody'" in result.detail
    assert sim.clock.slept == []
