"""Rollout parallelism: four services rolled together should take about as long as the slowest alone.

Runs one real sandbox server (real time, simulated ECS scheduler) with a different stabilisation
time per service, then prints the median wall time of the 4-service rollout divided by the median
of the slowest service rolled out alone: both on the same server, clients made before the clock
starts, the order alternated, 5 runs each. Target: <= 1.15.

    .venv/bin/python bench/rollout_parallel.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ADINSIGHTS_OPS_HOME", tempfile.mkdtemp())
os.environ["ADINSIGHTS_OPS_CACHE"] = tempfile.mkdtemp()  # the developer's cache is not touched

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


TAGS = ("release-1.3.0", "release-1.2.0", "main-a1b2c3d")
RUNS = 5


def timed_rollout(aws: Aws, env: config.Environment, services: dict[str, str], tag: str) -> float:
    """Wall time of one rollout; the client exists before the clock starts."""
    client = aws.ecs()
    start = time.monotonic()
    ecs.rollout(
        client,
        cluster=env.ecs.cluster,
        services=services,
        image_tag=tag,
        singletons=env.ecs.singletons,
        timeout=120,
        backoff=POLL,
    )
    return time.monotonic() - start


def main() -> None:
    env = config.load("sandbox", ROOT / "environments.yaml")
    all_services = env.service_images()
    slowest = max(PER_SERVICE, key=lambda s: PER_SERVICE[s])
    # One server for both measurements, so neither pays for a fresh server's first requests.
    server = SandboxServer(
        env, timings=SchedulerTimings(per_service_task_seconds=PER_SERVICE), remember=False
    )
    server.start()
    together: list[float] = []
    alone: list[float] = []
    try:
        aws = Aws(region=env.region, endpoint_url=server.endpoint, credentials=CREDENTIALS)
        aws.ecs().list_clusters()  # the client and its connection pool are warm before timing
        turn = 0
        for run in range(RUNS):
            # Alternate which is measured first, and always roll out a tag the services do not
            # run, so that every rollout really replaces tasks.
            order = ("together", "alone") if run % 2 == 0 else ("alone", "together")
            for which in order:
                turn += 1
                tag = TAGS[turn % len(TAGS)]
                if which == "together":
                    together.append(timed_rollout(aws, env, all_services, tag))
                else:
                    alone.append(timed_rollout(aws, env, {slowest: all_services[slowest]}, tag))
    finally:
        server.stop()
    t, a = statistics.median(together), statistics.median(alone)
    print(f"4 services together : {t:6.2f} s  (median of {RUNS})")
    print(f"{slowest} alone : {a:6.2f} s  (median of {RUNS})")
    print(f"ratio               : {t / a:6.2f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
