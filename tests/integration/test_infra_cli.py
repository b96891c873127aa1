"""`inv infra.plan / infra.apply / infra.verify` through the command line against a shared sandbox.

The tests run in file order on one sandbox: plans first (nothing exists yet), then apply, then
verify. Mutating calls are counted by the sandbox server: a plan may only create and delete its own
change set (and the empty stack a first CREATE change set makes); a refused command makes none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from adinsights_ops import lock
from adinsights_ops.aws import new_session
from tests.integration.cli import Result, SandboxProcess, run_inprocess

pytestmark = pytest.mark.cli
STACK = "adinsights-sandbox-network-data"
PLAN_CALLS = {"CreateChangeSet", "DeleteChangeSet", "DeleteStack"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(tmp_path_factory.mktemp("home"))
    yield process
    process.stop()


def client(sandbox: SandboxProcess, service: str) -> Any:
    session = new_session(
        aws_access_key_id="sandbox", aws_secret_access_key="x", region_name="eu-west-1"
    )
    return session.client(service, endpoint_url=sandbox.endpoint)  # type: ignore[call-overload]


def run(sandbox: SandboxProcess, *args: str) -> Result:
    sandbox.forget_calls()
    return run_inprocess(*args, env=sandbox.env, timeout=180)


def stack_status(sandbox: SandboxProcess) -> str | None:
    cfn = client(sandbox, "cloudformation")
    try:
        return str(cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"])
    except cfn.exceptions.ClientError:
        return None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("infra.apply", "--env", "sandbox"), "needs approval: pass --yes (not interactive)"),
        (("infra.plan", "--env", "sandbox", "--engine", "pulumi"), "--engine: expected one of"),
        (("infra.plan", "--env", "sandbox", "--template", "nope.yaml"), "nope.yaml not found"),
        (
            ("infra.apply", "--env", "sandbox", "--yes", "--template", "nope.yaml"),
            "nope.yaml not found",
        ),
        (("infra.plan", "--env", "sandbox", "--engine", "terraform"), "does not exist"),
        (("infra.apply", "--env", "sandbox", "--yes", "--engine", "terraform"), "does not exist"),
        (("infra.verify", "--env", "nowhere"), "unknown environment"),
    ],
)
def test_refusals_exit_2_and_change_nothing(
    sandbox: SandboxProcess, args: tuple[str, ...], message: str
) -> None:
    result = run(sandbox, *args)
    assert result.code == 2, result.output
    assert message in result.stderr
    assert sandbox.mutating_calls() == []


def test_plan_shows_the_change_set_and_leaves_nothing_behind(sandbox: SandboxProcess) -> None:
    result = run(sandbox, "infra.plan", "--env", "sandbox")
    assert result.code == 0, result.output
    assert "cloudformation adinsights-sandbox-network-data" in result.stdout
    assert "Add     Warehouse AWS::RDS::DBInstance" in result.stdout
    assert "11 to add, 0 to modify, 0 to replace, 0 to remove" in result.stdout
    assert set(sandbox.mutating_calls()) == PLAN_CALLS
    assert stack_status(sandbox) is None
    buckets = {b["Name"] for b in client(sandbox, "s3").list_buckets()["Buckets"]}
    assert "adinsights-sandbox-exports-cfn" not in buckets


def test_plan_as_json(sandbox: SandboxProcess) -> None:
    result = run(sandbox, "infra.plan", "--env", "sandbox", "--json")
    assert result.code == 0, result.output
    plan = json.loads(result.stdout)
    assert (plan["engine"], plan["target"], plan["no_changes"]) == ("cloudformation", STACK, False)
    assert {c["resource"] for c in plan["changes"]} >= {"Vpc", "ExportsBucket", "Warehouse"}
    assert plan["handle"]["change_set_type"] == "CREATE"


def test_apply_holds_the_lock_and_creates_the_stack(sandbox: SandboxProcess) -> None:
    result = run(sandbox, "infra.apply", "--env", "sandbox", "--yes")
    assert result.code == 0, result.output
    assert "Add     ExportsBucket AWS::S3::Bucket" in result.stdout
    assert f"stack {STACK} CREATE_COMPLETE" in result.stdout
    assert "ExecuteChangeSet" in sandbox.mutating_calls()
    assert stack_status(sandbox) == "CREATE_COMPLETE"
    rds = client(sandbox, "rds")
    db = rds.describe_db_instances(DBInstanceIdentifier="adinsights-sandbox-warehouse-cfn")
    assert db["DBInstances"][0]["MultiAZ"] is True
    # The lock was taken for the apply and given back.
    s3 = client(sandbox, "s3")
    assert lock.read(s3, bucket="adinsights-sandbox-ops-state", environment="sandbox") is None
    assert any(op.endswith(" locks/sandbox.json") for op in sandbox.mutating_calls())


def test_after_apply_there_is_nothing_to_do(sandbox: SandboxProcess) -> None:
    planned = run(sandbox, "infra.plan", "--env", "sandbox")
    assert planned.code == 0, planned.output
    assert planned.stdout.strip().endswith("no changes")
    assert set(sandbox.mutating_calls()) <= PLAN_CALLS
    applied = run(sandbox, "infra.apply", "--env", "sandbox", "--yes", "--json")
    assert applied.code == 0, applied.output
    assert json.loads(applied.stdout)["outcome"] == "no changes"
    assert "ExecuteChangeSet" not in sandbox.mutating_calls()
    cfn = client(sandbox, "cloudformation")
    statuses = [c["Status"] for c in cfn.list_change_sets(StackName=STACK)["Summaries"]]
    assert statuses == ["CREATE_COMPLETE"]  # the executed one; no FAILED leftovers


def test_apply_refuses_a_locked_environment(sandbox: SandboxProcess) -> None:
    s3 = client(sandbox, "s3")
    held = lock.acquire(
        s3,
        bucket="adinsights-sandbox-ops-state",
        environment="sandbox",
        run_id="20260101T000000Z-beef",
        reason="a deploy",
    )
    try:
        result = run(sandbox, "infra.apply", "--env", "sandbox", "--yes")
        calls = sandbox.mutating_calls()
    finally:
        lock.release(s3, bucket="adinsights-sandbox-ops-state", lock=held)
    assert result.code == 3, result.output
    assert "locked by" in result.stderr and "a deploy" in result.stderr
    # Only the refused conditional write of the lock: no change set, nothing executed.
    assert calls == ["PutObject locks/sandbox.json"]


def test_verify_passes_on_the_sandbox(sandbox: SandboxProcess) -> None:
    result = run(sandbox, "infra.verify", "--env", "sandbox", "--json")
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    assert {i["status"] for i in report["items"]} == {"pass"}, [
        (i["name"], i["detail"]) for i in report["items"] if i["status"] != "pass"
    ]
    assert len(report["items"]) == 11
    assert sandbox.mutating_calls() == []


def test_verify_fails_when_a_port_is_opened_to_the_world(sandbox: SandboxProcess) -> None:
    ec2 = client(sandbox, "ec2")
    group = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["adinsights-sandbox-ecs"]}]
    )["SecurityGroups"][0]["GroupId"]
    ssh = [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=ssh)
    try:
        result = run(sandbox, "infra.verify", "--env", "sandbox")
    finally:
        ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=ssh)
    assert result.code == 1, result.output
    assert "FAIL  nothing else open to the internet" in result.stdout
    assert "tcp 22 from 0.0.0.0/0" in result.stdout
    assert "check(s) failed: ALB -> ECS on HTTPS only, nothing else open to the internet" in (
        result.stderr
    )
