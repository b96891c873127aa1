"""Open an environment for a command: load its config, then point AWS clients at it.

This and `adinsights_ops.sandbox` are the only places that know an environment can be the sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from adinsights_ops import config
from adinsights_ops.aws import Aws, EventHook
from adinsights_ops.errors import UsageError
from adinsights_ops.opsenv import OpsEnv

if TYPE_CHECKING:
    from adinsights_ops.ecs._taskdefs import RevisionPlan


@contextmanager
def open_environment(
    name: str | config.Environment,
    *,
    path: str | None = None,
    scenario: str | None = None,
    hooks: tuple[EventHook, ...] = (),
) -> Iterator[OpsEnv]:
    """Yield an OpsEnv for `name`; for the sandbox, a running sandbox for as long as the block runs."""
    env = name if isinstance(name, config.Environment) else config.load(name, path)
    if not env.sandbox:
        if scenario not in (None, "none"):
            raise UsageError(f"--scenario is for the sandbox only, not {env.name}")
        yield OpsEnv(
            env,
            Aws(region=env.region, profile=env.profile, hooks=hooks),
            health_base_url=env.health_base_url,
            airbyte_url=env.airbyte.url if env.airbyte else None,
        )
        return
    from adinsights_ops import sandbox

    handle = sandbox.connect(env, scenario=scenario)
    try:
        if handle.embedded is not None:  # in this process: its calls skip HTTP, unless faulted
            hooks = (*hooks, handle.embedded.in_process_hook())
        aws = Aws(
            region=env.region,
            endpoint_url=handle.endpoint,
            credentials=sandbox.CREDENTIALS,
            hooks=hooks,
        )
        if handle.read_timeout is not None:  # the sandbox injects read timeouts: wait less
            aws.read_timeout = handle.read_timeout
        yield OpsEnv(
            env,
            aws,
            health_base_url=handle.app_url,
            airbyte_url=f"{handle.endpoint}/_sandbox/airbyte",
        )
    finally:
        handle.close()


def check_scenario(
    ops_or_env: OpsEnv | config.Environment,
    scenario: str | None,
    revisions: Sequence[RevisionPlan],
) -> None:
    """Refuse (UsageError, exit 2) a sandbox rehearsal that the planned revisions cannot exercise.

    A no-op for an environment that is not a sandbox, and for no scenario.
    """
    env = ops_or_env.env if isinstance(ops_or_env, OpsEnv) else ops_or_env
    if not env.sandbox or scenario is None or scenario in ("", "none"):
        return
    from adinsights_ops.sandbox.scenarios import check_exercised

    check_exercised(scenario, env, revisions)


def check_scenario_for(ops: OpsEnv, scenario: str | None, image_tag: str) -> None:
    """`check_scenario` with the revisions a deploy of `image_tag` (as in ECR) would roll out.

    Reads only (DescribeServices, DescribeTaskDefinition), and nothing at all outside a sandbox
    rehearsal.
    """
    if not ops.env.sandbox or scenario is None or scenario in ("", "none"):
        return
    from adinsights_ops import ecs

    revisions = ecs.plan_rollout(
        ops.aws.ecs(),
        cluster=ops.env.ecs.cluster,
        services=ops.env.service_images(),
        image_tag=image_tag,
    )
    check_scenario(ops, scenario, revisions)
