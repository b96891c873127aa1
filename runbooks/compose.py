"""Runbook section 10, the local docker compose smoke: `inv compose.smoke`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, Context, task

from runbooks import lazy, options
from runbooks.common import ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _release as render
else:
    render = lazy.module("runbooks.render._release")

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
    from adinsights_ops.release import smoke as compose_smoke

    names, timeout = _options(services, env_file, project_dir, timeout)
    status = compose_smoke(
        c,
        names,
        env_file=env_file,
        project_dir=project_dir,
        timeout=timeout,
        on_start=render.announce,
        on_poll=render.ComposeProgress(),
        on_note=render.note,
    )
    render.smoke_passed(status)


def _options(
    services: str, env_file: str, project_dir: str, timeout: float
) -> tuple[list[str], float]:
    """The services and the timeout; the checkout and its env file checked before any command."""
    from pathlib import Path

    from adinsights_ops.errors import UsageError

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
    return names, timeout


ns = Collection("compose")
ns.add_task(smoke)
