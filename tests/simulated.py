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

__all__ = [
    "ENVIRONMENTS",
    "ROOT",
    "FakeClock",
    "Simulated",
    "fast_environments",
    "simulated_sandbox",
]


@contextmanager
def simulated_sandbox(timings: SchedulerTimings | None = None) -> Iterator[Simulated]:
    with _simulated_sandbox(ENVIRONMENTS, timings=timings) as sandbox:
        yield sandbox


def fast_environments(
    folder: Path, *, lock_ttl: float | None = None, logs_in: Path | None = None
) -> Path:
    """This checkout's environments.yaml, written to `folder`, with a sandbox for quick deploys: no
    validation sync or dbt build (they have tests of their own), its files named by absolute path.
    `lock_ttl` shortens the lock's lease; `logs_in` puts the activity and incident logs there."""
    import yaml

    data = yaml.safe_load(ENVIRONMENTS.read_text())
    sandbox = data["sandbox"]
    sandbox["release"]["validation_sync"] = False
    if lock_ttl is not None:
        sandbox["release"]["lock_ttl"] = lock_ttl
    for key in ("project_dir", "profiles_dir"):
        sandbox["dbt"][key] = str(ROOT / sandbox["dbt"][key])
    sandbox["airbyte"]["manifests"] = str(ROOT / "infrastructure" / "airbyte")
    sandbox["infra"]["template"] = str(
        ROOT / "infrastructure" / "cloudformation" / "network-data.yaml"
    )
    if logs_in is not None:
        for key in ("activity_log", "incident_log"):
            sandbox["notifications"][key] = str(logs_in / f"{key}.md")
    path = folder / "environments-fast.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
