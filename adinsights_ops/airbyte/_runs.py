"""Airbyte for one environment (runbook 2.2, 5.2, 7): sync its connections, diff and apply them.

What `inv airbyte.sync`, `airbyte.diff` and `airbyte.apply` do, each a function of an `OpsEnv`
that returns what happened (attrs), so a script gets the same behaviour as the tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from adinsights_ops.airbyte._client import AirbyteClient, client_for
from adinsights_ops.airbyte._host_report import (
    DEFAULT_STATUS_COMMAND,
    DEFAULT_THRESHOLD,
    DEFAULT_TIMEOUT,
    HostCheck,
)
from adinsights_ops.airbyte._jobs import SyncEvent
from adinsights_ops.airbyte._manifests import (
    Applied,
    Drift,
    apply,
    diff,
    load_manifests,
    manifests_dir,
)
from adinsights_ops.airbyte._sync import POLL_BACKOFF, SyncOutcome, sync_all
from adinsights_ops.errors import OpsError, UsageError

if TYPE_CHECKING:
    from adinsights_ops.airbyte._host import ConnectionFactory
    from adinsights_ops.config import AirbyteSettings, Environment
    from adinsights_ops.opsenv import OpsEnv

OnSyncEvent = Callable[[str, SyncEvent], None]


def settings_of(env: Environment) -> AirbyteSettings:
    """The environment's `airbyte` section; without one, a usage error (exit 2)."""
    if env.airbyte is None:
        raise UsageError(f"environment {env.name!r} has no airbyte section in {env.source}")
    return env.airbyte


@attrs.frozen
class SyncReport:
    """One outcome per connection synced, in the order of the environments file."""

    environment: str
    outcomes: tuple[SyncOutcome, ...]

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.outcomes if not o.ok)

    def check(self) -> None:
        """Raise `OpsError` (exit 1) naming the syncs that failed, if any did."""
        if self.failed:
            raise OpsError(
                f"{len(self.failed)} of {len(self.outcomes)} syncs failed: {', '.join(self.failed)}"
            )


def sync_environment(
    ops: OpsEnv,
    *,
    connection: str | None = None,
    timeout: float | None = None,
    adopt_running: bool = True,
    on_event: OnSyncEvent | None = None,
) -> SyncReport:
    """Sync every connection of the environment (or the one named) at once, to the end.

    `timeout` defaults to `airbyte.sync_timeout`; `on_event` hears each connection's events with
    its name. A failed sync is an outcome (see `SyncReport.check`), never stopping the others.
    """
    settings = settings_of(ops.env)
    connections = dict(settings.connections)
    if connection is not None:
        connections = {connection: connections[connection]}
    names = {cid: name for name, cid in connections.items()}

    def progress(event: SyncEvent) -> None:
        if on_event is not None:
            on_event(names.get(event.connection_id, event.connection_id), event)

    outcomes = sync_all(
        client_for(ops),
        connections=connections,
        timeout=timeout or settings.sync_timeout,
        adopt_running=adopt_running,
        clock=ops.clock,
        on_event=progress,
        backoff=settings.polling(POLL_BACKOFF),
    )
    return SyncReport(ops.name, tuple(outcomes))


def drifts_for(ops: OpsEnv, client: AirbyteClient | None = None) -> list[Drift]:
    """Every difference between the live connections and `infrastructure/airbyte/` (reads only)."""
    settings = settings_of(ops.env)
    client = client or client_for(ops)
    manifests = load_manifests(manifests_dir(ops.env))
    return diff(client, manifests, settings.connections)


@attrs.frozen
class ApplyResult:
    """What `apply_environment` found, patched, and what still differs after it."""

    dry_run: bool
    drifts: tuple[Drift, ...]
    patched: tuple[Applied, ...] = ()
    remaining: tuple[Drift, ...] = ()
    attempted: bool = False  # false: a dry run, or nothing differed

    @property
    def in_sync(self) -> bool:
        return not self.remaining if self.patched else not self.drifts

    def check(self) -> None:
        """Raise `OpsError` (exit 1) when fields still differ after the patches."""
        if self.remaining:
            raise OpsError(f"{len(self.remaining)} field(s) still differ after apply (see above)")


def apply_environment(
    ops: OpsEnv,
    *,
    dry_run: bool = False,
    approve: Callable[[], bool] = lambda: True,
    on_drifts: Callable[[Sequence[Drift]], None] | None = None,
    on_patched: Callable[[Applied], None] | None = None,
) -> ApplyResult:
    """Make the live connections match their manifests, then diff again.

    `on_drifts` hears what differs first; nothing is patched on a dry run or when nothing
    differs. Where the environment requires approval, `approve()` must say yes, else a usage
    error (exit 2) and nothing changed.
    """
    settings_of(ops.env)
    client = client_for(ops)
    drifts = tuple(drifts_for(ops, client))
    if on_drifts is not None:
        on_drifts(drifts)
    if dry_run or not drifts:
        return ApplyResult(dry_run, drifts)
    if ops.env.approval_required and not approve():
        raise UsageError("not confirmed: nothing changed")
    patched = tuple(apply(client, drifts))
    for done in patched:
        if on_patched is not None:
            on_patched(done)
    remaining = tuple(drifts_for(ops, client))
    return ApplyResult(dry_run, drifts, patched, remaining, attempted=True)


def check_host(
    env: Environment,
    *,
    connection_factory: ConnectionFactory,
    status_command: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    threshold: float = DEFAULT_THRESHOLD,
) -> HostCheck:
    """The environment's Airbyte host (`airbyte.ssh`) over SSH: disk use and Airbyte's status.

    Relative paths of the ssh settings are relative to the environments file's folder; without
    ssh settings, a usage error (exit 2) before any connection.
    """
    from adinsights_ops.airbyte._host import check  # paramiko: only when a host is checked

    ssh = env.airbyte.ssh if env.airbyte else None
    if ssh is None:
        raise UsageError(
            f"the Airbyte host (airbyte.ssh) is not configured for {env.name} in {env.source}"
        )
    base = Path(env.source).parent

    def resolved(path: str) -> str:
        return str(base / Path(path).expanduser())

    return check(
        host=ssh.host,
        user=ssh.user,
        port=ssh.port,
        known_hosts=resolved(ssh.known_hosts),
        key_file=resolved(ssh.key_file) if ssh.key_file else None,
        data_volume=ssh.data_volume,
        status_command=status_command or DEFAULT_STATUS_COMMAND,
        timeout=timeout,
        threshold=threshold,
        connection_factory=connection_factory,
    )
