"""Runbook 2.1 read from the live environment: who may talk to whom, and what is open to the world.

Security groups are found by name (`InfraSettings.security_groups`), so the same settings work for a
rebuilt environment. The rules the runbook draws: the internet reaches the ALB on 443 only; ECS tasks
accept traffic from the ALB only; RDS accepts 5432 and Redis 6379 from ECS only; nothing else in the
environment's VPCs accepts anything from 0.0.0.0/0 or ::/0; and the VPC has interface endpoints for
Secrets Manager and KMS. Every item says what was read, so a pass is evidence too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from adinsights_ops.checks_report import CheckItem, failed, passed
from adinsights_ops.config._infra import InfraSettings

ANYWHERE = frozenset({"0.0.0.0/0", "::/0"})
ENV_TAG = "adinsights:environment"


@attrs.frozen
class Ingress:
    """One ingress rule for one source (a CIDR, a security group or a prefix list)."""

    protocol: str
    from_port: int | None
    to_port: int | None
    source: str

    def ports(self) -> str:
        if self.protocol == "-1":
            return "all traffic"
        if self.from_port == self.to_port:
            return f"{self.protocol} {self.from_port}"
        return f"{self.protocol} {self.from_port}-{self.to_port}"

    def only(self, port: int) -> bool:
        return self.protocol == "tcp" and self.from_port == port and self.to_port == port

    def text(self) -> str:
        return f"{self.ports()} from {self.source}"


def ingress(group: Mapping[str, Any]) -> list[Ingress]:
    """A security group's ingress rules, one per source."""
    rules: list[Ingress] = []
    for perm in group.get("IpPermissions", []):
        proto = str(perm.get("IpProtocol", "-1"))
        low, high = perm.get("FromPort"), perm.get("ToPort")
        sources = (
            [r["CidrIp"] for r in perm.get("IpRanges", [])]
            + [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])]
            + [p["GroupId"] for p in perm.get("UserIdGroupPairs", [])]
            + [p["PrefixListId"] for p in perm.get("PrefixListIds", [])]
        )
        for source in sources:
            rules.append(Ingress(proto, low, high, str(source)))
    return rules


def label(group: Mapping[str, Any]) -> str:
    return f"{group.get('GroupName')} ({group.get('GroupId')})"


def _rules_text(group: Mapping[str, Any]) -> str:
    rules = ingress(group)
    return f"{label(group)} ingress: " + ("; ".join(r.text() for r in rules) or "none")


@attrs.frozen
class Groups:
    """The environment's security groups by role (alb, ecs, rds, redis); None when not found."""

    by_role: Mapping[str, Mapping[str, Any] | None]
    names: Mapping[str, str]

    def get(self, role: str) -> Mapping[str, Any] | None:
        return self.by_role.get(role)

    def id(self, role: str) -> str:
        group = self.by_role.get(role)
        return str(group["GroupId"]) if group else ""

    def missing(self, *roles: str) -> CheckItem | None:
        """A failing item naming the groups not found, or None when all were."""
        gone = [self.names[r] for r in roles if self.by_role.get(r) is None]
        if not gone:
            return None
        return failed(
            "",
            f"describe_security_groups (group-name {', '.join(gone)}): not found",
            "security group(s) missing",
        )


def read_groups(ec2: Any, settings: InfraSettings, environment: str) -> Groups:
    """Find each role's group by name; of several with one name, the one tagged for `environment`."""
    names = dict(settings.security_groups)
    found: dict[str, list[Mapping[str, Any]]] = {}
    paginator = ec2.get_paginator("describe_security_groups")
    filters = [{"Name": "group-name", "Values": sorted(set(names.values()))}]
    for page in paginator.paginate(Filters=filters):
        for group in page.get("SecurityGroups", []):
            found.setdefault(str(group["GroupName"]), []).append(group)

    def pick(candidates: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        for group in candidates:
            if {"Key": ENV_TAG, "Value": environment} in group.get("Tags", []):
                return group
        return candidates[0] if candidates else None

    return Groups({role: pick(found.get(name, [])) for role, name in names.items()}, names)


def _named(item: CheckItem, name: str) -> CheckItem:
    return attrs.evolve(item, name=name)


def _from_only(
    group: Mapping[str, Any], *, port: int | None, source: str, source_label: str
) -> list[str]:
    """Why `group` accepts more than `port` (any port when None) from `source` alone; [] if it doesn't."""
    rules = ingress(group)
    problems = [
        f"{label(group)} accepts {r.text()}"
        for r in rules
        if r.source != source or (port is not None and not r.only(port))
    ]
    if not any(r.source == source for r in rules):
        problems.append(f"{label(group)} accepts nothing from {source_label}")
    return problems


# -- ALB -> ECS ----------------------------------------------------------------------------------


def _load_balancer(elbv2: Any, name: str) -> Mapping[str, Any] | None:
    try:
        found = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in ("LoadBalancerNotFound", "LoadBalancerNotFoundException"):
            return None
        raise
    return found[0] if found else None


def _redirects_to_https(listener: Mapping[str, Any]) -> bool:
    actions = listener.get("DefaultActions", [])
    return bool(actions) and all(
        a.get("Type") == "redirect" and a.get("RedirectConfig", {}).get("Protocol") == "HTTPS"
        for a in actions
    )


def alb_to_ecs(groups: Groups, elbv2: Any, settings: InfraSettings) -> CheckItem:
    name = "ALB -> ECS on HTTPS only"
    missing = groups.missing("alb", "ecs")
    if missing:
        return _named(missing, name)
    alb, ecs = groups.get("alb"), groups.get("ecs")
    assert alb is not None and ecs is not None
    problems = [
        f"{label(alb)} accepts {r.text()} (only tcp 443 is allowed)"
        for r in ingress(alb)
        if not r.only(443)
    ]
    problems += _from_only(ecs, port=None, source=groups.id("alb"), source_label="the ALB group")
    evidence = [_rules_text(alb), _rules_text(ecs)]
    balancer = _load_balancer(elbv2, settings.load_balancer)
    if balancer is None:
        evidence.append(
            f"no load balancer named {settings.load_balancer} (describe_load_balancers): "
            "checked the security-group rules only"
        )
    else:
        arn = balancer["LoadBalancerArn"]
        listeners = elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
        shown = [f"{lst.get('Protocol')}:{lst.get('Port')}" for lst in listeners]
        evidence.append(f"load balancer {settings.load_balancer} listeners: {', '.join(shown)}")
        problems += [
            f"listener {lst.get('Protocol')}:{lst.get('Port')} is neither HTTPS nor a redirect to it"
            for lst in listeners
            if lst.get("Protocol") != "HTTPS" and not _redirects_to_https(lst)
        ]
        if not listeners:
            problems.append(f"load balancer {settings.load_balancer} has no listener")
        if groups.id("alb") not in balancer.get("SecurityGroups", []):
            problems.append(f"load balancer {settings.load_balancer} is not in {label(alb)}")
    text = "; ".join(evidence)
    return failed(name, text, "; ".join(problems)) if problems else passed(name, text)


# -- ECS -> RDS / Redis --------------------------------------------------------------------------


def _describe_groups(ec2: Any, ids: Iterable[str]) -> list[Mapping[str, Any]]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    return list(ec2.describe_security_groups(GroupIds=wanted)["SecurityGroups"])


def ecs_to_rds(groups: Groups, ec2: Any, rds: Any, instance: str) -> CheckItem:
    name = "ECS -> RDS on 5432 only"
    missing = groups.missing("rds", "ecs")
    if missing:
        return _named(missing, name)
    rds_group = groups.get("rds")
    assert rds_group is not None
    try:
        db = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") != "DBInstanceNotFound":
            raise
        db = None
    attached = [g["VpcSecurityGroupId"] for g in (db or {}).get("VpcSecurityGroups", [])]
    to_check = _describe_groups(ec2, attached) if attached else [rds_group]
    problems: list[str] = []
    for group in to_check:
        problems += _from_only(group, port=5432, source=groups.id("ecs"), source_label="ECS")
    if db is None:
        where = f"RDS instance {instance} not found: checked {label(rds_group)} by name"
    else:
        where = f"RDS instance {instance} is in {', '.join(attached) or 'no security group'}"
        if groups.id("rds") not in attached:
            problems.append(f"{instance} is not in {label(rds_group)}")
    text = f"{where}; " + "; ".join(_rules_text(g) for g in to_check)
    return failed(name, text, "; ".join(problems)) if problems else passed(name, text)


def ecs_to_redis(groups: Groups, redis: Mapping[str, Any] | None, redis_id: str) -> CheckItem:
    """Redis's group accepts 6379 from ECS only; `redis` is what ElastiCache said (None: not found)."""
    name = "ECS -> Redis on 6379 only"
    missing = groups.missing("redis", "ecs")
    if missing:
        return _named(missing, name)
    group = groups.get("redis")
    assert group is not None
    problems = _from_only(group, port=6379, source=groups.id("ecs"), source_label="ECS")
    reported = [g.get("SecurityGroupId") for g in (redis or {}).get("SecurityGroups", [])]
    if redis is None:
        where = f"no Redis named {redis_id}: checked {label(group)} by name"
    elif reported:
        where = f"{redis_id} is in {', '.join(str(g) for g in reported)}"
        if groups.id("redis") not in reported:
            problems.append(f"{redis_id} is not in {label(group)}")
    else:
        where = f"ElastiCache does not report {redis_id}'s security groups: checked {label(group)}"
    text = f"{where}; {_rules_text(group)}"
    return failed(name, text, "; ".join(problems)) if problems else passed(name, text)


# -- the whole VPC -------------------------------------------------------------------------------


def environment_vpcs(ec2: Any, groups: Groups, environment: str) -> list[str]:
    """The VPC of the ECS group, and every VPC tagged for `environment`."""
    vpcs = {str(g["VpcId"]) for g in groups.by_role.values() if g is not None and g.get("VpcId")}
    tagged = ec2.describe_vpcs(Filters=[{"Name": f"tag:{ENV_TAG}", "Values": [environment]}])
    vpcs.update(str(v["VpcId"]) for v in tagged["Vpcs"])
    return sorted(vpcs)


def nothing_else_open(ec2: Any, groups: Groups, environment: str) -> CheckItem:
    name = "nothing else open to the internet"
    vpcs = environment_vpcs(ec2, groups, environment)
    if not vpcs:
        return failed(name, "no VPC found for the environment", "cannot tell what is open")
    alb_id = groups.id("alb")
    checked = 0
    problems: list[str] = []
    paginator = ec2.get_paginator("describe_security_groups")
    for page in paginator.paginate(Filters=[{"Name": "vpc-id", "Values": vpcs}]):
        for group in page.get("SecurityGroups", []):
            checked += 1
            for rule in ingress(group):
                if rule.source in ANYWHERE and not (group["GroupId"] == alb_id and rule.only(443)):
                    problems.append(f"{label(group)} accepts {rule.text()}")
    text = f"{checked} security groups in {', '.join(vpcs)}: " + (
        "; ".join(problems) if problems else "only the ALB group's tcp 443 is open to anywhere"
    )
    return failed(name, text, "open to the internet") if problems else passed(name, text)


def vpc_endpoints(ec2: Any, groups: Groups, settings: InfraSettings, region: str) -> CheckItem:
    name = "VPC endpoints: " + ", ".join(settings.endpoint_services)
    missing = groups.missing("ecs")
    ecs = groups.get("ecs")
    if missing or ecs is None:
        return _named(missing or failed("", "no ECS security group", ""), name)
    vpc = str(ecs["VpcId"])
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
        "VpcEndpoints"
    ]
    by_service: dict[str, Mapping[str, Any]] = {}
    for endpoint in endpoints:  # of several for one service, an available one speaks for it
        known = by_service.get(str(endpoint["ServiceName"]))
        if known is None or str(known.get("State", "")).lower() != "available":
            by_service[str(endpoint["ServiceName"])] = endpoint
    problems: list[str] = []
    seen: list[str] = []
    for service in settings.endpoint_services:
        wanted = f"com.amazonaws.{region}.{service}"
        endpoint = by_service.get(wanted)
        if endpoint is None:
            problems.append(f"no endpoint for {wanted}")
            continue
        state = str(endpoint.get("State", "")).lower()
        dns = "private DNS" if endpoint.get("PrivateDnsEnabled") else "no private DNS"
        seen.append(f"{service}: {endpoint['VpcEndpointId']} {state}, {dns}")
        if state != "available":
            problems.append(f"{wanted} endpoint is {state}")
    text = f"describe_vpc_endpoints in {vpc} ({len(endpoints)} found): " + (
        "; ".join(seen) or "none for these services"
    )
    return failed(name, text, "; ".join(problems)) if problems else passed(name, text)
