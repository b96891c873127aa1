"""What the command line says when AWS fails, and when a rehearsal cannot happen.

One sandbox server for the module, found by every in-process command through the state file that
`inv sandbox.up` writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adinsights_ops.sandbox.faults import plan_from
from tests.cli.runner import run
from tests.cli.shared import shared_sandbox


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from botocore.retries.standard import ExponentialBackoff

    with pytest.MonkeyPatch.context() as patch:
        # botocore still retries every call; its backoff just does not sleep here
        patch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
        with shared_sandbox(tmp_path_factory.mktemp("failures-cli")) as started:
            yield started


@pytest.fixture
def cli(server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The module's sandbox, with this test's commands pointed at it."""
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(server.home))
    return server


@pytest.mark.parametrize("kind", ["5xx-before", "reset", "throttle"])
def test_an_aws_call_failing_past_its_retries_is_one_error_line(cli: Any, kind: str) -> None:
    server = cli
    server.set_faults(plan_from({"rules": [{"operation": "DescribeServices", "kind": kind}]}))
    try:
        result = run("ecs.status", "--env", "sandbox")
    finally:
        server.set_faults(None)
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = result.error_lines()
    assert "DescribeServices" in line or "Connection was closed" in line, line


def test_a_rehearsal_that_cannot_happen_is_refused_with_the_command_that_would(
    cli: Any,
) -> None:
    server = cli
    with server._lock:
        server.calls.clear()
    # The fresh sandbox runs v1.2.0: deploying it again rolls nothing out, so nothing can fail.
    result = run(
        "deploy", "--env", "sandbox", "--image-tag", "v1.2.0", "--scenario", "failing-rollout"
    )
    assert result.code == 2, result.output
    (line,) = result.error_lines()
    assert "failing-rollout cannot happen" in line
    suggested = line.split("--scenario failing-rollout --image-tag ", 1)[1].split("`", 1)[0]
    assert suggested in ("v1.3.0", "main-a1b2c3d")  # a release that would roll something out
    with server._lock:
        assert not [c for c in server.calls if c["mutating"]]


def test_unlock_needs_a_reason(cli: Any) -> None:
    result = run("deploy.unlock", "--env", "sandbox", "--force", "--yes")
    assert result.code == 2 and "--reason" in result.error_lines()[0]
