"""The sandbox server: moto's ThreadedMotoServer with the simulated ECS scheduler in front of it.

Every request first brings the simulation up to "now" (under one lock, so moto's state is never read
half-updated), then goes to moto. The server also records which AWS operations it answered (so tests
can prove that a refused command changed nothing) and serves a small control API under `/_sandbox/`:

    GET  /_sandbox/            what this sandbox is (environment, scenario, started)
    PUT  /_sandbox/scenario    {"name": "failing-rollout"}: switch the failure scenario
    GET  /_sandbox/calls       the AWS operations answered so far; DELETE forgets them
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from adinsights_ops.aws import is_mutating
from adinsights_ops.config import Environment
from adinsights_ops.sandbox import CREDENTIALS, persist
from adinsights_ops.sandbox.apps import WsgiApp, simulators
from adinsights_ops.sandbox.scenarios import scenario_for
from adinsights_ops.sandbox.scheduler import EcsScheduler, SchedulerTimings

CONTROL = "/_sandbox"

StartResponse = Callable[..., Any]


def operation_of(environ: dict[str, Any], body: bytes) -> str:
    """The AWS operation a request asks for, from its target header, Action, or method and path."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return str(target.rsplit(".", 1)[-1])
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return str(query["Action"][0])
    if body and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    method = environ.get("REQUEST_METHOD", "GET")
    return f"{method} {environ.get('PATH_INFO', '/')}"


def call_is_mutating(operation: str) -> bool:
    method = operation.split(" ", 1)[0]
    if method in ("PUT", "POST", "DELETE", "PATCH"):
        return True
    return " " not in operation and is_mutating(operation)


class SandboxServer(ThreadedMotoServer):
    """A moto server on 127.0.0.1 seeded with the ADinsights blueprint and a simulated ECS scheduler."""

    def __init__(
        self,
        env: Environment,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: str = "none",
        timings: SchedulerTimings | None = None,
        remember: bool = True,
    ) -> None:
        super().__init__(ip_address=host, port=port, verbose=False)
        self.env = env
        self.scenario_name = scenario
        self.scheduler = EcsScheduler(
            env.account, env.region, timings=timings, scenario=scenario_for(scenario, env)
        )
        self.calls: list[dict[str, Any]] = []
        self.started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._lock = threading.RLock()
        self._moto_app: Any = None
        self.apps: dict[str, WsgiApp] = simulators(env, self)
        self.remember = remember
        self._client: Any = None

    # ThreadedMotoServer builds its app in this thread entry; ours wraps moto's app.
    def _server_entry(self) -> None:
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address, self._port, self._wsgi, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        super().start()
        self.scheduler.install()
        self.seed()

    def seed(self) -> None:
        """Create the blueprint through the server, then let the previous release settle."""
        import boto3

        from adinsights_ops.sandbox.blueprint import seed

        # moto's state is global to the process: a new sandbox starts from nothing.
        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10):
            pass
        session = boto3.Session(
            region_name=self.env.region,
            aws_access_key_id=CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
        )

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

        self.blueprint = seed(client, self.env)
        self._point_webhook_here(client)
        from adinsights_ops.sandbox.blueprint_cost import seed_cost

        self.cost_seed = seed_cost(client, self.env, endpoint=self.endpoint)
        from adinsights_ops.sandbox.blueprint_observability import seed_observability

        seed_observability(client, self.env, airbyte=self.apps.get("airbyte"))
        with self._lock:
            self.scheduler.settle()
        remembered = persist.load(self.env) if self.remember else None
        if remembered is not None:
            persist.replay(client, self.env, remembered)
            with self._lock:
                self.scheduler.settle()
        with self._lock:
            self.calls.clear()
        self._client = client

    def _point_webhook_here(self, client: Callable[[str], Any]) -> None:
        """The blueprint's Slack webhook secret names this server's stand-in (keeping its sentinel)."""
        from adinsights_ops.sandbox.blueprint_secrets import secret_value

        secret_arn = self.blueprint.secret_arns.get("slack-webhook-url")
        if secret_arn and "slack" in self.apps:
            token = secret_value(self.env, "slack-webhook-url").rsplit("/", 1)[-1]
            url = f"{self.endpoint}{CONTROL}/slack/services/{token}"
            client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=url)
        if self.env.notifications.email_from:
            client("ses").verify_email_identity(EmailAddress=self.env.notifications.email_from)

    def save(self) -> None:
        """Write down what the next sandbox of this environment should start from."""
        if self.remember and self._client is not None:
            with self._lock:
                self.scheduler.settle()
            persist.save(self._client, self.env)

    def stop(self) -> None:
        try:
            self.save()
        finally:
            super().stop()

    def set_scenario(self, name: str) -> None:
        scenario = scenario_for(name, self.env)
        with self._lock:
            self.scheduler.scenario = scenario
            self.scenario_name = name
            app = getattr(self, "app_simulator", None)
            if app is not None:
                app.failing_smoke = name == "failing-smoke"

    def describe(self) -> dict[str, Any]:
        return {
            "environment": self.env.name,
            "endpoint": self.endpoint,
            "scenario": self.scenario_name,
            "started": self.started,
        }

    def _wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == CONTROL or path.startswith(CONTROL + "/"):
            name = path[len(CONTROL) + 1 :].split("/", 1)[0]
            if name in self.apps:
                prefix = f"{CONTROL}/{name}"
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path[len(prefix) :] or "/"
                with self._lock:
                    self.scheduler.tick()
                return self.apps[name](environ, start_response)
            return self._control(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        operation = operation_of(environ, body)
        with self._lock:
            self.scheduler.tick()
            self.calls.append(
                {"operation": operation, "mutating": call_is_mutating(operation), "at": time.time()}
            )
            return list(self._moto_app(environ, start_response))

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "").rstrip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        status, payload = "200 OK", {}
        try:
            if path == CONTROL and method == "GET":
                payload = self.describe()
            elif path == CONTROL + "/scenario" and method == "PUT":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                name = json.loads(environ["wsgi.input"].read(length) or b"{}").get("name", "none")
                self.set_scenario(name)
                payload = self.describe()
            elif path == CONTROL + "/calls" and method == "GET":
                with self._lock:
                    payload = {"calls": list(self.calls)}
            elif path == CONTROL + "/calls" and method == "DELETE":
                with self._lock:
                    self.calls.clear()
            else:
                status, payload = "404 Not Found", {"error": f"no {method} {path}"}
        except Exception as exc:  # the control API answers errors as JSON, never a stack trace
            status, payload = "400 Bad Request", {"error": str(exc)}
        data = json.dumps(payload).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]
