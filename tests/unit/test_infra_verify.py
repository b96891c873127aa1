"""`infra.verify` against the seeded sandbox (+ its extras): every item passes, then each one fails.

Each failing case changes the simulated environment the way a mistake would (a port opened to the
world, backups cut to a day, a bucket deleted, ...) and checks that the one item it breaks fails,
with evidence that names what was read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from adinsights_ops import infra
from adinsights_ops.checks_report import CheckItem, CheckReport
from adinsights_ops.infra._verify import guard
from adinsights_ops.sandbox.blueprint_extras import Extras, seed_extras
from adinsights_ops.sandbox.blueprint_network import Network
from tests.simulated import Simulated

ITEMS = (
    "ALB -> ECS on HTTPS only",
    "ECS -> RDS on 5432 only",
    "ECS -> Redis on 6379 only",
    "nothing else open to the internet",
    "RDS PostgreSQL Multi-AZ, backups 7-14 days",
    "Redis (ElastiCache) present",
    "S3 buckets",
    "ECS services running",
    "CloudWatch log groups",
    "KMS key with rotation",
    "VPC endpoints: secretsmanager, kms",
)


def network(sim: Simulated) -> Network:
    bp = sim.blueprint
    return Network(
        vpc_id=bp.vpc_id,
        internet_gateway_id=bp.internet_gateway_id,
        public_subnet_ids=bp.public_subnet_ids,
        private_subnet_ids=bp.private_subnet_ids,
        security_group_ids=dict(bp.security_group_ids),
    )


def seeded_extras(sim: Simulated) -> Extras | None:
    """The extras when `blueprint.seed` made them already (it does once wired), else None."""
    elbv2, ec2 = sim.client("elbv2"), sim.client("ec2")
    try:
        balancer = elbv2.describe_load_balancers(Names=["adinsights-sandbox-alb"])["LoadBalancers"][
            0
        ]
    except ClientError:
        return None
    arn = balancer["LoadBalancerArn"]
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
    endpoints = ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [sim.blueprint.vpc_id]}]
    )["VpcEndpoints"]
    return Extras(
        load_balancer_arn=arn,
        listener_arn=listener["ListenerArn"],
        target_group_arn=listener["DefaultActions"][0]["TargetGroupArn"],
        certificate_arn=listener["Certificates"][0]["CertificateArn"],
        redis_id="adinsights-sandbox-redis",
        endpoint_security_group_id=endpoints[0]["Groups"][0]["GroupId"],
        endpoint_ids={e["ServiceName"].rsplit(".", 1)[1]: e["VpcEndpointId"] for e in endpoints},
    )


@pytest.fixture
def extras(sim: Simulated) -> Extras:
    return seeded_extras(sim) or seed_extras(sim.client, sim.env, network(sim))


def items(report: CheckReport) -> dict[str, CheckItem]:
    return {item.name: item for item in report.items}


def only_failures(report: CheckReport) -> set[str]:
    return {item.name for item in report.failures}


def open_port(sim: Simulated, role: str, port: int, **source: Any) -> None:
    permission: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    permission.update(source)
    sim.client("ec2").authorize_security_group_ingress(
        GroupId=sim.blueprint.security_group_ids[role], IpPermissions=[permission]
    )


def anywhere() -> dict[str, Any]:
    return {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def test_the_seeded_sandbox_with_its_extras_meets_the_blueprint(
    sim: Simulated, extras: Extras
) -> None:
    report = infra.verify(sim.ops)
    assert tuple(items(report)) == ITEMS
    assert report.ok, [f"{i.name}: {i.evidence} {i.detail}" for i in report.failures]
    assert report.counts() == {"pass": 11, "fail": 0, "not available": 0}
    found = items(report)
    sg = sim.blueprint.security_group_ids
    assert "tcp 443 from 0.0.0.0/0" in found["ALB -> ECS on HTTPS only"].evidence
    assert f"tcp 8000 from {sg['alb']}" in found["ALB -> ECS on HTTPS only"].evidence
    assert "listeners: HTTPS:443" in found["ALB -> ECS on HTTPS only"].evidence
    assert f"tcp 5432 from {sg['ecs']}" in found["ECS -> RDS on 5432 only"].evidence
    assert "replication group adinsights-sandbox-redis: redis, available" in (
        found["Redis (ElastiCache) present"].evidence
    )
    endpoints = found["VPC endpoints: secretsmanager, kms"].evidence
    assert (
        extras.endpoint_ids["kms"] in endpoints
        and extras.endpoint_ids["secretsmanager"] in endpoints
    )


def test_no_redis_fails_rather_than_being_skipped(sim: Simulated, extras: Extras) -> None:
    settings = infra.for_environment(sim.env, redis="adinsights-sandbox-cache")
    report = infra.verify(sim.ops, settings=settings)
    assert only_failures(report) == {"Redis (ElastiCache) present"}
    found = items(report)
    assert found["Redis (ElastiCache) present"].evidence == (
        "describe_replication_groups and describe_cache_clusters: no adinsights-sandbox-cache"
    )
    # Its security group is still checked, by name, and the evidence says so.
    assert "no Redis named adinsights-sandbox-cache: checked" in (
        found["ECS -> Redis on 6379 only"].evidence
    )


def test_redis_being_deleted_fails(sim: Simulated, extras: Extras) -> None:
    sim.client("elasticache").delete_replication_group(ReplicationGroupId=extras.redis_id)
    item = items(infra.verify(sim.ops))["Redis (ElastiCache) present"]
    assert (item.status, item.detail) == ("fail", "status is deleting")


def test_without_a_load_balancer_the_rules_decide_and_the_evidence_says_so(
    sim: Simulated, extras: Extras
) -> None:
    settings = infra.for_environment(sim.env, load_balancer="adinsights-sandbox-nlb")
    item = items(infra.verify(sim.ops, settings=settings))["ALB -> ECS on HTTPS only"]
    assert item.status == "pass"
    assert "no load balancer named adinsights-sandbox-nlb" in item.evidence
    assert "checked the security-group rules only" in item.evidence


def test_a_port_open_to_the_world_fails(sim: Simulated, extras: Extras) -> None:
    open_port(sim, "ecs", 22, **anywhere())
    report = infra.verify(sim.ops)
    assert only_failures(report) == {
        "nothing else open to the internet",
        "ALB -> ECS on HTTPS only",
    }
    found = items(report)
    assert "adinsights-sandbox-ecs" in found["nothing else open to the internet"].evidence
    assert "tcp 22 from 0.0.0.0/0" in found["nothing else open to the internet"].evidence


def test_the_alb_open_on_another_port_fails(sim: Simulated, extras: Extras) -> None:
    open_port(sim, "alb", 80, **anywhere())
    report = infra.verify(sim.ops)
    assert only_failures(report) == {
        "nothing else open to the internet",
        "ALB -> ECS on HTTPS only",
    }
    assert "only tcp 443 is allowed" in items(report)["ALB -> ECS on HTTPS only"].detail


def test_an_http_listener_without_a_redirect_fails(sim: Simulated, extras: Extras) -> None:
    sim.client("elbv2").create_listener(
        LoadBalancerArn=extras.load_balancer_arn,
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": extras.target_group_arn}],
    )
    report = infra.verify(sim.ops)
    assert only_failures(report) == {"ALB -> ECS on HTTPS only"}
    assert (
        "HTTP:8080 is neither HTTPS nor a redirect"
        in items(report)["ALB -> ECS on HTTPS only"].detail
    )


def test_a_redirect_to_https_is_fine(sim: Simulated, extras: Extras) -> None:
    sim.client("elbv2").create_listener(
        LoadBalancerArn=extras.load_balancer_arn,
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[
            {
                "Type": "redirect",
                "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
            }
        ],
    )
    assert infra.verify(sim.ops).ok


def test_ecs_reachable_from_elsewhere_than_the_alb_fails(sim: Simulated, extras: Extras) -> None:
    open_port(sim, "ecs", 8000, IpRanges=[{"CidrIp": "10.20.0.0/16"}])
    report = infra.verify(sim.ops)
    assert only_failures(report) == {"ALB -> ECS on HTTPS only"}
    assert "tcp 8000 from 10.20.0.0/16" in items(report)["ALB -> ECS on HTTPS only"].detail


def test_rds_reachable_from_elsewhere_than_ecs_fails(sim: Simulated, extras: Extras) -> None:
    open_port(
        sim, "rds", 5432, UserIdGroupPairs=[{"GroupId": sim.blueprint.security_group_ids["alb"]}]
    )
    report = infra.verify(sim.ops)
    assert only_failures(report) == {"ECS -> RDS on 5432 only"}
    alb = sim.blueprint.security_group_ids["alb"]
    assert f"tcp 5432 from {alb}" in items(report)["ECS -> RDS on 5432 only"].detail


def test_redis_reachable_on_another_port_fails(sim: Simulated, extras: Extras) -> None:
    open_port(
        sim, "redis", 6380, UserIdGroupPairs=[{"GroupId": sim.blueprint.security_group_ids["ecs"]}]
    )
    report = infra.verify(sim.ops)
    assert only_failures(report) == {"ECS -> Redis on 6379 only"}


def test_backups_kept_one_day_fail(sim: Simulated, extras: Extras) -> None:
    sim.client("rds").modify_db_instance(
        DBInstanceIdentifier=sim.env.rds_instance, BackupRetentionPeriod=1, ApplyImmediately=True
    )
    report = infra.verify(sim.ops)
    item = items(report)["RDS PostgreSQL Multi-AZ, backups 7-14 days"]
    assert only_failures(report) == {item.name}
    assert "automated backups kept 1 day(s), not 7-14" in item.detail
    assert "automated backups 1 day(s)" in item.evidence


def test_a_single_az_database_fails(sim: Simulated, extras: Extras) -> None:
    sim.client("rds").modify_db_instance(
        DBInstanceIdentifier=sim.env.rds_instance, MultiAZ=False, ApplyImmediately=True
    )
    item = items(infra.verify(sim.ops))["RDS PostgreSQL Multi-AZ, backups 7-14 days"]
    assert item.status == "fail" and "not Multi-AZ" in item.detail


def test_a_missing_bucket_fails(sim: Simulated, extras: Extras) -> None:
    sim.client("s3").delete_bucket(Bucket="adinsights-sandbox-airbyte-staging")
    report = infra.verify(sim.ops)
    assert only_failures(report) == {"S3 buckets"}
    assert (
        "airbyte-staging: adinsights-sandbox-airbyte-staging missing"
        in items(report)["S3 buckets"].detail
    )


def test_a_service_scaled_to_zero_fails(sim: Simulated, extras: Extras) -> None:
    sim.client("ecs").update_service(
        cluster=sim.env.ecs.cluster, service="celery-worker", desiredCount=0
    )
    report = infra.verify(sim.ops)
    assert only_failures(report) == {"ECS services running"}
    assert "celery-worker desired count is 0" in items(report)["ECS services running"].detail


def test_a_missing_log_group_fails(sim: Simulated, extras: Extras) -> None:
    sim.client("logs").delete_log_group(logGroupName=sim.blueprint.log_groups["beat"])
    report = infra.verify(sim.ops)
    assert only_failures(report) == {"CloudWatch log groups"}
    assert "/ecs/adinsights-sandbox/beat missing" in items(report)["CloudWatch log groups"].detail


def test_kms_rotation_off_fails(sim: Simulated, extras: Extras) -> None:
    sim.client("kms").disable_key_rotation(KeyId=sim.blueprint.kms_key_id)
    report = infra.verify(sim.ops)
    assert only_failures(report) == {"KMS key with rotation"}
    assert "rotation off" in items(report)["KMS key with rotation"].evidence


def test_a_missing_endpoint_fails(sim: Simulated, extras: Extras) -> None:
    sim.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[extras.endpoint_ids["kms"]])
    report = infra.verify(sim.ops)
    assert only_failures(report) == {"VPC endpoints: secretsmanager, kms"}
    # A deleted endpoint stays listed, as "deleted", for a while (in AWS too).
    item = items(report)["VPC endpoints: secretsmanager, kms"]
    assert item.detail == "com.amazonaws.eu-west-1.kms endpoint is deleted"


def test_an_endpoint_that_was_never_made_fails(sim: Simulated, extras: Extras) -> None:
    settings = infra.for_environment(sim.env, endpoint_services=("secretsmanager", "ssm"))
    item = items(infra.verify(sim.ops, settings=settings))["VPC endpoints: secretsmanager, ssm"]
    assert item.status == "fail"
    assert item.detail == "no endpoint for com.amazonaws.eu-west-1.ssm"


def test_a_missing_security_group_fails_the_items_that_need_it(
    sim: Simulated, extras: Extras
) -> None:
    settings = infra.for_environment(sim.env, security_groups={"redis": "adinsights-sandbox-cache"})
    report = infra.verify(sim.ops, settings=settings)
    assert only_failures(report) == {"ECS -> Redis on 6379 only"}
    assert (
        "(group-name adinsights-sandbox-cache): not found"
        in items(report)["ECS -> Redis on 6379 only"].evidence
    )


def test_verify_only_reads(sim: Simulated, extras: Extras) -> None:
    from adinsights_ops.aws import is_mutating

    sim.calls.clear()
    infra.verify(sim.ops)
    assert sim.calls and not [op for op in sim.calls if is_mutating(op)]


def raising(code: str, status: int = 400) -> Callable[[], CheckItem]:
    def check() -> CheckItem:
        raise ClientError(
            {
                "Error": {"Code": code, "Message": "nope"},
                "ResponseMetadata": {
                    "RequestId": "r",
                    "HostId": "h",
                    "HTTPStatusCode": status,
                    "HTTPHeaders": {},
                    "RetryAttempts": 0,
                },
            },
            "DescribeReplicationGroups",
        )

    return check


def test_an_unreadable_answer_fails_and_a_missing_api_is_not_available() -> None:
    denied = guard("Redis", raising("AccessDenied", 403))
    assert (denied.status, denied.evidence) == (
        "fail",
        "could not read: DescribeReplicationGroups: AccessDenied: nope",
    )
    missing = guard("Redis", raising("InvalidAction"))
    assert missing.status == "not available"
    assert "not available in this environment" in missing.evidence


def test_an_error_that_is_not_aws_s_is_not_hidden() -> None:
    def broken() -> CheckItem:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        guard("x", broken)
