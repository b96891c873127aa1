"""The sandbox blueprint's network (runbook 2.1): VPC, subnets, internet gateway, security groups.

Public subnets hold what faces the internet (ALB, NAT); private subnets hold ECS tasks, RDS and
Redis. Security groups chain ALB -> ECS -> RDS/Redis so that each tier only accepts the one before.
The VPC has DNS support and DNS hostnames on: moto's Fargate run_task fails without hostnames.
"""

from __future__ import annotations

from typing import Any

import attrs

from adinsights_ops.config import Environment
from adinsights_ops.sandbox.blueprint_names import prefix, tag_list, tag_map

VPC_CIDR = "10.20.0.0/16"
PUBLIC_CIDRS = ("10.20.0.0/20", "10.20.16.0/20")
PRIVATE_CIDRS = ("10.20.128.0/20", "10.20.144.0/20")

# role -> (port, the role whose group may connect; None = anywhere, description)
INGRESS: dict[str, tuple[int, str | None, str]] = {
    "alb": (443, None, "HTTPS from the internet"),
    "ecs": (8000, "alb", "Gunicorn from the ALB"),
    "rds": (5432, "ecs", "PostgreSQL from ECS tasks"),
    "redis": (6379, "ecs", "Redis from ECS tasks"),
}


@attrs.frozen
class Network:
    vpc_id: str
    internet_gateway_id: str
    public_subnet_ids: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]
    security_group_ids: dict[str, str]


def _tags(resource: str, env: Environment, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource, "Tags": tag_list(tag_map(env, name))}]


def seed_network(ec2: Any, env: Environment) -> Network:
    """Create the VPC, two public and two private subnets in two AZs, the IGW and the groups."""
    stem = prefix(env)
    vpc_id: str = ec2.create_vpc(
        CidrBlock=VPC_CIDR, TagSpecifications=_tags("vpc", env, f"{stem}-vpc")
    )["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})

    igw_id: str = ec2.create_internet_gateway(
        TagSpecifications=_tags("internet-gateway", env, f"{stem}-igw")
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)

    zones = sorted(
        z["ZoneName"]
        for z in ec2.describe_availability_zones()["AvailabilityZones"]
        if z.get("State", "available") == "available"
    )[:2]
    public: list[str] = []
    private: list[str] = []
    for tier, cidrs, ids in (("public", PUBLIC_CIDRS, public), ("private", PRIVATE_CIDRS, private)):
        for zone, cidr in zip(zones, cidrs, strict=True):
            subnet = ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=cidr,
                AvailabilityZone=zone,
                TagSpecifications=_tags("subnet", env, f"{stem}-{tier}-{zone[-1]}"),
            )["Subnet"]
            ids.append(subnet["SubnetId"])

    route_table: str = ec2.create_route_table(
        VpcId=vpc_id, TagSpecifications=_tags("route-table", env, f"{stem}-public")
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=route_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    for subnet_id in public:
        ec2.associate_route_table(RouteTableId=route_table, SubnetId=subnet_id)
        ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})

    groups: dict[str, str] = {}
    for role, (port, source, description) in INGRESS.items():
        name = f"{stem}-{role}"
        group_id: str = ec2.create_security_group(
            GroupName=name,
            Description=f"ADinsights {env.name} {role}",
            VpcId=vpc_id,
            TagSpecifications=_tags("security-group", env, name),
        )["GroupId"]
        permission: dict[str, Any] = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
        if source is None:
            permission["IpRanges"] = [{"CidrIp": "0.0.0.0/0", "Description": description}]
        else:
            permission["UserIdGroupPairs"] = [
                {"GroupId": groups[source], "Description": description}
            ]
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
        groups[role] = group_id

    return Network(
        vpc_id=vpc_id,
        internet_gateway_id=igw_id,
        public_subnet_ids=tuple(public),
        private_subnet_ids=tuple(private),
        security_group_ids=groups,
    )
