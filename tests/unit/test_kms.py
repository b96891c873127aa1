"""DEK rotation with celery-beat paused, checkpointed re-wrapping, and the CMK's rotation."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError

from adinsights_ops import ecs, kms, lock
from adinsights_ops.ecs._views import Phase, describe
from adinsights_ops.errors import EXIT_NEEDS_HUMAN
from adinsights_ops.journal import RunRecord, Step, utcnow
from adinsights_ops.sandbox.blueprint import DEK_OBJECT_KEY
from adinsights_ops.sandbox.scheduler import Scenario
from tests.simulated import Simulated

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

# -- rotate_deks ------------------------------------------------------------------------------------


def beat(sim: Simulated) -> str:
    return sim.env.ecs.services["beat"].name


def beat_counts(sim: Simulated) -> tuple[int, int]:
    """(desired, running) of celery-beat, as ECS reports them."""
    state = describe(sim.client("ecs"), cluster=sim.env.ecs.cluster, services=[beat(sim)])
    return state[beat(sim)].desired, state[beat(sim)].running


def beat_tasks(sim: Simulated) -> list[str]:
    listed = sim.client("ecs").list_tasks(
        cluster=sim.env.ecs.cluster, serviceName=beat(sim), desiredStatus="RUNNING"
    )
    return list(listed["taskArns"])


def rotation_runs(sim: Simulated) -> list[RunRecord]:
    return sim.ops.journal().runs(kind=kms.RUN_KIND)


def outputs(record: RunRecord, step: str) -> dict[str, Any]:
    """What the run recorded for `step`, which it must have taken."""
    taken = record.step(step)
    assert taken is not None, f"{record.run_id} has no step {step}"
    return taken.outputs


def lock_holder(sim: Simulated) -> lock.Lock | None:
    return lock.read(sim.client("s3"), bucket=sim.env.state_bucket, environment="sandbox")


@pytest.fixture
def seen_by_command(sim: Simulated, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What celery-beat looked like at the moment the one-off command was started."""
    seen: dict[str, Any] = {}
    original = ecs.run_task

    def spy(client: Any, **kwargs: Any) -> ecs.TaskResult:
        seen["beat"] = beat_counts(sim)
        seen["beat_tasks"] = beat_tasks(sim)
        seen["kwargs"] = kwargs
        return original(client, **kwargs)

    monkeypatch.setattr(ecs, "run_task", spy)
    return seen


def test_rotate_deks_pauses_beat_runs_the_command_and_restores_beat(
    sim: Simulated, seen_by_command: dict[str, Any]
) -> None:
    assert beat_counts(sim) == (1, 1)
    events: list[Any] = []

    result = kms.rotate_deks(sim.ops, on_event=events.append)

    assert seen_by_command["beat"] == (0, 0) and seen_by_command["beat_tasks"] == []
    kwargs = seen_by_command["kwargs"]
    assert kwargs["command"] == ("python", "manage.py", "rotate_deks")
    assert kwargs["container"] == sim.env.ecs.one_off_container
    assert kwargs["task_definition"] == sim.blueprint.task_definition_arns["backend"]
    assert kwargs["network"] == sim.blueprint.network_configuration()
    assert result.task.exit_code == 0 and "Rotated 2 tenant DEKs." in result.task.log_tail
    assert (result.beat_service, result.beat_restored, result.recovered) == (beat(sim), 1, ())
    assert beat_counts(sim) == (1, 1) and len(beat_tasks(sim)) == 1
    phases = [e.name for e in events if isinstance(e, Phase)]
    assert phases[0] == "pausing" and phases[-1] == "restoring"
    (record,) = rotation_runs(sim)
    assert (record.run_id, record.outcome) == (result.run_id, "succeeded")
    assert outputs(record, kms.PAUSE_STEP)[kms.BEAT_COUNT] == 1
    assert [s.name for s in record.steps] == [kms.PAUSE_STEP, kms.RUN_STEP, kms.RESTORE_STEP]
    assert lock_holder(sim) is None


def test_failing_command_restores_beat_and_raises_task_failed(sim: Simulated) -> None:
    sim.scheduler.scenario = Scenario(failing_commands={"rotate_deks": 2})

    with pytest.raises(kms.TaskFailed) as raised:
        kms.rotate_deks(sim.ops)

    assert raised.value.result.exit_code == 2
    assert any("CommandError" in line for line in raised.value.result.log_tail)
    assert beat_counts(sim) == (1, 1)
    (record,) = rotation_runs(sim)
    assert record.outcome == "failed"
    assert outputs(record, kms.RUN_STEP)["exit_code"] == 2
    assert outputs(record, kms.RESTORE_STEP)["desired"] == 1
    assert lock_holder(sim) is None


def test_interrupted_run_restores_beat_in_its_finally(
    sim: Simulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(client: Any, **kwargs: Any) -> ecs.TaskResult:
        assert beat_counts(sim) == (0, 0)
        raise KeyboardInterrupt

    monkeypatch.setattr(ecs, "run_task", interrupted)

    with pytest.raises(KeyboardInterrupt):
        kms.rotate_deks(sim.ops)

    assert beat_counts(sim) == (1, 1)
    (record,) = rotation_runs(sim)
    assert record.outcome == "failed" and record.finished is not None
    assert lock_holder(sim) is None


def crashed_run(sim: Simulated) -> RunRecord:
    """What a run killed while beat was paused leaves: a running record, beat at 0."""
    record = RunRecord(
        run_id="20260101T000000Z-dead",
        environment="sandbox",
        kind=kms.RUN_KIND,
        who="someone@elsewhere",
        started=utcnow(),
        steps=[Step(kms.PAUSE_STEP, utcnow(), outputs={"service": beat(sim), kms.BEAT_COUNT: 1})],
    )
    sim.ops.journal().save(record)
    ecs.scale(
        sim.client("ecs"),
        cluster=sim.env.ecs.cluster,
        service=beat(sim),
        desired=0,
        clock=sim.clock,
    )
    assert beat_counts(sim) == (0, 0)
    return record


def test_a_rerun_restores_the_beat_a_crashed_run_left_paused(
    sim: Simulated, seen_by_command: dict[str, Any]
) -> None:
    crashed = crashed_run(sim)
    events: list[Any] = []

    result = kms.rotate_deks(sim.ops, on_event=events.append)

    assert len(result.recovered) == 1 and crashed.run_id in result.recovered[0]
    phases = [e.name for e in events if isinstance(e, Phase)]
    assert phases[:2] == ["recovering", "pausing"]  # repaired before anything else
    assert result.beat_restored == 1  # the count recorded after the repair, not the 0 it found
    assert seen_by_command["beat"] == (0, 0)
    assert beat_counts(sim) == (1, 1)
    old = sim.ops.journal().load(crashed.run_id)
    assert old.outcome == "failed" and old.finished is not None
    assert outputs(old, kms.RESTORE_STEP)["by_run"] == result.run_id
    again = kms.rotate_deks(sim.ops)
    assert again.recovered == ()  # repaired once, not again


def test_a_crashed_run_that_left_beat_running_is_only_closed(sim: Simulated) -> None:
    crashed = crashed_run(sim)
    ecs.scale(
        sim.client("ecs"),
        cluster=sim.env.ecs.cluster,
        service=beat(sim),
        desired=1,
        clock=sim.clock,
    )

    result = kms.rotate_deks(sim.ops)

    assert result.recovered == ()
    assert sim.ops.journal().load(crashed.run_id).outcome == "failed"


def test_refuses_when_the_lock_is_held_and_touches_nothing(sim: Simulated) -> None:
    held = lock.acquire(
        sim.client("s3"),
        bucket=sim.env.state_bucket,
        environment="sandbox",
        run_id="20260101T000000Z-depl",
        reason="deploy",
    )
    before = sim.calls["UpdateService"]

    with pytest.raises(kms.EnvironmentLocked, match="reason: deploy"):
        kms.rotate_deks(sim.ops)

    assert sim.calls["UpdateService"] == before and sim.calls["RunTask"] == 0
    assert beat_counts(sim) == (1, 1)
    assert rotation_runs(sim) == []
    assert lock_holder(sim) == held


def test_beat_that_cannot_be_restored_needs_a_human_and_the_next_run_repairs_it(
    sim: Simulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ecs.scale

    def scale_down_only(client: Any, **kwargs: Any) -> Any:
        if kwargs["desired"] > 0:
            raise ConnectionError("ECS endpoint unreachable")
        return original(client, **kwargs)

    monkeypatch.setattr(ecs, "scale", scale_down_only)
    with pytest.raises(kms.BeatNotRestored) as raised:
        kms.rotate_deks(sim.ops)
    assert raised.value.exit_code == EXIT_NEEDS_HUMAN
    assert raised.value.details == [
        f"restore it: inv ecs.scale --env sandbox --service {beat(sim)} --count 1"
    ]
    assert beat_counts(sim) == (0, 0)
    assert rotation_runs(sim)[0].outcome == "needs-human"

    monkeypatch.setattr(ecs, "scale", original)
    result = kms.rotate_deks(sim.ops)
    assert len(result.recovered) == 1 and beat_counts(sim) == (1, 1)


def test_beat_not_restored_after_a_failed_command_says_both(
    sim: Simulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.scheduler.scenario = Scenario(failing_commands={"rotate_deks": 1})
    original = ecs.scale

    def scale_down_only(client: Any, **kwargs: Any) -> Any:
        if kwargs["desired"] > 0:
            raise ConnectionError("ECS endpoint unreachable")
        return original(client, **kwargs)

    monkeypatch.setattr(ecs, "scale", scale_down_only)
    with pytest.raises(kms.BeatNotRestored) as raised:
        kms.rotate_deks(sim.ops)
    assert "ECS endpoint unreachable" in str(raised.value)
    assert raised.value.details[1] == (
        "the rotation itself stopped first: "
        "`python manage.py rotate_deks` failed with exit code 1 (Essential container in task exited)"
    )
    cause = raised.value.__cause__
    assert cause is not None and isinstance(cause.__context__, kms.TaskFailed)


# -- rewrap -----------------------------------------------------------------------------------------


def stored_deks(sim: Simulated) -> dict[str, bytes]:
    body = sim.client("s3").get_object(Bucket=sim.env.state_bucket, Key=DEK_OBJECT_KEY)["Body"]
    return {t: base64.b64decode(b) for t, b in json.loads(body.read()).items()}


def new_key(sim: Simulated) -> dict[str, Any]:
    meta: dict[str, Any] = sim.client("kms").create_key(Description="the next CMK")["KeyMetadata"]
    return meta


def checkpoint_for(sim: Simulated, key_id: str) -> kms.S3Checkpoint:
    return kms.S3Checkpoint(sim.client("s3"), sim.env.state_bucket, kms.checkpoint_key(key_id))


class FailingAfter:
    """A KMS client whose ReEncrypt fails after `n` successful calls."""

    def __init__(self, real: Any, n: int) -> None:
        self.real, self.n, self.calls = real, n, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def re_encrypt(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls > self.n:
            raise ClientError(
                {"Error": {"Code": "KMSInternalException", "Message": "try again later"}},
                "ReEncrypt",
            )
        return self.real.re_encrypt(**kwargs)


def test_rewrap_moves_every_dek_to_the_new_key_without_decrypting(sim: Simulated) -> None:
    client, old_arn = sim.client("kms"), sim.blueprint.kms_key_arn
    target = new_key(sim)
    blobs = stored_deks(sim)
    progress: list[kms.RewrapProgress] = []

    result = kms.rewrap(
        client,
        blobs=blobs,
        to_key=target["KeyId"],
        checkpoint=checkpoint_for(sim, target["KeyId"]),
        on_event=progress.append,
    )

    assert sim.calls["Decrypt"] == 0 and sim.calls["ReEncrypt"] == 3
    assert result.to_key == target["Arn"]
    assert result.rewrapped == ("tenant-acme", "tenant-demo", "tenant-globex")
    assert [(p.done, p.total, p.skipped) for p in progress] == [
        (1, 3, False),
        (2, 3, False),
        (3, 3, False),
    ]
    for tenant, blob in result.blobs.items():
        context = {"tenant_id": tenant}
        plain = client.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        assert plain["KeyId"] == target["Arn"]
        same = client.decrypt(CiphertextBlob=blobs[tenant], EncryptionContext=context)
        assert plain["Plaintext"] == same["Plaintext"]  # the same DEK, wrapped differently
        other = next(t for t in blobs if t != tenant)
        with pytest.raises(ClientError):
            client.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant_id": other})
        with pytest.raises(ClientError):
            client.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=old_arn)


def test_interrupted_rewrap_resumes_without_redoing_done_tenants(sim: Simulated) -> None:
    target = new_key(sim)
    blobs = stored_deks(sim)
    flaky = cast("KMSClient", FailingAfter(sim.client("kms"), 1))

    with pytest.raises(kms.RewrapFailed) as raised:
        kms.rewrap(
            flaky,
            blobs=blobs,
            to_key=target["KeyId"],
            checkpoint=checkpoint_for(sim, target["KeyId"]),
        )
    assert (raised.value.tenant, raised.value.done) == ("tenant-demo", ("tenant-acme",))
    assert "KMSInternalException: try again later" in str(raised.value)
    saved = checkpoint_for(sim, target["KeyId"]).load()
    assert list(saved) == ["tenant-acme"]

    before = sim.calls["ReEncrypt"]
    resumed = kms.rewrap(
        sim.client("kms"),
        blobs=blobs,
        to_key=target["Arn"],
        checkpoint=checkpoint_for(sim, target["KeyId"]),
    )
    assert sim.calls["ReEncrypt"] - before == 2
    assert resumed.already_done == ("tenant-acme",)
    assert resumed.rewrapped == ("tenant-demo", "tenant-globex")
    assert resumed.blobs["tenant-acme"] == saved["tenant-acme"].blob
    for tenant, blob in resumed.blobs.items():
        answer = sim.client("kms").decrypt(
            CiphertextBlob=blob, EncryptionContext={"tenant_id": tenant}
        )
        assert answer["KeyId"] == target["Arn"]

    # A completed run is a no-op, whether given the old blobs or the re-wrapped ones.
    before = sim.calls["ReEncrypt"]
    for given in (blobs, dict(resumed.blobs)):
        again = kms.rewrap(
            sim.client("kms"),
            blobs=given,
            to_key=target["KeyId"],
            checkpoint=checkpoint_for(sim, target["KeyId"]),
        )
        assert again.rewrapped == () and dict(again.blobs) == dict(resumed.blobs)
    assert sim.calls["ReEncrypt"] == before


def test_rewrap_object_writes_the_set_back_once(sim: Simulated) -> None:
    target = new_key(sim)
    s3, bucket = sim.client("s3"), sim.env.state_bucket
    first = kms.rewrap_object(
        sim.client("kms"), s3, bucket=bucket, key=DEK_OBJECT_KEY, to_key=target["KeyId"]
    )
    assert first.written and len(first.rewrapped) == 3
    assert stored_deks(sim) == dict(first.blobs)
    checkpoint = s3.get_object(Bucket=bucket, Key=f"kms/rewrap-{target['KeyId']}.json")
    assert set(json.loads(checkpoint["Body"].read())["tenants"]) == set(first.blobs)

    second = kms.rewrap_object(
        sim.client("kms"), s3, bucket=bucket, key=DEK_OBJECT_KEY, to_key=target["KeyId"]
    )
    assert (second.written, second.rewrapped, len(second.already_done)) == (False, (), 3)


def test_rewrap_refuses_a_missing_or_disabled_key(sim: Simulated) -> None:
    with pytest.raises(kms.KeyNotUsable, match="does not exist"):
        kms.rewrap(
            sim.client("kms"), blobs={}, to_key="alias/nope", checkpoint=checkpoint_for(sim, "x")
        )
    target = new_key(sim)
    sim.client("kms").disable_key(KeyId=target["KeyId"])
    with pytest.raises(kms.KeyNotUsable, match="Disabled"):
        kms.rewrap(
            sim.client("kms"),
            blobs=stored_deks(sim),
            to_key=target["KeyId"],
            checkpoint=checkpoint_for(sim, target["KeyId"]),
        )
    assert sim.calls["ReEncrypt"] == 0


# -- the CMK ----------------------------------------------------------------------------------------


def test_rotate_key_on_demand_and_status(sim: Simulated) -> None:
    client, alias = sim.client("kms"), sim.env.kms_key
    before = kms.status(client, key=alias)
    assert (before.enabled, before.state, before.rotation_enabled) == (True, "Enabled", True)
    assert before.key_id == sim.blueprint.kms_key_id and before.rotations == ()

    result = kms.rotate_key(client, key=alias)

    assert result.automatic_rotation is True
    assert [r.kind for r in result.rotations] == ["ON_DEMAND"]
    assert kms.status(client, key=alias).rotations == result.rotations
    listed = client.list_key_rotations(KeyId=sim.blueprint.kms_key_id)["Rotations"]
    assert len(listed) == 1


def test_rotate_key_reports_automatic_rotation_off(sim: Simulated) -> None:
    client = sim.client("kms")
    client.disable_key_rotation(KeyId=sim.blueprint.kms_key_id)
    assert kms.rotate_key(client, key=sim.env.kms_key).automatic_rotation is False
    assert kms.status(client, key=sim.env.kms_key).rotation_enabled is False
    with pytest.raises(kms.KeyNotUsable):
        kms.status(client, key="alias/nope")
