"""Runbook 2.2 and 7: the Airbyte host over SSH (`inv airbyte.host-check --env E`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoke import Collection, Context, task
from invoke.exceptions import Exit

from runbooks import lazy, options
from runbooks.common import ENV_HELP, JSON_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _airbyte as render
else:
    render = lazy.module("runbooks.render._airbyte")


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
    env: str = options.ENV_DEFAULT,
    json: bool = False,
    threshold: float = 80.0,
    status_command: str = "",
    timeout: float = 30.0,
) -> None:
    """Airbyte host: data volume disk use and Airbyte's status over SSH; exit 1 on findings."""
    import logging

    from adinsights_ops import config
    from adinsights_ops.airbyte import check_host
    from adinsights_ops.errors import EXIT_FAILED

    threshold = options.number(threshold, "--threshold", above=True, maximum=100, unit="percent")
    timeout = options.timeout(timeout, "--timeout", maximum=3600)
    environment = config.load(env)
    # paramiko logs transport errors itself; the one line from ops_task says it better.
    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    result = check_host(
        environment,
        connection_factory=fabric_connection,
        status_command=status_command,
        timeout=timeout,
        threshold=threshold,
    )
    render.host_check(result, json)
    if result.findings:
        raise Exit(code=EXIT_FAILED)


def fabric_connection(*, host: str, user: str, port: int, connect_kwargs: dict[str, Any]) -> Any:
    """An unopened Fabric connection that reads no ssh or Fabric config file.

    No ~/.ssh/config, /etc/ssh/ssh_config or Fabric configuration: the environments file is the
    only source of how to reach the host (`Config(lazy=True)`).
    """
    from fabric import Config, Connection

    return Connection(
        host=host, user=user, port=port, connect_kwargs=connect_kwargs, config=Config(lazy=True)
    )


ns = Collection("airbyte_host")
ns.add_task(host_check)
