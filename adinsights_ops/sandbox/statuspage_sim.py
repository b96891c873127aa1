"""A stand-in for the Atlassian Statuspage REST API (and a generic status webhook), mounted by the
sandbox at `/_sandbox/statuspage/`. It keeps what was posted for tests to read.

It follows Statuspage's v1 contract for what the deploy uses, and a little more:

    POST  /v1/pages/{page_id}/incidents          {"incident": {name, status, body, components, ...}}
                                                 -> 201 the incident; its `components` map sets
                                                 each component's status, as the real API does
    GET   /v1/pages/{page_id}/incidents          the incidents, newest first
    GET   /v1/pages/{page_id}/components[/{id}]  the page's components (or one)
    PATCH /v1/pages/{page_id}/components/{id}    {"component": {"status": ...}}
    POST  /webhook                               any JSON object -> 200 {"ok": true} (generic kind)
    GET   /_posted                               every request received (the sandbox's own view:
                                                 no token needed, no Authorization header shown)

Every `/v1` call needs `Authorization: OAuth <the sandbox's API key>` (401 otherwise); a wrong
field is a 422 with `{"error": [...]}`, as Statuspage answers. Unlike Statuspage it honours
`Idempotency-Key`: a repeat of a key answers the first response again (header
`Idempotent-Replayed: true`) and changes nothing; a key reused with another body is a 422.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import attrs

from adinsights_ops.config import Environment
from adinsights_ops.sandbox.blueprint_names import tag_list, tag_map
from adinsights_ops.sandbox.blueprint_secrets import sentinel

INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
COMPONENT_STATUSES = (
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
)
IMPACTS = ("none", "minor", "major", "critical")
TOKEN_NAME = "statuspage-api-key"
SANDBOX_PAGE = "sandboxpage01"
SANDBOX_COMPONENT = "sandboxapi001"


def sandbox_token() -> str:
    """The sandbox's Statuspage API key: a sentinel, so a leak is greppable."""
    return sentinel(TOKEN_NAME)


@attrs.frozen
class Posted:
    """One request the stand-in received (the Authorization header is never kept)."""

    method: str
    path: str
    idempotency_key: str | None
    body: Any
    status: int
    replayed: bool = False


class StatuspageSimulator:
    """WSGI app; `posted` holds every request, `incidents` and `components` the page's state."""

    def __init__(
        self,
        *,
        token: str,
        pages: dict[str, dict[str, str]] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.token = token
        self.now = now
        # page id -> component id -> component (name, status, ...)
        self.components: dict[str, dict[str, dict[str, Any]]] = {
            page: {cid: self._component(page, cid, name) for cid, name in comps.items()}
            for page, comps in (pages or {}).items()
        }
        self.incidents: dict[str, list[dict[str, Any]]] = {page: [] for page in self.components}
        self.posted: list[Posted] = []
        self._replies: dict[str, tuple[str, int, bytes]] = {}  # key -> (body digest, status, reply)
        self._lock = threading.Lock()
        self._serial = 0

    @classmethod
    def for_environment(cls, env: Environment) -> StatuspageSimulator:
        page = env.notifications.status_page
        pages = {SANDBOX_PAGE: {SANDBOX_COMPONENT: "ADinsights API"}}
        if page is not None and page.kind == "statuspage" and page.page_id and page.component:
            pages.setdefault(page.page_id, {}).setdefault(page.component, "ADinsights")
        return cls(token=sandbox_token(), pages=pages)

    def incidents_of(self, page_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(i) for i in self.incidents.get(page_id, [])]

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        key = environ.get("HTTP_IDEMPOTENCY_KEY") or None
        with self._lock:
            status, reply, replayed = self._handle(method, path, raw, key, environ)
            if method != "GET":
                self.posted.append(
                    Posted(method, path, key, _json_or_text(raw), status, replayed=replayed)
                )
        headers = [("Content-Type", "application/json")]
        if replayed:
            headers.append(("Idempotent-Replayed", "true"))
        start_response(f"{status} {_REASONS.get(status, 'OK')}", headers)
        return [reply]

    # -- requests -------------------------------------------------------------------------------

    def _handle(
        self, method: str, path: str, raw: bytes, key: str | None, environ: dict[str, Any]
    ) -> tuple[int, bytes, bool]:
        if method == "GET" and path == "/_posted":
            return 200, _dump([attrs.asdict(p) for p in self.posted]), False
        if method == "POST" and path == "/webhook":
            return self._once(key, raw, lambda: self._webhook(raw))
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[:2] != ["v1", "pages"]:
            return 404, _dump({"error": "Not found"}), False
        if environ.get("HTTP_AUTHORIZATION") != f"OAuth {self.token}":
            return 401, _dump({"error": "Could not authenticate"}), False
        page, rest = parts[2], parts[3:]
        if page not in self.components:
            return 404, _dump({"error": "Page not found"}), False
        if rest == ["incidents"] and method == "POST":
            return self._once(key, raw, lambda: self._create_incident(page, raw))
        if rest == ["incidents"] and method == "GET":
            return 200, _dump(list(reversed(self.incidents[page]))), False
        if rest == ["components"] and method == "GET":
            return 200, _dump(list(self.components[page].values())), False
        if len(rest) == 2 and rest[0] == "components" and rest[1] in self.components[page]:
            if method == "GET":
                return 200, _dump(self.components[page][rest[1]]), False
            if method == "PATCH":
                return self._once(key, raw, lambda: self._patch_component(page, rest[1], raw))
        return 404, _dump({"error": "Not found"}), False

    def _once(
        self, key: str | None, raw: bytes, act: Callable[[], tuple[int, bytes]]
    ) -> tuple[int, bytes, bool]:
        """Answer a repeated Idempotency-Key with the first answer, without acting again."""
        if key is not None and key in self._replies:
            body, status, reply = self._replies[key]
            if body != raw.decode("utf-8", "replace"):
                error = "Idempotency-Key reused with a different request"
                return 422, _dump({"error": [error]}), False
            return status, reply, True
        status, reply = act()
        if key is not None and status < 500:
            self._replies[key] = (raw.decode("utf-8", "replace"), status, reply)
        return status, reply, False

    def _webhook(self, raw: bytes) -> tuple[int, bytes]:
        if not isinstance(_json_or_text(raw), dict):
            return 400, _dump({"error": "expected a JSON object"})
        return 200, _dump({"ok": True})

    def _create_incident(self, page: str, raw: bytes) -> tuple[int, bytes]:
        data = _json_or_text(raw)
        incident = data.get("incident") if isinstance(data, dict) else None
        if not isinstance(incident, dict):
            return 422, _dump({"error": ["incident is missing"]})
        errors = []
        name, status = incident.get("name"), incident.get("status", "investigating")
        if not isinstance(name, str) or not name.strip():
            errors.append("Name can't be blank")
        if status not in INCIDENT_STATUSES:
            errors.append(f"Status is not included in the list ({status!r})")
        if incident.get("impact_override", "none") not in IMPACTS:
            errors.append("Impact override is not included in the list")
        components = incident.get("components") or {}
        if not isinstance(components, dict):
            errors.append("Components must be a map of component id to status")
            components = {}
        for cid, value in components.items():
            if cid not in self.components[page]:
                errors.append(f"Component {cid} not found")
            elif value not in COMPONENT_STATUSES:
                errors.append(f"Component status is not included in the list ({value!r})")
        if errors:
            return 422, _dump({"error": errors})
        self._serial += 1
        stamp = self.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
        incident_id = f"sim{self._serial:09d}"
        affected = []
        for cid, value in components.items():
            component = self.components[page][cid]
            affected.append({"code": cid, "old_status": component["status"], "new_status": value})
            component.update(status=value, updated_at=stamp)
        record = {
            "id": incident_id,
            "page_id": page,
            "name": name,
            "status": status,
            "impact": incident.get("impact_override", "none"),
            "created_at": stamp,
            "updated_at": stamp,
            "resolved_at": stamp if status == "resolved" else None,
            "shortlink": f"https://stspg.invalid/{incident_id}",
            "components": [self.components[page][cid] for cid in components],
            "incident_updates": [
                {
                    "id": f"{incident_id}-1",
                    "incident_id": incident_id,
                    "status": status,
                    "body": str(incident.get("body") or ""),
                    "created_at": stamp,
                    "display_at": stamp,
                    "affected_components": affected or None,
                    "deliver_notifications": bool(incident.get("deliver_notifications", True)),
                }
            ],
            "metadata": incident.get("metadata") or {},
            "sandbox": "a simulated Statuspage incident",
        }
        self.incidents[page].append(record)
        return 201, _dump(record)

    def _patch_component(self, page: str, cid: str, raw: bytes) -> tuple[int, bytes]:
        data = _json_or_text(raw)
        change = data.get("component") if isinstance(data, dict) else None
        status = change.get("status") if isinstance(change, dict) else None
        if status not in COMPONENT_STATUSES:
            return 422, _dump({"error": [f"Status is not included in the list ({status!r})"]})
        component = self.components[page][cid]
        component.update(status=status, updated_at=self.now().strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        return 200, _dump(component)

    def _component(self, page: str, cid: str, name: str) -> dict[str, Any]:
        stamp = self.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return {
            "id": cid,
            "page_id": page,
            "name": name,
            "status": "operational",
            "created_at": stamp,
            "updated_at": stamp,
        }


def seed_token(client: Callable[[str], Any], env: Environment, *, url: str) -> None:
    """Store the sandbox's status page token, naming this stand-in (`url` is where it is mounted),
    in the secret the environment's `notifications.status_page.token_secret` names."""
    page = env.notifications.status_page
    if page is None or not page.token_secret:
        return
    target = f"{url}/v1" if page.kind == "statuspage" else f"{url}/webhook"
    value = json.dumps({"token": sandbox_token(), "url": target})
    secretsmanager = client("secretsmanager")
    try:
        secretsmanager.create_secret(
            Name=page.token_secret,
            Description=f"ADinsights {env.name} status page API key (sandbox: a fake sentinel)",
            SecretString=value,
            KmsKeyId=env.kms_key,
            Tags=tag_list(tag_map(env)),
        )
    except secretsmanager.exceptions.ResourceExistsException:
        secretsmanager.put_secret_value(SecretId=page.token_secret, SecretString=value)


_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    422: "Unprocessable Entity",
}


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace")


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode()
