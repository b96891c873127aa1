"""A seeding CloudWatch client whose datapoints go straight into moto's CloudWatch backend.

A sandbox's seed writes thousands of datapoints (two weeks of hourly utilisation, six hours of
minutes around now). Through botocore and moto's request parser that was a second of every
sandbox's start, and most of a post-deploy test's set-up. The seeding is the sandbox's own: it is
never recorded, counted or faulted, so nothing a client reads afterwards differs.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import UTC
from typing import Any


class DirectMetrics:
    """`client` (a CloudWatch client), except that put_metric_data writes into moto's backend for
    `account` and `region` directly, under `lock` (the server's, or none in a mock)."""

    def __init__(
        self, client: Any, account: str, region: str, lock: AbstractContextManager[Any]
    ) -> None:
        self._client = client
        self._account = account
        self._region = region
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_metric_data(self, *, Namespace: str, MetricData: list[dict[str, Any]]) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        data = [_as_parsed(datum) for datum in MetricData]
        backend = cloudwatch_backends[self._account][self._region]
        with self._lock:
            backend.put_metric_data(Namespace, data)


def for_seeding(
    service: str,
    client: Any,
    account: str,
    region: str,
    lock: AbstractContextManager[Any] | None = None,
) -> Any:
    """`client` (of `service`) as a seed uses it: a CloudWatch client writes directly."""
    if service != "cloudwatch":
        return client
    return DirectMetrics(client, account, region, lock if lock is not None else nullcontext())


def _as_parsed(datum: dict[str, Any]) -> dict[str, Any]:
    """A datum as moto's request parser hands it on: timestamps naive UTC."""
    at = datum.get("Timestamp")
    if at is None or at.tzinfo is None:
        return datum
    return {**datum, "Timestamp": at.astimezone(UTC).replace(tzinfo=None)}
