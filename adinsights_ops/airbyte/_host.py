"""The Airbyte host over SSH (runbook 2.2 and 7): disk use of its data volume, and Airbyte's status.

The host key is checked strictly: only the `known_hosts` file the environment names is trusted (no
system or personal file, no ssh_config), and a host that is not in it, or whose key differs, is
refused before any credential is offered. Nothing is ever added to a known_hosts file.
"""

from __future__ import annotations

import shlex
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import paramiko  # type: ignore[import-untyped]

from adinsights_ops.airbyte._host_report import (
    DEFAULT_DATA_VOLUME,
    DEFAULT_STATUS_COMMAND,
    DEFAULT_THRESHOLD,
    DEFAULT_TIMEOUT,
    NO_EXIT_STATUS,
    HostCheck,
    findings_for,
    parse_df,
)
from adinsights_ops.errors import OpsError, UsageError, WaitTimedOut
from adinsights_ops.shell import CommandResult, Runner, timed_out


class SshConnection(Runner, Protocol):
    """An unopened SSH connection that runs commands: Fabric's `Connection` (built by the caller).

    `check` replaces its paramiko `client` before opening it, and closes it afterwards.
    """

    client: Any

    def open(self) -> Any: ...

    def close(self) -> None: ...


ConnectionFactory = Callable[..., SshConnection]
"""Builds an unopened connection from host=, user=, port=, connect_kwargs= keywords.

The task passes one that builds a Fabric `Connection` reading no ssh or Fabric config files.
Whatever it returns, `check` gives it a fresh paramiko client that trusts only `known_hosts`.
"""


class HostKeyRejected(OpsError):
    """The host's key is not in the known_hosts file, or differs from the one recorded there."""

    def __init__(
        self,
        host: str,
        *,
        key_type: str,
        fingerprint: str,
        known_hosts: str,
        expected: str | None = None,
    ) -> None:
        if expected is None:
            message = (
                f"host key of {host} ({key_type} {fingerprint}) is not in {known_hosts}: "
                "refusing to connect; check the fingerprint with whoever runs the host, then "
                "add the key to that file"
            )
        else:
            message = (
                f"host key of {host} has CHANGED: it offers {key_type} {fingerprint}, "
                f"{known_hosts} expects {expected}; refusing to connect (host rebuilt, or "
                "someone in the middle): find out which before replacing the entry"
            )
        super().__init__(message)
        self.host = host
        self.key_type = key_type
        self.fingerprint = fingerprint
        self.known_hosts = known_hosts
        self.expected = expected


class HostAuthFailed(OpsError):
    """The host's key was accepted but it refused our user and key."""

    def __init__(self, host: str, user: str, reason: str) -> None:
        super().__init__(f"{user}@{host} refused the login: {reason}")
        self.host = host
        self.user = user
        self.reason = reason


class HostUnreachable(OpsError):
    """No SSH session could be had with the host: refused, timed out, name unknown, cut off."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"cannot reach {host} over SSH: {reason}")
        self.host = host
        self.reason = reason


class SshFileMissing(UsageError):
    """The known_hosts or key file the environment names does not exist (nothing was tried)."""

    def __init__(self, what: str, path: str, hint: str) -> None:
        super().__init__(f"{what} {path} not found: {hint}")
        self.what = what
        self.path = path


class DiskCheckFailed(OpsError):
    """`df` on the data volume failed or printed something that is not a df row."""

    def __init__(self, host: str, command: str, detail: str) -> None:
        super().__init__(f"`{command}` on {host} failed: {detail}")
        self.host = host
        self.command = command
        self.detail = detail


class RemoteCommandTimedOut(WaitTimedOut):
    """A command on the host did not finish within its timeout."""


class _RejectUnknownHost(paramiko.RejectPolicy):  # type: ignore[misc]
    """paramiko's RejectPolicy that also remembers what it refused, for the error message."""

    def __init__(self) -> None:
        self.refused: tuple[str, Any] | None = None

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        self.refused = (hostname, key)
        super().missing_host_key(client, hostname, key)


def check(
    *,
    host: str,
    user: str,
    port: int = 22,
    known_hosts: str,
    key_file: str | None = None,
    data_volume: str = DEFAULT_DATA_VOLUME,
    status_command: str = DEFAULT_STATUS_COMMAND,
    timeout: float = DEFAULT_TIMEOUT,
    threshold: float = DEFAULT_THRESHOLD,
    connection_factory: ConnectionFactory,
) -> HostCheck:
    """Log in to the Airbyte host and return its data volume's disk use and Airbyte's status.

    `connection_factory` builds the connection the commands run on (see `ConnectionFactory`).

    `timeout` bounds the connection (TCP, banner, authentication) and each command. A status
    command that exits non-zero or runs out of time is a finding, not an error; so is disk use at
    or above `threshold` percent.
    """
    if not 0 <= threshold <= 100:
        raise UsageError(f"threshold must be a percentage from 0 to 100, got {threshold:g}")
    if timeout <= 0:
        raise UsageError(f"timeout must be positive, got {timeout:g}")
    if not status_command.strip():
        raise UsageError("the status command is empty")
    known = _existing(
        known_hosts,
        "known_hosts file",
        "create it with the host's verified key (see docs/runbooks/airbyte-host.md)",
    )
    key = _existing(key_file, "key file", "fix airbyte.ssh.key_file") if key_file else None
    where = host if port == 22 else f"[{host}]:{port}"
    connect_kwargs: dict[str, Any] = {
        "timeout": timeout,
        "banner_timeout": timeout,
        "auth_timeout": timeout,
        "channel_timeout": timeout,
    }
    if key is not None:
        # An explicit key is the only credential offered: no agent, no ~/.ssh/id_* guessing.
        connect_kwargs.update(key_filename=[key], allow_agent=False, look_for_keys=False)
    conn = connection_factory(host=host, user=user, port=port, connect_kwargs=connect_kwargs)
    policy = _RejectUnknownHost()
    conn.client = _strict_client(known, policy)
    try:
        _open(conn, where=where, user=user, known_hosts=known, key=key, policy=policy)
        df_command = f"df -P -k {shlex.quote(data_volume)}"
        df, df_timed_out = _run(conn, df_command, where=where, timeout=timeout)
        if df_timed_out:
            raise RemoteCommandTimedOut(f"`{df_command}` on {where}", timeout, None)
        if df.exited != 0:
            detail = (df.stderr or df.stdout).strip().splitlines()
            raise DiskCheckFailed(
                where, df_command, f"exit {df.exited}" + (f": {detail[-1]}" if detail else "")
            )
        try:
            disk = parse_df(df.stdout, path=data_volume)
        except ValueError as exc:
            raise DiskCheckFailed(where, df_command, str(exc)) from exc
        status, status_timed_out = _run(conn, status_command, where=where, timeout=timeout)
    finally:
        conn.close()
        conn.client.close()  # Fabric closes only sessions it opened; a refused one has a thread
    # What a hung command printed before it was cut off is kept: it often says why it hangs.
    output = "\n".join(s.rstrip("\n") for s in (status.stdout, status.stderr) if s.strip())
    exit_code = None if status_timed_out else status.exited
    return HostCheck(
        host=host,
        disk=disk,
        status_output=output,
        status_exit_code=exit_code,
        findings=findings_for(
            disk,
            status_command=status_command,
            status_exit_code=exit_code,
            threshold=threshold,
            timeout=timeout,
        ),
        user=user,
        port=port,
        status_command=status_command,
        threshold=threshold,
    )


def _existing(path: str, what: str, hint: str) -> str:
    expanded = Path(path).expanduser()
    if not expanded.is_file():
        raise SshFileMissing(what, str(expanded), hint)
    return str(expanded)


def _strict_client(known_hosts: str, policy: _RejectUnknownHost) -> Any:
    """A paramiko client that trusts exactly the keys in `known_hosts` and refuses the rest."""
    client = paramiko.SSHClient()
    try:
        # HostKeys.load, not SSHClient.load_host_keys: the latter remembers the file to save to.
        client.get_host_keys().load(known_hosts)
    except (OSError, UnicodeDecodeError, paramiko.SSHException) as exc:
        raise UsageError(f"known_hosts file {known_hosts} cannot be read: {exc}") from exc
    client.set_missing_host_key_policy(policy)
    return client


def _fingerprint(key: Any) -> str:
    return str(key.fingerprint)


def _open(
    conn: Any,
    *,
    where: str,
    user: str,
    known_hosts: str,
    key: str | None,
    policy: _RejectUnknownHost,
) -> None:
    try:
        conn.open()
    except paramiko.BadHostKeyException as exc:
        raise HostKeyRejected(
            where,
            key_type=exc.key.get_name(),
            fingerprint=_fingerprint(exc.key),
            known_hosts=known_hosts,
            expected=f"{exc.expected_key.get_name()} {_fingerprint(exc.expected_key)}",
        ) from exc
    except paramiko.PasswordRequiredException as exc:
        raise HostAuthFailed(
            where, user, f"key file {key} needs a passphrase: load it into ssh-agent instead"
        ) from exc
    except paramiko.AuthenticationException as exc:
        offered = f"key file {key}" if key else "ssh-agent and default keys"
        raise HostAuthFailed(where, user, f"authentication failed (offered: {offered})") from exc
    except paramiko.SSHException as exc:
        if policy.refused is not None:
            _, offered_key = policy.refused
            raise HostKeyRejected(
                where,
                key_type=offered_key.get_name(),
                fingerprint=_fingerprint(offered_key),
                known_hosts=known_hosts,
            ) from exc
        raise HostUnreachable(where, f"SSH handshake failed: {exc}") from exc
    except TimeoutError as exc:
        raise HostUnreachable(where, "connection timed out") from exc
    except socket.gaierror as exc:
        raise HostUnreachable(where, f"name does not resolve ({exc.strerror})") from exc
    except paramiko.ssh_exception.NoValidConnectionsError as exc:
        raise HostUnreachable(where, "connection refused (is sshd running on that port?)") from exc
    except (OSError, EOFError) as exc:
        raise HostUnreachable(where, f"{type(exc).__name__}: {exc}") from exc


def _run(
    conn: SshConnection, command: str, *, where: str, timeout: float
) -> tuple[CommandResult, bool]:
    """Run `command`: its result whatever the exit code, and whether it outlived `timeout`."""
    started = time.monotonic()
    try:
        result = conn.run(
            command, hide=True, warn=True, pty=False, in_stream=False, timeout=timeout
        )
    except Exception as exc:
        cut = timed_out(exc)
        if cut is not None:
            return cut, True
        if _connection_lost(exc):
            raise HostUnreachable(where, f"connection lost while running `{command}`") from exc
        raise
    if result is None:  # pragma: no cover - only when run(..., disown=True)
        raise HostUnreachable(where, f"`{command}` returned nothing")
    # Invoke's timer closes the channel (exit status -1) but may still be running when the
    # result comes back, and then it does not raise CommandTimedOut: tell by the time taken.
    timed = result.exited == NO_EXIT_STATUS and time.monotonic() - started >= timeout
    return result, timed


def _connection_lost(exc: BaseException) -> bool:
    """The session broke under a command: paramiko's or the socket's error, or Invoke's
    `ThreadException` wrapping one (known by name: the library does not import Invoke)."""
    if isinstance(exc, paramiko.SSHException | OSError | EOFError):
        return True
    return any(cls.__name__ == "ThreadException" for cls in type(exc).__mro__)
