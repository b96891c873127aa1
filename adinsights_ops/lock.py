"""The environment lock: one S3 object written with a conditional put, so two runs cannot both hold it.

`acquire` writes `locks/<env>.json` with If-None-Match: "*" (S3 answers 412 when it exists). A lock
past its expiry may be taken over, with If-Match on the expired object's ETag so that two runs taking
over at once cannot both win. The same run id may re-acquire its own lock (resume after a crash).
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import EnvironmentLocked
from adinsights_ops.journal import who

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "locks"
DEFAULT_TTL = 2 * 3600.0


@attrs.frozen
class Lock:
    """A held lock (or what a lock object says): who holds it, why, since and until when."""

    environment: str
    run_id: str
    who: str
    host: str
    reason: str
    started: str
    expires: str
    etag: str = attrs.field(default="", eq=False)

    @property
    def expired(self) -> bool:
        return datetime.fromisoformat(self.expires) <= datetime.now(UTC)

    def body(self) -> dict[str, Any]:
        return {k: v for k, v in attrs.asdict(self).items() if k != "etag"}


def lock_key(environment: str) -> str:
    return f"{PREFIX}/{environment}.json"


def _status_code(exc: Exception) -> int:
    response = getattr(exc, "response", {}) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def read(s3: S3Client, *, bucket: str, environment: str) -> Lock | None:
    """The lock as it stands, or None when the environment is free."""
    try:
        got = s3.get_object(Bucket=bucket, Key=lock_key(environment))
    except s3.exceptions.NoSuchKey:
        return None
    data = json.loads(got["Body"].read())
    known = {f.name for f in attrs.fields(Lock)} - {"etag"}
    return Lock(etag=got["ETag"], **{k: v for k, v in data.items() if k in known})


def acquire(
    s3: S3Client,
    *,
    bucket: str,
    environment: str,
    run_id: str,
    reason: str,
    ttl: float = DEFAULT_TTL,
) -> Lock:
    """Take the environment's lock or raise EnvironmentLocked with the holder's details."""
    now = datetime.now(UTC)
    lock = Lock(
        environment=environment,
        run_id=run_id,
        who=who(),
        host=socket.gethostname(),
        reason=reason,
        started=now.isoformat(timespec="seconds"),
        expires=(now + timedelta(seconds=ttl)).isoformat(timespec="seconds"),
    )
    body = json.dumps(lock.body()).encode()
    key = lock_key(environment)
    try:
        put = s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
        return attrs.evolve(lock, etag=put["ETag"])
    except s3.exceptions.ClientError as exc:
        if _status_code(exc) not in (409, 412):
            raise
    holder = read(s3, bucket=bucket, environment=environment)
    if holder is None:  # released between our put and our read: try once more
        return acquire(
            s3, bucket=bucket, environment=environment, run_id=run_id, reason=reason, ttl=ttl
        )
    if holder.run_id != run_id and not holder.expired:
        raise EnvironmentLocked(environment, holder.body())
    try:
        put = s3.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=holder.etag)
    except s3.exceptions.ClientError as exc:
        if _status_code(exc) in (409, 412):
            current = read(s3, bucket=bucket, environment=environment)
            raise EnvironmentLocked(
                environment, current.body() if current else holder.body()
            ) from exc
        raise
    return attrs.evolve(lock, etag=put["ETag"])


def release(s3: S3Client, *, bucket: str, lock: Lock) -> bool:
    """Release `lock` from `bucket`; False (nothing deleted) when another run holds the lock now."""
    current = read(s3, bucket=bucket, environment=lock.environment)
    if current is None:
        return True
    if current.run_id != lock.run_id:
        return False
    try:
        s3.delete_object(Bucket=bucket, Key=lock_key(lock.environment), IfMatch=current.etag)
    except s3.exceptions.ClientError as exc:
        if _status_code(exc) in (409, 412):
            return False
        raise
    return True


def force_unlock(s3: S3Client, *, bucket: str, environment: str) -> Lock | None:
    """Remove whatever lock there is; returns what was removed (None when there was none)."""
    current = read(s3, bucket=bucket, environment=environment)
    if current is not None:
        s3.delete_object(Bucket=bucket, Key=lock_key(environment))
    return current
