"""The rest of runbook 2.1/2.2 for the sandbox: the ALB, Redis, and VPC endpoints for Secrets/KMS.

`seed_network` lays the VPC and the security groups; this puts in them what uses those groups, so
that `inv infra.verify --env sandbox` reads a whole blueprint:

- an internet-facing ALB in the public subnets (the `alb` group) with one HTTPS:443 listener (an ACM
  certificate) forwarding to an `ip` target group for the backend on 8000;
- ElastiCache Redis, a two-node Multi-AZ replication group in the private subnets (the `redis`
  group), encrypted in transit and at rest;
- interface endpoints for Secrets Manager and KMS in the private subnets, with private DNS, in their
  own `endpoints` group that accepts 443 from ECS tasks only.

moto keeps all of these (it does not report a replication group's security groups, which
`infra.verify` says in its evidence).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from adinsights_ops.config import Environment
from adinsights_ops.sandbox.blueprint_names import prefix, tag_list, tag_map
from adinsights_ops.sandbox.blueprint_network import Network

ENDPOINT_SERVICES = ("secretsmanager", "kms")
REDIS_NODE_TYPE = "cache.t4g.small"
BACKEND_PORT = 8000


@attrs.frozen
class Extras:
    """What `seed_extras` created."""

    load_balancer_arn: str
    listener_arn: str
    target_group_arn: str
    certificate_arn: str
    redis_id: str
    endpoint_security_group_id: str
    endpoint_ids: Mapping[str, str]  # secretsmanager, kms -> vpce id


def _load_balancer(
    clients: Callable[[str], Any], env: Environment, network: Network
) -> tuple[str, str, str, str]:
    stem = prefix(env)
    elbv2 = clients("elbv2")
    tags = tag_list(tag_map(env, f"{stem}-alb"))
    balancer = elbv2.create_load_balancer(
        Name=f"{stem}-alb",
        Subnets=list(network.public_subnet_ids),
        SecurityGroups=[network.security_group_ids["alb"]],
        Scheme="internet-facing",
        Type="application",
        IpAddressType="ipv4",
        Tags=tags,
    )["LoadBalancers"][0]
    target_group = elbv2.create_target_group(
        Name=f"{stem}-backend",
        Protocol="HTTP",
        Port=BACKEND_PORT,
        VpcId=network.vpc_id,
        TargetType="ip",
        HealthCheckPath="/api/health/",
        Tags=tag_list(tag_map(env, f"{stem}-backend")),
    )["TargetGroups"][0]
    certificate: str = clients("acm").request_certificate(
        DomainName=f"api.{env.name}.adinsights.invalid",
        ValidationMethod="DNS",
        Tags=tag_list(tag_map(env)),
    )["CertificateArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=443,
        Certificates=[{"CertificateArn": certificate}],
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group["TargetGroupArn"]}],
    )["Listeners"][0]
    return (
        str(balancer["LoadBalancerArn"]),
        str(listener["ListenerArn"]),
        str(target_group["TargetGroupArn"]),
        certificate,
    )


def _redis(elasticache: Any, env: Environment, network: Network) -> str:
    name = f"{prefix(env)}-redis"
    elasticache.create_cache_subnet_group(
        CacheSubnetGroupName=name,
        CacheSubnetGroupDescription=f"ADinsights {env.name} Redis, private subnets",
        SubnetIds=list(network.private_subnet_ids),
    )
    elasticache.create_replication_group(
        ReplicationGroupId=name,
        ReplicationGroupDescription=f"ADinsights {env.name} Celery broker and cache",
        Engine="redis",
        EngineVersion="7.1",
        CacheNodeType=REDIS_NODE_TYPE,
        NumCacheClusters=2,
        AutomaticFailoverEnabled=True,
        MultiAZEnabled=True,
        CacheSubnetGroupName=name,
        SecurityGroupIds=[network.security_group_ids["redis"]],
        Port=6379,
        TransitEncryptionEnabled=True,
        AtRestEncryptionEnabled=True,
        Tags=tag_list(tag_map(env, name)),
    )
    return name


def _endpoints(ec2: Any, env: Environment, network: Network) -> tuple[str, dict[str, str]]:
    name = f"{prefix(env)}-endpoints"
    group_id: str = ec2.create_security_group(
        GroupName=name,
        Description=f"ADinsights {env.name} VPC endpoints",
        VpcId=network.vpc_id,
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": tag_list(tag_map(env, name))}
        ],
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [
                    {
                        "GroupId": network.security_group_ids["ecs"],
                        "Description": "AWS APIs from ECS tasks",
                    }
                ],
            }
        ],
    )
    ids: dict[str, str] = {}
    for service in ENDPOINT_SERVICES:
        endpoint = ec2.create_vpc_endpoint(
            VpcId=network.vpc_id,
            ServiceName=f"com.amazonaws.{env.region}.{service}",
            VpcEndpointType="Interface",
            SubnetIds=list(network.private_subnet_ids),
            SecurityGroupIds=[group_id],
            PrivateDnsEnabled=True,
            TagSpecifications=[
                {
                    "ResourceType": "vpc-endpoint",
                    "Tags": tag_list(tag_map(env, f"{prefix(env)}-{service}")),
                }
            ],
        )["VpcEndpoint"]
        ids[service] = str(endpoint["VpcEndpointId"])
    return group_id, ids


def seed_extras(clients: Callable[[str], Any], env: Environment, network: Network) -> Extras:
    """Create the ALB, Redis and the VPC endpoints in `network` (made by `seed_network`)."""
    balancer, listener, target_group, certificate = _load_balancer(clients, env, network)
    redis_id = _redis(clients("elasticache"), env, network)
    group_id, endpoint_ids = _endpoints(clients("ec2"), env, network)
    return Extras(
        load_balancer_arn=balancer,
        listener_arn=listener,
        target_group_arn=target_group,
        certificate_arn=certificate,
        redis_id=redis_id,
        endpoint_security_group_id=group_id,
        endpoint_ids=endpoint_ids,
    )
