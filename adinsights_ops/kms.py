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
import contextlib
import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from adinsights_ops import ecs, lock
from adinsights_ops.ecs import TaskFailed, TaskResult
from adinsights_ops.ecs_tasks import network_configuration
from adinsights_ops.ecs_views import OnEvent, Phase, describe
from adinsights_ops.errors import EnvironmentLocked, NeedsHuman, OpsError
from adinsights_ops.journal import Journal, RunRecord, Step, new_run_id, utcnow, who
from adinsights_ops.waiting import Backoff, wait_until

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client

    from adinsights_ops.opsenv import OpsEnv

__all__ = [
    "BeatNotRestored",
    "Checkpoint",
    "Done",
    "EnvironmentLocked",
    "KeyNotUsable",
    "KeyRotation",
    "KeyStatus",
    "Rewrap",
    "RewrapFailed",
    "RewrapProgress",
    "Rotation",
    "RotationEntry",
    "S3Checkpoint",
    "TaskFailed",
    "checkpoint_key",
    "describe_key",
    "rewrap",
    "rewrap_object",
    "rotate_deks",
    "rotate_key",
    "status",
]

RUN_KIND = "rotate-deks"
PAUSE_STEP, RUN_STEP, RESTORE_STEP = "pause-beat", "rotate-deks", "restore-beat"
BEAT_COUNT = "beat_desired"  # the journaled desired count of celery-beat before it was paused
COMMAND = ("python", "manage.py", "rotate_deks")
BEAT_POLL = Backoff(initial=2.0, factor=1.25, maximum=10.0, jitter=0.2)


class KeyNotUsable(OpsError):
    """The KMS key does not exist or is not enabled."""


class BeatNotRestored(NeedsHuman):
    """celery-beat could not be put back: it stays paused until a person restores it."""


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


# -- rotate_deks: the emergency rotation of runbook 10 ---------------------------------------------


@attrs.frozen
class Rotation:
    run_id: str
    task: TaskResult
    beat_service: str
    beat_restored: int  # the desired count celery-beat was given back
    recovered: tuple[str, ...] = ()  # what this run repaired first (a beat left paused by a crash)


def _one_off_network(ops: OpsEnv) -> dict[str, Any]:
    net, settings = ops.env.ecs.network, ops.env.ecs
    if net.from_service:
        return ecs.network_from_service(
            ops.aws.ecs(),
            cluster=settings.cluster,
            service=settings.services[net.from_service].name,
        )
    return network_configuration(net.subnets, net.security_groups, net.assign_public_ip)


def _beat_tasks(client: ECSClient, cluster: str, service: str) -> list[str]:
    """Tasks of `service` that may still run: desired RUNNING, or told to stop but not stopped."""
    running = client.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")
    alive = list(running["taskArns"])
    stopping = client.list_tasks(cluster=cluster, serviceName=service, desiredStatus="STOPPED")
    arns = stopping["taskArns"]
    for start in range(0, len(arns), 100):
        tasks = client.describe_tasks(cluster=cluster, tasks=arns[start : start + 100])["tasks"]
        alive += [t["taskArn"] for t in tasks if t.get("lastStatus") != "STOPPED"]
    return alive


def _emit(on_event: OnEvent | None, name: str, detail: str) -> None:
    if on_event is not None:
        on_event(Phase(name, detail))


def _save_quietly(journal: Journal, record: RunRecord) -> None:
    """Journal writes in cleanup must not hide the error being cleaned up after."""
    with contextlib.suppress(Exception):
        journal.save(record)


def _recover(
    ops: OpsEnv, journal: Journal, record: RunRecord, on_event: OnEvent | None
) -> tuple[str, ...]:
    """Restore a beat that an earlier run paused and never restored; close unfinished runs.

    Holding the lock, no other rotation runs: an unfinished record is a run that died.
    """
    client, cluster = ops.aws.ecs(), ops.env.ecs.cluster
    beat = ops.env.ecs.services["beat"].name
    desired = describe(client, cluster=cluster, services=[beat])[beat].desired
    said: list[str] = []
    for run in journal.runs(kind=RUN_KIND, limit=20):
        if run.run_id == record.run_id:
            continue
        pause, restore = run.step(PAUSE_STEP), run.step(RESTORE_STEP)
        count = int(pause.outputs.get(BEAT_COUNT, 0)) if pause else 0
        left_paused = count > 0 and (restore is None or restore.outcome != "done")
        if run.finished is not None and not left_paused:
            continue
        if left_paused and desired == 0:
            message = f"run {run.run_id} left {beat} paused; restored it to {count} first"
            _emit(on_event, "recovering", message)
            _scale_beat(ops, count, on_event)
            desired = count
            said.append(message)
        if left_paused:
            run.steps.append(_restored_step(beat, count, by=record.run_id))
        if run.finished is None:
            run.notes.append(f"found unfinished by run {record.run_id}")
            journal.finish(run, "failed")
        else:
            journal.save(run)
    record.notes.extend(said)
    return tuple(said)


def _restored_step(beat: str, count: int, by: str | None = None) -> Step:
    outputs: dict[str, Any] = {"service": beat, "desired": count}
    if by is not None:
        outputs["by_run"] = by
    return Step(RESTORE_STEP, utcnow(), utcnow(), "done", outputs=outputs)


def _scale_beat(ops: OpsEnv, count: int, on_event: OnEvent | None) -> None:
    """Set celery-beat's desired count and wait until that many tasks run."""
    ecs.scale(
        ops.aws.ecs(),
        cluster=ops.env.ecs.cluster,
        service=ops.env.ecs.services["beat"].name,
        desired=count,
        timeout=ops.env.ecs.rollout_timeout,
        on_event=on_event,
        clock=ops.clock,
    )


def _restore_beat(ops: OpsEnv, count: int, on_event: OnEvent | None) -> None:
    beat = ops.env.ecs.services["beat"].name
    _emit(on_event, "restoring", f"{beat} to {count}")
    during = sys.exc_info()[1]  # what interrupted the rotation, if anything
    try:
        _scale_beat(ops, count, on_event)
    except (Exception, KeyboardInterrupt) as exc:
        details = [f"restore it: inv ecs.scale --env {ops.name} --service {beat} --count {count}"]
        if during is not None:
            details.append(f"the rotation itself stopped first: {during or type(during).__name__}")
        raise BeatNotRestored(
            f"{beat} could not be restored to {count} tasks ({exc or type(exc).__name__})",
            details=details,
        ) from exc


def _rotate(
    ops: OpsEnv, journal: Journal, record: RunRecord, timeout: float, on_event: OnEvent | None
) -> tuple[TaskResult, int]:
    """Pause beat, run the command, restore beat (always); returns (task result, beat count)."""
    client, settings = ops.aws.ecs(), ops.env.ecs
    beat, backend = settings.services["beat"].name, settings.services["backend"].name
    before = describe(client, cluster=settings.cluster, services=[beat])[beat].desired
    try:
        with journal.step(record, PAUSE_STEP) as step:
            step.outputs.update({"service": beat, BEAT_COUNT: before})
            journal.save(record)  # on record before beat is touched: a crash can be repaired
            _emit(on_event, "pausing", f"{beat} from {before} to 0 tasks")
            _scale_beat(ops, 0, on_event)
            wait_until(
                lambda: _beat_tasks(client, settings.cluster, beat),
                what=f"every {beat} task to stop",
                success=lambda alive: not alive,
                timeout=settings.rollout_timeout,
                backoff=BEAT_POLL,
                clock=ops.clock,
            )
        with journal.step(record, RUN_STEP) as step:
            task_definition = describe(client, cluster=settings.cluster, services=[backend])[
                backend
            ].task_definition
            step.outputs["task_definition"] = ecs.short_arn(task_definition)
            try:
                result = ecs.run_task(
                    client,
                    cluster=settings.cluster,
                    task_definition=task_definition,
                    command=COMMAND,
                    network=_one_off_network(ops),
                    container=settings.one_off_container,
                    timeout=timeout,
                    logs=ops.aws.logs(),
                    on_event=on_event,
                    clock=ops.clock,
                )
            except TaskFailed as exc:
                step.outputs["exit_code"] = exc.result.exit_code
                raise
            step.outputs.update(task=ecs.short_arn(result.task_arn), exit_code=result.exit_code)
    finally:
        _restore_beat(ops, before, on_event)
        record.steps.append(_restored_step(beat, before))
        _save_quietly(journal, record)
    return result, before


def rotate_deks(
    ops: OpsEnv, *, timeout: float | None = None, on_event: OnEvent | None = None
) -> Rotation:
    """Run `manage.py rotate_deks` as a one-off task with celery-beat paused (runbook 10).

    Takes the environment's lock (EnvironmentLocked when a deploy or another rotation holds it).
    Beat gets its previous desired count back in every case, also when the command fails
    (TaskFailed) or the run is interrupted; BeatNotRestored (exit 4) when even that fails.
    """
    settings = ops.env.ecs
    task_timeout = timeout or settings.task_timeout
    s3, journal = ops.aws.s3(), ops.journal()
    run_id = new_run_id()
    held = lock.acquire(
        s3,
        bucket=ops.env.state_bucket,
        environment=ops.name,
        run_id=run_id,
        reason=RUN_KIND,
        ttl=task_timeout + 3 * settings.rollout_timeout + 600,
    )
    record = RunRecord(
        run_id=run_id, environment=ops.name, kind=RUN_KIND, who=who(), started=utcnow()
    )
    try:
        journal.save(record)
        recovered = _recover(ops, journal, record, on_event)
        result, restored = _rotate(ops, journal, record, task_timeout, on_event)
    except BaseException as exc:
        record.notes.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        needs_human = isinstance(exc, NeedsHuman)
        record.outcome, record.finished = ("needs-human" if needs_human else "failed"), utcnow()
        _save_quietly(journal, record)
        raise
    finally:
        with contextlib.suppress(Exception):  # an unreleased lock expires; the error matters more
            lock.release(s3, bucket=ops.env.state_bucket, lock=held)
    journal.finish(record, "succeeded")
    beat = settings.services["beat"].name
    return Rotation(run_id, result, beat, restored, recovered)
