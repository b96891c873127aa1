"""Smoke checks and cache warming over HTTP (runbook section 5, steps 6 and 7).

`smoke()` asks the five endpoints the runbook names and returns a `SmokeReport` with one frozen
`EndpointCheck` each (url, status, latency, attempts, ok, detail); a failed check is reported, never
raised. `require(report)` turns a failed report into `SmokeFailed`, for the caller that must stop.
`warm_cache()` asks the app to build a tenant's aggregate snapshot.

Retries are for transient failures only: no answer (refused, reset, timed out), HTTP 5xx and 429.
Any other answer, a 404 above all, is final at once. Retries are bounded by attempts and by time on
the injected clock, which also times each request, so tests neither wait nor guess latencies.

`send()` is the one HTTP exchange with those retries; `notify` uses it for the Slack webhook. Its
error texts name the kind of failure only, never the URL (a webhook URL is a secret).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import requests

from adinsights_ops._version import __version__
from adinsights_ops.errors import OpsError
from adinsights_ops.release import RELEASE_TAG
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock

HEALTH = "/api/health/"
ENDPOINTS = (HEALTH, "/api/health/airbyte/", "/api/health/dbt/", "/api/timezone/", "/metrics/app")
METRICS = "/metrics/app"
AGGREGATE_SNAPSHOT = "/api/dashboards/aggregate-snapshot/"

DEFAULT_BACKOFF = Backoff(initial=1.0, factor=2.0, maximum=8.0, jitter=0.2)
USER_AGENT = f"adinsights-ops/{__version__}"
# A JSON `status` that says "not healthy" even though the HTTP status is 2xx.
UNHEALTHY = frozenset(
    {"error", "failed", "fail", "failing", "down", "unhealthy", "degraded", "misconfigured"}
)


class SmokeFailed(OpsError):
    """At least one smoke check failed; carries the whole report."""

    def __init__(self, report: SmokeReport) -> None:
        failed = "; ".join(f"{c.path}: {c.detail}" for c in report.failures)
        super().__init__(f"smoke checks failed at {report.base_url}: {failed}")
        self.report = report


@attrs.frozen
class Exchange:
    """One HTTP request as sent with retries: the last answer, or why none came."""

    status: int | None
    """HTTP status of the last answer; None when no answer came."""
    latency_ms: float
    """Time the last attempt took, on the clock passed in."""
    attempts: int
    error: str | None = None
    """Why no answer came (kind of failure and exception class; never the URL)."""
    body: bytes = attrs.field(default=b"", repr=False)
    content_type: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The parsed JSON body; raises ValueError when it is not JSON."""
        return json.loads(self.body)


@attrs.frozen
class EndpointCheck:
    """The smoke check of one endpoint."""

    path: str
    url: str
    status: int | None
    latency_ms: float
    attempts: int
    ok: bool
    detail: str


@attrs.frozen
class SmokeReport:
    """Every endpoint's check; `ok` when all passed."""

    base_url: str
    checks: tuple[EndpointCheck, ...]
    expected_version: str | None = None
    version: str | None = None
    """The version `/api/health/` reported (None: it reported none, or did not answer)."""

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> tuple[EndpointCheck, ...]:
        return tuple(check for check in self.checks if not check.ok)

    def check(self, path: str) -> EndpointCheck:
        return next(check for check in self.checks if check.path == path)


@attrs.frozen
class WarmResult:
    """The answer to one aggregate-snapshot request."""

    url: str
    tenant: str
    status: int | None
    latency_ms: float
    attempts: int
    ok: bool
    detail: str
    generated_at: str | None = None


def is_transient_status(status: int) -> bool:
    return status == 429 or status >= 500


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    json_body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    attempts: int,
    budget: float,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Exchange:
    """Send one request, retrying no answer, 5xx and 429 up to `attempts` times within `budget` s.

    A 429's numeric Retry-After is honoured as the delay. A retry whose delay would pass the budget
    is not made: the last answer (or failure) is returned instead. Never raises for HTTP failures.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    start = clock.monotonic()
    next_delay = backoff.delays()
    all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json, text/plain, */*"}
    all_headers.update(headers or {})
    attempt = 0
    while True:
        attempt += 1
        began = clock.monotonic()
        exchange, retry_after = _attempt(session, method, url, json_body, all_headers, timeout)
        exchange = attrs.evolve(
            exchange, latency_ms=(clock.monotonic() - began) * 1000.0, attempts=attempt
        )
        transient = exchange.status is None or is_transient_status(exchange.status)
        if not transient or attempt >= attempts:
            return exchange
        delay = retry_after if retry_after is not None else next_delay()
        if clock.monotonic() - start + delay > budget:
            return exchange
        clock.sleep(delay)


def _attempt(
    session: requests.Session,
    method: str,
    url: str,
    json_body: Mapping[str, Any] | None,
    headers: Mapping[str, str],
    timeout: float,
) -> tuple[Exchange, float | None]:
    try:
        response = session.request(
            method,
            url,
            json=dict(json_body) if json_body is not None else None,
            headers=dict(headers),
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout as exc:
        return Exchange(None, 0.0, 0, f"timed out after {timeout:g}s ({type(exc).__name__})"), None
    except requests.ConnectionError as exc:
        return Exchange(None, 0.0, 0, f"could not connect ({type(exc).__name__})"), None
    except requests.RequestException as exc:
        # Not retried: the request itself is wrong (bad URL, bad redirect ...).
        return Exchange(None, 0.0, 0, f"request not sent ({type(exc).__name__})"), None
    retry_after: float | None = None
    if response.status_code == 429:
        value = response.headers.get("Retry-After", "")
        retry_after = float(value) if value.strip().isdigit() else None
    exchange = Exchange(
        response.status_code,
        0.0,
        0,
        body=response.content,
        content_type=response.headers.get("Content-Type", ""),
    )
    return exchange, retry_after


def release_version(tag: str) -> str:
    """The version an image tag stands for: `release-1.4.0` is `v1.4.0`; other tags as they are."""
    tag = tag.strip()
    return "v" + tag.removeprefix("release-") if RELEASE_TAG.match(tag) else tag


def smoke(
    session: requests.Session | None,
    *,
    base_url: str,
    expected_version: str | None = None,
    timeout: float = 10.0,
    attempts: int = 3,
    budget: float = 60.0,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> SmokeReport:
    """Check every smoke endpoint under `base_url`; the report of all of them (raises nothing).

    `expected_version` (`v1.4.0`, `release-1.4.0` or `main-<sha>`) is compared with the `version`
    that `/api/health/` reports, when it reports one. `timeout` is per request; `attempts` and
    `budget` (seconds) bound the retries of each endpoint.
    """
    base = base_url.rstrip("/")
    expected = release_version(expected_version) if expected_version else None
    own = session is None
    http = requests.Session() if session is None else session
    checks: list[EndpointCheck] = []
    version: str | None = None
    try:
        for path in ENDPOINTS:
            url = base + path
            exchange = send(
                http,
                "GET",
                url,
                timeout=timeout,
                attempts=attempts,
                budget=budget,
                clock=clock,
                backoff=backoff,
            )
            ok, detail, reported = _judge(path, exchange, expected)
            if path == HEALTH:
                version = reported
            checks.append(
                EndpointCheck(
                    path, url, exchange.status, exchange.latency_ms, exchange.attempts, ok, detail
                )
            )
    finally:
        if own:
            http.close()
    return SmokeReport(base, tuple(checks), expected, version)


def require(report: SmokeReport) -> SmokeReport:
    """The report when every check passed; else raise `SmokeFailed(report)`."""
    if not report.ok:
        raise SmokeFailed(report)
    return report


def _judge(path: str, exchange: Exchange, expected: str | None) -> tuple[bool, str, str | None]:
    """(ok, detail, version reported) for one endpoint's answer."""
    tries = f" after {exchange.attempts} attempts" if exchange.attempts > 1 else ""
    if exchange.status is None:
        return False, f"no answer{tries}: {exchange.error}", None
    if not 200 <= exchange.status < 300:
        reason = _reason(exchange)
        return False, f"HTTP {exchange.status}{tries}" + (f": {reason}" if reason else ""), None
    if path == METRICS:
        ok, detail = _judge_metrics(exchange.text)
        return ok, detail, None
    try:
        data = exchange.json()
    except ValueError:
        kind = exchange.content_type.split(";")[0] or "no content type"
        return False, f"HTTP {exchange.status} but the answer is not JSON ({kind})", None
    if not isinstance(data, dict):
        return False, f"HTTP {exchange.status} but the answer is not a JSON object", None
    status = data.get("status")
    if isinstance(status, str) and status.lower() in UNHEALTHY:
        return False, f"HTTP {exchange.status} but it reports status {status!r}", None
    detail = f"HTTP {exchange.status}{tries}" + (f", status {status!r}" if status else "")
    if path != HEALTH:
        return True, detail, None
    reported = data.get("version")
    if reported is None:
        note = f" (expected {expected}; no version reported to compare)" if expected else ""
        return True, detail + note, None
    version = str(reported)
    if expected is not None and release_version(version) != expected:
        return False, f"reports version {version!r}, expected {expected!r}", version
    return True, f"{detail}, version {version}", version


def _judge_metrics(text: str) -> tuple[bool, str]:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        families = list(text_string_to_metric_families(text))
    except Exception as exc:  # the parser raises ValueError, IndexError ... on malformed input
        return False, f"not Prometheus text: {type(exc).__name__}: {str(exc)[:200]}"
    samples = sum(len(family.samples) for family in families)
    if samples == 0:
        return False, "Prometheus text without any sample"
    return True, f"{len(families)} metric families, {samples} samples"


def _reason(exchange: Exchange) -> str:
    """A short reason from an error answer: its JSON detail/status/error, else its first line."""
    try:
        data = exchange.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        parts = [str(data[key]) for key in ("status", "detail", "error") if data.get(key)]
        if parts:
            return ": ".join(parts)[:200]
    first = exchange.text.strip().splitlines()[0] if exchange.text.strip() else ""
    return first[:200]


def warm_cache(
    session: requests.Session | None,
    *,
    base_url: str,
    tenant: str,
    timeout: float = 30.0,
    attempts: int = 3,
    budget: float = 120.0,
    headers: Mapping[str, str] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> WarmResult:
    """Ask the app to build `tenant`'s aggregate snapshot; the answer (raises nothing).

    `headers` may carry the API's authentication. `ok` is a 2xx answer; `generated_at` is the
    answer's field of that name when it has one.
    """
    url = base_url.rstrip("/") + AGGREGATE_SNAPSHOT
    own = session is None
    http = requests.Session() if session is None else session
    try:
        exchange = send(
            http,
            "POST",
            url,
            json_body={"tenant_id": tenant},
            headers=headers,
            timeout=timeout,
            attempts=attempts,
            budget=budget,
            clock=clock,
            backoff=backoff,
        )
    finally:
        if own:
            http.close()
    ok, detail = _judge(AGGREGATE_SNAPSHOT, exchange, None)[:2]
    generated_at = None
    if ok:
        try:
            data = exchange.json()
        except ValueError:
            data = None
        value = data.get("generated_at") if isinstance(data, dict) else None
        generated_at = str(value) if value is not None else None
    return WarmResult(
        url,
        tenant,
        exchange.status,
        exchange.latency_ms,
        exchange.attempts,
        ok,
        detail,
        generated_at,
    )
