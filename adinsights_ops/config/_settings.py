"""What one environment is: the typed settings an environments file holds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from adinsights_ops.config._cost import CostSettings
from adinsights_ops.errors import ConfigError
from adinsights_ops.waiting import Backoff

DEFAULT_FILE = "environments.yaml"
ENV_VARIABLE = "ADINSIGHTS_ENVIRONMENTS"
PACKAGED_FILE = Path(__file__).resolve().parents[1] / "sandbox" / "environments.yaml"
"""The fallback: the sandbox only, its paths pointing at data installed with the package."""
ROLES = ("backend", "worker", "beat", "frontend")
BRANCH_RULES = ("main", "tags", "any")
PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")
ACCOUNT = re.compile(r"^\d{12}$")
MAX_TIMEOUT = 7 * 24 * 3600.0  # the same week as waiting.check_timeout
PROJECT_ROOT = Path(__file__).resolve().parents[2]
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
    poll_first: float | None = None
    """Seconds before the first look at a sync job (`airbyte.polling.first`)."""
    poll_maximum: float | None = None
    """The longest pause between two looks at a sync job (`airbyte.polling.maximum`)."""

    def polling(self, default: Backoff) -> Backoff:
        """`default` with this environment's pace for sync jobs, where the environments file sets one."""
        return attrs.evolve(
            default,
            initial=self.poll_first if self.poll_first is not None else default.initial,
            maximum=self.poll_maximum if self.poll_maximum is not None else default.maximum,
        )


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


STATUS_PAGE_KINDS = ("statuspage", "webhook")
STATUSPAGE_API = "https://api.statuspage.io/v1"


@attrs.frozen
class StatusPage:
    """The status page a deploy updates (runbook 5.8): an Atlassian Statuspage page, or a webhook.

    statuspage: `page_id`, `component` (the component's id) and `token_secret` (the API key's
    Secrets Manager id) are required; `url` is the API's base. webhook: `url` is required; the
    token (sent as a bearer token) and the component's name are optional.
    """

    kind: str
    url: str
    page_id: str | None = None
    component: str | None = None
    token_secret: str | None = None


@attrs.frozen
class Notifications:
    """Where a release is announced. Secret ids only: values are read at run time, never printed."""

    slack_webhook_secret: str | None = None
    email_from: str | None = None
    email_to: tuple[str, ...] = ()
    activity_log: str | None = None
    incident_log: str | None = None
    status_page: StatusPage | None = None


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

    def output_folder(self) -> Path:
        """Where files a task writes by default go (go-live evidence, ...): beside the environments
        file, except for the packaged sandbox-only file, whose folder is the installed package:
        then the tool's home."""
        from adinsights_ops.paths import home

        source = Path(self.source).resolve()
        if source == PACKAGED_FILE.resolve():
            return home()
        return source.parent

    def repository_for(self, role: str) -> str:
        return self.repositories[self.ecs.services[role].image]

    def service_images(self) -> dict[str, str]:
        """Service name -> the repository whose image tag a rollout changes."""
        return {ref.name: self.repositories[ref.image] for ref in self.ecs.services.values()}
