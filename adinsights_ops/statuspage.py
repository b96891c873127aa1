"""Updating the status page (runbook section 5, step 8): Atlassian Statuspage or a generic webhook.

A deploy's outcome becomes one request. For Statuspage, an incident is created
(`POST {url}/pages/{page_id}/incidents`, `Authorization: OAuth <API key>`) whose `components` map
sets the configured component's status in the same call; for a webhook, one JSON document is
posted (`Authorization: Bearer <token>` when a token is configured). What each outcome says:

    outcome       incident status   component status       subscribers notified
    succeeded     resolved          operational            no
    failed        resolved          operational            no   (nothing was changed)
    rolled-back   monitoring        operational            no   (back on the previous release)
    fenced        monitoring        operational            no
    needs-human   investigating     degraded_performance   yes

Every request carries an `Idempotency-Key` made of the run id and the announcement, so a receiver
that honours it (the sandbox's stand-in does; a webhook receiver may) answers a repeat with the
first result. Statuspage itself does not: the deploy journals the channel as soon as it is sent,
which is what keeps a resumed run from posting twice.

The token is read from Secrets Manager at the moment of use: its value is a plain token, or JSON
with `token` (or `api_key`) and optionally `url`, which then replaces the configured URL (a proxy;
the sandbox's stand-in). It travels as a `Token`, masked in repr and str; no log line, exception or
result of this module contains it. A URL is not a secret here (the HTTP stack logs its path): a
credential belongs in the token.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, final

import attrs
import requests

from adinsights_ops.config._settings import StatusPage
from adinsights_ops.errors import OpsError
from adinsights_ops.health import DEFAULT_BACKOFF, send
from adinsights_ops.masked import MASK, Masked
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

log = logging.getLogger("adinsights_ops.statuspage")

CHANNEL = "status-page"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# outcome -> (incident status, component status)
STATES: dict[str, tuple[str, str]] = {
    "succeeded": ("resolved", "operational"),
    "failed": ("resolved", "operational"),
    "rolled-back": ("monitoring", "operational"),
    "fenced": ("monitoring", "operational"),
    "needs-human": ("investigating", "degraded_performance"),
}
UNKNOWN_STATE = ("investigating", "degraded_performance")
_KEY_CHARACTERS = re.compile(r"[^A-Za-z0-9._:-]+")


class StatusPageFailed(OpsError):
    """The status page could not be updated; `reason` never holds the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{CHANNEL}: {reason}")
        self.reason = reason


@final
class Token(Masked):
    """An API token (see `masked.Masked`): masked wherever it is shown."""

    __slots__ = ()


@attrs.frozen
class Credentials:
    """What the token secret holds: the token, and the URL to use instead of the configured one."""

    token: Token
    url: str | None = None


@attrs.frozen
class StatusPosted:
    """What the status page answered: HTTP status, the incident's id (Statuspage), what was set."""

    status: int
    attempts: int
    incident_status: str
    component_status: str
    reference: str = ""

    def detail(self) -> str:
        what = f"{self.incident_status}, component {self.component_status}"
        ref = f" incident {self.reference}" if self.reference else ""
        return f"HTTP {self.status}{ref} ({what})"


@attrs.frozen
class ChannelResult:
    """The channel's outcome as the deploy journals it: sent, failed (with why) or skipped."""

    outcome: str
    detail: str


def states_for(outcome: str) -> tuple[str, str]:
    """(incident status, component status) for a deploy outcome (`succeeded`, `rolled-back`...)."""
    return STATES.get(outcome, UNKNOWN_STATE)


def idempotency_key(run_id: str, announcement: str) -> str:
    """The key one announcement of one run is sent with, the same on every resend."""
    return _KEY_CHARACTERS.sub("-", f"adinsights-ops:{run_id}:{announcement}:{CHANNEL}")[:255]


def credentials_from_secret(secretsmanager: SecretsManagerClient, *, secret_id: str) -> Credentials:
    """The status page token stored in Secrets Manager; raises StatusPageFailed (no value shown)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        value = secretsmanager.get_secret_value(SecretId=secret_id).get("SecretString") or ""
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        reason = f"cannot read the status page token secret {secret_id!r} ({code})"
    except BotoCoreError as exc:
        reason = f"cannot read the status page token secret {secret_id!r} ({type(exc).__name__})"
    else:
        found = _credentials_in(value.strip())
        if found is not None:
            return found
        reason = f"the secret {secret_id!r} holds no status page token (its value is not shown)"
    raise StatusPageFailed(reason)


def _credentials_in(text: str) -> Credentials | None:
    if not text.startswith("{"):
        return Credentials(Token(text)) if text else None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    token = data.get("token") or data.get("api_key")
    url = data.get("url")
    if not isinstance(token, str) or not token.strip():
        return None
    if not (isinstance(url, str) and url.startswith(("https://", "http://"))):
        url = None
    return Credentials(Token(token.strip()), url.rstrip("/") if url else None)


def request_for(
    page: StatusPage,
    *,
    url: str,
    outcome: str,
    title: str,
    body: str,
    run_id: str,
    environment: str,
) -> tuple[str, dict[str, Any]]:
    """The URL and JSON body of the one request an outcome becomes (see the module's table)."""
    incident_status, component_status = states_for(outcome)
    if page.kind == "statuspage":
        components = {page.component: component_status} if page.component else {}
        return f"{url.rstrip('/')}/pages/{page.page_id}/incidents", {
            "incident": {
                "name": title,
                "status": incident_status,
                "body": body,
                "impact_override": "none" if component_status == "operational" else "minor",
                "component_ids": list(components),
                "components": components,
                "deliver_notifications": component_status != "operational",
                "metadata": {"adinsights_ops": {"run_id": run_id, "outcome": outcome}},
            }
        }
    return url, {
        "event": "deploy",
        "environment": environment,
        "run_id": run_id,
        "outcome": outcome,
        "status": incident_status,
        "component": page.component,
        "component_status": component_status,
        "title": title,
        "body": body,
    }


def post_status(
    session: requests.Session | None,
    page: StatusPage,
    *,
    token: Token | None,
    outcome: str,
    title: str,
    body: str,
    run_id: str,
    environment: str,
    key: str,
    url: str | None = None,
    timeout: float = 10.0,
    attempts: int = 3,
    budget: float = 30.0,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> StatusPosted:
    """Send the status for `outcome` with idempotency key `key`; raises StatusPageFailed."""
    if page.kind == "statuspage" and token is None:
        raise StatusPageFailed(
            "Statuspage needs an API key (notifications.status_page.token_secret)"
        )
    target, payload = request_for(
        page,
        url=url or page.url,
        outcome=outcome,
        title=title,
        body=body,
        run_id=run_id,
        environment=environment,
    )
    headers = {IDEMPOTENCY_HEADER: key, "Content-Type": "application/json"}
    if token is not None:
        scheme = "OAuth" if page.kind == "statuspage" else "Bearer"
        headers["Authorization"] = f"{scheme} {token.reveal()}"
    own = session is None
    http = requests.Session() if session is None else session
    name = "Statuspage" if page.kind == "statuspage" else "the status webhook"
    try:
        exchange = send(
            http,
            "POST",
            target,
            json_body=payload,
            headers=headers,
            timeout=timeout,
            attempts=attempts,
            budget=budget,
            clock=clock,
            backoff=backoff,
        )
    except Exception as exc:  # anything unforeseen: only its type (its text could echo a header)
        reason = f"{name} could not be called ({type(exc).__name__})"
    else:
        tries = f" after {exchange.attempts} attempts" if exchange.attempts > 1 else ""
        if exchange.status is not None and 200 <= exchange.status < 300:
            incident_status, component_status = states_for(outcome)
            posted = StatusPosted(
                exchange.status,
                exchange.attempts,
                incident_status,
                component_status,
                _reference(exchange.text),
            )
            log.info("%s: %s%s", name, posted.detail(), tries)
            return posted
        if exchange.status is None:
            reason = f"{name} did not answer{tries}: {exchange.error}"
        else:
            answer = _answer(exchange.text, token)
            reason = f"{name} answered HTTP {exchange.status}{tries}" + (
                f": {answer}" if answer else ""
            )
    finally:
        if own:
            http.close()
    log.warning("%s", reason)
    raise StatusPageFailed(reason)


def _reference(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    found = data.get("id") if isinstance(data, dict) else None
    return str(found) if isinstance(found, str | int) else ""


def _answer(text: str, token: Token | None) -> str:
    """The first line of an error answer, its `error` field if JSON, never the token."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "error" in data:
        error = data["error"]
        text = "; ".join(map(str, error)) if isinstance(error, list) else str(error)
    if token is not None and token.reveal():
        text = text.replace(token.reveal(), MASK)
    lines = text.strip().splitlines()
    return lines[0][:160] if lines else ""


def announce(
    page: StatusPage | None,
    *,
    secretsmanager: Callable[[], SecretsManagerClient],
    run_id: str,
    announcement: str,
    title: str,
    body: str,
    environment: str,
    session: requests.Session | None = None,
    timeout: float = 10.0,
    attempts: int = 3,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> ChannelResult:
    """Update the status page for announcement `announcement` of run `run_id`; raises nothing.

    `announcement` is the deploy's announcement key: `succeeded`, or `<outcome>:<step>` for a
    failed deploy (`rolled-back:rollout`); its outcome picks what the page says.
    """
    if page is None:
        return ChannelResult("skipped", "not configured")
    outcome = announcement.split(":", 1)[0]
    try:
        found = (
            credentials_from_secret(secretsmanager(), secret_id=page.token_secret)
            if page.token_secret
            else None
        )
        posted = post_status(
            session,
            page,
            token=found.token if found else None,
            url=found.url if found else None,
            outcome=outcome,
            title=title,
            body=body,
            run_id=run_id,
            environment=environment,
            key=idempotency_key(run_id, announcement),
            timeout=timeout,
            attempts=attempts,
            clock=clock,
            backoff=backoff,
        )
    except StatusPageFailed as exc:
        return ChannelResult("failed", exc.reason)
    except Exception as exc:  # reported, not raised; its text could hold a secret, so its type
        return ChannelResult("failed", f"unexpected {type(exc).__name__}")
    return ChannelResult("sent", posted.detail())
