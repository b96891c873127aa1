"""dbt for one environment (`dbt._environment`): the build asked for, its target folder and
profiles, and freshness read from a file or the artifacts bucket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from adinsights_ops import config, dbt
from adinsights_ops.dbt import _environment as dbt_env
from adinsights_ops.errors import ConfigError
from tests.simulated import ENVIRONMENTS, Simulated


@pytest.fixture
def sandbox() -> config.Environment:
    return config.load("sandbox", ENVIRONMENTS)


def test_build_request_resolves_the_project_and_keeps_the_target_under_home(
    sandbox: config.Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(tmp_path))
    assert sandbox.dbt is not None
    request = dbt_env.build_request(sandbox, select=["a+", "b"], full_refresh=True)
    assert request.project == (ENVIRONMENTS.parent / sandbox.dbt.project_dir).resolve()
    assert request.target_path == tmp_path / "dbt" / "sandbox" / "target"
    assert request.options["select"] == ["a+", "b"] and request.options["exclude"] is None
    assert request.options["full_refresh"] is True and request.tag is None


def test_build_request_at_a_tag_takes_the_profiles_as_they_were(
    sandbox: config.Environment,
) -> None:
    assert sandbox.dbt is not None
    same = attrs.evolve(
        sandbox, dbt=attrs.evolve(sandbox.dbt, profiles_dir=sandbox.dbt.project_dir)
    )
    assert dbt_env.build_request(same, tag="v1.2.0").options["profiles_dir"] is None
    assert dbt_env.build_request(same).options["profiles_dir"] is not None


def test_build_environment_runs_the_tag_or_the_checkout(
    sandbox: config.Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(dbt, "build", lambda **kw: calls.append(("build", kw)))
    monkeypatch.setattr(dbt, "build_at", lambda tag, **kw: calls.append((tag, kw)))
    dbt_env.build_environment(dbt_env.build_request(sandbox))
    dbt_env.build_environment(dbt_env.build_request(sandbox, tag="v1.2.0"))
    assert [name for name, _ in calls] == ["build", "v1.2.0"]
    assert calls[1][1]["project_subdir"] == "."


def test_an_environment_without_dbt_is_a_config_error(sandbox: config.Environment) -> None:
    with pytest.raises(ConfigError, match="no dbt settings"):
        dbt_env.build_request(attrs.evolve(sandbox, dbt=None))


def test_freshness_of_a_local_file_needs_no_environment_opened(
    sandbox: config.Environment, tmp_path: Path
) -> None:
    path = tmp_path / "run_results.json"
    path.write_text(json.dumps({"metadata": {}, "results": []}))
    check = dbt_env.freshness_of(sandbox, max_age=3600, path=path)
    assert check.evidence == str(path)


def test_freshness_of_the_bucket_reads_the_environment_s_artifacts(sim: Simulated) -> None:
    check = dbt_env.freshness_of(sim.env, max_age=3600, ops=sim.ops)
    assert check.evidence.startswith(f"s3://{dbt_env.artifacts_bucket(sim.env)}/")


@pytest.mark.parametrize(
    ("text", "seconds"), [("26h", 93600), ("90m", 5400), ("1h30m", 5400), ("42", 42)]
)
def test_durations(text: str, seconds: float) -> None:
    assert dbt_env.parse_duration(text) == seconds
