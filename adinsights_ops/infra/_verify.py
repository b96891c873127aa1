"""`infra.verify`: the live environment against the runbook's blueprint (section 2), with evidence.

Each item reads the environment through the AWS APIs and says what it read. An item fails when the
blueprint is not met, or when what it needs could not be read (access denied, say); it is "not
available" only when the environment has no such API at all (and says so). An empty answer is not
"not available": no Redis, or no VPC endpoint, is a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.checks_report import (
    CheckItem,
    CheckReport,
    failed,
    not_available,
    passed,
    report,
)
from adinsights_ops.config._infra import InfraSettings
from adinsights_ops.infra._settings import for_environment
from adinsights_ops.infra._verify_network import (
    Groups,
    alb_to_ecs,
    ecs_to_rds,
    ecs_to_redis,
    nothing_else_open,
    read_groups,
    vpc_endpoints,
)

if TYPE_CHECKING:
    from adinsights_ops.config import Environment
    from adinsights_ops.opsenv import OpsEnv

TITLE = "Infrastructure blueprint (runbook 2)"
NOT_IMPLEMENTED = frozenset({"NotImplemented", "InvalidAction", "UnknownOperationException"})
POSTGRES = ("postgres", "aurora-postgresql")


def _code(exc: BaseException) -> tuple[str, str, int]:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return str(error.get("Code", "")), str(error.get("Message", "")), status


def guard(name: str, check: Callable[[], CheckItem]) -> CheckItem:
    """Run one check; an API the environment lacks is "not available", any other error a failure."""
    try:
        return attrs.evolve(check(), name=name)
    except NotImplementedError as exc:
        return not_available(name, f"the API this needs is not implemented here ({exc})")
    except Exception as exc:
        code, message, status = _code(exc)
        operation = getattr(exc, "operation_name", "") or type(exc).__name__
        if code in NOT_IMPLEMENTED or status == 501:
            return not_available(name, f"{operation}: not available in this environment ({code})")
        if not code:
            raise
        return failed(name, f"could not read: {operation}: {code}: {message}", "unreadable")


# -- data stores ---------------------------------------------------------------------------------


def rds_instance(rds: Any, instance: str, settings: InfraSettings) -> CheckItem:
    name = "RDS PostgreSQL Multi-AZ, backups {}-{} days".format(*settings.backup_retention)
    try:
        db = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]
    except Exception as exc:
        if _code(exc)[0] != "DBInstanceNotFound":
            raise
        return failed(name, f"describe_db_instances: {instance} not found", "no database")
    low, high = settings.backup_retention
    engine, version = str(db.get("Engine", "")), str(db.get("EngineVersion", ""))
    retention = int(db.get("BackupRetentionPeriod", 0))
    multi_az = bool(db.get("MultiAZ"))
    status = str(db.get("DBInstanceStatus", ""))
    problems = []
    if not engine.startswith(POSTGRES):
        problems.append(f"engine is {engine}, not PostgreSQL")
    if not multi_az:
        problems.append("not Multi-AZ")
    if not low <= retention <= high:
        problems.append(f"automated backups kept {retention} day(s), not {low}-{high}")
    text = (
        f"{instance}: {engine} {version}, {'Multi-AZ' if multi_az else 'single-AZ'}, "
        f"automated backups {retention} day(s), {status}"
    )
    return failed(name, text, "; ".join(problems)) if problems else passed(name, text)


def find_redis(elasticache: Any, redis_id: str) -> tuple[str, Mapping[str, Any]] | None:
    """("replication group" | "cache cluster", what ElastiCache says), or None when neither exists.

    A replication group's own description carries no security groups: they are read from its first
    member cluster (when ElastiCache reports one), so the caller can check them either way.
    """
    try:
        group = elasticache.describe_replication_groups(ReplicationGroupId=redis_id)[
            "ReplicationGroups"
        ][0]
    except Exception as exc:
        if _code(exc)[0] != "ReplicationGroupNotFoundFault":
            raise
    else:
        found = dict(group)
        for member in group.get("MemberClusters", [])[:1]:
            cluster = _cache_cluster(elasticache, str(member))
            if cluster is not None:
                found["SecurityGroups"] = cluster.get("SecurityGroups", [])
        return "replication group", found
    cluster = _cache_cluster(elasticache, redis_id)
    return ("cache cluster", cluster) if cluster is not None else None


def _cache_cluster(elasticache: Any, cluster_id: str) -> Mapping[str, Any] | None:
    try:
        return dict(
            elasticache.describe_cache_clusters(CacheClusterId=cluster_id)["CacheClusters"][0]
        )
    except Exception as exc:
        if _code(exc)[0] not in ("CacheClusterNotFound", "CacheClusterNotFoundFault"):
            raise
        return None


def redis_present(found: tuple[str, Mapping[str, Any]] | None, redis_id: str) -> CheckItem:
    name = "Redis (ElastiCache) present"
    if found is None:
        return failed(
            name,
            f"describe_replication_groups and describe_cache_clusters: no {redis_id}",
            "no Redis for the Celery broker and cache",
        )
    kind, redis = found
    engine = str(redis.get("Engine", "redis"))
    status = str(redis.get("Status") or redis.get("CacheClusterStatus") or "")
    extra = [f"Multi-AZ {redis['MultiAZ']}"] if "MultiAZ" in redis else []
    if "AutomaticFailover" in redis:
        extra.append(f"automatic failover {redis['AutomaticFailover']}")
    text = f"{kind} {redis_id}: {engine}, {status}" + "".join(f", {e}" for e in extra)
    problems = []
    if engine not in ("redis", "valkey"):
        problems.append(f"engine is {engine}")
    if status != "available":
        problems.append(f"status is {status or 'unknown'}")
    return failed(name, text, "; ".join(problems)) if problems else passed(name, text)


def buckets(s3: Any, settings: InfraSettings) -> CheckItem:
    name = "S3 buckets: " + ", ".join(settings.buckets)
    seen, problems = [], []
    for purpose, bucket in settings.buckets.items():
        try:
            s3.head_bucket(Bucket=bucket)
        except Exception as exc:
            code = _code(exc)[0]
            if code in ("404", "NoSuchBucket"):
                problems.append(f"{purpose}: {bucket} missing")
                continue
            if code in ("403", "AccessDenied"):
                problems.append(f"{purpose}: {bucket} not readable (access denied)")
                continue
            raise
        seen.append(f"{purpose}: {bucket} ({_public_access(s3, bucket)})")
    text = "head_bucket: " + "; ".join(seen + problems)
    return failed(name, text, "; ".join(problems)) if problems else passed(name, text)


def _public_access(s3: Any, bucket: str) -> str:
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except Exception as exc:
        if _code(exc)[0] != "NoSuchPublicAccessBlockConfiguration":
            raise
        return "no public access block"
    return "public access blocked" if all(block.values()) else "public access partly allowed"


# -- ECS, logs, KMS ------------------------------------------------------------------------------


def services(ecs: Any, env: Environment) -> CheckItem:
    name = "ECS services: " + ", ".join(ref.name for ref in env.ecs.services.values())
    names = [ref.name for ref in env.ecs.services.values()]
    described = ecs.describe_services(cluster=env.ecs.cluster, services=names)
    by_name = {s["serviceName"]: s for s in described["services"]}
    seen, problems = [], []
    for service in names:
        found = by_name.get(service)
        if found is None or found.get("status") != "ACTIVE":
            problems.append(f"{service} {'missing' if found is None else found.get('status')}")
            continue
        desired = int(found.get("desiredCount", 0))
        seen.append(f"{service} desired {desired}, running {found.get('runningCount', 0)}")
        if desired <= 0:
            problems.append(f"{service} desired count is {desired}")
    for singleton in env.ecs.singletons:
        if singleton in by_name and int(by_name[singleton].get("desiredCount", 0)) > 1:
            problems.append(f"{singleton} must run one copy, desired is more")
    text = f"describe_services in {env.ecs.cluster}: " + "; ".join(seen)
    return failed(name, text, "; ".join(problems)) if problems else passed(name, text)


def log_groups(ecs: Any, logs: Any, env: Environment) -> CheckItem:
    """Each service's task definition names an awslogs group, and that group exists."""
    name = "CloudWatch log groups of the services"
    names = [ref.name for ref in env.ecs.services.values()]
    described = ecs.describe_services(cluster=env.ecs.cluster, services=names)["services"]
    seen, problems = [], []
    for service in described:
        definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
        for container in definition["taskDefinition"].get("containerDefinitions", []):
            config = container.get("logConfiguration") or {}
            group = (config.get("options") or {}).get("awslogs-group")
            where = f"{service['serviceName']}/{container.get('name')}"
            if config.get("logDriver") != "awslogs" or not group:
                problems.append(f"{where} does not log to CloudWatch Logs")
                continue
            existing = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
            match = next((g for g in existing if g["logGroupName"] == group), None)
            if match is None:
                problems.append(f"{where}: log group {group} missing")
                continue
            retention = match.get("retentionInDays")
            seen.append(
                f"{where} -> {group} ({f'{retention} days' if retention else 'kept forever'})"
            )
    missing = set(names) - {s["serviceName"] for s in described}
    problems += [f"{m}: service missing" for m in sorted(missing)]
    text = "; ".join(seen + problems) or "no services"
    return failed(name, text, "; ".join(problems)) if problems else passed(name, text)


def kms_key(kms: Any, key: str) -> CheckItem:
    name = "KMS key with rotation"
    try:
        metadata = kms.describe_key(KeyId=key)["KeyMetadata"]
    except Exception as exc:
        if _code(exc)[0] != "NotFoundException":
            raise
        return failed(name, f"describe_key: {key} not found", "no key")
    rotation = kms.get_key_rotation_status(KeyId=metadata["KeyId"])
    enabled = bool(rotation.get("KeyRotationEnabled"))
    period = rotation.get("RotationPeriodInDays")
    state = str(metadata.get("KeyState", ""))
    text = f"{key} -> {metadata['KeyId']}: {state}, rotation " + (
        f"on (every {period} days)" if enabled and period else "on" if enabled else "off"
    )
    problems = []
    if state != "Enabled":
        problems.append(f"key is {state}")
    if not enabled:
        problems.append("automatic rotation is off")
    return failed(name, text, "; ".join(problems)) if problems else passed(name, text)


# -- the report ----------------------------------------------------------------------------------


def verify(ops: OpsEnv, *, settings: InfraSettings | None = None) -> CheckReport:
    """Every blueprint item of runbook section 2, each with what was read."""
    s = settings or for_environment(ops.env)
    env = ops.env
    client = ops.aws.client
    ec2 = client("ec2")
    memo: dict[str, Any] = {}

    def groups() -> Groups:
        # Read once, inside the first check that needs them: an unreadable answer fails items.
        if "groups" not in memo:
            memo["groups"] = read_groups(ec2, s, env.name)
        return memo["groups"]  # type: ignore[no-any-return]

    def redis_found() -> tuple[str, Mapping[str, Any]] | None:
        if "redis" not in memo:
            memo["redis"] = find_redis(client("elasticache"), s.redis)
        return memo["redis"]  # type: ignore[no-any-return]

    def redis_rules() -> CheckItem:
        found = redis_found()
        return ecs_to_redis(groups(), found[1] if found else None, s.redis)

    low, high = s.backup_retention
    checks: list[tuple[str, Callable[[], CheckItem]]] = [
        ("ALB -> ECS on HTTPS only", lambda: alb_to_ecs(groups(), client("elbv2"), s)),
        (
            "ECS -> RDS on 5432 only",
            lambda: ecs_to_rds(groups(), ec2, client("rds"), env.rds_instance),
        ),
        ("ECS -> Redis on 6379 only", redis_rules),
        ("nothing else open to the internet", lambda: nothing_else_open(ec2, groups(), env.name)),
        (
            f"RDS PostgreSQL Multi-AZ, backups {low}-{high} days",
            lambda: rds_instance(client("rds"), env.rds_instance, s),
        ),
        ("Redis (ElastiCache) present", lambda: redis_present(redis_found(), s.redis)),
        ("S3 buckets", lambda: buckets(client("s3"), s)),
        ("ECS services running", lambda: services(client("ecs"), env)),
        ("CloudWatch log groups", lambda: log_groups(client("ecs"), client("logs"), env)),
        ("KMS key with rotation", lambda: kms_key(client("kms"), env.kms_key)),
        (
            "VPC endpoints: " + ", ".join(s.endpoint_services),
            lambda: vpc_endpoints(ec2, groups(), s, env.region),
        ),
    ]
    return report(TITLE, env.name, (guard(name, check) for name, check in checks))
