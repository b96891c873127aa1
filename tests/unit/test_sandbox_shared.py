"""The shared sandbox's status and reset as functions: only for sandbox environments, a reset
refused while one runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adinsights_ops.errors import UsageError
from adinsights_ops.sandbox import _shared
from tests.simulated import ENVIRONMENTS


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = yaml.safe_load(ENVIRONMENTS.read_text())
    data = {"sandbox": data["sandbox"], "rehearsal": {**data["sandbox"], "sandbox": False}}
    file = tmp_path / "environments.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(file))
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(tmp_path))
    return tmp_path


def test_only_a_sandbox_environment_is_accepted() -> None:
    for call in (_shared.status, _shared.reset, _shared.sandbox_environment):
        with pytest.raises(UsageError, match="expected a sandbox environment"):
            call("rehearsal")


def test_status_when_none_runs() -> None:
    found = _shared.status("sandbox")
    assert (found.running, found.endpoint, found.info) == (False, None, {})


def test_reset_with_nothing_remembered_and_refused_while_one_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from adinsights_ops.sandbox import snapshot

    monkeypatch.setenv("ADINSIGHTS_OPS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(snapshot, "_in_process", {})  # this process keeps no blueprint either
    assert _shared.reset("sandbox") is False
    from adinsights_ops import sandbox

    monkeypatch.setattr(sandbox, "running", lambda _name: "http://127.0.0.1:1")
    with pytest.raises(UsageError, match=r"stop `inv sandbox\.up` first"):
        _shared.reset("sandbox")


def test_serve_writes_its_state_while_it_runs_and_cleans_up_when_stopped(home: Path) -> None:
    from adinsights_ops import config, sandbox

    seen: list[_shared.Serving] = []
    stopped: list[bool] = []

    def ready(serving: _shared.Serving) -> None:
        seen.append(serving)
        assert sandbox.running("sandbox") == serving.endpoint  # other commands find it
        raise KeyboardInterrupt  # Ctrl-C

    _shared.serve(
        config.load("sandbox"),
        scenario="failing-rollout",
        faults="throttled",
        on_ready=ready,
        on_stopped=lambda: stopped.append(True),
    )
    (serving,) = seen
    assert serving.scenario == "failing-rollout" and serving.faults
    assert stopped == [True] and sandbox.running("sandbox") is None
    assert not sandbox.state_file("sandbox").exists()


def test_serve_refuses_an_unknown_scenario_before_anything_starts(home: Path) -> None:
    from adinsights_ops import config

    with pytest.raises(UsageError):
        _shared.serve(config.load("sandbox"), scenario="no-such-scenario")
    assert not list(home.glob("sandbox-*.json"))
