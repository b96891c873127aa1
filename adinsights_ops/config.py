"""The environments file: one frozen `Environment` per name, loaded and validated once.

Every error names the file, the dotted key and what was expected, so a bad edit is one clear line;
a load reports every problem of an environment at once (one ConfigError whose `details` list them).
Which file is read: see `environments_file`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from adinsights_ops.cost_settings import CostSettings
from adinsights_ops.errors import ConfigError
from adinsights_ops.waiting import Backoff

DEFAULT_FILE = "environments.yaml"
ENV_VARIABLE = "ADINSIGHTS_ENVIRONMENTS"
PACKAGED_FILE = Path(__file__).resolve().parent / "sandbox" / "environments.yaml"
"""The fallback: the sandbox only, its paths pointing at data installed with the package."""
ROLES = ("backend", "worker", "beat", "frontend")
BRANCH_RULES = ("main", "tags", "any")
PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")
ACCOUNT = re.compile(r"^\d{12}$")
MAX_TIMEOUT = 7 * 24 * 3600.0  # the same week as waiting.check_timeout
PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The checkout (or installation) this library runs from: where relative paths fall back to."""
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@attrs.frozen
class ServiceRef:
    """One ECS service of the app: its role, its name, and which image repository it runs."""

    role: str
    name: str
    image: str


@attrs.frozen
class RunTaskNetwork:
    """Network settings of one-off tasks: explicit, or copied from a service of the environment."""

    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    assign_public_ip: bool = False
    from_service: str | None = None


@attrs.frozen
class EcsSettings:
    cluster: str
    services: Mapping[str, ServiceRef]
    one_off_family: str
    one_off_container: str
    network: RunTaskNetwork
    rollout_timeout: float = 900.0
    task_timeout: float = 1800.0
    poll_first: float | None = None
    """Seconds before the first look at a rollout or a one-off task (`ecs.polling.first`)."""
    poll_maximum: float | None = None
    """The longest pause between two looks (`ecs.polling.maximum`)."""

    def service(self, role: str) -> ServiceRef:
        return self.services[role]

    def polling(self, default: Backoff) -> Backoff:
        """`default` with this environment's polling pace, where the environments file sets one."""
        return attrs.evolve(
            default,
            initial=self.poll_first if self.poll_first is not None else default.initial,
            maximum=self.poll_maximum if self.poll_maximum is not None else default.maximum,
        )

    @property
    def singletons(self) -> tuple[str, ...]:
        """Services that must never run two copies (celery-beat schedules jobs)."""
        return (self.services["beat"].name,)


@attrs.frozen
class SshSettings:
    """The Airbyte host over SSH (host keys must already be in `known_hosts`)."""

    host: str
    user: str
    port: int = 22
    known_hosts: str = "~/.ssh/known_hosts"
    key_file: str | None = None
    data_volume: str = "/var/lib/airbyte"


@attrs.frozen
class AirbyteSettings:
    """A self-hosted Airbyte: its public API, credentials, connections and the manifests' folder."""

    url: str
    client_id: str
    client_secret: str  # a Secrets Manager secret id or ARN: the value is read at run time
    connections: Mapping[str, str]
    manifests: str = "infrastructure/airbyte"
    sync_timeout: float = 3600.0
    ssh: SshSettings | None = None


@attrs.frozen
class DbtSettings:
    """Where the dbt project is and how to build it."""

    project_dir: str
    profiles_dir: str
    target: str
    artifacts_prefix: str = "dbt/"
    artifacts_bucket: str | None = None
    build_timeout: float = 3600.0


@attrs.frozen
class ReleaseSettings:
    """Release policy: where production's tags must have been deployed first, what deploys check."""

    promotion_from: str | None = None  # production: the environment a tag must have succeeded in
    validation_sync: bool = False  # data-state step: an Airbyte sync and a dbt build for validation
    snapshot_required: bool = True  # a pre-deploy RDS snapshot; production always takes one
    one_off_commands: tuple[str, ...] = (
        "python manage.py migrate --noinput",
        "python manage.py seed_roles",
        "python manage.py enable_rls",
    )
    warm_command: str = "celery -A adinsights call analytics.tasks.sync_meta_metrics"
    lock_ttl: float = 300.0  # the deploy lock's lease, renewed by a heartbeat


@attrs.frozen
class Notifications:
    """Where a release is announced. Secret ids only: values are read at run time, never printed."""

    slack_webhook_secret: str | None = None
    email_from: str | None = None
    email_to: tuple[str, ...] = ()
    activity_log: str | None = None
    incident_log: str | None = None


@attrs.frozen
class Environment:
    """Everything the runbook needs to know about one environment."""

    name: str
    source: str
    account: str
    region: str
    profile: str | None
    sandbox: bool
    branch_rule: str
    approval_required: bool
    default_image_tag: str | None
    ecs: EcsSettings
    registry: str
    repositories: Mapping[str, str]
    rds_instance: str
    kms_key: str
    state_bucket: str
    health_base_url: str
    sample_tenant: str
    airbyte: AirbyteSettings | None = None
    dbt: DbtSettings | None = None
    release: ReleaseSettings = ReleaseSettings()
    notifications: Notifications = Notifications()
    cost: CostSettings | None = None
    infra: Mapping[str, Any] = attrs.field(factory=dict)  # checked by infra_settings.check_mapping

    def path_candidates(self, value: str) -> tuple[Path, ...]:
        """Where a path from the environments file may be, in the order they are tried.

        `~` and `{ops_home}` are expanded. A relative path is tried against the environments
        file's own folder first, then against the project root (so that a copy of the file kept
        elsewhere, e.g. through $ADINSIGHTS_ENVIRONMENTS, still finds the project's templates).
        """
        from adinsights_ops.paths import home

        expanded = Path(value.replace("{ops_home}", str(home()))).expanduser()
        if expanded.is_absolute():
            return (expanded,)
        first = Path(self.source).parent / expanded
        second = PROJECT_ROOT / expanded
        if first.resolve() == second.resolve():
            return (first,)
        return (first, second)

    def path(self, value: str) -> Path:
        """A path from the environments file (see `path_candidates`): the first that exists, or
        the environments file's folder's when none does (so an output path is made there)."""
        candidates = self.path_candidates(value)
        return next((p for p in candidates if p.exists()), candidates[0])

    def existing_path(self, value: str, *, key: str, kind: str = "file") -> Path:
        """`path(value)`, which must exist as a `kind` ("file" or "directory"); else a ConfigError
        naming the key and every path tried."""
        candidates = self.path_candidates(value)
        for candidate in candidates:
            if kind == "directory" and candidate.is_dir():
                return candidate
            if kind == "file" and candidate.is_file():
                return candidate
        tried = " or ".join(str(c) for c in candidates)
        found = next((c for c in candidates if c.exists()), None)
        what = f"is not a {kind}" if found is not None else "does not exist"
        raise ConfigError(
            self.source, key, f"expected an existing {kind}: {value!r} {what} (tried {tried})"
        )

    def repository_for(self, role: str) -> str:
        return self.repositories[self.ecs.services[role].image]

    def service_images(self) -> dict[str, str]:
        """Service name -> the repository whose image tag a rollout changes."""
        return {ref.name: self.repositories[ref.image] for ref in self.ecs.services.values()}


class _Reader:
    """Typed reads from a YAML mapping, each error naming file, dotted key and expectation.

    A wrong value is recorded (in `errors`, shared by every reader of one environment) and the
    read goes on with a stand-in, so that one load reports every problem at once.
    """

    def __init__(
        self,
        source: str,
        data: object,
        path: str,
        errors: list[ConfigError] | None = None,
        *,
        absent: bool = False,
    ) -> None:
        self.source = source
        self.path = path
        self.errors: list[ConfigError] = [] if errors is None else errors
        self.absent = absent  # a section already reported missing: its keys are not reported
        self.seen: set[str] = set()
        if not isinstance(data, Mapping):
            self.fail(path, f"expected a mapping, got {_kind(data)}")
            self.absent = True
            data = {}
        self.data: Mapping[str, Any] = data

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, key: str, expected: str) -> None:
        """Record one problem; the load goes on and reports them all at the end."""
        self.errors.append(ConfigError(self.source, key, expected))

    def _get(self, name: str, *, required: bool) -> Any:
        """The value, or None when it is missing or a placeholder (a problem recorded)."""
        self.seen.add(name)
        if name not in self.data or self.data[name] is None:
            if required and not self.absent:
                self.fail(self.key(name), "missing (required)")
            return None
        value = self.data[name]
        if isinstance(value, str) and PLACEHOLDER.search(value):
            self.fail(self.key(name), f"still the placeholder {value}: fill it in")
            return None
        return value

    def text(self, name: str, *, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
        value = self._get(name, required=True)
        if value is None:
            return ""
        if isinstance(value, int) and not isinstance(value, bool) and pattern is ACCOUNT:
            value = f"{value:012d}"
        if not isinstance(value, str) or not value:
            self.fail(self.key(name), f"expected a string, got {_kind(value)}")
            return ""
        if pattern is not None and not pattern.match(value):
            self.fail(self.key(name), f"expected {hint}, got {value!r}")
        return value

    def opt_text(self, name: str) -> str | None:
        if self.data.get(name) is None:
            self.seen.add(name)
            return None
        return self.text(name) or None

    def flag(self, name: str, default: bool | None = None) -> bool:
        value = self._get(name, required=default is None)
        if value is None:
            return bool(default)
        if not isinstance(value, bool):
            self.fail(self.key(name), f"expected true or false, got {_kind(value)}")
            return bool(default)
        return value

    def number(self, name: str, default: float, *, maximum: float = math.inf) -> float:
        value = self._get(name, required=False)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 < value <= maximum
        ):
            limit = f" of at most {maximum:g}" if math.isfinite(maximum) else ""
            self.fail(self.key(name), f"expected a positive number{limit}, got {_kind(value)}")
            return default
        return float(value)

    def seconds(self, name: str, default: float) -> float:
        """A timeout: a positive number of seconds, at most a week."""
        return self.number(name, default, maximum=MAX_TIMEOUT)

    def whole(self, name: str, default: int, *, maximum: int) -> int:
        value = self._get(name, required=False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
            self.fail(
                self.key(name),
                f"expected a whole number from 1 to {maximum}, got {_kind(value)}",
            )
            return default
        return int(value)

    def choice(self, name: str, choices: Sequence[str]) -> str:
        value = self.text(name)
        if value and value not in choices:
            self.fail(self.key(name), f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self._get(name, required=False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(self.key(name), "expected a list of strings")
            return ()
        placeholders = [v for v in value if PLACEHOLDER.search(v)]
        for v in placeholders:
            self.fail(self.key(name), f"still the placeholder {v}: fill it in")
        return () if placeholders else tuple(value)

    def section(self, name: str, *, required: bool = True) -> _Reader | None:
        value = self._get(name, required=required)
        if value is None:
            return None
        return _Reader(self.source, value, self.key(name), self.errors)

    def need(self, name: str) -> _Reader:
        """A required section; when it is missing (reported), an empty one that reports nothing."""
        reader = self.section(name)
        if reader is None:
            return _Reader(self.source, {}, self.key(name), self.errors, absent=True)
        return reader

    def done(self) -> None:
        """Refuse keys nobody reads: a typo must not be silently ignored."""
        if self.absent:
            return
        known = ", ".join(sorted(self.seen))
        for name in sorted(set(self.data) - self.seen, key=str):
            self.fail(self.key(str(name)), f"unknown key (known: {known})")


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _ecs(r: _Reader, repositories: Mapping[str, str]) -> EcsSettings:
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
    polling = r.section("polling", required=False)
    poll_first = polling.number("first", 2.0, maximum=600) if polling else None
    poll_maximum = polling.number("maximum", 15.0, maximum=600) if polling else None
    if polling:
        polling.done()
        if poll_maximum is not None and poll_first is not None and poll_maximum < poll_first:
            r.fail(polling.key("maximum"), "expected a maximum of at least `first`")
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


def _airbyte(r: _Reader | None) -> AirbyteSettings | None:
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
    settings = AirbyteSettings(
        url=r.text("url"),
        client_id=r.text("client_id"),
        client_secret=r.text("client_secret"),
        connections=connections,
        manifests=r.opt_text("manifests") or "infrastructure/airbyte",
        sync_timeout=r.seconds("sync_timeout", 3600.0),
        ssh=ssh,
    )
    r.done()
    return settings


def _dbt(r: _Reader | None) -> DbtSettings | None:
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


def _release(r: _Reader | None, name: str) -> ReleaseSettings:
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


def _notifications(r: _Reader | None) -> Notifications:
    if r is None:
        return Notifications()
    settings = Notifications(
        slack_webhook_secret=r.opt_text("slack_webhook_secret"),
        email_from=r.opt_text("email_from"),
        email_to=r.strings("email_to"),
        activity_log=r.opt_text("activity_log"),
        incident_log=r.opt_text("incident_log"),
    )
    r.done()
    return settings


def _cost(r: _Reader | None) -> CostSettings | None:
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


def _infra(r: _Reader, name: str) -> dict[str, Any]:
    from adinsights_ops.infra_settings import check_mapping

    r.seen.add("infra")
    try:
        return check_mapping(r.data.get("infra"), source=r.source, key=f"{name}.infra")
    except ConfigError as exc:
        r.errors.append(exc)
        return {}


def combined(errors: Sequence[ConfigError]) -> ConfigError:
    """One ConfigError for several: the first's source, key and expectation, its message saying
    how many there are, and `details` naming every one by its dotted key."""
    if len(errors) == 1:
        return errors[0]
    first = errors[0]
    error = ConfigError(first.source, first.key, first.expected)
    error.message = f"{error.message} (1 of {len(errors)} problems, each below)"
    error.details = [f"{e.key}: {e.expected}" if e.key else str(e) for e in errors]
    return error


def parse_environment(name: str, data: object, source: str) -> Environment:
    """Validate one environment's mapping into an `Environment`.

    Every problem is reported at once: one ConfigError (see `combined`) listing them all.
    """
    errors: list[ConfigError] = []
    try:
        env = _parse_environment(_Reader(source, data, name, errors), name, source)
    except ConfigError as exc:  # a check that stops at its first problem
        errors.append(exc)
    if errors:
        raise combined(errors)
    return env


def _parse_environment(r: _Reader, name: str, source: str) -> Environment:
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


_chosen: list[Path] = []
"""The file named on the command line (`--environments PATH`), while `chosen_file` is in effect."""


@contextmanager
def chosen_file(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within the block, `environments_file()` is `path` (when given): what `--environments`
    sets for one run, above $ADINSIGHTS_ENVIRONMENTS and the search from the working folder."""
    if path is None:
        yield
        return
    _chosen.append(Path(path))
    try:
        yield
    finally:
        _chosen.pop()


def find_upward(start: Path | None = None) -> Path | None:
    """`environments.yaml` in `start` (default: the working folder) or its nearest parent."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        file = candidate / DEFAULT_FILE
        if file.is_file():
            return file
    return None


def environments_file(path: str | os.PathLike[str] | None = None) -> Path:
    """The environments file, found the way `git` finds `.git`. In order:

    1. `path` (a caller's argument), then `--environments PATH` (see `chosen_file`);
    2. $ADINSIGHTS_ENVIRONMENTS;
    3. `environments.yaml` in the working folder or its nearest parent;
    4. the packaged sandbox-only file (`PACKAGED_FILE`), so the sandbox runs from anywhere.
    """
    if path:
        return Path(path)
    if _chosen:
        return _chosen[-1]
    variable = os.environ.get(ENV_VARIABLE)
    if variable:
        return Path(variable)
    return find_upward() or PACKAGED_FILE


def _how_chosen(path: str | os.PathLike[str] | None) -> str:
    if path:
        return ""
    if _chosen:
        return " (given by --environments)"
    if os.environ.get(ENV_VARIABLE):
        return f" (given by ${ENV_VARIABLE})"
    return ""


def read_file(path: str | os.PathLike[str] | None = None) -> tuple[str, Mapping[str, Any]]:
    """Read and parse the environments file; returns (its name for messages, the top mapping)."""

    file = environments_file(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        tried = file if file.is_absolute() else Path.cwd() / file
        raise ConfigError(
            source, "", f"file not found (tried {tried}){_how_chosen(path)}"
        ) from None
    except IsADirectoryError:
        raise ConfigError(source, "", f"is a folder, not a file{_how_chosen(path)}") from None
    except OSError as exc:
        raise ConfigError(source, "", f"cannot be read ({exc.strerror})") from exc
    except ValueError as exc:  # not UTF-8
        raise ConfigError(source, "", f"cannot be read as UTF-8 text ({exc})") from exc
    data = load_yaml(text, source)
    if not isinstance(data, Mapping):
        raise ConfigError(source, "", "expected a mapping of environment names")
    return source, data


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML safely, refusing what YAML itself lets pass silently: a key given twice in one
    mapping (the last would win without a word). Errors name the file, the dotted key and line."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _check_unique_keys(node, source, "")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise ConfigError(source, "", f"is not valid YAML ({where})") from exc


def _check_unique_keys(node: Any, source: str, path: str) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            dotted = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                raise ConfigError(
                    source,
                    dotted,
                    f"given twice (lines {seen[key]} and {line}); YAML would silently keep "
                    "the last: remove one",
                )
            seen[key] = line
            _check_unique_keys(value_node, source, dotted)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_unique_keys(item, source, f"{path}[{index}]")


def environment_names(path: str | os.PathLike[str] | None = None) -> list[str]:
    _, data = read_file(path)
    return [str(name) for name in data]


def load(name: str, path: str | os.PathLike[str] | None = None) -> Environment:
    """Load and validate the environment called `name`."""
    source, data = read_file(path)
    if name not in data:
        known = ", ".join(str(n) for n in data)
        hint = ""
        if Path(source) == PACKAGED_FILE:
            hint = (
                f"; no {DEFAULT_FILE} in this folder or any parent: name one with "
                f"--environments PATH or ${ENV_VARIABLE}"
            )
        raise ConfigError(source, name, f"unknown environment (known: {known}){hint}")
    return parse_environment(name, data[name], source)
