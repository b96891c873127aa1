"""Tenant data keys and the CMK that wraps them (runbook 3, and 10: emergency credential rotation).

`rotate_deks` runs `manage.py rotate_deks` the safe way: under the environment's lock, with
celery-beat paused (its scheduled `rotate_deks` must not run at the same time) and restored to its
previous count whatever happens; beat's count is journaled before beat is touched, so a run that
died without restoring it is noticed and repaired by the next one. `rewrap` moves wrapped DEKs to
another key with ReEncrypt (plaintext never leaves KMS), one tenant at a time, checkpointed in S3 so
that an interrupted run resumes. `rotate_key` and `status` look after the CMK itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from adinsights_ops.errors import OpsError
from adinsights_ops.journal import utcnow

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client


class KeyNotUsable(OpsError):
    """The KMS key does not exist or is not enabled."""


class RewrapFailed(OpsError):
    """KMS refused to re-wrap one tenant's DEK; the tenants before it are checkpointed."""

    def __init__(self, tenant: str, code: str, reason: str, done: tuple[str, ...]) -> None:
        super().__init__(
            f"re-wrapping the DEK of {tenant} failed ({code}{': ' + reason if reason else ''}); "
            f"{len(done)} tenants are done and checkpointed: a re-run continues from there"
        )
        self.tenant, self.code, self.done = tenant, code, done


# -- the CMK ---------------------------------------------------------------------------------------


@attrs.frozen
class RotationEntry:
    """One rotation of a key's material (RotationType AUTOMATIC or ON_DEMAND)."""

    key_id: str
    date: datetime | None
    kind: str


@attrs.frozen
class KeyStatus:
    key: str
    key_id: str
    arn: str
    enabled: bool
    state: str
    rotation_enabled: bool
    rotation_period_days: int | None
    rotations: tuple[RotationEntry, ...]  # newest first


@attrs.frozen
class KeyRotation:
    key_id: str
    arn: str
    automatic_rotation: bool  # false is a finding: runbook 3 wants the CMK rotating by itself
    rotations: tuple[RotationEntry, ...]  # newest first, after the on-demand rotation


def describe_key(kms: KMSClient, key: str) -> Mapping[str, Any]:
    """The key's metadata (`key` is an id, an ARN or an alias); KeyNotUsable when it is missing."""
    try:
        return kms.describe_key(KeyId=key)["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        raise KeyNotUsable(f"KMS key {key} does not exist") from None


def _rotations(kms: KMSClient, key_id: str) -> tuple[RotationEntry, ...]:
    entries: list[RotationEntry] = []
    kwargs: dict[str, Any] = {"KeyId": key_id}
    while True:
        page = kms.list_key_rotations(**kwargs)
        entries += [
            RotationEntry(r.get("KeyId", key_id), r.get("RotationDate"), r.get("RotationType", ""))
            for r in page.get("Rotations", [])
        ]
        if not page.get("Truncated") or not page.get("NextMarker"):
            break
        kwargs["Marker"] = page["NextMarker"]
    return tuple(sorted(entries, key=lambda e: e.date.timestamp() if e.date else 0, reverse=True))


def status(kms: KMSClient, *, key: str) -> KeyStatus:
    """Whether the key is enabled and rotating, and its rotations so far."""
    meta = describe_key(kms, key)
    rotation = kms.get_key_rotation_status(KeyId=meta["KeyId"])
    period = rotation.get("RotationPeriodInDays")
    return KeyStatus(
        key=key,
        key_id=meta["KeyId"],
        arn=meta["Arn"],
        enabled=bool(meta.get("Enabled")),
        state=meta.get("KeyState", ""),
        rotation_enabled=bool(rotation.get("KeyRotationEnabled")),
        rotation_period_days=int(period) if period else None,
        rotations=_rotations(kms, meta["KeyId"]),
    )


def rotate_key(kms: KMSClient, *, key: str) -> KeyRotation:
    """Rotate the key's material now (old material still decrypts) and check automatic rotation."""
    meta = describe_key(kms, key)
    if not meta.get("Enabled"):
        raise KeyNotUsable(f"KMS key {key} is {meta.get('KeyState', 'disabled')}: cannot rotate")
    kms.rotate_key_on_demand(KeyId=meta["KeyId"])
    automatic = kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"]
    return KeyRotation(meta["KeyId"], meta["Arn"], bool(automatic), _rotations(kms, meta["KeyId"]))


# -- re-wrapping DEKs ------------------------------------------------------------------------------


@attrs.frozen
class Done:
    """A tenant whose DEK is re-wrapped: a digest of the blob it came from, and the new blob."""

    source_sha256: str
    blob: bytes = attrs.field(repr=False)


class Checkpoint(Protocol):
    """Where a rewrap keeps its progress between runs."""

    def load(self) -> Mapping[str, Done]: ...

    def save(self, done: Mapping[str, Done]) -> None: ...


def checkpoint_key(to_key_id: str) -> str:
    return f"kms/rewrap-{to_key_id}.json"


@attrs.define
class S3Checkpoint:
    """A rewrap's progress as one JSON object (only wrapped blobs, never a plaintext key)."""

    s3: S3Client
    bucket: str
    key: str

    def load(self) -> dict[str, Done]:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return {}
        tenants = json.loads(body).get("tenants", {})
        return {
            t: Done(e["source_sha256"], base64.b64decode(e["blob"])) for t, e in tenants.items()
        }

    def save(self, done: Mapping[str, Done]) -> None:
        tenants = {
            t: {"source_sha256": d.source_sha256, "blob": base64.b64encode(d.blob).decode("ascii")}
            for t, d in done.items()
        }
        body = json.dumps({"tenants": tenants, "updated": utcnow()}, indent=2, sort_keys=True)
        self.s3.put_object(
            Bucket=self.bucket, Key=self.key, Body=body.encode(), ContentType="application/json"
        )


@attrs.frozen
class RewrapProgress:
    tenant: str
    done: int
    total: int
    skipped: bool  # already re-wrapped by an earlier (interrupted or finished) run


@attrs.frozen
class Rewrap:
    to_key: str  # the ARN every blob is now wrapped under
    rewrapped: tuple[str, ...]  # by this run
    already_done: tuple[str, ...]  # by an earlier run, from the checkpoint
    blobs: Mapping[str, bytes] = attrs.field(repr=False)  # tenant -> new wrapped DEK
    written: bool = False  # rewrap_object wrote the set back


def rewrap(
    kms: KMSClient,
    *,
    blobs: Mapping[str, bytes],
    to_key: str,
    checkpoint: Checkpoint,
    on_event: Callable[[RewrapProgress], None] | None = None,
) -> Rewrap:
    """Re-wrap each tenant's DEK under `to_key` (ReEncrypt; context {"tenant_id": tenant}).

    Tenants the checkpoint has for this same source blob (or whose blob already is the re-wrapped
    one) are not done again; each new blob is checkpointed before the next tenant starts.
    """
    meta = describe_key(kms, to_key)
    if not meta.get("Enabled"):
        raise KeyNotUsable(f"KMS key {to_key} is {meta.get('KeyState', 'disabled')}")
    arn = meta["Arn"]
    done = dict(checkpoint.load())
    result: dict[str, bytes] = {}
    fresh: list[str] = []
    skipped: list[str] = []
    for tenant, blob in sorted(blobs.items()):
        digest = hashlib.sha256(blob).hexdigest()
        prior = done.get(tenant)
        if prior is not None and (prior.source_sha256 == digest or prior.blob == blob):
            result[tenant] = prior.blob
            skipped.append(tenant)
        else:
            context = {"tenant_id": tenant}
            try:
                answer = kms.re_encrypt(
                    CiphertextBlob=blob,
                    SourceEncryptionContext=context,
                    DestinationKeyId=arn,
                    DestinationEncryptionContext=context,
                )
            except kms.exceptions.ClientError as exc:
                error = exc.response.get("Error", {})
                code, reason = error.get("Code", type(exc).__name__), error.get("Message", "")
                raise RewrapFailed(tenant, code, reason, tuple(fresh + skipped)) from exc
            if answer["KeyId"] != arn:
                raise OpsError(f"KMS re-wrapped {tenant} under {answer['KeyId']}, not {arn}")
            done[tenant] = Done(digest, answer["CiphertextBlob"])
            result[tenant] = answer["CiphertextBlob"]
            checkpoint.save(done)
            fresh.append(tenant)
        if on_event is not None:
            on_event(RewrapProgress(tenant, len(result), len(blobs), tenant in skipped))
    return Rewrap(arn, tuple(fresh), tuple(skipped), result)


def rewrap_object(
    kms: KMSClient,
    s3: S3Client,
    *,
    bucket: str,
    key: str,
    to_key: str,
    on_event: Callable[[RewrapProgress], None] | None = None,
) -> Rewrap:
    """Re-wrap the DEKs stored at s3://bucket/key ({tenant: base64 blob}) and write them back.

    The write is conditional on the object being unchanged since it was read.
    """
    try:
        got = s3.get_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        raise OpsError(f"no wrapped DEKs at s3://{bucket}/{key}") from None
    stored: dict[str, str] = json.loads(got["Body"].read())
    blobs = {tenant: base64.b64decode(blob) for tenant, blob in stored.items()}
    meta = describe_key(kms, to_key)
    checkpoint = S3Checkpoint(s3, bucket, checkpoint_key(meta["KeyId"]))
    result = rewrap(kms, blobs=blobs, to_key=to_key, checkpoint=checkpoint, on_event=on_event)
    new = {t: base64.b64encode(b).decode("ascii") for t, b in result.blobs.items()}
    if new == stored:
        return result
    body = json.dumps(new, indent=2, sort_keys=True).encode()
    try:
        s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/json", IfMatch=got["ETag"]
        )
    except s3.exceptions.ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (409, 412):
            raise OpsError(
                f"s3://{bucket}/{key} changed while re-wrapping; nothing was written back: re-run"
            ) from exc
        raise
    return attrs.evolve(result, written=True)


# The emergency rotation lives in its own module; it is part of this one's interface.
