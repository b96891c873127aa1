"""A small client for the public API of a self-hosted Airbyte (`<url>/api/public/v1`).

Authentication is OAuth client credentials: `POST /applications/token` with the client id and secret
gives a bearer token and its lifetime (`expires_in`). The token is renewed shortly before that runs
out, and once more if Airbyte answers 401 anyway (a restarted server forgets its tokens).

Retries are for transient failures only (dropped connections, timeouts, 429, 502, 503, 504), bounded
by attempts and by time (`waiting.retry_transient`). Anything else is an `AirbyteError` at once.

The client secret is read when the first token is needed and never appears in a repr, a log line or
an error message; neither does the bearer token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import requests

from adinsights_ops.errors import OpsError
from adinsights_ops.waiting import DEFAULT_RETRY, SYSTEM_CLOCK, Clock, RetryPolicy, retry_transient

if TYPE_CHECKING:
    from adinsights_ops.opsenv import OpsEnv

API_PREFIX = "/api/public/v1"
TRANSIENT_STATUS = frozenset({429, 502, 503, 504})

log = logging.getLogger("adinsights_ops.airbyte")


class AirbyteError(OpsError):
    """Airbyte answered a request with an error; carries the request and the HTTP status."""

    def __init__(self, method: str, path: str, status: int | None, detail: str) -> None:
        answer = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"Airbyte {method} {path}: {answer}" + (f": {detail}" if detail else ""))
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail


class AirbyteUnavailable(AirbyteError):
    """Airbyte could not be reached, or kept answering with transient errors until retries ran out."""


class AirbyteAuthFailed(AirbyteError):
    """Airbyte refused the client credentials or the token (check the client id and its secret)."""


class AirbyteNotFound(AirbyteError):
    """The job or connection does not exist on this Airbyte."""


class AirbyteConflict(AirbyteError):
    """409: the request conflicts with the current state (a sync is already running)."""


class _Secret:
    """A secret read on first use; its repr never shows it."""

    __slots__ = ("_read", "_value")

    def __init__(self, source: str | Callable[[], str]) -> None:
        self._read = source if callable(source) else None
        self._value = None if callable(source) else source

    def get(self) -> str:
        if self._value is None:
            assert self._read is not None
            self._value = self._read()
        return self._value

    def __repr__(self) -> str:
        return "<secret>"


class AirbyteClient:
    """The public API of one Airbyte: jobs and connections, with token handling and retries.

    `client_secret` may be the value or a function that reads it (called once, when the first token
    is needed). `clock` times the token's lifetime; `sleep` waits between retries (tests pass fakes).
    """

    def __init__(
        self,
        url: str,
        *,
        client_id: str,
        client_secret: str | Callable[[], str],
        session: requests.Session | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        clock: Clock = SYSTEM_CLOCK,
        request_timeout: float = 30.0,
        renew_before: float = 30.0,
    ) -> None:
        base = url.rstrip("/")
        self.base_url = base if base.endswith(API_PREFIX) else base + API_PREFIX
        self.client_id = client_id
        self._secret = _Secret(client_secret)
        self._session = session if session is not None else requests.Session()
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._timeout = request_timeout
        self._renew_before = renew_before
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AirbyteClient({self.base_url!r}, client_id={self.client_id!r})"

    # -- jobs --------------------------------------------------------------------------------

    def create_job(self, connection_id: str, job_type: str = "sync") -> dict[str, Any]:
        """Start a job; raises `AirbyteConflict` when one already runs for the connection."""
        body = {"connectionId": connection_id, "jobType": job_type}
        return self._object("POST", "/jobs", body=body)

    def get_job(self, job_id: int) -> dict[str, Any]:
        return self._object("GET", f"/jobs/{int(job_id)}")

    def cancel_job(self, job_id: int) -> dict[str, Any]:
        return self._object("DELETE", f"/jobs/{int(job_id)}")

    def list_jobs(
        self,
        *,
        connection_id: str | None = None,
        status: str | None = None,
        job_type: str | None = None,
        limit: int = 20,
        order_by: str = "createdAt|DESC",
    ) -> list[dict[str, Any]]:
        """Jobs, newest first, filtered as given (one page of at most `limit`)."""
        params: dict[str, str | int] = {"limit": limit, "orderBy": order_by}
        if connection_id is not None:
            params["connectionId"] = connection_id
        if status is not None:
            params["status"] = status
        if job_type is not None:
            params["jobType"] = job_type
        data = self._object("GET", "/jobs", params=params).get("data", [])
        return [job for job in data if isinstance(job, dict)]

    # -- connections -------------------------------------------------------------------------

    def get_connection(self, connection_id: str) -> dict[str, Any]:
        return self._object("GET", f"/connections/{connection_id}")

    def patch_connection(self, connection_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._object("PATCH", f"/connections/{connection_id}", body=body)

    # -- transport ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send an authenticated request; the parsed JSON answer (None when empty).

        A 401 renews the token and sends once more; a second 401 is `AirbyteAuthFailed`.
        """
        response = self._send(method, path, params=params, body=body, auth=True)
        if response.status_code == 401:
            log.debug("Airbyte %s %s: 401, renewing the token once", method, path)
            self._forget_token()
            response = self._send(method, path, params=params, body=body, auth=True)
            if response.status_code == 401:
                raise AirbyteAuthFailed(method, path, 401, "the token was refused twice")
        return self._answer(method, path, response)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
        auth: bool,
    ) -> requests.Response:
        url = self.base_url + path

        def attempt() -> requests.Response:
            headers = {"Accept": "application/json"}
            if auth:
                headers["Authorization"] = f"Bearer {self._bearer()}"
            response = self._session.request(
                method,
                url,
                params=dict(params) if params else None,
                json=dict(body) if body is not None else None,
                headers=headers,
                timeout=self._timeout,
            )
            log.debug("Airbyte %s %s -> %s", method, path, response.status_code)
            if response.status_code in TRANSIENT_STATUS:
                raise requests.HTTPError(
                    f"HTTP {response.status_code} from {method} {path}", response=response
                )
            return response

        def on_retry(attempt_number: int, error: BaseException) -> None:
            log.info("Airbyte %s %s: %s; retry %d", method, path, _describe(error), attempt_number)

        try:
            return retry_transient(
                attempt, policy=self._retry, sleep=self._sleep, on_retry=on_retry
            )
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            raise AirbyteUnavailable(
                method, path, status, f"still failing after {self._retry.attempts} attempts"
            ) from exc
        except requests.RequestException as exc:
            raise AirbyteUnavailable(
                method, path, None, f"{_describe(exc)} (after {self._retry.attempts} attempts)"
            ) from exc

    def _answer(self, method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError as exc:
                raise AirbyteError(method, path, status, "the answer is not JSON") from exc
        detail = _detail(response)
        error: type[AirbyteError] = {
            403: AirbyteAuthFailed,
            404: AirbyteNotFound,
            409: AirbyteConflict,
        }.get(status, AirbyteError)
        raise error(method, path, status, detail)

    def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = self.request(method, path, **kwargs)
        if not isinstance(answer, dict):
            raise AirbyteError(
                method, path, 200, f"expected a JSON object, got {type(answer).__name__}"
            )
        return answer

    # -- token -------------------------------------------------------------------------------

    def _bearer(self) -> str:
        with self._token_lock:
            if self._token is None or self._clock.monotonic() >= self._token_renew_at:
                self._token, self._token_renew_at = self._new_token()
            return self._token

    def _forget_token(self) -> None:
        with self._token_lock:
            self._token = None

    def _new_token(self) -> tuple[str, float]:
        path = "/applications/token"
        body = {
            "client_id": self.client_id,
            "client_secret": self._secret.get(),
            "grant_type": "client_credentials",
        }
        asked_at = self._clock.monotonic()
        response = self._send("POST", path, params=None, body=body, auth=False)
        if response.status_code in (400, 401, 403):
            # The answer's text is left out on purpose: nothing about the credentials goes in errors.
            raise AirbyteAuthFailed(
                "POST",
                path,
                response.status_code,
                f"Airbyte refused the client credentials of client id {self.client_id!r}",
            )
        answer = self._answer("POST", path, response)
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise AirbyteError("POST", path, response.status_code, "the answer has no access_token")
        lifetime = float(answer.get("expires_in") or 0)
        # Renew early: `renew_before` seconds, or a quarter of a short lifetime, before it ends.
        margin = min(self._renew_before, lifetime / 4)
        log.debug("Airbyte token for %s, valid %.0fs", self.client_id, lifetime)
        return token, asked_at + max(lifetime - margin, 0.0)


def _detail(response: requests.Response) -> str:
    """A short reason from an error answer (problem+json `detail`, or Airbyte's `message`)."""
    try:
        data = response.json()
    except ValueError:
        return response.reason or ""
    if isinstance(data, dict):
        for key in ("detail", "message", "title"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value[:300]
    return response.reason or ""


def _describe(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"HTTP {response.status_code}"
    return type(error).__name__


def url_for(ops: OpsEnv) -> str:
    """The Airbyte URL of an opened environment (the sandbox's simulator in the sandbox)."""
    if ops.env.airbyte is None:
        from adinsights_ops.errors import UsageError

        raise UsageError(f"environment {ops.env.name!r} has no airbyte section")
    return ops.airbyte_url or ops.env.airbyte.url


def client_for(ops: OpsEnv, **options: Any) -> AirbyteClient:
    """An `AirbyteClient` for an opened environment; the secret is read from Secrets Manager lazily."""
    settings = ops.env.airbyte
    url = url_for(ops)
    assert settings is not None
    secret_id = settings.client_secret
    secretsmanager = ops.aws.client("secretsmanager")

    def read_secret() -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            value = secretsmanager.get_secret_value(SecretId=secret_id).get("SecretString")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise OpsError(
                f"cannot read the Airbyte client secret {secret_id!r} from Secrets Manager: {code}"
            ) from exc
        except BotoCoreError as exc:
            raise OpsError(
                f"cannot read the Airbyte client secret {secret_id!r} from Secrets Manager: "
                f"{type(exc).__name__}"
            ) from exc
        if not isinstance(value, str) or not value:
            raise OpsError(f"the Airbyte client secret {secret_id!r} has no string value")
        return value

    options.setdefault("clock", ops.clock)
    return AirbyteClient(url, client_id=settings.client_id, client_secret=read_secret, **options)
