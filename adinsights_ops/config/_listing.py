"""Every environment of the environments file, and whether each is ready to use (runbook 1)."""

from __future__ import annotations

import os

import attrs

from adinsights_ops.config._files import read_file
from adinsights_ops.config._parse import parse_environment
from adinsights_ops.errors import ConfigError


@attrs.frozen
class EnvironmentEntry:
    """One environment as listed: its account and rules when it loads, else its first problem."""

    name: str
    ready: bool
    sandbox: bool = False
    account: str = ""
    region: str = ""
    branch_rule: str = ""
    problem: str = ""


@attrs.frozen
class EnvironmentList:
    """The environments file read (`source`) and its environments, in the file's order."""

    source: str
    environments: tuple[EnvironmentEntry, ...]


def list_environments(path: str | os.PathLike[str] | None = None) -> EnvironmentList:
    """Each environment of the file, parsed on its own: one that does not load is "not ready"
    with its problem, and does not keep the others from being listed."""
    source, data = read_file(path)
    found: list[EnvironmentEntry] = []
    for name in data:
        try:
            env = parse_environment(str(name), data[name], source)
        except ConfigError as exc:
            found.append(EnvironmentEntry(str(name), False, problem=f"{exc.key}: {exc.expected}"))
            continue
        found.append(
            EnvironmentEntry(
                str(name),
                True,
                sandbox=env.sandbox,
                account=env.account,
                region=env.region,
                branch_rule=env.branch_rule,
            )
        )
    return EnvironmentList(str(source), tuple(found))
