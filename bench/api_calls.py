"""AWS calls per rollout, by operation: describe_services is one call per poll for up to 10 services.

Rolls the four sandbox services out under in-process moto with the simulated scheduler and a fake
clock (so the count does not depend on this machine's speed), counting calls with a botocore hook.

    .venv/bin/python bench/api_calls.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for key, value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}.items():
    os.environ[key] = value

from adinsights_ops import ecs  # noqa: E402
from adinsights_ops.sandbox.inprocess import simulated_sandbox  # noqa: E402

TARGET = 14


def main() -> None:
    with simulated_sandbox(ROOT / "environments.yaml") as sim:
        polls = 0

        def count(event: object) -> None:
            nonlocal polls
            if isinstance(event, ecs.Progress) and event.service == sim.service_names()[0]:
                polls += 1

        sim.calls.clear()
        result = ecs.rollout(
            sim.client("ecs"),
            cluster=sim.env.ecs.cluster,
            services=sim.env.service_images(),
            image_tag="release-1.3.0",
            singletons=sim.env.ecs.singletons,
            clock=sim.clock,
            on_event=count,
        )
        services = len(result.outcomes)
        print(
            f"rollout of {services} services, {polls} polls, {result.elapsed:.1f} simulated seconds"
        )
        for operation, n in sorted(sim.calls.items(), key=lambda kv: -kv[1]):
            print(f"  {operation:<28} {n:4d}")
        total = sum(sim.calls.values())
        per_poll = (sim.calls["DescribeServices"] - 1) / max(polls, 1)
        print(f"  {'total':<28} {total:4d}   (target {TARGET}: 3 per service, one read, one poll)")
        print(f"describe_services per poll: {per_poll:.2f} (services per poll: {services})")


if __name__ == "__main__":
    main()
