"""The one place that makes boto3 sessions and clients for an environment.

Clients are made lazily, on first use, with the environment's region and profile, the sandbox's
`endpoint_url` when there is one, and botocore's standard retry mode (which retries throttling and 5xx
with backoff). Anything can be injected instead: tests pass their own clients or event hooks.
"""

from __future__ import annotations

import logging
import threading
import time
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

log = logging.getLogger("adinsights_ops.aws")
"""Each AWS call at DEBUG: service, operation, outcome, duration, retries; never its parameters."""


def _call_started(context: dict[str, Any], **_: Any) -> None:
    context["adinsights_started"] = time.monotonic()


def _call_finished(
    context: dict[str, Any], model: Any, http_response: Any, parsed: Mapping[str, Any], **_: Any
) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    started = context.get("adinsights_started")
    took = f"{(time.monotonic() - started) * 1000:.0f} ms" if started is not None else "?"
    error = parsed.get("Error", {}).get("Code") if isinstance(parsed, Mapping) else None
    status = getattr(http_response, "status_code", "?")
    retries = (parsed.get("ResponseMetadata") or {}).get("RetryAttempts", 0)
    service = model.service_model.service_name
    outcome = f"{status} {error}" if error else f"{status}"
    log.debug("aws %s.%s -> %s in %s (retries %s)", service, model.name, outcome, took, retries)


def _call_failed(context: dict[str, Any], exception: BaseException, **kwargs: Any) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    started = context.get("adinsights_started")
    took = f"{(time.monotonic() - started) * 1000:.0f} ms" if started is not None else "?"
    name = kwargs.get("event_name", "after-call-error").split(".", 1)[-1]
    log.debug("aws %s -> %s in %s", name, type(exception).__name__, took)


CALL_LOGGING: tuple[EventHook, ...] = (
    ("before-call", _call_started),
    ("after-call", _call_finished),
    ("after-call-error", _call_failed),
)
"""Registered on every session `Aws` makes: the debug log's AWS lines."""


class _SearchPaths(list[str]):
    """A loader's search paths; boto3 appends its own on every Session, so keep each path once."""

    _lock = threading.Lock()

    def append(self, path: str) -> None:
        with self._lock:
            if path not in self:
                super().append(path)


_loaders: dict[str | None, Any] = {}
_loaders_lock = threading.Lock()


def shared_loader(data_path: str | None = None) -> Any:
    """The process's botocore data loader for `data_path` (botocore's `data_path` setting).

    Parsing the service models (JSON, several MB for EC2) is most of the cost of a client on a
    fresh session. One loader per process keeps each model parsed once. Sharing it across sessions
    is what one session already does across its clients and threads: the loader caches by key and
    nothing modifies what it returns.
    """
    with _loaders_lock:
        loader = _loaders.get(data_path)
        if loader is None:
            import os
            from pathlib import Path

            from botocore.loaders import Loader

            paths = _SearchPaths()
            for path in (data_path or "").split(os.pathsep):
                if path:
                    paths.append(str(Path(os.path.expandvars(path)).expanduser()))
            loader = _loaders[data_path] = Loader(extra_search_paths=paths)
        return loader


def new_session(**kwargs: Any) -> boto3.Session:
    """A new boto3 session (`kwargs` as for `boto3.Session`) that uses the process's shared loader."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    if kwargs.get("profile_name"):  # the profile's config can set data_path
        core.set_config_variable("profile", kwargs["profile_name"])
    core.register_component("data_loader", shared_loader(core.get_config_variable("data_path")))
    return boto3.Session(botocore_session=core, **kwargs)


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
                kwargs: dict[str, Any] = {"region_name": self.region}
                if self.profile:
                    kwargs["profile_name"] = self.profile
                if self.credentials:
                    kwargs.update(self.credentials)
                session = new_session(**kwargs)
                for event, handler in (*CALL_LOGGING, *self.hooks):
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
