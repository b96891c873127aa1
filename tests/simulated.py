"""Test helpers: the in-process simulated sandbox, with this checkout's environments file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adinsights_ops.sandbox.inprocess import FakeClock, Simulated
from adinsights_ops.sandbox.inprocess import simulated_sandbox as _simulated_sandbox
from adinsights_ops.sandbox.scheduler import SchedulerTimings

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = ROOT / "environments.yaml"

__all__ = ["ENVIRONMENTS", "ROOT", "FakeClock", "Simulated", "simulated_sandbox"]


@contextmanager
def simulated_sandbox(timings: SchedulerTimings | None = None) -> Iterator[Simulated]:
    with _simulated_sandbox(ENVIRONMENTS, timings=timings) as sandbox:
        yield sandbox
