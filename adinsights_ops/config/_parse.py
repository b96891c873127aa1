"""An environment's mapping, validated into an `Environment`, every problem reported at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adinsights_ops.config._cost import CostSettings
from adinsights_ops.config._infra import check_mapping
from adinsights_ops.config._reader import Reader, combined
from adinsights_ops.config._settings import (
    ACCOUNT,
    BRANCH_RULES,
    REGION,
    ROLES,
    STATUS_PAGE_KINDS,
    STATUSPAGE_API,
    AirbyteSettings,
    DbtSettings,
    EcsSettings,
    Environment,
    Notifications,
    ReleaseSettings,
    RunTaskNetwork,
    ServiceRef,
    SshSettings,
    StatusPage,
)
from adinsights_ops.errors import ConfigError


def _ecs(r: Reader, repositories: Mapping[str, str]) -> EcsSettings:
    services_r = r.need("services")
    services: dict[str, ServiceRef] = {}
    for role in ROLES:
        s = services_r.need(role)
        image = s.text("image")
        if image and image not in repositories:
            s.fail(s.key("image"), f"expected one of the repositories {sorted(repositories)}")
        services[role] = ServiceRef(role=role, name=s.text("name"), image=image)
        s.done()
    services_r.done()
    one_off = r.need("one_off")
    family, container = one_off.text("family"), one_off.text("container")
    one_off.done()
    net_r = r.need("run_task_network")
    from_service = net_r.opt_text("from_service")
    network = RunTaskNetwork(
        subnets=net_r.strings("subnets"),
        security_groups=net_r.strings("security_groups"),
        assign_public_ip=net_r.flag("assign_public_ip", False),
        from_service=from_service,
    )
    net_r.done()
    if from_service is not None and from_service not in ROLES:
        r.fail(net_r.key("from_service"), f"expected one of {', '.join(ROLES)}")
    # Placeholders in subnets/security_groups are reported already: not again as "expected ...".
    reported = any(e.key.startswith(net_r.key("")) for e in r.errors)
    if (
        from_service is None
        and not (network.subnets and network.security_groups)
        and not (net_r.absent or reported)
    ):
        r.fail(net_r.path, "expected subnets and security_groups, or from_service")
    timeouts = r.section("timeouts", required=False)
    rollout_timeout = timeouts.seconds("rollout", 900.0) if timeouts else 900.0
    task_timeout = timeouts.seconds("task", 1800.0) if timeouts else 1800.0
    if timeouts:
        timeouts.done()
    poll_first, poll_maximum = _polling(r, first=2.0, maximum=15.0)
    settings = EcsSettings(
        cluster=r.text("cluster"),
        services=services,
        one_off_family=family,
        one_off_container=container,
        network=network,
        rollout_timeout=rollout_timeout,
        task_timeout=task_timeout,
        poll_first=poll_first,
        poll_maximum=poll_maximum,
    )
    r.done()
    return settings


def _polling(r: Reader, *, first: float, maximum: float) -> tuple[float | None, float | None]:
    """The section's optional `polling: {first, maximum}` (seconds); None where it sets none."""
    polling = r.section("polling", required=False)
    poll_first = polling.number("first", first, maximum=600) if polling else None
    poll_maximum = polling.number("maximum", maximum, maximum=600) if polling else None
    if polling:
        polling.done()
        if poll_maximum is not None and poll_first is not None and poll_maximum < poll_first:
            r.fail(polling.key("maximum"), "expected a maximum of at least `first`")
    return poll_first, poll_maximum


def _airbyte(r: Reader | None) -> AirbyteSettings | None:
    if r is None:
        return None
    conns = r.need("connections")
    connections = {key: conns.text(key) for key in conns.data}
    if not connections:
        conns.fail(conns.path, "expected at least one connection (name: id)")
    ssh_r = r.section("ssh", required=False)
    ssh = None
    if ssh_r is not None:
        ssh = SshSettings(
            host=ssh_r.text("host"),
            user=ssh_r.text("user"),
            port=ssh_r.whole("port", 22, maximum=65535),
            known_hosts=ssh_r.opt_text("known_hosts") or "~/.ssh/known_hosts",
            key_file=ssh_r.opt_text("key_file"),
            data_volume=ssh_r.opt_text("data_volume") or "/var/lib/airbyte",
        )
        ssh_r.done()
    poll_first, poll_maximum = _polling(r, first=2.0, maximum=30.0)
    settings = AirbyteSettings(
        url=r.text("url"),
        client_id=r.text("client_id"),
        client_secret=r.text("client_secret"),
        connections=connections,
        manifests=r.opt_text("manifests") or "infrastructure/airbyte",
        sync_timeout=r.seconds("sync_timeout", 3600.0),
        ssh=ssh,
        poll_first=poll_first,
        poll_maximum=poll_maximum,
    )
    r.done()
    return settings


def _dbt(r: Reader | None) -> DbtSettings | None:
    if r is None:
        return None
    settings = DbtSettings(
        project_dir=r.text("project_dir"),
        profiles_dir=r.text("profiles_dir"),
        target=r.text("target"),
        artifacts_prefix=r.opt_text("artifacts_prefix") or "dbt/",
        artifacts_bucket=r.opt_text("artifacts_bucket"),
        build_timeout=r.seconds("build_timeout", 3600.0),
    )
    r.done()
    return settings


def _release(r: Reader | None, name: str) -> ReleaseSettings:
    defaults = ReleaseSettings()
    if r is None:
        return defaults
    commands = r.strings("one_off_commands")
    settings = ReleaseSettings(
        promotion_from=r.opt_text("promotion_from"),
        validation_sync=r.flag("validation_sync", False),
        snapshot_required=r.flag("snapshot_required", True),
        one_off_commands=commands or defaults.one_off_commands,
        warm_command=r.opt_text("warm_command") or defaults.warm_command,
        lock_ttl=r.seconds("lock_ttl", defaults.lock_ttl),
    )
    if settings.promotion_from == name:
        r.fail(r.key("promotion_from"), "another environment than this one")
    r.done()
    return settings


def _notifications(r: Reader | None) -> Notifications:
    if r is None:
        return Notifications()
    settings = Notifications(
        slack_webhook_secret=r.opt_text("slack_webhook_secret"),
        email_from=r.opt_text("email_from"),
        email_to=r.strings("email_to"),
        activity_log=r.opt_text("activity_log"),
        incident_log=r.opt_text("incident_log"),
        status_page=_status_page(r.section("status_page", required=False)),
    )
    r.done()
    return settings


def _status_page(r: Reader | None) -> StatusPage | None:
    if r is None:
        return None
    kind = r.choice("kind", STATUS_PAGE_KINDS)
    statuspage = kind == "statuspage"
    url = r.opt_text("url") if statuspage else r.text("url")
    if url and not url.startswith(("https://", "http://")):
        r.fail(r.key("url"), f"expected an http(s):// URL, got {url!r}")
    page = StatusPage(
        kind=kind,
        url=url or (STATUSPAGE_API if statuspage else ""),
        page_id=r.text("page_id") if statuspage else r.opt_text("page_id"),
        component=r.text("component") if statuspage else r.opt_text("component"),
        token_secret=r.text("token_secret") if statuspage else r.opt_text("token_secret"),
    )
    if kind == "webhook" and page.page_id is not None:
        r.fail(r.key("page_id"), "is for kind statuspage only (a webhook has its url)")
    r.done()
    return page


def _cost(r: Reader | None) -> CostSettings | None:
    if r is None:
        return None
    defaults = CostSettings()
    budget = r._get("monthly_budget", required=False)
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0
    ):
        r.fail(r.key("monthly_budget"), "expected a positive amount in USD")
        budget = None
    settings = CostSettings(
        monthly_budget=float(budget) if budget is not None else None,
        budget_sns_topic=r.opt_text("budget_sns_topic"),
        offhours_allowed=r.flag("offhours_allowed", True),
        offhours_down=r.opt_text("offhours_down") or defaults.offhours_down,
        offhours_up=r.opt_text("offhours_up") or defaults.offhours_up,
        offhours_timezone=r.opt_text("offhours_timezone") or defaults.offhours_timezone,
        rightsize_days=r.whole("rightsize_days", defaults.rightsize_days, maximum=366),
    )
    r.done()
    return settings


def _infra(r: Reader, name: str) -> dict[str, Any]:
    r.seen.add("infra")
    try:
        return check_mapping(r.data.get("infra"), source=r.source, key=f"{name}.infra")
    except ConfigError as exc:
        r.errors.append(exc)
        return {}


def parse_environment(name: str, data: object, source: str) -> Environment:
    """Validate one environment's mapping into an `Environment`.

    Every problem is reported at once: one ConfigError (see `combined`) listing them all.
    """
    errors: list[ConfigError] = []
    try:
        env = _parse_environment(Reader(source, data, name, errors), name, source)
    except ConfigError as exc:  # a check that stops at its first problem
        errors.append(exc)
    if errors:
        raise combined(errors)
    return env


def _parse_environment(r: Reader, name: str, source: str) -> Environment:
    images = r.need("images")
    registry = images.text("registry")
    repos_r = images.need("repositories")
    repositories = {key: repos_r.text(key) for key in repos_r.data}
    if not repositories:
        repos_r.fail(repos_r.path, "expected at least one repository")
    images.done()
    health = r.need("health")
    env = Environment(
        name=name,
        source=source,
        account=r.text("account", pattern=ACCOUNT, hint="a 12-digit AWS account id"),
        region=r.text("region", pattern=REGION, hint="an AWS region such as eu-west-1"),
        profile=r.opt_text("profile"),
        sandbox=r.flag("sandbox", False),
        branch_rule=r.choice("branch_rule", BRANCH_RULES),
        approval_required=r.flag("approval_required"),
        default_image_tag=r.opt_text("default_image_tag"),
        ecs=_ecs(r.need("ecs"), repositories),
        registry=registry,
        repositories=repositories,
        rds_instance=r.need("rds").text("instance"),
        kms_key=r.need("kms").text("key"),
        state_bucket=r.text("state_bucket"),
        health_base_url=health.text("base_url"),
        sample_tenant=health.text("sample_tenant"),
        airbyte=_airbyte(r.section("airbyte", required=False)),
        dbt=_dbt(r.section("dbt", required=False)),
        release=_release(r.section("release", required=False), name),
        notifications=_notifications(r.section("notifications", required=False)),
        cost=_cost(r.section("cost", required=False)),
        infra=_infra(r, name),
    )
    health.done()
    r.done()
    return env
