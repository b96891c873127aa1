"""The run journal, the environment lock, and the AWS client factory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import moto
import pytest

from adinsights_ops import lock
from adinsights_ops.aws import Aws, is_mutating
from adinsights_ops.errors import EXIT_LOCKED, EnvironmentLocked, OpsError
from adinsights_ops.journal import Journal, RunRecord, deployed_before
from tests.simulated import ROOT

BUCKET = "ops-state"


@pytest.fixture
def s3() -> Iterator[Any]:
    with moto.mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        yield client


def test_journal_records_steps_and_survives_a_failure(s3: Any) -> None:
    journal = Journal(s3, bucket=BUCKET, environment="staging")
    record = journal.start("deploy", image_tag="release-1.3.0")
    with journal.step(record, "preflight") as step:
        step.outputs["account"] = "123456789012"
    with pytest.raises(RuntimeError), journal.step(record, "rollout"):
        raise RuntimeError("ECS said no")
    loaded = journal.load(record.run_id)
    assert [(s.name, s.outcome) for s in loaded.steps] == [
        ("preflight", "done"),
        ("rollout", "failed"),
    ]
    assert loaded.steps[1].outputs["error"] == "RuntimeError: ECS said no"
    assert loaded.steps[0].finished is not None and loaded.outcome == "running"
    journal.finish(loaded, "failed")
    assert journal.load(record.run_id).outcome == "failed"


def test_journal_lists_newest_first_and_tolerates_new_fields(s3: Any) -> None:
    journal = Journal(s3, bucket=BUCKET, environment="staging")
    ids = []
    for n in range(3):
        record = RunRecord(
            run_id=f"2026112{n}T000000Z-000{n}",
            environment="staging",
            kind="deploy",
            who="me",
            started="x",
        )
        journal.save(record)
        ids.append(record.run_id)
    data = json.loads(journal.load(ids[0]).to_json())
    data["added_by_a_newer_version"] = True
    s3.put_object(Bucket=BUCKET, Key=journal.key(ids[0]), Body=json.dumps(data).encode())
    assert [r.run_id for r in journal.runs()] == list(reversed(ids))


def test_rollback_target_is_the_last_deploy_that_changed_something(s3: Any) -> None:
    journal = Journal(s3, bucket=BUCKET, environment="staging")
    with pytest.raises(OpsError, match="no deploy that changed a revision"):
        deployed_before(journal)
    ok = RunRecord(
        run_id="20261101T000000Z-0001",
        environment="staging",
        kind="deploy",
        who="me",
        started="x",
        outcome="succeeded",
        previous_revisions={"svc": "td:1"},
        deployed_revisions={"svc": "td:2"},
    )
    same_again = RunRecord(  # a re-deploy of what already ran: nothing to roll back to
        run_id="20261101T120000Z-0003",
        environment="staging",
        kind="deploy",
        who="me",
        started="x",
        outcome="succeeded",
        previous_revisions={"svc": "td:2"},
        deployed_revisions={"svc": "td:2"},
    )
    undone = RunRecord(
        run_id="20261102T000000Z-0002",
        environment="staging",
        kind="deploy",
        who="me",
        started="x",
        outcome="rolled-back",
        previous_revisions={"svc": "td:2"},
        deployed_revisions={"svc": "td:3"},
    )
    journal.save(ok)
    journal.save(same_again)
    journal.save(undone)
    record, targets = deployed_before(journal)
    assert record.run_id == ok.run_id and targets == {"svc": "td:1"}
    assert deployed_before(journal, undone.run_id)[1] == {"svc": "td:2"}


def test_lock_lets_exactly_one_run_in(s3: Any) -> None:
    held = lock.acquire(
        s3, bucket=BUCKET, environment="prod", run_id="run-1", reason="deploy v1.4.0"
    )
    with pytest.raises(EnvironmentLocked) as raised:
        lock.acquire(s3, bucket=BUCKET, environment="prod", run_id="run-2", reason="deploy")
    assert raised.value.exit_code == EXIT_LOCKED
    assert "run-1" in str(raised.value) and "deploy v1.4.0" in str(raised.value)
    # The same run may not take its lock while its holder lives (tests/unit/test_lock.py has the
    # resume of a gone holder); another run may not release it.
    with pytest.raises(lock.HolderAlive):
        lock.acquire(s3, bucket=BUCKET, environment="prod", run_id="run-1", reason="resume")
    other = lock.Lock(**{**held.body(), "run_id": "run-2", "token": "another"})
    assert lock.release(s3, bucket=BUCKET, lock=other) is False
    assert lock.read(s3, bucket=BUCKET, environment="prod") is not None
    assert lock.release(s3, bucket=BUCKET, lock=held) is True
    assert lock.read(s3, bucket=BUCKET, environment="prod") is None


def test_expired_lock_is_taken_over_and_force_unlock_says_what_it_removed(s3: Any) -> None:
    lock.acquire(s3, bucket=BUCKET, environment="prod", run_id="crashed", reason="deploy", ttl=-1)
    taken = lock.acquire(s3, bucket=BUCKET, environment="prod", run_id="next", reason="deploy")
    assert taken.run_id == "next"
    removed = lock.force_unlock(s3, bucket=BUCKET, environment="prod")
    assert removed is not None and removed.run_id == "next"
    assert lock.force_unlock(s3, bucket=BUCKET, environment="prod") is None


def test_clients_are_made_once_with_hooks_and_can_be_injected() -> None:
    seen: list[str] = []
    with moto.mock_aws():
        aws = Aws(
            region="eu-west-1",
            hooks=(("before-call.sts", lambda model, **_: seen.append(model.name)),),
        )
        assert aws.client("sts") is aws.client("sts")
        aws.sts().get_caller_identity()
        assert seen == ["GetCallerIdentity"]
        assert aws.client("sts").meta.config.retries["mode"] == "standard"
    fake = object()
    assert Aws(region="eu-west-1", injected={"ecs": fake}).client("ecs") is fake


@pytest.mark.parametrize(
    ("operation", "mutating"),
    [
        ("UpdateService", True),
        ("RegisterTaskDefinition", True),
        ("RunTask", True),
        ("PutObject", True),
        ("DescribeServices", False),
        ("ListTasks", False),
        ("GetCallerIdentity", False),
        ("BatchGetImage", False),
    ],
)
def test_mutating_operations(operation: str, mutating: bool) -> None:
    assert is_mutating(operation) is mutating


def test_importing_the_package_and_listing_tasks_do_not_load_boto3() -> None:
    code = (
        "import sys, adinsights_ops, adinsights_ops.config, adinsights_ops.errors, tasks;"
        "heavy = [m for m in ('boto3', 'botocore', 'moto') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""
    listed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "invoke", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in listed.stderr.splitlines() if "|" in line
    }
    assert not imported & {"boto3", "botocore", "moto"}
    assert "deploy" in listed.stdout and "rollback" in listed.stdout
