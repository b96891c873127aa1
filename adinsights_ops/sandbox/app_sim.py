"""A simulated ADinsights app: the endpoints that the deploy runbook's smoke checks and cache warming use.

Mounted by the sandbox server at `{endpoint}/_sandbox/app/`, it answers like the Django app would:

    GET  /api/health/                           {"status": "ok", "version": ..., "simulated": true}
    GET  /api/health/airbyte/, /api/health/dbt/ {"status": "ok", ...}
    GET  /api/timezone/                         {"timezone": "America/Jamaica", ...}
    GET  /metrics/app                           Prometheus text (prometheus_client's own exposition)
    POST /api/dashboards/aggregate-snapshot/    {"tenant_id": t} -> 200 with generated_at

The version in `/api/health/` is the image tag of the task definition that the sandbox's backend
service runs *now*, read from moto's in-process ECS backend: after a rollout it is the new release,
after a rollback the old one, so a smoke check's version comparison means something. When the
backend service runs no task (scaled to 0), every endpoint answers 503, as a load balancer with no
healthy target does.

Failure scenario: with `failing_smoke` set (or the server's scenario named `failing-smoke`),
`/api/health/dbt/` answers 503 and `/metrics/app` answers malformed exposition text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from moto.ecs.exceptions import TaskDefinitionNotFoundException
from moto.ecs.models import ecs_backends
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from werkzeug.wrappers import Request, Response

from adinsights_ops.config import Environment
from adinsights_ops.sandbox.blueprint_secrets import TENANTS

SCENARIO = "failing-smoke"
TIMEZONE = "America/Jamaica"
QUEUES = {"default": 0, "sync": 2, "snapshots": 0}

# Exposition text the Prometheus parser refuses (a label set that is never closed).
MALFORMED_METRICS = (
    "# HELP http_requests_total Total HTTP requests served.\n"
    "# TYPE http_requests_total counter\n"
    'http_requests_total{method="GET",path="/api/health/" 17\n'
)

Handler = Callable[[Request], Response]


def version_of(image: str) -> str:
    """The version an image stands for: the tag after the last ':', `release-X.Y.Z` as `vX.Y.Z`."""
    name = image.rsplit("/", 1)[-1]
    tag = name.rsplit(":", 1)[-1] if ":" in name else "latest"
    if tag.startswith("release-"):
        return "v" + tag.removeprefix("release-")
    return tag


class AppSimulator:
    """The simulated ADinsights app for one sandbox environment (a WSGI application)."""

    def __init__(self, env: Environment, *, server: Any = None) -> None:
        self.env = env
        self.failing_smoke = False
        """Set to make `/api/health/dbt/` answer 503 and `/metrics/app` answer malformed text."""
        self._server = server
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "http_requests",
            "HTTP requests served by the API.",
            ["method", "path", "status"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "http_request_duration_seconds",
            "Time spent answering API requests.",
            ["path"],
            registry=self.registry,
        )
        self._queue_depth = Gauge(
            "celery_queue_depth",
            "Messages waiting per Celery queue.",
            ["queue"],
            registry=self.registry,
        )
        self._snapshots = Counter(
            "aggregate_snapshots_generated",
            "Aggregate snapshots generated, per tenant.",
            ["tenant"],
            registry=self.registry,
        )
        for queue, depth in QUEUES.items():
            self._queue_depth.labels(queue=queue).set(depth)
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/api/health/"): self._health,
            ("GET", "/api/health/airbyte/"): self._airbyte,
            ("GET", "/api/health/dbt/"): self._dbt,
            ("GET", "/api/timezone/"): self._timezone,
            ("GET", "/metrics/app"): self._metrics,
            ("POST", "/api/dashboards/aggregate-snapshot/"): self._aggregate_snapshot,
        }

    @property
    def failing(self) -> bool:
        """True when the failing-smoke scenario holds (this object's switch, or the server's)."""
        return self.failing_smoke or getattr(self._server, "scenario_name", None) == SCENARIO

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        started = time.perf_counter()
        response = self._dispatch(request)
        path = request.path if any(p == request.path for _, p in self._routes) else "other"
        self._requests.labels(request.method, path, str(response.status_code)).inc()
        self._duration.labels(path).observe(time.perf_counter() - started)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            allowed = [m for m, p in self._routes if p == request.path]
            if allowed:
                return _json({"detail": f'Method "{request.method}" not allowed.'}, 405)
            return _json({"detail": "Not found."}, 404)
        if self.running_tasks() == 0:
            return Response(
                "503 Service Unavailable: no healthy backend target\n",
                status=503,
                content_type="text/plain",
            )
        return handler(request)

    # -- what the backend service runs --------------------------------------------------------

    def _backend_service(self) -> Any:
        backend = ecs_backends[self.env.account][self.env.region]
        name = self.env.ecs.services["backend"].name
        return backend.services.get(f"{self.env.ecs.cluster}:{name}")

    def running_tasks(self) -> int | None:
        """Running tasks of the backend service (None: no such service in the sandbox)."""
        service = self._backend_service()
        return None if service is None else int(service.running_count)

    def current_version(self) -> str | None:
        """The version the backend service runs now (None: no service or task definition)."""
        service = self._backend_service()
        if service is None or not service.task_definition:
            return None
        backend = ecs_backends[self.env.account][self.env.region]
        try:
            definition = backend.describe_task_definition(service.task_definition)
        except TaskDefinitionNotFoundException:
            return None
        containers: list[dict[str, Any]] = list(definition.container_definitions)
        named = [c for c in containers if c.get("name") == self.env.ecs.one_off_container]
        chosen = (named or containers or [{}])[0]
        image = chosen.get("image")
        return version_of(str(image)) if image else None

    # -- endpoints ----------------------------------------------------------------------------

    def _health(self, request: Request) -> Response:
        version = self.current_version()
        if version is None:
            return _json({"status": "error", "detail": "backend service not found"}, 503)
        return _json({"status": "ok", "version": version, "simulated": True})

    def _airbyte(self, request: Request) -> Response:
        connections = self.env.airbyte.connections if self.env.airbyte else {}
        return _json({"status": "ok", "connections": len(connections), "simulated": True})

    def _dbt(self, request: Request) -> Response:
        if self.failing:
            detail = "latest dbt run failed: model aggregate_snapshot (simulated failure)"
            return _json({"status": "error", "detail": detail, "simulated": True}, 503)
        return _json({"status": "ok", "last_run": _now(), "simulated": True})

    def _timezone(self, request: Request) -> Response:
        return _json({"timezone": TIMEZONE, "utc_offset": "-05:00", "simulated": True})

    def _metrics(self, request: Request) -> Response:
        if self.failing:
            return Response(MALFORMED_METRICS, status=200, content_type=CONTENT_TYPE_LATEST)
        return Response(
            generate_latest(self.registry), status=200, content_type=CONTENT_TYPE_LATEST
        )

    def _aggregate_snapshot(self, request: Request) -> Response:
        try:
            data = json.loads(request.get_data() or b"{}")
        except ValueError:
            return _json({"detail": "JSON parse error."}, 400)
        tenant = data.get("tenant_id") if isinstance(data, dict) else None
        if not isinstance(tenant, str) or not tenant:
            return _json({"tenant_id": ["This field is required."]}, 400)
        if tenant not in TENANTS and tenant != self.env.sample_tenant:
            return _json({"detail": f"unknown tenant {tenant!r}"}, 404)
        self._snapshots.labels(tenant).inc()
        return _json(
            {"tenant_id": tenant, "status": "generated", "generated_at": _now(), "simulated": True}
        )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")
