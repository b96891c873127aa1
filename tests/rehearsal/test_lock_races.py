"""The lock cannot be bypassed: racing deploys, a resume of a live run, a force-unlock of a live one.

Deploys run in threads of this process against one sandbox server. Exactly one of many racing
deploys proceeds and the others are refused before changing anything; a live holder is never taken
over by its own resume; and a holder whose lock was force-removed stops at its next step (fenced),
leaving the environment to the run that holds it now.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adinsights_ops import lock, pipeline
from adinsights_ops.errors import EXIT_LOCKED, EnvironmentLocked
from tests.rehearsal.inprocess import Rehearsal, rehearsal


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    with rehearsal(tmp_path_factory.mktemp("races")) as sandbox:
        assert sandbox.deploy(sandbox.other_tag()).outcome == "succeeded"
        yield sandbox


class Paused:
    """A deploy in a thread that stops at a step boundary until released."""

    def __init__(self, sandbox: Rehearsal, tag: str, at: str) -> None:
        self.reached, self.go = threading.Event(), threading.Event()
        self.report: pipeline.DeployReport | None = None
        self.error: BaseException | None = None

        def on_step(name: str) -> None:
            if name == at:
                self.reached.set()
                assert self.go.wait(60), "never released"

        def body() -> None:
            try:
                self.report = sandbox.deploy(tag, on_step=on_step)
            except BaseException as exc:  # handed to the test
                self.error = exc
                self.reached.set()

        self.thread = threading.Thread(target=body)
        self.thread.start()
        assert self.reached.wait(60), "the deploy did not reach its pause"

    def finish(self) -> pipeline.DeployReport:
        self.go.set()
        self.thread.join(60)
        assert self.error is None, self.error
        assert self.report is not None
        return self.report


def test_twenty_racing_deploys_one_wins_the_rest_exit_3_and_change_nothing(
    sandbox: Rehearsal,
) -> None:
    tag = sandbox.other_tag()
    sandbox.reset_effects()
    start = threading.Barrier(20)
    results: list[Any] = []

    def racer() -> None:
        start.wait()
        try:
            results.append(sandbox.deploy(tag))
        except EnvironmentLocked as exc:
            results.append(exc)

    threads = [threading.Thread(target=racer) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    reports = [r for r in results if isinstance(r, pipeline.DeployReport)]
    refused = [r for r in results if isinstance(r, EnvironmentLocked)]
    assert len(reports) == 1 and len(refused) == 19, results
    assert reports[0].outcome == "succeeded", reports[0].error
    assert all(r.exit_code == EXIT_LOCKED for r in refused)
    assert {r.holder["run_id"] for r in refused} <= {reports[0].run_id}
    effects = sandbox.effects()["effects"]  # nothing interleaved: exactly one deploy's work
    assert effects["task_definitions"] == 4 and effects["db_snapshots"] == 1
    assert set(effects["update_service"].values()) == {1}
    assert sandbox.lock() is None


def test_a_resume_of_a_live_run_is_refused_naming_its_holder(sandbox: Rehearsal) -> None:
    live = Paused(sandbox, sandbox.other_tag(), at="register")
    run_id = sandbox.newest_run().run_id
    with pytest.raises(lock.HolderAlive) as refused:
        sandbox.deploy(resume=run_id)
    assert refused.value.exit_code == EXIT_LOCKED
    assert run_id in str(refused.value) and "lease ends" in str(refused.value)
    held = sandbox.lock()
    assert held is not None and held.run_id == run_id  # the live run keeps its lock
    assert live.finish().outcome == "succeeded"


def test_a_force_unlocked_holder_is_fenced_and_the_next_run_is_not_disturbed(
    sandbox: Rehearsal,
) -> None:
    first_tag = sandbox.other_tag()
    first = Paused(sandbox, first_tag, at="rollout")
    first_run = sandbox.newest_run().run_id
    removed = pipeline.unlock(sandbox.ops(), reason="taking over for a hotfix")
    assert removed is not None and removed.run_id == first_run
    second_tag = next(
        t
        for t in ("v1.2.0", "v1.3.0", "main-a1b2c3d")
        if t not in (first_tag, sandbox.running_tag())
    )
    second = Paused(sandbox, second_tag, at="register")
    sandbox.reset_effects()
    fenced = first.finish()  # resumes at the rollout step: it must not roll anything out
    assert fenced.outcome == "fenced" and "lost the lock" in fenced.error
    assert fenced.lock == "not ours any more"
    assert sandbox.effects()["effects"]["update_service"] == {}
    held = sandbox.lock()
    assert held is not None and held.run_id != first_run  # the second run's lock was not touched
    record = sandbox.record(first_run)
    assert record.outcome == "fenced"
    done = second.finish()
    assert done.outcome == "succeeded", done.error
    assert sandbox.lock() is None
    unlocks = sandbox.ops().journal().runs(kind="unlock", limit=1)
    assert "taking over for a hotfix" in unlocks[0].notes[0]


def test_a_heartbeat_keeps_a_long_run_alive_and_stops_when_the_lock_is_gone(
    sandbox: Rehearsal,
) -> None:
    ops = sandbox.ops()
    s3, bucket = ops.aws.s3(), sandbox.env.state_bucket
    held = lock.acquire(
        s3, bucket=bucket, environment="beat-test", run_id="r1", reason="t", ttl=1.0
    )
    beat = lock.Heartbeat(s3, bucket=bucket, lock=held, ttl=1.0).start()
    wait_until(lambda: held.expired and beat.renewals >= 2)  # past the first lease...
    renewed = beat.ensure()
    assert not renewed.expired and renewed.expires > held.expires  # ...and still held
    lock.force_unlock(s3, bucket=bucket, environment="beat-test")
    with pytest.raises(lock.LockLost):
        beat.ensure()
    beat.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("nth", [1, 2], ids=["taking the lock", "renewing it"])
def test_a_lock_write_whose_answer_was_lost_is_recognised_as_ours(
    sandbox: Rehearsal, nth: int
) -> None:
    from adinsights_ops.sandbox.faults import plan_from

    ops = sandbox.ops()
    s3, bucket = ops.aws.s3(), sandbox.env.state_bucket
    sandbox.server.set_faults(
        plan_from(
            {
                "rules": [
                    {
                        "operation": "PutObject",
                        "kind": "5xx-after",
                        "key_prefix": "locks/",
                        "nth": nth,
                        "times": 1,
                    }
                ]
            }
        )
    )
    try:
        held = lock.acquire(s3, bucket=bucket, environment="lost", run_id="r1", reason="t")
        held = lock.renew(s3, bucket=bucket, lock=held)
        assert lock.check(s3, bucket=bucket, lock=held).token == held.token
        assert lock.release(s3, bucket=bucket, lock=held) is True
    finally:
        sandbox.server.set_faults(None)
    assert lock.read(s3, bucket=bucket, environment="lost") is None


def test_a_rollback_never_runs_over_a_live_deploy(sandbox: Rehearsal) -> None:
    live = Paused(sandbox, sandbox.other_tag(), at="rollout")
    sandbox.reset_effects()
    with pytest.raises(EnvironmentLocked) as refused:
        pipeline.rollback(sandbox.ops())
    assert refused.value.exit_code == EXIT_LOCKED
    assert sandbox.effects()["effects"]["update_service"] == {}  # the rollback changed nothing
    assert live.finish().outcome == "succeeded"
    assert sandbox.lock() is None


def test_a_rollback_that_stops_part_way_needs_a_human_and_says_so_in_the_journal(
    sandbox: Rehearsal,
) -> None:
    from adinsights_ops.errors import EXIT_NEEDS_HUMAN, NeedsHuman
    from adinsights_ops.sandbox.faults import plan_from

    assert sandbox.deploy(sandbox.other_tag()).outcome == "succeeded"
    sandbox.server.set_faults(
        plan_from({"rules": [{"operation": "UpdateService", "nth": 2, "times": 9}]})
    )
    try:
        with pytest.raises(NeedsHuman) as stopped:
            pipeline.rollback(sandbox.ops())
    finally:
        sandbox.server.set_faults(None)
    assert stopped.value.exit_code == EXIT_NEEDS_HUMAN
    assert "UpdateService" in str(stopped.value) and "\n" not in str(stopped.value)
    (record,) = sandbox.ops().journal().runs(kind="rollback", limit=1)
    assert record.outcome == "needs-human"  # never "running" for a rollback that has ended
    held = sandbox.lock()
    assert held is not None and held.run_id == record.run_id  # kept until a person has looked
    assert pipeline.unlock(sandbox.ops(), reason="looked at the services") is not None
    again = pipeline.rollback(sandbox.ops(), to_run=sandbox.newest_run().run_id)
    assert again[0].outcome == "succeeded" and sandbox.lock() is None
