"""The local docker compose smoke (runbook section 10) as one call: up, wait, down.

`smoke` brings the services up with the env file, polls `docker compose ps` until they run (or
one fails, or the time is up), shows the log tail of the services that did not come up, and runs
`docker compose down` in every case. Commands go through the caller's shell (`c` in a task).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from adinsights_ops import waiting
from adinsights_ops.errors import OpsError
from adinsights_ops.release._build import CommandFailed, Completed, in_dir, output_tail
from adinsights_ops.release._compose import (
    DEFAULT_ENV_FILE,
    ComposeStatus,
    down_command,
    logs_command,
    ps_command,
    up_command,
    wait_running,
)
from adinsights_ops.release._shell import OnStart, Shell, runner
from adinsights_ops.waiting import Clock, Poll

OnNote = Callable[[str], None]


def smoke(
    shell: Shell,
    services: Sequence[str],
    *,
    env_file: str = DEFAULT_ENV_FILE,
    project_dir: str = ".",
    timeout: float = 180.0,
    clock: Clock | None = None,
    on_start: OnStart | None = None,
    on_poll: Callable[[Poll[ComposeStatus]], None] | None = None,
    on_note: OnNote | None = None,
) -> ComposeStatus:
    """Bring `services` up, wait until every one runs, take them down; the running status.

    Raises `CommandFailed` when up (or down) fails, and `WaitFailed`/`WaitTimedOut` when a
    service exits or does not run within `timeout` seconds (on `clock`, the system's by
    default); their log tail is shown first. `down` runs in every case.
    """
    note = on_note or (lambda _line: None)
    announce = on_start or (lambda _command: None)
    shown, hidden = runner(shell), runner(shell, hide=True)

    def run(command: str, hide: bool = False) -> Completed:
        return (hidden if hide else shown)(in_dir(command, project_dir))

    def ps() -> str:
        command = ps_command(env_file)
        result = run(command, hide=True)
        if result.exited != 0:
            raise CommandFailed(command, result.exited, output_tail(result.stdout, result.stderr))
        return str(result.stdout)

    names = list(services)
    down = down_command(env_file)
    try:
        up = up_command(names, env_file)
        announce(up)
        result = run(up)
        if result.exited != 0:
            raise CommandFailed(up, result.exited, output_tail(result.stdout, result.stderr))
        status = wait_running(
            ps,
            services=names,
            timeout=timeout,
            clock=clock or waiting.SYSTEM_CLOCK,
            on_poll=on_poll,
        )
    except OpsError as exc:
        state = getattr(exc, "last_state", None)
        stuck = [n for n in names if state is None or n not in state.running]
        if stuck and not isinstance(exc, CommandFailed):
            note(f"== last log lines of {', '.join(stuck)}")
            run(logs_command(stuck, env_file))
        raise
    finally:
        announce(down)
        down_result = run(down)
        if down_result.exited != 0:
            note(f"`{down}` failed with exit code {down_result.exited}: containers may still run")
    if down_result.exited != 0:
        tail = output_tail(down_result.stdout, down_result.stderr)
        raise CommandFailed(down, down_result.exited, tail)
    return status
