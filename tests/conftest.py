"""Shared fixtures: fake AWS credentials everywhere, and a seeded simulated sandbox."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.simulated import Simulated, simulated_sandbox

# No test uses EC2's default AMIs; moto loads them (a quarter of a blueprint seed) into every EC2
# backend it makes, at each seed and again at each reset. The sandbox servers the tests start inherit it.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


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
    with simulated_sandbox() as sandbox:
        yield sandbox


# The modules whose tests take seconds each go first: started last, they would keep one worker
# busy long after the others ran out of tests. The order within a module is kept: with
# --dist loadscope (the Makefile) a module runs whole, in order, on one worker, as tests that build
# on the module's shared sandbox (apply, then plan nothing) need.
_SLOW_FIRST = ("tests/integration/", "tests/rehearsal/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: 0 if item.nodeid.startswith(_SLOW_FIRST) else 1)
