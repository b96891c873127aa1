"""CloudFormation change sets: against moto for what it models, a botocore Stubber for what it cannot.

moto creates, describes, executes and deletes change sets and really creates the template's VPC,
buckets, log group, repository and database. It cannot fail an update (it has no rollback), so the
failure paths replay AWS's answers through a Stubber on a real botocore client.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest
from botocore.stub import ANY, Stubber

from adinsights_ops import infra
from adinsights_ops.errors import ConfigError, OpsError, UsageError, WaitTimedOut
from adinsights_ops.infra._cloudformation import CloudFormationEngine, template_parameters
from tests.simulated import ROOT, FakeClock

TEMPLATE = ROOT / "infrastructure" / "cloudformation" / "network-data.yaml"
STACK = "adinsights-sandbox-network-data"
REGION = "eu-west-1"
STACK_ID = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{STACK}/1"
CS_ARN = f"arn:aws:cloudformation:{REGION}:123456789012:changeSet/cs/1"
NO_CHANGES_REASON = (
    "The submitted information didn't contain changes. Submit different information to create "
    "a change set."
)


@pytest.fixture
def aws() -> Iterator[Any]:
    with moto.mock_aws():
        yield lambda service: boto3.client(service, region_name=REGION)


def engine(cloudformation: Any, **kwargs: Any) -> CloudFormationEngine:
    options: dict[str, Any] = {
        "stack_name": STACK,
        "template": TEMPLATE,
        "parameters": {"EnvironmentName": "sandbox"},
        "tags": {"adinsights:environment": "sandbox"},
        "clock": FakeClock(),
    }
    options.update(kwargs)
    return CloudFormationEngine(cloudformation, **options)


def change_sets(cloudformation: Any, stack: str = STACK) -> list[dict[str, Any]]:
    return list(cloudformation.list_change_sets(StackName=stack)["Summaries"])


# -- against moto --------------------------------------------------------------------------------


def test_a_first_plan_is_a_create_change_set_and_discarding_it_leaves_nothing(aws: Any) -> None:
    cfn = aws("cloudformation")
    eng = engine(cfn)
    plan = eng.plan()
    assert not plan.no_changes
    assert plan.engine == "cloudformation" and plan.target == STACK
    assert isinstance(plan.handle, infra.ChangeSet)
    assert plan.handle.change_set_type == "CREATE" and plan.handle.created_stack
    assert {(c.action, c.resource, c.resource_type) for c in plan.changes} >= {
        ("Add", "Vpc", "AWS::EC2::VPC"),
        ("Add", "ExportsBucket", "AWS::S3::Bucket"),
        ("Add", "JobsLogGroup", "AWS::Logs::LogGroup"),
        ("Add", "JobsRepository", "AWS::ECR::Repository"),
        ("Add", "Warehouse", "AWS::RDS::DBInstance"),
    }
    assert plan.counts() == {"add": 11, "modify": 0, "replace": 0, "remove": 0}
    # The change set exists until discarded; nothing was created yet.
    assert [c["Status"] for c in change_sets(cfn)] == ["CREATE_COMPLETE"]
    assert aws("s3").list_buckets()["Buckets"] == []

    eng.discard(plan)
    with pytest.raises(cfn.exceptions.ClientError, match="does not exist"):
        cfn.describe_stacks(StackName=STACK)
    assert aws("s3").list_buckets()["Buckets"] == []


def test_apply_creates_the_network_and_data_layer(aws: Any) -> None:
    cfn = aws("cloudformation")
    eng = engine(cfn)
    result = eng.apply(eng.plan())
    assert (result.outcome, result.status) == ("applied", "CREATE_COMPLETE")
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"

    ec2 = aws("ec2")
    vpcs = ec2.describe_vpcs(
        Filters=[{"Name": "tag:adinsights:environment", "Values": ["sandbox"]}]
    )["Vpcs"]
    assert [v["CidrBlock"] for v in vpcs] == ["10.40.0.0/16"]
    groups = {
        g["GroupName"]: g
        for g in ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}]
        )["SecurityGroups"]
    }
    db_rules = groups["adinsights-sandbox-warehouse-cfn"]["IpPermissions"]
    assert [(r["FromPort"], [p["GroupId"] for p in r["UserIdGroupPairs"]]) for r in db_rules] == [
        (5432, [groups["adinsights-sandbox-jobs-cfn"]["GroupId"]])
    ]
    tags = aws("s3").get_bucket_tagging(Bucket="adinsights-sandbox-exports-cfn")["TagSet"]
    assert {"Key": "adinsights:cost-centre", "Value": "analytics"} in tags
    db = aws("rds").describe_db_instances(DBInstanceIdentifier="adinsights-sandbox-warehouse-cfn")[
        "DBInstances"
    ][0]
    assert (db["MultiAZ"], db["BackupRetentionPeriod"], db["Engine"]) == (True, 7, "postgres")
    assert aws("logs").describe_log_groups(logGroupNamePrefix="/adinsights/sandbox/jobs-cfn")[
        "logGroups"
    ]
    assert aws("ecr").describe_repositories(repositoryNames=["adinsights/sandbox-jobs-cfn"])


def test_planning_again_after_apply_is_no_changes_and_leaves_no_failed_change_set(
    aws: Any,
) -> None:
    cfn = aws("cloudformation")
    eng = engine(cfn)
    eng.apply(eng.plan())
    again = eng.plan()
    assert again.no_changes and again.changes == () and again.handle is None
    assert "didn't contain changes" in again.note
    # moto answers like AWS here: a FAILED change set, which the plan deletes.
    assert [c["Status"] for c in change_sets(cfn)] == ["CREATE_COMPLETE"]
    assert eng.apply(again).outcome == "no changes"


def test_a_parameter_change_updates_the_stack_in_place(aws: Any) -> None:
    cfn = aws("cloudformation")
    engine(cfn).apply(engine(cfn).plan())
    vpc_before = aws("ec2").describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": ["adinsights-sandbox-vpc-cfn"]}]
    )["Vpcs"][0]["VpcId"]

    changed = engine(cfn, parameters={"EnvironmentName": "sandbox", "CostCentre": "data"})
    plan = changed.plan()
    assert not plan.no_changes
    assert isinstance(plan.handle, infra.ChangeSet) and plan.handle.change_set_type == "UPDATE"
    result = changed.apply(plan)
    assert result.status == "UPDATE_COMPLETE"
    tags = aws("s3").get_bucket_tagging(Bucket="adinsights-sandbox-exports-cfn")["TagSet"]
    assert {"Key": "adinsights:cost-centre", "Value": "data"} in tags
    vpc_after = aws("ec2").describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": ["adinsights-sandbox-vpc-cfn"]}]
    )["Vpcs"]
    assert [v["VpcId"] for v in vpc_after] == [vpc_before]  # updated, not replaced
    params = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Parameters"]
    }
    assert params["CostCentre"] == "data"


def test_a_template_change_shows_and_adds_the_new_resource(aws: Any, tmp_path: Path) -> None:
    cfn = aws("cloudformation")
    engine(cfn).apply(engine(cfn).plan())
    extended = tmp_path / "network-data.yaml"
    extended.write_text(
        TEMPLATE.read_text().replace(
            "\nOutputs:",
            "  AuditLogGroup:\n"
            "    Type: AWS::Logs::LogGroup\n"
            "    Properties:\n"
            '      LogGroupName: !Sub "/adinsights/${EnvironmentName}/audit-cfn"\n'
            "      RetentionInDays: 365\n"
            "\nOutputs:",
        )
    )
    eng = engine(cfn, template=extended)
    plan = eng.plan()
    assert [(c.action, c.resource, c.resource_type) for c in plan.changes] == [
        ("Add", "AuditLogGroup", "AWS::Logs::LogGroup")
    ]
    eng.apply(plan)
    groups = aws("logs").describe_log_groups(logGroupNamePrefix="/adinsights/sandbox/audit-cfn")
    assert [g["logGroupName"] for g in groups["logGroups"]] == ["/adinsights/sandbox/audit-cfn"]


def test_environment_name_is_given_when_the_template_declares_it(sim: Any) -> None:
    eng = infra.engine_for(sim.ops)
    assert isinstance(eng, CloudFormationEngine)
    # EnvironmentName comes from the template; CostCentre from environments.yaml's infra.parameters.
    assert eng.parameters == {"EnvironmentName": "sandbox", "CostCentre": "analytics"}
    assert eng.tags == {"adinsights:environment": "sandbox"}
    assert "EnvironmentName" in template_parameters(TEMPLATE)


def test_a_configured_parameter_the_template_lacks_is_a_config_error(sim: Any) -> None:
    settings = infra.for_environment(sim.env, parameters={"NoSuchParameter": "x"})
    with pytest.raises(ConfigError) as raised:
        infra.engine_for(sim.ops, settings)
    assert raised.value.key == "sandbox.infra.parameters.NoSuchParameter"
    assert raised.value.exit_code == 2


def test_a_missing_template_is_refused_before_any_call(tmp_path: Path) -> None:
    client = boto3.client("cloudformation", region_name=REGION)
    with Stubber(client) as stub:  # no responses queued: any call would fail the test
        with pytest.raises(UsageError, match="not found"):
            engine(client, template=tmp_path / "missing.yaml").plan()
        stub.assert_no_pending_responses()


# -- what moto cannot do: AWS's answers through a Stubber -----------------------------------------


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("cloudformation", region_name=REGION)
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def stack(status: str) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": STACK,
                "StackId": STACK_ID,
                "StackStatus": status,
                "CreationTime": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            }
        ]
    }


def change_set(status: str, reason: str = "", changes: list[Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "ChangeSetId": CS_ARN,
        "ChangeSetName": "cs",
        "StackId": STACK_ID,
        "StackName": STACK,
        "Status": status,
        "ExecutionStatus": "AVAILABLE" if status == "CREATE_COMPLETE" else "UNAVAILABLE",
        "Changes": changes or [],
    }
    if reason:
        answer["StatusReason"] = reason
    return answer


def event(
    event_id: str, logical: str, status: str, reason: str = "", kind: str = "AWS::RDS::DBInstance"
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "StackId": STACK_ID,
        "EventId": event_id,
        "StackName": STACK,
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "ResourceStatus": status,
        "Timestamp": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    }
    if reason:
        answer["ResourceStatusReason"] = reason
    return answer


def expect_update_change_set(stub: Stubber) -> None:
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": STACK})
    stub.add_response(
        "create_change_set",
        {"Id": CS_ARN, "StackId": STACK_ID},
        {
            "StackName": STACK,
            "ChangeSetName": ANY,
            "ChangeSetType": "UPDATE",
            "TemplateBody": ANY,
            "Parameters": ANY,
            "Capabilities": [],
            "Tags": ANY,
            "Description": ANY,
        },
    )


def test_no_updates_refused_by_create_change_set_is_no_changes(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stub = stubbed
    stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": STACK})
    stub.add_client_error(
        "create_change_set",
        service_error_code="ValidationError",
        service_message="No updates are to be performed.",
        http_status_code=400,
    )
    plan = engine(client).plan()
    assert plan.no_changes and plan.handle is None
    assert plan.note == "No updates are to be performed."


def test_a_failed_change_set_without_changes_is_no_changes_and_is_deleted(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stub = stubbed
    expect_update_change_set(stub)
    stub.add_response(
        "describe_change_set", change_set("FAILED", NO_CHANGES_REASON), {"ChangeSetName": CS_ARN}
    )
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    plan = engine(client).plan()
    assert plan.no_changes and plan.handle is None and plan.changes == ()


def test_a_change_set_failing_for_another_reason_raises_with_it(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stub = stubbed
    expect_update_change_set(stub)
    reason = "Template error: instance of Fn::GetAtt references undefined resource Nope"
    stub.add_response(
        "describe_change_set", change_set("FAILED", reason), {"ChangeSetName": CS_ARN}
    )
    stub.add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    with pytest.raises(infra.ChangeSetFailed) as raised:
        engine(client).plan()
    assert raised.value.reason == reason
    assert raised.value.exit_code == 1


def test_a_change_set_is_waited_for_and_its_changes_read(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    clock = FakeClock()
    expect_update_change_set(stub)
    stub.add_response(
        "describe_change_set", change_set("CREATE_IN_PROGRESS"), {"ChangeSetName": CS_ARN}
    )
    modify = {
        "Type": "Resource",
        "ResourceChange": {
            "Action": "Modify",
            "LogicalResourceId": "Warehouse",
            "PhysicalResourceId": "adinsights-sandbox-warehouse-cfn",
            "ResourceType": "AWS::RDS::DBInstance",
            "Replacement": "Conditional",
        },
    }
    done = change_set("CREATE_COMPLETE", changes=[modify])
    stub.add_response("describe_change_set", done, {"ChangeSetName": CS_ARN})
    stub.add_response("describe_change_set", done, {"ChangeSetName": CS_ARN})
    plan = engine(client, clock=clock).plan()
    (change,) = plan.changes
    assert (change.action, change.resource, change.replacement) == (
        "Modify",
        "Warehouse",
        "Conditional",
    )
    assert change.destructive
    assert plan.counts()["modify"] == 1
    assert len(clock.slept) == 1  # one poll while CREATE_IN_PROGRESS, on the fake clock


def test_waiting_for_a_change_set_has_a_deadline() -> None:
    client = boto3.client("cloudformation", region_name=REGION)
    clock = FakeClock()
    with Stubber(client) as stub:  # more answers than polls: how many is the backoff's business
        expect_update_change_set(stub)
        for _ in range(40):
            stub.add_response(
                "describe_change_set", change_set("CREATE_PENDING"), {"ChangeSetName": CS_ARN}
            )
        with pytest.raises(WaitTimedOut) as raised:
            engine(client, clock=clock, change_set_timeout=60).plan()
    assert raised.value.timeout == 60
    assert isinstance(raised.value.last_state, dict)
    assert raised.value.last_state["Status"] == "CREATE_PENDING"
    assert sum(clock.slept) == pytest.approx(60)


def handle_plan() -> infra.InfraPlan:
    change = infra.Change("Modify", "Warehouse", "AWS::RDS::DBInstance", "False")
    handle = infra.ChangeSet(CS_ARN, "cs", STACK, STACK_ID, "UPDATE")
    return infra.InfraPlan("cloudformation", STACK, (change,), False, handle)


def expect_execution(stub: Stubber, statuses: list[str], events: list[dict[str, Any]]) -> None:
    before = [event("e-1", STACK, "UPDATE_COMPLETE", kind="AWS::CloudFormation::Stack")]
    stub.add_response("describe_stack_events", {"StackEvents": before}, {"StackName": STACK})
    stub.add_response(
        "execute_change_set", {}, {"ChangeSetName": CS_ARN, "ClientRequestToken": "cs"}
    )
    for status in statuses:
        stub.add_response("describe_stacks", stack(status), {"StackName": STACK})
    if events:
        stub.add_response(
            "describe_stack_events", {"StackEvents": events + before}, {"StackName": STACK}
        )


def test_a_failed_update_raises_with_the_events_that_explain_it(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stub = stubbed
    reason = "Cannot upgrade postgres from 16.4 to 9.6: downgrades are not supported"
    events = [
        event("e-5", STACK, "UPDATE_ROLLBACK_COMPLETE", kind="AWS::CloudFormation::Stack"),
        event("e-4", "Warehouse", "UPDATE_COMPLETE"),
        event(
            "e-3",
            STACK,
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to update: [Warehouse].",
            kind="AWS::CloudFormation::Stack",
        ),
        event("e-2", "Warehouse", "UPDATE_FAILED", reason),
    ]
    expect_execution(
        stub,
        ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"],
        events,
    )
    clock = FakeClock()
    with pytest.raises(infra.StackUpdateFailed) as raised:
        engine(client, clock=clock).apply(handle_plan())
    failure = raised.value
    assert failure.status == "UPDATE_ROLLBACK_COMPLETE"
    assert [(e.logical_id, e.status, e.reason) for e in failure.events] == [
        ("Warehouse", "UPDATE_FAILED", reason)
    ]
    assert failure.details == [f"Warehouse (AWS::RDS::DBInstance) UPDATE_FAILED: {reason}"]
    assert failure.exit_code == 1
    assert len(clock.slept) == 2


def test_events_from_before_the_update_are_not_blamed(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    old_failure = event("e-0", "ExportsBucket", "CREATE_FAILED", "an old failure")
    before = [event("e-1", STACK, "UPDATE_COMPLETE", kind="AWS::CloudFormation::Stack")]
    stub.add_response("describe_stack_events", {"StackEvents": before}, {"StackName": STACK})
    stub.add_response(
        "execute_change_set", {}, {"ChangeSetName": CS_ARN, "ClientRequestToken": "cs"}
    )
    stub.add_response("describe_stacks", stack("UPDATE_ROLLBACK_COMPLETE"), {"StackName": STACK})
    now = [event("e-2", "Warehouse", "UPDATE_FAILED", "the new failure")]
    stub.add_response(
        "describe_stack_events", {"StackEvents": now + before + [old_failure]}, {"StackName": STACK}
    )
    with pytest.raises(infra.StackUpdateFailed) as raised:
        engine(client).apply(handle_plan())
    assert [e.reason for e in raised.value.events] == ["the new failure"]


def test_a_stack_that_cannot_roll_back_needs_a_human(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    events = [event("e-2", "Warehouse", "UPDATE_FAILED", "Resource timed out waiting for a state")]
    expect_execution(stub, ["UPDATE_ROLLBACK_FAILED"], events)
    with pytest.raises(infra.StackRollbackFailed) as raised:
        engine(client).apply(handle_plan())
    assert raised.value.exit_code == 4
    assert raised.value.details == [
        "Warehouse (AWS::RDS::DBInstance) UPDATE_FAILED: Resource timed out waiting for a state"
    ]


def test_waiting_for_the_stack_has_a_deadline() -> None:
    client = boto3.client("cloudformation", region_name=REGION)
    clock = FakeClock()
    with Stubber(client) as stub:
        expect_execution(stub, ["UPDATE_IN_PROGRESS"] * 60, [])
        with pytest.raises(WaitTimedOut) as raised:
            engine(client, clock=clock, timeout=120).apply(handle_plan())
    assert raised.value.last_state == "UPDATE_IN_PROGRESS"
    assert sum(clock.slept) == pytest.approx(120)


@pytest.mark.parametrize(
    ("status", "error", "exit_code"),
    [
        ("UPDATE_IN_PROGRESS", infra.StackBusy, 1),
        ("ROLLBACK_COMPLETE", infra.InfraFailed, 1),
        ("UPDATE_ROLLBACK_FAILED", infra.StackRollbackFailed, 4),
    ],
)
def test_plan_refuses_a_stack_it_cannot_update(
    stubbed: tuple[Any, Stubber], status: str, error: type[OpsError], exit_code: int
) -> None:
    client, stub = stubbed
    stub.add_response("describe_stacks", stack(status), {"StackName": STACK})
    if status != "UPDATE_IN_PROGRESS":
        stub.add_response(
            "describe_stack_events",
            {"StackEvents": [event("e-1", "Warehouse", "CREATE_FAILED", "quota exceeded")]},
            {"StackName": STACK},
        )
    with pytest.raises(error) as raised:
        engine(client).plan()
    assert getattr(raised.value, "exit_code", None) == exit_code
    assert status in str(raised.value)
    if status == "ROLLBACK_COMPLETE":
        assert "delete-stack --stack-name adinsights-sandbox-network-data" in str(raised.value)
        assert raised.value.details == [
            "Warehouse (AWS::RDS::DBInstance) CREATE_FAILED: quota exceeded"
        ]
