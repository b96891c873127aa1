"""A simulated Airbyte public API (`/api/public/v1`), served by the sandbox at `/_sandbox/airbyte/`.

It follows the upstream contract in `shared/contracts/airbyte-public-api-jobs.yaml` (a subset of
Airbyte's public OpenAPI spec) for tokens and jobs, and Airbyte's `ConnectionResponse` /
`ConnectionPatchRequest` for connections:

    POST   /applications/token      client credentials -> {access_token, token_type, expires_in}
    GET    /jobs                    filter by connectionId, status, jobType; limit, offset, orderBy
    POST   /jobs                    {connectionId, jobType} -> the job; 409 while one runs (see below)
    GET    /jobs/{jobId}            the job
    DELETE /jobs/{jobId}            cancel it
    GET    /connections/{id}        the connection
    PATCH  /connections/{id}        change name, status, schedule, configurations.streams ...

Every endpoint but the token and health ones needs a bearer token that has not expired (401
otherwise). A job is `pending` for `pending_seconds`, `running` for `job_seconds`, then `succeeded`
(or `failed` after `fail_next_job`), on the simulator's clock (tests pass a fake one). What it answers
outside the contract is listed in `CONTRACT_DEVIATIONS`; what a test hook forces carries the header
`X-Sandbox-Fault`. Nothing is synced: the rows and bytes a job reports are made up.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from adinsights_ops.config import Environment
from adinsights_ops.sandbox._airbyte_http import (
    FAULT_HEADER,
    OPEN,
    PREFIX,
    ROUTES,
    TEMPLATES,
    Call,
    Problem,
    jobs_page,
    json_answer,
    problem_answer,
)
from adinsights_ops.sandbox._airbyte_jobs import (
    ACTIVE,
    BYTES_PER_ROW,
    JOB_TYPES,
    ROWS_PER_SECOND,
    Job,
    status_of,
    view,
    wall_text,
)
from adinsights_ops.sandbox.airbyte_sim_connections import (
    check_patch,
    moto_secret,
    seed_connections,
)

__all__ = [
    "ACTIVE",
    "BYTES_PER_ROW",
    "CONTRACT_DEVIATIONS",
    "FAULT_HEADER",
    "JOB_TYPES",
    "PREFIX",
    "ROWS_PER_SECOND",
    "UNAUTHORIZED_NOTE",
    "AirbyteSimulator",
    "Call",
]

# (method, path template, status) -> why the simulator answers this although the contract lists it not.
CONTRACT_DEVIATIONS: Mapping[tuple[str, str, int], str] = {
    ("POST", "/jobs", 409): (
        "a sync already runs for the connection: real Airbyte refuses a second one with 409 "
        "(problem+json, try-again-later: 'A sync is already running for: <connectionId>'); "
        "the contract lists only 200, 400 and 403"
    ),
}
# A 401 is not a deviation of one endpoint: the contract declares no security scheme at all, and
# every secured endpoint of real Airbyte answers 401 to a missing, expired or revoked token.
UNAUTHORIZED_NOTE = "401 for a missing, expired or revoked bearer token (any secured endpoint)"


class AirbyteSimulator:
    """The simulated Airbyte public API: a WSGI application with a few hooks for failure scenarios."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | Callable[[], str | None],
        connections: Mapping[str, Mapping[str, Any]] = {},
        clock: Callable[[], float] = time.monotonic,
        pending_seconds: float = 1.0,
        job_seconds: float = 4.0,
        token_seconds: int = 180,
        first_job_id: int = 4200,
    ) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.clock = clock
        self.pending_seconds = pending_seconds
        self.job_seconds = job_seconds
        """Seconds a job created from now on runs (settable)."""
        self.token_seconds = token_seconds
        self.calls: deque[Call] = deque(maxlen=2000)
        self.tokens_issued = 0
        self._mono0 = clock()
        self._wall0 = datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.RLock()
        self._connections = {cid: json.loads(json.dumps(c)) for cid, c in connections.items()}
        self._jobs: dict[int, Job] = {}
        self._next_id = first_job_id
        self._tokens: dict[str, float] = {}
        self._fail_next: set[str] = set()
        self._faults: list[tuple[int, str | None, str | None]] = []
        self._forced_served = False

    @classmethod
    def for_environment(
        cls, env: Environment, *, clock: Callable[[], float] = time.monotonic, **options: Any
    ) -> AirbyteSimulator:
        """The sandbox's Airbyte: its connections from the environment and the manifests (with one
        deliberate drift), its client secret read from the sandbox's Secrets Manager when asked."""
        if env.airbyte is None:
            raise ValueError(f"environment {env.name!r} has no airbyte section")
        return cls(
            client_id=env.airbyte.client_id,
            client_secret=moto_secret(env),
            connections=seed_connections(env),
            clock=clock,
            **options,
        )

    # -- hooks for tests and scenarios --------------------------------------------------------

    def fail_next_job(self, connection_id: str) -> None:
        """The next job created for the connection ends `failed`."""
        with self._lock:
            self._fail_next.add(connection_id)

    def start_job(self, connection_id: str, job_type: str = "sync") -> int:
        """Start a job as Airbyte's own scheduler would (no API call); its id."""
        with self._lock:
            if connection_id not in self._connections:
                raise KeyError(connection_id)
            return self._create(connection_id, job_type).job_id

    def seed_history(
        self, connection_id: str, finished_ago_seconds: float, *, fail: bool = False
    ) -> int:
        """A sync job that ended `finished_ago_seconds` ago (as Airbyte's hourly schedule leaves
        behind), so that a fresh sandbox has sync history; its id."""
        with self._lock:
            if connection_id not in self._connections:
                raise KeyError(connection_id)
            job = Job(
                job_id=self._next_id,
                connection_id=connection_id,
                job_type="sync",
                created=self.clock()
                - finished_ago_seconds
                - self.pending_seconds
                - self.job_seconds,
                pending=self.pending_seconds,
                running=self.job_seconds,
                fail=fail,
            )
            self._jobs[job.job_id] = job
            self._next_id += 1
            return job.job_id

    def force_status(self, job_id: int, status: str, seconds: float | None = None) -> None:
        """Report `status` for the job (for `seconds`, or for good); answers carry FAULT_HEADER."""
        with self._lock:
            job = self._jobs[job_id]
            job.forced = status
            job.forced_until = None if seconds is None else self.clock() + seconds

    def fail_requests(
        self, count: int, *, status: int = 503, method: str | None = None, path: str | None = None
    ) -> None:
        """Answer the next `count` requests (matching method and path prefix) with `status`."""
        with self._lock:
            self._faults.extend([(status, method, path)] * count)

    def revoke_tokens(self) -> None:
        """Forget every token issued (as a restarted Airbyte does)."""
        with self._lock:
            self._tokens.clear()

    def job(self, job_id: int) -> dict[str, Any]:
        with self._lock:
            return self._view(self._jobs[job_id])

    def jobs(self, connection_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                self._view(j)
                for j in self._jobs.values()
                if connection_id is None or j.connection_id == connection_id
            ]

    def connection(self, connection_id: str) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._connections[connection_id]))  # type: ignore[no-any-return]

    def set_connection(self, connection_id: str, **fields: Any) -> None:
        """Change a connection behind the API's back (drift, for tests)."""
        with self._lock:
            self._connections[connection_id].update(json.loads(json.dumps(fields)))

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            response, route, fault = self._handle(request)
            self.calls.append(
                Call(request.method, route, request.path, response.status_code, fault)
            )
        return response(environ, start_response)

    def _handle(self, request: Request) -> tuple[Response, str, str | None]:
        route = request.path[len(PREFIX) :] if request.path.startswith(PREFIX) else request.path
        try:
            endpoint, args = ROUTES.bind_to_environ(request.environ).match()
        except NotFound:
            return (
                problem_answer(404, "resource-not-found", f"no such path {request.path}"),
                route,
                None,
            )
        except MethodNotAllowed:
            return (
                problem_answer(405, "method-not-allowed", f"{request.method} {route}"),
                route,
                None,
            )
        except HTTPException as exc:  # pragma: no cover - werkzeug routing raises only the above
            return problem_answer(exc.code or 500, "error", str(exc)), route, None
        route = TEMPLATES[endpoint]
        self._forced_served = False
        injected = self._take_fault(request.method, route)
        if injected is not None:
            response = problem_answer(injected, "simulated-fault", "injected by the sandbox")
            response.headers[FAULT_HEADER] = "injected"
            return response, route, "injected"
        try:
            if endpoint not in OPEN:
                self._authorize(request)
            status, body = getattr(self, f"_{endpoint}")(request, **args)
        except Problem as problem:
            return problem_answer(problem.status, problem.title, problem.detail), route, None
        response = json_answer(status, body)
        fault = "forced-status" if self._forced_served else None
        if fault:
            response.headers[FAULT_HEADER] = fault
        return response, route, fault

    def _take_fault(self, method: str, route: str) -> int | None:
        for i, (status, want_method, want_path) in enumerate(self._faults):
            if (want_method is None or want_method == method) and (
                want_path is None or route.startswith(want_path)
            ):
                del self._faults[i]
                return status
        return None

    def _authorize(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        expires = self._tokens.get(token)
        if expires is None or self.clock() >= expires:
            self._tokens.pop(token, None)
            raise Problem(401, "unauthorized", "missing, expired or unknown bearer token")

    # -- endpoints ----------------------------------------------------------------------------

    def _token(self, request: Request) -> tuple[int, dict[str, Any]]:
        data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        if not isinstance(data, dict) or not data.get("client_id") or not data.get("client_secret"):
            raise Problem(400, "invalid-data", "client_id and client_secret are required")
        expected = self._secret() if callable(self._secret) else self._secret
        if (
            data["client_id"] != self.client_id
            or expected is None
            or not secrets.compare_digest(str(data["client_secret"]), expected)
        ):
            raise Problem(403, "forbidden", "invalid client credentials")
        token = secrets.token_urlsafe(24)
        self._tokens[token] = self.clock() + self.token_seconds
        self.tokens_issued += 1
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_seconds,
        }

    def _health(self, request: Request) -> tuple[int, dict[str, Any]]:
        return 200, {"available": True}

    def _list_jobs(self, request: Request) -> tuple[int, dict[str, Any]]:
        jobs = [self._view(j) for j in self._jobs.values()]
        return 200, jobs_page(jobs, request.args, request.base_url)

    def _create_job(self, request: Request) -> tuple[int, dict[str, Any]]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise Problem(400, "invalid-data", "expected a JSON object")
        connection_id, job_type = data.get("connectionId"), data.get("jobType")
        if job_type not in JOB_TYPES:
            raise Problem(400, "invalid-data", f"jobType must be one of {', '.join(JOB_TYPES)}")
        if not isinstance(connection_id, str) or connection_id not in self._connections:
            raise Problem(400, "invalid-data", f"no connection {connection_id}")
        now = self.clock()
        if any(
            j.connection_id == connection_id and self._status(j, now) in ACTIVE
            for j in self._jobs.values()
        ):
            raise Problem(409, "try-again-later", f"A sync is already running for: {connection_id}")
        return 200, self._view(self._create(connection_id, job_type))

    def _get_job(self, request: Request, job_id: int) -> tuple[int, dict[str, Any]]:
        return 200, self._view(self._find(job_id))

    def _cancel_job(self, request: Request, job_id: int) -> tuple[int, dict[str, Any]]:
        job = self._find(job_id)
        now = self.clock()
        if self._status(job, now) in ACTIVE or job.forced is not None:
            job.cancelled_at = now
            job.forced = None
        return 200, self._view(job)

    def _get_connection(self, request: Request, connection_id: str) -> tuple[int, dict[str, Any]]:
        if connection_id not in self._connections:
            raise Problem(404, "resource-not-found", f"no connection {connection_id}")
        return 200, self.connection(connection_id)

    def _patch_connection(self, request: Request, connection_id: str) -> tuple[int, dict[str, Any]]:
        if connection_id not in self._connections:
            raise Problem(404, "resource-not-found", f"no connection {connection_id}")
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise Problem(400, "invalid-data", "expected a JSON object")
        try:
            check_patch(data)
        except ValueError as exc:
            raise Problem(400, "invalid-data", str(exc)) from None
        self._connections[connection_id].update(json.loads(json.dumps(data)))
        return 200, self.connection(connection_id)

    # -- jobs ---------------------------------------------------------------------------------

    def _create(self, connection_id: str, job_type: str) -> Job:
        job = Job(
            job_id=self._next_id,
            connection_id=connection_id,
            job_type=job_type,
            created=self.clock(),
            pending=self.pending_seconds,
            running=self.job_seconds,
            fail=connection_id in self._fail_next,
        )
        self._fail_next.discard(connection_id)
        self._jobs[job.job_id] = job
        self._next_id += 1
        return job

    def _find(self, job_id: int) -> Job:
        if job_id not in self._jobs:
            raise Problem(404, "resource-not-found", f"no job {job_id}")
        return self._jobs[job_id]

    def _status(self, job: Job, now: float) -> str:
        status, forced = status_of(job, now)
        if forced:
            self._forced_served = True
        return status

    def _view(self, job: Job) -> dict[str, Any]:
        now = self.clock()
        return view(job, self._status(job, now), now, self._wall)

    def _wall(self, mono: float) -> str:
        return wall_text(self._wall0, self._mono0, mono)
