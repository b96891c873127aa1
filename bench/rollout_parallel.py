"""Rollout parallelism: four services rolled together should take about as long as the slowest alone.

Runs a real sandbox server (real time, simulated ECS scheduler) with a different stabilisation time
per service, then prints the wall time of the 4-service rollout divided by the wall time of the
slowest service rolled out alone. Target: <= 1.15.

    .venv/bin/python bench/rollout_parallel.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ADINSIGHTS_OPS_HOME", tempfile.mkdtemp())

from adinsights_ops import config, ecs  # noqa: E402
from adinsights_ops.aws import Aws  # noqa: E402
from adinsights_ops.sandbox import CREDENTIALS  # noqa: E402
from adinsights_ops.sandbox.scheduler import SchedulerTimings  # noqa: E402
from adinsights_ops.sandbox.server import SandboxServer  # noqa: E402
from adinsights_ops.waiting import Backoff  # noqa: E402

# seconds between two task starts/stops of each service's deployment
PER_SERVICE = {
    "backend-service": 0.5,
    "celery-worker": 0.3,
    "celery-beat": 0.2,
    "frontend-service": 0.4,
}
POLL = Backoff(initial=0.1, factor=1.0, maximum=0.1, jitter=0.0)


def timed_rollout(env: config.Environment, services: dict[str, str], tag: str) -> float:
    server = SandboxServer(
        env, timings=SchedulerTimings(per_service_task_seconds=PER_SERVICE), remember=False
    )
    server.start()
    try:
        aws = Aws(region=env.region, endpoint_url=server.endpoint, credentials=CREDENTIALS)
        start = time.monotonic()
        ecs.rollout(
            aws.ecs(),
            cluster=env.ecs.cluster,
            services=services,
            image_tag=tag,
            singletons=env.ecs.singletons,
            timeout=120,
            backoff=POLL,
        )
        return time.monotonic() - start
    finally:
        server.remember = False
        server.stop()


def main() -> None:
    env = config.load("sandbox", ROOT / "environments.yaml")
    all_services = env.service_images()
    slowest = max(PER_SERVICE, key=lambda s: PER_SERVICE[s])
    together = timed_rollout(env, all_services, "release-1.3.0")
    alone = timed_rollout(env, {slowest: all_services[slowest]}, "release-1.3.0")
    print(f"4 services together : {together:6.2f} s")
    print(f"{slowest} alone : {alone:6.2f} s")
    print(f"ratio               : {together / alone:6.2f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
