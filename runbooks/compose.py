"""Runbook section 10, the local docker compose smoke: `inv compose.smoke`."""

from __future__ import annotations

from typing import Any

from invoke import Collection, Context, task

from runbooks import options
from runbooks.common import ops_task, say

SERVICES = "backend worker beat frontend"


@task(
    klass=options.OpsTask,
    short={"timeout": "i"},
    help={
        "services": f'compose services that must come up (default: "{SERVICES}")',
        "env_file": "variables for compose (default: .env.sample, never real secrets)",
        "project_dir": "the application's checkout with its compose file; default: here",
        "timeout": "seconds to wait for every service to run",
    },
)
@ops_task
def smoke(
    c: Context,
    services: str = SERVICES,
    env_file: str = ".env.sample",
    project_dir: str = ".",
    timeout: float = 180.0,
) -> None:
    """docker compose up the app with .env.sample, wait until it runs, then compose down.

    Exit 1 when a service exits or does not run within --timeout (its log tail is shown);
    compose down runs in every case.
    """
    from pathlib import Path

    from adinsights_ops import waiting
    from adinsights_ops.errors import OpsError, UsageError
    from adinsights_ops.release_build import (
        CommandFailed,
        in_dir,
        output_tail,
        run_in_order,
    )
    from adinsights_ops.release_compose import (
        down_command,
        logs_command,
        ps_command,
        up_command,
        wait_running,
    )

    names = services.split()
    if not names:
        options.refuse("--services", services, 'compose service names, e.g. "backend worker"')
    # 0 is meaningful here: look once, without waiting.
    timeout = options.number(timeout, "--timeout", maximum=3600, unit="seconds")
    options.folder(project_dir, "--project-dir", what="the application's checkout")
    if not (Path(project_dir) / env_file).exists():
        raise UsageError(
            f"--env-file {env_file!r}: {env_file} not found in {project_dir!r}: "
            "pass --project-dir or --env-file"
        )
    options.readable_file(str(Path(project_dir) / env_file), "--env-file")

    def run(command: str, hide: bool = False) -> Any:
        return c.run(in_dir(command, project_dir), warn=True, pty=False, hide=hide)

    def ps() -> str:
        command = ps_command(env_file)
        result = run(command, hide=True)
        if result.exited != 0:
            raise CommandFailed(command, result.exited, output_tail(result.stdout, result.stderr))
        return str(result.stdout)

    down = down_command(env_file)
    down_result: Any = None
    try:
        run_in_order(lambda cmd: run(cmd), [up_command(names, env_file)], on_start=_announce)
        last = [""]

        def report(poll: Any) -> None:
            line = poll.state.describe()
            if line != last[0]:
                say(f"   [{poll.elapsed:5.1f}s] {line}")
                last[0] = line

        status = wait_running(
            ps, services=names, timeout=timeout, clock=waiting.SYSTEM_CLOCK, on_poll=report
        )
    except OpsError as exc:
        state = getattr(exc, "last_state", None)
        stuck = [n for n in names if state is None or n not in state.running]
        if stuck and not isinstance(exc, CommandFailed):
            say(f"== last log lines of {', '.join(stuck)}")
            run(logs_command(stuck, env_file))
        raise
    finally:
        _announce(down)
        down_result = run(down)
        if down_result.exited != 0:
            say(f"`{down}` failed with exit code {down_result.exited}: containers may still run")
    if down_result.exited != 0:
        tail = output_tail(down_result.stdout, down_result.stderr)
        raise CommandFailed(down, down_result.exited, tail)
    print(f"compose smoke passed: {status.describe()}")


def _announce(command: str) -> None:
    say(f"== {command}")


ns = Collection("compose")
ns.add_task(smoke)
