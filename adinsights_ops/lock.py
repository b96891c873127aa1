"""The environment lock: one S3 object written with conditional puts, held as a renewed lease.

`acquire` writes `locks/<env>.json` with If-None-Match: "*" (S3 answers 412 when it exists). The body
names the run, who, the host and process, why, and when the lease ends. The holder renews the lease
while it works (`Heartbeat`), each renewal an If-Match put on the ETag it last wrote, and re-reads the
lock before every step that changes something (`Heartbeat.ensure`): a holder whose lock was removed
or taken over stops there (fencing, `LockLost`).

Who may take a lock that exists:
- the same run (a resume) only when its holder is gone: the lease ended, or the holder's process on
  this host no longer exists. A live holder is never taken over (`HolderAlive`, exit 3).
- another run only when the caller says the holder's run has ended (`is_over`, from the journal), or,
  for callers that keep no journal, when the lease has ended. A crashed deploy's lock is therefore kept
  until it is resumed or deliberately removed with `force_unlock`, which records who and why.

Every put carries a `token` that is the same for all renewals of one holder, so an answer lost on the
network (a retried put that then sees its own write) is recognised as ours and not as a take-over.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import EnvironmentLocked, NeedsHuman
from adinsights_ops.journal import who

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "locks"
DEFAULT_TTL = 300.0
"""Length of a lease: a holder that stops renewing is presumed gone this long after its last renewal."""


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
    pid: int = 0
    token: str = ""
    renewed: str = ""
    etag: str = attrs.field(default="", eq=False)

    @property
    def expired(self) -> bool:
        return datetime.fromisoformat(self.expires) <= datetime.now(UTC)

    @property
    def gone(self) -> bool:
        """True when the holder is known not to be working any more (lease ended or process gone)."""
        if self.expired:
            return True
        if self.host == socket.gethostname() and self.pid:
            return not _process_exists(self.pid)
        return False

    def describe(self) -> str:
        state = "gone" if self.gone else "alive"
        return (
            f"run {self.run_id} by {self.who} on {self.host}"
            + (f" (pid {self.pid})" if self.pid else "")
            + f", {state}, lease ends {self.expires}"
        )

    def body(self) -> dict[str, Any]:
        return {k: v for k, v in attrs.asdict(self).items() if k != "etag"}


class LockLost(NeedsHuman):
    """This run's lock was removed or taken by another run: it must stop changing things (fencing)."""

    def __init__(self, environment: str, run_id: str, now: Lock | None) -> None:
        holder = f"now held by {now.describe()}" if now else "nobody holds it now"
        super().__init__(
            f"run {run_id} lost the lock of {environment!r} ({holder}); it stopped before changing "
            "anything else",
            details=[f"holder reason: {now.reason}"] if now and now.reason else [],
        )
        self.environment = environment
        self.now = now


class HolderAlive(EnvironmentLocked):
    """A resume of a run whose holder is still working: refused, never taken over."""

    def __init__(self, environment: str, holder: Lock) -> None:
        super().__init__(environment, holder.body())
        self.message = (
            f"run {holder.run_id} is still running on {environment!r}: held by {holder.who} on "
            f"{holder.host}" + (f" (pid {holder.pid})" if holder.pid else "") + ", lease ends "
            f"{holder.expires}; a resume waits until that holder has stopped"
        )


def lock_key(environment: str) -> str:
    return f"{PREFIX}/{environment}.json"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _status_code(exc: Exception) -> int:
    response = getattr(exc, "response", {}) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _conflict(exc: Exception) -> bool:
    """A conditional request refused: the object is not (or no longer) what we expected."""
    code = (getattr(exc, "response", {}) or {}).get("Error", {}).get("Code", "")
    return _status_code(exc) in (404, 409, 412) or code in ("NoSuchKey", "PreconditionFailed")


def read(s3: S3Client, *, bucket: str, environment: str) -> Lock | None:
    """The lock as it stands, or None when the environment is free."""
    try:
        got = s3.get_object(Bucket=bucket, Key=lock_key(environment))
    except s3.exceptions.NoSuchKey:
        return None
    data = json.loads(got["Body"].read())
    known = {f.name for f in attrs.fields(Lock)} - {"etag"}
    return Lock(etag=got["ETag"], **{k: v for k, v in data.items() if k in known})


def _new(environment: str, run_id: str, reason: str, ttl: float, token: str = "") -> Lock:
    now = datetime.now(UTC)
    return Lock(
        environment=environment,
        run_id=run_id,
        who=who(),
        host=socket.gethostname(),
        reason=reason,
        started=now.isoformat(timespec="milliseconds"),
        expires=(now + timedelta(seconds=ttl)).isoformat(timespec="milliseconds"),
        pid=os.getpid(),
        token=token or secrets.token_hex(8),
        renewed=now.isoformat(timespec="milliseconds"),
    )


def acquire(
    s3: S3Client,
    *,
    bucket: str,
    environment: str,
    run_id: str,
    reason: str,
    ttl: float = DEFAULT_TTL,
    is_over: Callable[[Lock], bool] | None = None,
) -> Lock:
    """Take the environment's lock or raise EnvironmentLocked (HolderAlive) with the holder's details.

    `is_over(holder)` says whether another run's lock is left over from a run that has ended; without
    it, another run's lock may be taken once its lease has ended.
    """
    lock = _new(environment, run_id, reason, ttl)
    key = lock_key(environment)
    for _ in range(3):  # a lock released between our put and our read: look again
        try:
            put = s3.put_object(
                Bucket=bucket, Key=key, Body=json.dumps(lock.body()).encode(), IfNoneMatch="*"
            )
            return attrs.evolve(lock, etag=put["ETag"])
        except s3.exceptions.ClientError as exc:
            if not _conflict(exc):
                raise
        holder = read(s3, bucket=bucket, environment=environment)
        if holder is None:
            continue
        if holder.token == lock.token:  # our own put, whose answer was lost and retried
            return holder
        if holder.run_id == run_id:
            if not holder.gone:
                raise HolderAlive(environment, holder)
        elif not (is_over(holder) if is_over is not None else holder.expired):
            raise EnvironmentLocked(environment, holder.body(), gone=holder.gone)
        return _take_over(s3, bucket=bucket, lock=lock, holder=holder)
    raise EnvironmentLocked(environment, {"run_id": "?", "who": "a run that keeps changing it"})


def _take_over(s3: S3Client, *, bucket: str, lock: Lock, holder: Lock) -> Lock:
    """Replace `holder` with `lock`, only if the object is still exactly `holder` (If-Match)."""
    body = json.dumps(lock.body()).encode()
    try:
        put = s3.put_object(
            Bucket=bucket, Key=lock_key(lock.environment), Body=body, IfMatch=holder.etag
        )
    except s3.exceptions.ClientError as exc:
        if not _conflict(exc):
            raise
        current = read(s3, bucket=bucket, environment=lock.environment)
        if current is not None and current.token == lock.token:
            return current
        raise EnvironmentLocked(
            lock.environment, current.body() if current else holder.body()
        ) from exc
    return attrs.evolve(lock, etag=put["ETag"])


def check(s3: S3Client, *, bucket: str, lock: Lock) -> Lock:
    """The lock as it stands if it is still `lock`'s (same holder); raises LockLost otherwise."""
    current = read(s3, bucket=bucket, environment=lock.environment)
    if current is None or current.token != lock.token:
        raise LockLost(lock.environment, lock.run_id, current)
    return current


def renew(s3: S3Client, *, bucket: str, lock: Lock, ttl: float = DEFAULT_TTL) -> Lock:
    """Extend the lease by `ttl` from now; raises LockLost when the lock is no longer ours."""
    now = datetime.now(UTC)
    renewed = attrs.evolve(
        lock,
        expires=(now + timedelta(seconds=ttl)).isoformat(timespec="milliseconds"),
        renewed=now.isoformat(timespec="milliseconds"),
    )
    try:
        put = s3.put_object(
            Bucket=bucket,
            Key=lock_key(lock.environment),
            Body=json.dumps(renewed.body()).encode(),
            IfMatch=lock.etag,
        )
    except s3.exceptions.ClientError as exc:
        if not _conflict(exc):
            raise
        return check(s3, bucket=bucket, lock=lock)  # ours after all when our retried put had landed
    return attrs.evolve(renewed, etag=put["ETag"])


def release(s3: S3Client, *, bucket: str, lock: Lock) -> bool:
    """Release `lock`; True when it is gone (also when it already was), False when another run holds it."""
    for _ in range(3):
        current = read(s3, bucket=bucket, environment=lock.environment)
        if current is None:
            return True
        if (current.token != lock.token) if lock.token else (current.run_id != lock.run_id):
            return False
        try:
            s3.delete_object(Bucket=bucket, Key=lock_key(lock.environment), IfMatch=current.etag)
        except s3.exceptions.ClientError as exc:
            if not _conflict(exc):
                raise
            continue  # changed (or deleted) under us: look again
        return True
    return read(s3, bucket=bucket, environment=lock.environment) is None


def force_unlock(s3: S3Client, *, bucket: str, environment: str) -> Lock | None:
    """Remove whatever lock there is; returns what was removed (None when there was none)."""
    current = read(s3, bucket=bucket, environment=environment)
    if current is not None:
        s3.delete_object(Bucket=bucket, Key=lock_key(environment))
    return current


class Heartbeat:
    """Renews a held lock's lease in a background thread; `ensure()` fences the holder.

    The thread renews every `ttl / 4` seconds. When a renewal finds the lock gone or someone else's,
    the heartbeat stops and remembers why; `ensure()` raises that LockLost, and otherwise re-reads the
    lock, so a step never starts on a lock that is no longer ours.
    """

    def __init__(self, s3: S3Client, *, bucket: str, lock: Lock, ttl: float = DEFAULT_TTL) -> None:
        self.s3, self.bucket, self.ttl = s3, bucket, ttl
        self.lock = lock
        self.lost: LockLost | None = None
        self.renewals = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._guard = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="lock-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        interval = max(self.ttl / 4, 0.05)
        while not self._stop.wait(interval):
            try:
                with self._guard:
                    self.lock = renew(self.s3, bucket=self.bucket, lock=self.lock, ttl=self.ttl)
                    self.renewals += 1
            except LockLost as exc:
                self.lost = exc
                return
            except Exception as exc:  # a failed renewal is retried at the next beat
                self.errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])

    def ensure(self) -> Lock:
        """Raise LockLost unless the lock is still ours (a fresh read)."""
        if self.lost is not None:
            raise self.lost
        with self._guard:
            try:
                current = check(self.s3, bucket=self.bucket, lock=self.lock)
            except LockLost as exc:
                self.lost = exc
                raise
            self.lock = attrs.evolve(self.lock, etag=current.etag, expires=current.expires)
            return self.lock

    def stop(self) -> Lock:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        return self.lock
