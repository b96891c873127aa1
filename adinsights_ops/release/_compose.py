"""The local docker compose smoke (runbook section 10): up, wait until running, down.

`docker compose up backend worker beat frontend` with `.env.sample`, then `docker compose ps` is
polled (bounded, on an injectable clock) until every service runs, or one has exited, or the
deadline passes. Commands are built here as strings; the task layer runs them through Invoke.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from adinsights_ops.errors import OpsError, WaitFailed, WaitTimedOut
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock, Poll, wait_until

DEFAULT_SERVICES = ("backend", "worker", "beat", "frontend")
DEFAULT_ENV_FILE = ".env.sample"
FAILED_STATES = frozenset({"exited", "dead"})
# Containers take seconds to start: poll every few seconds rather than every one.
COMPOSE_BACKOFF = Backoff(initial=2.0, maximum=10.0)


class ComposeOutputUnreadable(OpsError):
    """`docker compose ps --format json` printed something that is not its JSON."""


def compose_command(env_file: str, *args: str) -> str:
    """`docker compose --env-file <env_file> ...`: every compose call reads the same variables."""
    return shlex.join(["docker", "compose", "--env-file", env_file, *args])


def up_command(services: Sequence[str], env_file: str = DEFAULT_ENV_FILE) -> str:
    return compose_command(env_file, "up", "--detach", *services)


def ps_command(env_file: str = DEFAULT_ENV_FILE) -> str:
    # --all: a container that exited must show up as exited, not vanish from the list.
    return compose_command(env_file, "ps", "--all", "--format", "json")


def logs_command(services: Sequence[str], env_file: str = DEFAULT_ENV_FILE, tail: int = 50) -> str:
    return compose_command(env_file, "logs", "--no-color", "--tail", str(tail), *services)


def down_command(env_file: str = DEFAULT_ENV_FILE) -> str:
    return compose_command(env_file, "down")


@attrs.frozen
class ContainerState:
    """One container as `docker compose ps` shows it."""

    service: str
    name: str
    state: str  # created | running | restarting | paused | exited | dead
    health: str  # "" (no healthcheck) | starting | healthy | unhealthy
    exit_code: int | None = None


def parse_ps(output: str) -> tuple[ContainerState, ...]:
    """Containers from `ps --format json`: a JSON array (compose < 2.21) or one object a line."""
    text = output.strip()
    if not text:
        return ()
    try:
        if text.startswith("["):
            rows: list[Any] = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise ComposeOutputUnreadable(
            f"`docker compose ps --format json` printed no JSON: {text[:120]!r}"
        ) from exc
    return tuple(_container(row) for row in rows if isinstance(row, Mapping))


def _container(row: Mapping[str, Any]) -> ContainerState:
    code = row.get("ExitCode")
    return ContainerState(
        service=str(row.get("Service", "")),
        name=str(row.get("Name", "")),
        state=str(row.get("State", "")).lower(),
        health=str(row.get("Health", "") or "").lower(),
        exit_code=code if isinstance(code, int) else None,
    )


@attrs.frozen
class ComposeStatus:
    """The wanted services and what their containers are doing."""

    services: tuple[str, ...]
    containers: tuple[ContainerState, ...]

    def of(self, service: str) -> tuple[ContainerState, ...]:
        return tuple(c for c in self.containers if c.service == service)

    @property
    def running(self) -> tuple[str, ...]:
        """Services whose every container runs (and is healthy, if it has a healthcheck)."""
        return tuple(
            s
            for s in self.services
            if self.of(s)
            and all(c.state == "running" and c.health in ("", "healthy") for c in self.of(s))
        )

    @property
    def failed(self) -> dict[str, str]:
        """Service -> why it will not come up by itself (exited, dead, unhealthy)."""
        reasons: dict[str, str] = {}
        for service in self.services:
            for c in self.of(service):
                if c.state in FAILED_STATES:
                    code = f" with exit code {c.exit_code}" if c.exit_code is not None else ""
                    reasons[service] = f"{c.state}{code}"
                elif c.health == "unhealthy":
                    reasons[service] = "unhealthy"
        return reasons

    @property
    def waiting(self) -> tuple[str, ...]:
        """Services neither running nor failed yet (not created, starting, restarting)."""
        return tuple(s for s in self.services if s not in self.running and s not in self.failed)

    @property
    def ready(self) -> bool:
        return len(self.running) == len(self.services)

    def describe(self) -> str:
        """One line: each service and its state."""
        parts = []
        for s in self.services:
            if s in self.failed:
                parts.append(f"{s} {self.failed[s]}")
            elif s in self.running:
                parts.append(f"{s} running")
            else:
                states = ",".join(
                    sorted({c.state + (f"/{c.health}" if c.health else "") for c in self.of(s)})
                )
                parts.append(f"{s} {states or 'not created'}")
        return ", ".join(parts)


def wait_running(
    ps: Callable[[], str],
    *,
    services: Sequence[str],
    timeout: float,
    clock: Clock = SYSTEM_CLOCK,
    backoff: Backoff = COMPOSE_BACKOFF,
    on_poll: Callable[[Poll[ComposeStatus]], None] | None = None,
) -> ComposeStatus:
    """Poll `ps()` (the output of `ps_command`) until every service runs; return that status.

    Raises `WaitFailed` as soon as a service's container exits, dies or turns unhealthy, and
    `WaitTimedOut` (with the last status) when `timeout` seconds pass on `clock`.
    """
    wanted = tuple(dict.fromkeys(services))

    def poll() -> ComposeStatus:
        return ComposeStatus(wanted, parse_ps(ps()))

    def failure(status: ComposeStatus) -> str | None:
        return status.describe() if status.failed else None

    what = f"compose services {', '.join(wanted)} running"
    if timeout == 0:  # look once: the services run now, or they do not
        status = poll()
        if status.ready:
            return status
        if status.failed:
            raise WaitFailed(what, status.describe(), status)
        raise WaitTimedOut(what, 0, status)
    return wait_until(
        poll,
        what=what,
        success=lambda status: status.ready,
        failure=failure,
        timeout=timeout,
        backoff=backoff,
        clock=clock,
        on_poll=on_poll,
    )
