"""Deploys run in this process against a sandbox server in this process, on a shared fake clock.

The server's simulated ECS scheduler and the deploy's waits read one clock whose time lives in
shared memory: a wait's sleep moves simulated time on at once, for the server too, so a whole deploy
takes about a second and nothing really waits. A deploy can also run in a forked child (the clock is
shared with it) and be killed there with SIGKILL at a chosen point, the way an operator's laptop
dies: no `finally`, no cleanup, the lock and the journal left as they were.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adinsights_ops import config, lock, pipeline
from adinsights_ops.aws import Aws
from adinsights_ops.ecs._views import Phase
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.sandbox import CREDENTIALS
from adinsights_ops.sandbox.scheduler import EcsScheduler, SchedulerTimings
from adinsights_ops.sandbox.server import SandboxServer
from tests.simulated import fast_environments

FORK = multiprocessing.get_context("fork")
TAGS = ("v1.2.0", "v1.3.0", "main-a1b2c3d")


class SharedClock:
    """A fake clock (waiting.Clock) whose time is shared with forked children."""

    def __init__(self) -> None:
        self._now = FORK.Value("d", 1000.0)
        self.epoch = datetime.now(UTC)

    def monotonic(self) -> float:
        return float(self._now.value)

    def wall(self) -> datetime:
        return self.epoch + timedelta(seconds=self.monotonic() - 1000.0)

    def sleep(self, seconds: float) -> None:
        with self._now.get_lock():
            self._now.value += max(seconds, 0.0)


class Rehearsal:
    """One sandbox server and what a test needs to deploy against it and read its state."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = config.load(
            "sandbox", str(fast_environments(folder, lock_ttl=60, logs_in=folder))
        )
        self.clock = SharedClock()
        self.server = SandboxServer(self.env, remember=False)
        self.server.scheduler = EcsScheduler(
            self.env.account,
            self.env.region,
            timings=SchedulerTimings.for_environment(self.env),  # as the embedded sandbox does
            scenario=self.server.scheduler.scenario,
            clock=self.clock.monotonic,
            wall_clock=self.clock.wall,
        )
        self.server.start()
        self._clients: tuple[int, Aws] | None = None

    def stop(self) -> None:
        self.server.stop()

    def ops(self, **aws: Any) -> OpsEnv:
        """A fresh OpsEnv pointed at the server, on the shared clock. Its clients are this process's
        shared ones (making them is a tenth of a deploy), or new ones with `aws`'s settings. In this
        process their AWS calls skip HTTP unless faults are in force (`sandbox/transport.py`)."""
        if aws:
            clients = self._new_clients(**aws)
        else:
            if self._clients is None or self._clients[0] != os.getpid():
                self._clients = (os.getpid(), self._new_clients())  # a forked child makes its own
            clients = self._clients[1]
        endpoint = self.server.endpoint
        return OpsEnv(
            self.env,
            clients,
            clock=self.clock,
            health_base_url=f"{endpoint}/_sandbox/app",
            airbyte_url=f"{endpoint}/_sandbox/airbyte",
        )

    def _new_clients(self, **aws: Any) -> Aws:
        hooks = (*aws.pop("hooks", ()), self.server.in_process_hook())
        return Aws(
            region=self.env.region,
            endpoint_url=self.server.endpoint,
            credentials=CREDENTIALS,
            hooks=hooks,
            **aws,
        )

    def reader(self) -> OpsEnv:
        """An OpsEnv for the test's own reads, on this process's shared clients."""
        return self.ops()

    def deploy(self, tag: str | None = None, **kwargs: Any) -> pipeline.DeployReport:
        return pipeline.deploy(self.ops(), image_tag=tag, **kwargs)

    def scenario(self, name: str) -> None:
        self.server.set_scenario(name)

    # -- what the sandbox says now ---------------------------------------------------------------

    def revisions(self) -> dict[str, str]:
        """Service -> `family:revision` its PRIMARY deployment runs."""
        ops = self.reader()
        from adinsights_ops import ecs

        names = [ref.name for ref in self.env.ecs.services.values()]
        return {
            s.name: ecs.short_arn(s.primary.task_definition if s.primary else s.task_definition)
            for s in ecs.status(ops.aws.ecs(), cluster=self.env.ecs.cluster, services=names)
        }

    def images(self) -> set[str]:
        ops = self.reader()
        ecs = ops.aws.ecs()
        tags = set()
        for name in self.revisions().values():
            td = ecs.describe_task_definition(taskDefinition=name)["taskDefinition"]
            tags.add(td["containerDefinitions"][0]["image"].rsplit(":", 1)[-1])
        return tags

    def running_tag(self) -> str:
        (image,) = self.images()
        return image

    def other_tag(self) -> str:
        """A release the sandbox has images for that the services do not run now."""
        now = self.running_tag()
        return next(t for t in TAGS if t.replace("v", "release-", 1) != now and t != now)

    def lock(self) -> lock.Lock | None:
        return lock.read(
            self.reader().aws.s3(), bucket=self.env.state_bucket, environment=self.env.name
        )

    def record(self, run_id: str) -> Any:
        return self.reader().journal().load(run_id)

    def newest_run(self) -> Any:
        return self.reader().journal().runs(kind="deploy", limit=1)[0]

    def effects(self) -> dict[str, Any]:
        return dict(self.server.effects_report())

    def reset_effects(self) -> None:
        self.server.reset_effects()


@contextmanager
def rehearsal(folder: Path) -> Iterator[Rehearsal]:
    """A sandbox for a module of rehearsals; botocore still retries every call it would, but its
    backoff does not really sleep (time is simulated here, and the faults are many)."""
    from botocore.retries.standard import ExponentialBackoff

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
        sandbox = Rehearsal(folder)
        try:
            yield sandbox
        finally:
            sandbox.stop()


# -- kills -------------------------------------------------------------------------------------


def killed_at(sandbox: Rehearsal, tag: str, when: Callable[[str, Any], bool]) -> int:
    """Deploy `tag` in a forked child and SIGKILL it when `when(step, event)` first says so.

    `when` is asked with (step name, None) at each step boundary and with (current step, event) for
    every progress event. Returns the child's pid (dead by then).
    """

    def child() -> None:
        current = {"step": ""}

        def on_step(name: str) -> None:
            current["step"] = name
            if when(name, None):
                os.kill(os.getpid(), signal.SIGKILL)

        def on_event(event: Any) -> None:
            if when(current["step"], event):
                os.kill(os.getpid(), signal.SIGKILL)

        pipeline.deploy(sandbox.ops(), image_tag=tag, on_step=on_step, on_event=on_event)
        os._exit(0)  # reached the end without being killed

    process = FORK.Process(target=child)
    process.start()
    process.join(timeout=120)
    if process.is_alive():
        process.kill()
        raise AssertionError("the deploy to be killed did not end")
    assert process.exitcode == -signal.SIGKILL, f"the deploy was not killed ({process.exitcode})"
    assert process.pid is not None
    return process.pid


def at_step(name: str) -> Callable[[str, Any], bool]:
    return lambda step, event: step == name and event is None


def inside(step_name: str, phase: str) -> Callable[[str, Any], bool]:
    """Kill when step `step_name` reports the Phase `phase` (e.g. "task started", "waiting")."""
    return lambda step, event: (
        step == step_name and isinstance(event, Phase) and event.name == phase
    )
