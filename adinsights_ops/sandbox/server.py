"""The sandbox server: moto's ThreadedMotoServer with the simulated ECS scheduler in front of it.

Every request first brings the simulation up to "now" (under one lock, so moto's state is never read
half-updated), then goes to moto. The server also records which AWS operations it answered (so tests
can prove that a refused command changed nothing) and serves a small control API under `/_sandbox/`:

    GET  /_sandbox/            what this sandbox is (environment, scenario, started)
    PUT  /_sandbox/scenario    {"name": "failing-rollout"}: switch the failure scenario
    GET  /_sandbox/calls       the AWS operations answered so far; DELETE forgets them
    PUT  /_sandbox/faults      a fault spec (JSON, see `faults.py`): inject faults from now on
    GET  /_sandbox/faults      the plan in force and every fault injected; DELETE clears the plan
    GET  /_sandbox/effects     side effects the server carried out (`effects.py`); DELETE resets

CloudTrail's LookupEvents, which moto lacks, is answered from the server's own record of the calls
it answered (`cloudtrail.py`); any other operation moto lacks is a clean 501 NotImplemented answer.
The control routes live in `_control.py`, the request classification in `_requests.py`.

Neither the control API, the stand-ins under `/_sandbox/`, moto's own API nor the requests the
server makes itself (seeding, saving its state) are ever faulted.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.backends import list_of_moto_modules
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from adinsights_ops.aws import EventHook
from adinsights_ops.config import Environment
from adinsights_ops.sandbox import _control, cloudtrail, moto_yaml, persist
from adinsights_ops.sandbox._control import CONTROL
from adinsights_ops.sandbox._requests import (
    INTERNAL_ENVIRON,
    INTERNAL_HEADER,
    aws_error,
    call_is_mutating,
    client_token,
    drop_connection,
    operation_and_key,
    operation_of,
    protocol_of,
    s3_operation,
    signing_service,
)
from adinsights_ops.sandbox.apps import WsgiApp, simulators
from adinsights_ops.sandbox.effects import Effects, effect_of
from adinsights_ops.sandbox.faults import (
    ACTS_FIRST,
    PRESETS,
    RESET,
    TIMEOUT,
    FaultInjector,
    FaultPlan,
    error_answer,
)
from adinsights_ops.sandbox.scenarios import scenario_for
from adinsights_ops.sandbox.scheduler import EcsScheduler, Scenario, SchedulerTimings

__all__ = [
    "CONTROL",
    "INTERNAL_HEADER",
    "SandboxServer",
    "call_is_mutating",
    "operation_and_key",
    "operation_of",
    "protocol_of",
    "s3_operation",
    "signing_service",
]
if TYPE_CHECKING:
    from adinsights_ops.sandbox.blueprint import Blueprint
    from adinsights_ops.sandbox.blueprint_cost import CostSeed
    from adinsights_ops.sandbox.transport import InProcess

StartResponse = Callable[..., Any]
_log = logging.getLogger(__name__)


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, except that it lists moto's service folders once, not twice a request
    (a directory scan and a stat per service: a fifth of what the server did per request), and
    that moto's CloudFormation parses with libyaml from its first request on (`moto_yaml.py`)."""

    _services = frozenset(list_of_moto_modules())

    def get_application(self, environ: dict[str, Any]) -> Any:
        application = super().get_application(environ)
        moto_yaml.use_libyaml(loaded_only=True)  # a flag test once done
        return application

    def get_backend_for_host(self, host: str | None) -> Any:
        if host is None or host == "moto_api" or host in self._services:
            return host
        for backend, pattern in self.backend_url_patterns:
            if pattern.match(f"http://{host}"):
                return backend
        return None


class SandboxServer(ThreadedMotoServer):
    """A moto server on 127.0.0.1 seeded with the ADinsights blueprint and a simulated ECS scheduler."""

    blueprint: Blueprint
    cost_seed: CostSeed

    def __init__(
        self,
        env: Environment,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: str = "none",
        timings: SchedulerTimings | None = None,
        remember: bool = True,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(ip_address=host, port=port, verbose=False)
        self.env = env
        scenario_for(scenario, env)  # an unknown name fails before anything starts
        self.scenario_name = scenario
        # Seeding builds "the previous release, deployed and healthy": the scenario holds only
        # once that is done (seed() switches it on), so it never fails the seeded revisions.
        self.scheduler = EcsScheduler(
            env.account,
            env.region,
            timings=timings or SchedulerTimings.for_environment(env),
            scenario=Scenario(),
        )
        self.calls: list[dict[str, Any]] = []
        self.effects = Effects()
        self.trail = cloudtrail.Trail(env.account, env.region)
        self.faults: FaultInjector | None = FaultInjector(faults) if faults is not None else None
        self.scenario_faults: FaultInjector | None = None
        self._slack_baseline = 0
        self._idempotent: dict[str, tuple[str, list[tuple[str, str]], list[bytes]]] = {}
        self.started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._lock = threading.RLock()
        self._pid = os.getpid()  # the process whose moto state this server serves
        self._in_process: InProcess | None = None
        self._moto_app: Any = None
        self.apps: dict[str, WsgiApp] = simulators(env, self)
        self.remember = remember
        self._client: Any = None

    # ThreadedMotoServer builds its app in this thread entry; ours wraps moto's app.
    def _server_entry(self) -> None:
        self._moto_app = _Dispatcher(create_backend_app)
        self._server = make_server(
            self._ip_address, self._port, self._wsgi, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def lock(self) -> threading.RLock:
        """Held while moto's state changes or is read whole (each request, the scheduler, seeding)."""
        return self._lock

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
        """Create the blueprint through the server (or restore it), then what is about now."""
        from adinsights_ops.sandbox._seeding import seed_server

        self._client = seed_server(self)
        with self._lock:
            self.calls.clear()
            self.effects.clear()
            self.trail.clear()
        self.set_scenario(self.scenario_name)

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
            if self._in_process is not None:
                self._in_process.close()
            super().stop()

    def set_scenario(self, name: str) -> None:
        scenario = scenario_for(name, self.env)
        with self._lock:
            self.scheduler.scenario = scenario
            self.scenario_name = name
            preset = PRESETS.get(name)
            self.scenario_faults = FaultInjector(preset) if preset is not None else None
            app = getattr(self, "app_simulator", None)
            if app is not None:
                app.failing_smoke = name == "failing-smoke"

    def describe(self) -> dict[str, Any]:
        injector = self.injector
        return {
            "environment": self.env.name,
            "endpoint": self.endpoint,
            "scenario": self.scenario_name,
            "started": self.started,
            "faults": injector.plan.spec() if injector is not None else None,
            "client_read_timeout": self.client_read_timeout(),
        }

    @property
    def injector(self) -> FaultInjector | None:
        """The faults in force: the plan set through the control API, else the scenario's."""
        return self.faults if self.faults is not None else self.scenario_faults

    def in_process_hook(self) -> EventHook:
        """A botocore hook for clients in this process: their calls skip HTTP (`transport.py`)."""
        from adinsights_ops.sandbox.transport import InProcess

        with self._lock:
            if self._in_process is None:
                self._in_process = InProcess(self._wsgi, self._faulted, self._pid)
            return self._in_process.hook()

    def _faulted(self) -> bool:
        return self.injector is not None

    def set_faults(self, plan: FaultPlan | None) -> None:
        """Inject `plan`'s faults from now on (None: none but the scenario's)."""
        with self._lock:
            self.faults = FaultInjector(plan) if plan is not None else None

    def client_read_timeout(self) -> float | None:
        """The read timeout sandbox clients should use (the fault plan's), None for the default."""
        injector = self.injector
        return injector.plan.client_read_timeout if injector is not None else None

    def effects_report(self) -> dict[str, Any]:
        slack = getattr(self.apps.get("slack"), "messages", [])
        return self.effects.report(slack_messages=len(slack) - self._slack_baseline)

    def reset_effects(self) -> None:
        with self._lock:
            self.effects.clear()
            self._slack_baseline = len(getattr(self.apps.get("slack"), "messages", []))

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
        if path.startswith("/moto-api/") or environ.get(INTERNAL_ENVIRON):
            with self._lock:
                self.scheduler.tick()
                return list(self._moto_app(environ, start_response))
        operation, key = operation_and_key(environ, body)
        protocol = protocol_of(environ, body)
        answer: dict[str, Any] = {}

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer.update(status=status, headers=headers)
            return lambda data: None

        with self._lock:
            self.scheduler.tick()
            injector = self.injector
            fault = None
            if injector is not None:
                invocation = environ.get("HTTP_AMZ_SDK_INVOCATION_ID", "")
                fault = injector.decide(operation, key=key, invocation=invocation)
            at = time.time()
            call: dict[str, Any] = {
                "operation": operation,
                "mutating": call_is_mutating(operation),
                "at": at,
            }
            if key:
                call["key"] = key  # the S3 object key, for tests that tell the lock's writes apart
            if fault is not None:
                call["fault"] = fault
            self.calls.append(call)
            data: list[bytes] = []
            token = client_token(operation, body)
            if (fault is None or fault in ACTS_FIRST) and token in self._idempotent:
                # RunTask with a clientToken it has seen: ECS answers the first call's tasks again
                answer["status"], answer["headers"], data = self._idempotent[token]
            elif fault is None or fault in ACTS_FIRST:
                data = self._answer(environ, keep, operation, protocol, body)
                effect = effect_of(operation, body, protocol)
                succeeded = str(answer.get("status", "500")).startswith("2")
                if effect is not None and succeeded:
                    # AWS too would carry out the retry of a call whose answer was lost, unless
                    # an idempotency token makes the retry the same call
                    self.effects.add(effect, faulted=fault is not None and token is None)
                if token is not None and succeeded:
                    self._idempotent[token] = (answer["status"], answer["headers"], data)
            if "status" in answer and not key:  # S3 object calls are data events: not recorded
                self.trail.record(
                    environ,
                    operation=operation,
                    protocol=protocol,
                    body=body,
                    at=at,
                    status=answer["status"],
                    headers=answer["headers"],
                    answer=b"".join(data),
                )
        if fault is None:
            start_response(answer["status"], answer["headers"])
            return data
        if fault == RESET:
            drop_connection(environ)
        if fault == TIMEOUT:
            assert injector is not None
            time.sleep(injector.plan.hold_seconds)  # outside the lock: the sandbox goes on
            drop_connection(environ)
        status, headers, error = error_answer(fault, protocol)
        if (
            not key
        ):  # refused before acting, as AWS refuses a throttled call: an event with its error
            self.trail.record(
                environ,
                operation=operation,
                protocol=protocol,
                body=body,
                at=at,
                status=status,
                headers=headers,
                answer=error,
            )
        start_response(status, headers)
        return [error]

    def _answer(
        self,
        environ: dict[str, Any],
        keep: StartResponse,
        operation: str,
        protocol: str,
        body: bytes,
    ) -> list[bytes]:
        """The answer to an AWS call: CloudTrail's LookupEvents from the trail, the rest from moto.

        An operation moto does not implement is an AWS-shaped 501 NotImplemented answer, not a stack
        trace in the terminal of `inv sandbox.up`.
        """
        if cloudtrail.answers(environ, operation):
            status, headers, data = self.trail.lookup_answer(body, time.time())
            keep(status, headers)
            return [data]
        try:
            return list(self._moto_app(environ, keep))
        except NotImplementedError:
            _log.info("moto does not implement %s: answered 501 NotImplemented", operation)
            message = f"{operation} is not implemented by the sandbox (moto)"
            status, headers, data = aws_error(
                protocol, "501 Not Implemented", "NotImplemented", message
            )
            keep(status, headers)
            return [data]

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return _control.answer(self, environ, start_response)

    def _faults_report(self) -> dict[str, Any]:
        return _control.faults_report(self)
