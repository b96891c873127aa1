"""Runbook 2.2 and 7: the Airbyte host over SSH (`inv airbyte.host-check --env E`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, Context, task
from invoke.exceptions import Exit

from runbooks import options
from runbooks.common import ENV_HELP, JSON_HELP, ops_task, to_json

if TYPE_CHECKING:
    from adinsights_ops.airbyte_host import HostCheck


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "json": JSON_HELP,
        "threshold": "disk use (percent) of the data volume at which to report a finding",
        "status_command": "Airbyte's status command on the host (default: abctl local status)",
        "timeout": "seconds allowed for the connection and for each command",
    },
)
@ops_task
def host_check(
    c: Context,
    env: str | None = None,
    json: bool = False,
    threshold: float = 80.0,
    status_command: str = "",
    timeout: float = 30.0,
) -> None:
    """Airbyte host: data volume disk use and Airbyte's status over SSH; exit 1 on findings."""
    import logging
    from pathlib import Path

    from adinsights_ops import airbyte_host, config
    from adinsights_ops.errors import EXIT_FAILED, UsageError

    threshold = options.number(threshold, "--threshold", above=True, maximum=100, unit="percent")
    timeout = options.timeout(timeout, "--timeout", maximum=3600)
    environment = config.load(env)
    ssh = environment.airbyte.ssh if environment.airbyte else None
    if ssh is None:
        raise UsageError(
            f"the Airbyte host (airbyte.ssh) is not configured for {env} in {environment.source}"
        )
    base = Path(environment.source).parent

    def resolved(path: str) -> str:
        # Relative paths in the environments file are relative to its folder.
        return str(base / Path(path).expanduser())

    # paramiko logs transport errors itself; the one line from ops_task says it better.
    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    result = airbyte_host.check(
        host=ssh.host,
        user=ssh.user,
        port=ssh.port,
        known_hosts=resolved(ssh.known_hosts),
        key_file=resolved(ssh.key_file) if ssh.key_file else None,
        data_volume=ssh.data_volume,
        status_command=status_command or airbyte_host.DEFAULT_STATUS_COMMAND,
        timeout=timeout,
        threshold=threshold,
    )
    if json:
        print(to_json(result))
    else:
        _print_table(result)
    if result.findings:
        raise Exit(code=EXIT_FAILED)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _print_table(result: HostCheck) -> None:
    d = result.disk
    code = result.status_exit_code
    exit_text = "none (timed out)" if code is None else str(code)
    print(f"{'host':<12} {result.user}@{result.host}:{result.port}")
    print(f"{'data volume':<12} {d.path} ({d.filesystem} mounted on {d.mount_point})")
    print(
        f"{'disk':<12} {d.used_percent}% used: {_size(d.used_bytes)} of {_size(d.size_bytes)}, "
        f"{_size(d.available_bytes)} free (threshold {result.threshold:g}%)"
    )
    print(f"{'status':<12} `{result.status_command}` exit {exit_text}")
    for line in result.status_output.splitlines():
        print(f"{'':<12} | {line}")
    if not result.findings:
        print(f"{'findings':<12} none")
        return
    print(f"{'findings':<12} {len(result.findings)}")
    for finding in result.findings:
        print(f"{'':<12} - {finding}")


ns = Collection("airbyte_host")
ns.add_task(host_check)
