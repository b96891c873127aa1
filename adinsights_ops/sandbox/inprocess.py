"""A seeded sandbox under in-process moto, driven by a fake clock, for tests and benchmarks.

The fake clock's sleep advances simulated time and lets the simulated ECS scheduler catch up, the
way the sandbox server does before each request.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import moto

from adinsights_ops import config
from adinsights_ops.aws import Aws, new_session
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.sandbox import direct_metrics, moto_yaml, snapshot
from adinsights_ops.sandbox.blueprint import Blueprint, seed
from adinsights_ops.sandbox.scenarios import scenario_for
from adinsights_ops.sandbox.scheduler import EcsScheduler, SchedulerTimings


class FakeClock:
    """Implements adinsights_ops.waiting.Clock; time passes only through sleep() or advance()."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.epoch = datetime.now(UTC)  # near real time: CloudWatch Logs rejects old events
        self.slept: list[float] = []
        self.on_sleep: list[Any] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return self.epoch + timedelta(seconds=self.now - 1000.0)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for hook in self.on_sleep:
            hook()


@attrs.define
class Simulated:
    ops: OpsEnv
    clock: FakeClock
    scheduler: EcsScheduler
    blueprint: Blueprint
    calls: Counter[str]

    @property
    def env(self) -> config.Environment:
        return self.ops.env

    def client(self, service: str) -> Any:
        return self.ops.aws.client(service)

    def seeding_client(self, service: str) -> Any:
        """`client(service)` for seeding: CloudWatch datapoints go straight into moto's backend
        (`direct_metrics.py`), uncounted, as a sandbox server's own seeding does."""
        return direct_metrics.for_seeding(
            service, self.client(service), self.env.account, self.env.region
        )

    def scenario(self, name: str) -> None:
        self.scheduler.scenario = scenario_for(name, self.env)

    def service_names(self) -> list[str]:
        return [ref.name for ref in self.env.ecs.services.values()]

    def primary_task_definitions(self) -> dict[str, str]:
        ecs = self.client("ecs")
        services = ecs.describe_services(
            cluster=self.env.ecs.cluster, services=self.service_names()
        )
        return {
            s["serviceName"]: next(d for d in s["deployments"] if d["status"] == "PRIMARY")[
                "taskDefinition"
            ]
            for s in services["services"]
        }


_seed_clients: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
_seed_clients_lock = threading.Lock()


def seed_client(service: str, region: str) -> Any:
    """A boto3 client for seeding, made once per process for each service, region and AWS_* setting.

    Making the clients is a third of a seed. These hold nothing between calls: no event hooks, and
    legacy retries (standard mode would keep a retry quota from call to call); moto answers them
    from whichever mock is active.
    """
    from botocore.config import Config

    aws_environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    key = (f"{service}@{region}", aws_environment)
    with _seed_clients_lock:
        client = _seed_clients.get(key)
        if client is None:
            session = new_session(region_name=region)
            client = session.client(service, config=Config(retries={"mode": "legacy"}))  # type: ignore[call-overload]
            _seed_clients[key] = client
        return client


@contextmanager
def simulated_sandbox(
    environments: str | Path | None = None, *, timings: SchedulerTimings | None = None
) -> Iterator[Simulated]:
    """Seed the ADinsights blueprint under mock_aws with the simulated scheduler and a fake clock.

    Nothing really waits: the clock's sleep advances simulated time and lets the scheduler catch up.
    """
    env = config.load("sandbox", environments)
    clock = FakeClock()
    moto_yaml.use_libyaml()
    with moto.mock_aws():
        scheduler = EcsScheduler(
            env.account, env.region, timings=timings, clock=clock.monotonic, wall_clock=clock.wall
        )
        scheduler.install()

        def seeded() -> Blueprint:
            blueprint = seed(lambda service: seed_client(service, env.region), env)
            scheduler.settle()
            return blueprint

        key = snapshot.fingerprint(env, "in-process", scheduler.timings)
        blueprint = snapshot.restore_or_seed(key, seeded, scheduler)
        calls: Counter[str] = Counter()

        def count(model: Any, **_: Any) -> None:
            calls[model.name] += 1

        aws = Aws(
            region=env.region,
            hooks=(("before-call", lambda **_: scheduler.tick()), ("before-call", count)),
        )
        clock.on_sleep.append(scheduler.tick)
        ops = OpsEnv(env, aws, clock=clock)
        yield Simulated(ops, clock, scheduler, blueprint, calls)
