"""The one place that makes boto3 sessions and clients for an environment.

Clients are made lazily, on first use, with the environment's region and profile, the sandbox's
`endpoint_url` when there is one, and botocore's standard retry mode (which retries throttling and 5xx
with backoff). Anything can be injected instead: tests pass their own clients or event hooks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts import STSClient

EventHook = tuple[str, Callable[..., Any]]


@attrs.define
class Aws:
    """boto3 clients for one account and region, made on first use and kept.

    `endpoint_url` points every client at one endpoint (the sandbox's moto server). `hooks` are
    registered on the session's event system (botocore events such as `before-send.*`), which is how
    fault injection and call counting work without touching the code that makes the calls.
    """

    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    hooks: tuple[EventHook, ...] = ()
    credentials: Mapping[str, str] | None = None
    injected: dict[str, Any] = attrs.field(factory=dict)
    _session: Any = attrs.field(default=None, init=False, repr=False)
    _clients: dict[str, Any] = attrs.field(factory=dict, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def session(self) -> boto3.Session:
        """The boto3 session (made once, with the hooks registered)."""
        with self._lock:
            if self._session is None:
                import boto3

                kwargs: dict[str, Any] = {"region_name": self.region}
                if self.profile:
                    kwargs["profile_name"] = self.profile
                if self.credentials:
                    kwargs.update(self.credentials)
                session = boto3.Session(**kwargs)
                for event, handler in self.hooks:
                    session.events.register(event, handler)
                self._session = session
            return self._session  # type: ignore[no-any-return]

    def client(self, service: str) -> Any:
        """A client for `service` (injected, or made once)."""
        if service in self.injected:
            return self.injected[service]
        if service not in self._clients:
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": self.max_attempts},
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                max_pool_connections=20,
            )
            session = self.session()
            client = session.client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint_url, config=config
            )
            with self._lock:
                self._clients.setdefault(service, client)
        return self._clients[service]

    # Typed shortcuts for the clients the runbook uses most.
    def ecs(self) -> ECSClient:
        return self.client("ecs")  # type: ignore[no-any-return]

    def logs(self) -> CloudWatchLogsClient:
        return self.client("logs")  # type: ignore[no-any-return]

    def s3(self) -> S3Client:
        return self.client("s3")  # type: ignore[no-any-return]

    def sts(self) -> STSClient:
        return self.client("sts")  # type: ignore[no-any-return]


def caller_account(aws: Aws) -> str:
    """The account id of the credentials in use."""
    return aws.sts().get_caller_identity()["Account"]


MUTATING_PREFIXES = (
    "Create",
    "Delete",
    "Put",
    "Update",
    "Register",
    "Deregister",
    "Run",
    "Start",
    "Stop",
    "Modify",
    "Restore",
    "Copy",
    "Tag",
    "Untag",
    "Execute",
    "Enable",
    "Disable",
    "Rotate",
    "ReEncrypt",
    "Encrypt",
    "Send",
    "Cancel",
    "Set",
    "Attach",
    "Detach",
    "Associate",
    "Authorize",
    "Revoke",
    "Reboot",
    "Terminate",
    "Batch",
    "Upload",
    "Complete",
    "Abort",
    "Generate",
    "Schedule",
    "Import",
    "Apply",
    "Promote",
    "Reset",
    "Replace",
)


def is_mutating(operation: str) -> bool:
    """True when an AWS operation name (e.g. `UpdateService`) changes something."""
    return operation.startswith(MUTATING_PREFIXES) and not operation.startswith(
        ("BatchGet", "BatchCheck", "BatchDescribe")
    )
