"""Shared fixtures: fake AWS credentials everywhere, and a seeded simulated sandbox."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from adinsights_ops.sandbox._loader import share_data_loader
from runbooks.shutdown import THRESHOLDS

if TYPE_CHECKING:
    from tests.simulated import Simulated

# No test uses EC2's default AMIs; moto loads them (a quarter of a blueprint seed) into every EC2
# backend it makes, at each seed and again at each reset. The sandbox servers the tests start inherit it.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

# As in a sandbox's own process: moto's import-time sessions (and every test's) parse AWS's data
# files once per worker. Before any test module imports moto; and moto itself is left to the
# workers (the process that only hands out the tests never needs it).
share_data_loader()


# A worker holds large, long-lived object graphs (moto, botocore's models, sandboxes kept for a
# module) and allocates fast. At Python's default thresholds (700, 10, 10) the cyclic collector ran
# some 3,000 times per worker and took a fifth of the rehearsals' time, walking the same long-lived
# objects again and again; at the commands' thresholds (runbooks.shutdown), with what was imported
# before the first test frozen out of the collector's way, 37 s of collection became 9 s there.
gc.set_threshold(*THRESHOLDS)


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _fake_aws_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test may ever reach a real AWS account or read the developer's profile."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(tmp_path_factory.mktemp("ops-home")))


@pytest.fixture
def sim() -> Iterator[Simulated]:
    """A freshly seeded sandbox under mock_aws, previous release deployed, fake clock."""
    from tests.simulated import simulated_sandbox

    with simulated_sandbox() as sandbox:
        yield sandbox


# The order modules are sent to the workers in (setup.cfg: --dist loadscope, each module whole on
# one worker, in order, as tests that build on the module's shared sandbox need; and
# --no-loadscope-reorder, so this order is kept). The longest go first: started last, one of them
# would keep a worker busy long after the others ran out of modules. SLOWEST is the longest
# modules, longest first, as `--durations` measured them on a 2-core machine (about 15 s and up);
# then come the other integration and rehearsal modules, then the rest in collection order.
# Only a schedule: a module that became quick or slow costs time here, never a result.
SLOWEST = (
    "tests/integration/test_deploy_pipeline.py",
    "tests/rehearsal/test_kill_rerun.py",
    "tests/rehearsal/test_kill_resume.py",
    "tests/unit/test_dbt.py",
    "tests/rehearsal/test_faults.py",
    "tests/rehearsal/test_scenarios.py",
    "tests/rehearsal/test_failure_paths.py",
    "tests/integration/test_cli.py",
    "tests/rehearsal/test_lock_races.py",
    "tests/unit/test_postdeploy.py",
    "tests/integration/test_rollback_cli.py",
    "tests/integration/test_cost_cli.py",
    "tests/unit/test_sandbox_snapshot.py",
    "tests/integration/test_checks_cli.py",
    "tests/unit/test_infra_verify.py",
    "tests/unit/test_golive.py",
    "tests/cli/test_bad_input.py",
    "tests/unit/test_dbt_prepared.py",
    "tests/unit/test_sandbox_faults.py",
    "tests/integration/test_infra_cli.py",
)
_SLOW_FOLDERS = ("tests/integration/", "tests/rehearsal/")


def _schedule(item: pytest.Item) -> tuple[int, int]:
    module = item.nodeid.split("::", 1)[0]
    if module in SLOWEST:
        return (0, SLOWEST.index(module))
    return (1, 0) if module.startswith(_SLOW_FOLDERS) else (2, 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_schedule)  # a stable sort: within a module, the tests keep their order
