"""dbt.prepare: dbt starts and parses in a process of its own, and builds on that parse when told.

One real prepared build of the sandbox project for the module, next to a plain `dbt.build` run
while the prepared one parses; the other tests stop their worker before, during or instead of the
build and check by pid that no process is left. The data-state step's use of a prepared build is
tested with a stand-in (no dbt needed).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import attrs
import pytest

from adinsights_ops import config, dbt, pipeline
from adinsights_ops.errors import UsageError
from adinsights_ops.journal import RunRecord
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.pipeline._prepare import data_state
from adinsights_ops.pipeline._state import DeployRun
from adinsights_ops.release import parse_image_tag
from tests.processes import gone

ROOT = Path(__file__).parents[2]
PROJECT = Path(dbt.__file__).parents[1] / "sandbox" / "dbt_project"
needs_dbt = pytest.mark.skipif(
    importlib.util.find_spec("dbt.adapters.duckdb") is None,
    reason="dbt-core and dbt-duckdb are not installed (pip install -e '.[dbt]')",
)


def _nodes(result: dbt.BuildResult) -> list[tuple[str, str]]:
    return sorted((n.unique_id, n.status) for n in result.results)


@attrs.frozen
class Builds:
    plain: dbt.BuildResult
    prepared: dbt.BuildResult
    lines: list[str]
    pid: int
    target: Path


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    base = tmp_path_factory.mktemp("prepared")
    lines: list[str] = []
    with dbt.prepare(project_dir=PROJECT, target="sandbox", target_path=base / "t") as prepared:
        # what the deploy does: something else meanwhile (here, the build as it runs without)
        plain = dbt.build(project_dir=PROJECT, target="sandbox", target_path=base / "plain")
        result = prepared.build(timeout=600, on_output=lines.append)
    return Builds(plain, result, lines, prepared.pid, base / "t")


@needs_dbt
def test_a_prepared_build_gives_what_a_plain_build_gives(builds: Builds) -> None:
    result = builds.prepared
    assert result.ok and result.counts == builds.plain.counts == {"success": 7, "pass": 23}
    assert _nodes(result) == _nodes(builds.plain)
    assert result.target == "sandbox" and result.target_path == str(builds.target.resolve())
    assert result.invocation_id != builds.plain.invocation_id
    for name in ("manifest.json", "run_results.json", "logs/dbt.log"):
        assert (builds.target / name).is_file(), name
    assert any("Completed successfully" in line for line in result.output_tail)
    # The printer got dbt's lines of the build (the parse is quiet when it succeeds).
    assert builds.lines and builds.lines[-len(result.output_tail) :] == list(result.output_tail)
    assert gone(builds.pid, 0)


@needs_dbt
def test_a_parse_error_surfaces_at_the_build_with_dbts_message(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "staging" / "stg_broken.sql").write_text("select {{ ref( }}\n")
    with dbt.prepare(project_dir=project, target="sandbox", target_path=tmp_path / "t") as prepared:
        assert gone(prepared.pid, 60)  # the worker stops at its parse error, before the go
        with pytest.raises(dbt.DbtCrashed) as caught:
            prepared.build(timeout=60)
    error = caught.value
    assert error.returncode == 2
    assert "the build did not run" in str(error) and "Compilation Error" in str(error)
    assert any("stg_broken" in line for line in error.output_tail)
    assert not (tmp_path / "t" / "run_results.json").exists()


@needs_dbt
def test_the_deadline_counts_from_the_go_and_kills_the_worker(tmp_path: Path) -> None:
    with dbt.prepare(project_dir=PROJECT, target="sandbox", target_path=tmp_path) as prepared:
        time.sleep(1.0)  # longer than the deadline: only the time after the go counts
        started = time.monotonic()
        with pytest.raises(dbt.BuildTimedOut) as caught:
            prepared.build(timeout=0.5)
        elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5
    assert caught.value.timeout == 0.5 and "dbt_project" in str(caught.value)
    assert gone(prepared.pid, 0)


def test_cancel_and_leaving_the_block_stop_the_worker(tmp_path: Path) -> None:
    prepared = dbt.prepare(project_dir=PROJECT, target="sandbox", target_path=tmp_path / "a")
    prepared.cancel()
    assert gone(prepared.pid, 0)
    with pytest.raises(UsageError, match="cancelled"):
        prepared.build()
    with (
        pytest.raises(KeyError),
        dbt.prepare(project_dir=PROJECT, target="sandbox", target_path=tmp_path / "b") as second,
    ):
        raise KeyError("a failure before the build")
    assert gone(second.pid, 0)


def test_a_worker_killed_before_the_go_is_reported_not_waited_for(tmp_path: Path) -> None:
    with dbt.prepare(project_dir=PROJECT, target="sandbox", target_path=tmp_path) as prepared:
        os.kill(prepared.pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(dbt.DbtCrashed, match="killed by signal 9"):
            prepared.build(timeout=600)
    assert time.monotonic() - started < 5


def test_a_worker_whose_caller_died_exits(tmp_path: Path) -> None:
    """No dbt outlives the process that prepared it, even one killed with SIGKILL."""
    script = (
        "import sys, time\n"
        "from adinsights_ops import dbt\n"
        "p = dbt.prepare(project_dir=sys.argv[1], target='sandbox', target_path=sys.argv[2])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    caller = subprocess.Popen(
        [sys.executable, "-c", script, str(PROJECT), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert caller.stdout is not None
    worker = int(caller.stdout.readline())
    caller.kill()
    caller.wait(10)
    assert gone(worker, 15)


# -- the deploy's data-state step ------------------------------------------------------------


@attrs.define
class StandIn:
    """Takes the place of a prepared build: what it was prepared for, and what was asked of it."""

    project: Path
    profiles: Path
    target: str
    target_path: Path
    timeouts: list[float] = attrs.Factory(list)
    cancelled: bool = False

    def build(self, *, timeout: float) -> dbt.BuildResult:
        self.timeouts.append(timeout)
        node = dbt.NodeResult(unique_id="model.adinsights.x", status="success")
        return dbt.BuildResult(results=(node,), generated_at=None, invocation_id="i", elapsed=1.0)

    def cancel(self) -> None:
        self.cancelled = True


def validating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.Environment:
    """The sandbox with the validation build and nothing else in its data-state step."""
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(tmp_path))
    env = config.load("sandbox", ROOT / "environments.yaml")
    assert env.dbt is not None
    return attrs.evolve(
        env,
        airbyte=None,
        dbt=attrs.evolve(env.dbt, artifacts_bucket=None, build_timeout=77.0),
        release=attrs.evolve(env.release, validation_sync=True),
    )


def step_run(env: config.Environment, prepared: StandIn) -> DeployRun:
    return DeployRun(
        ops=OpsEnv(env=env, aws=cast(Any, None)),
        tag=parse_image_tag("v1.3.0"),
        record=RunRecord(run_id="r", environment="sandbox", kind="deploy", who="t", started="t"),
        journal=cast(Any, None),
        dbt_prepared=cast(dbt.PreparedBuild, prepared),
    )


@pytest.mark.parametrize("same", [True, False])
def test_the_data_state_step_builds_on_the_prepared_dbt_prepared_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same: bool
) -> None:
    env = validating(tmp_path, monkeypatch)
    target = tmp_path / "dbt" / "sandbox" / "target"
    prepared = StandIn(PROJECT, PROJECT, "sandbox", target if same else tmp_path / "elsewhere")
    plain: list[dict[str, Any]] = []

    def build(**options: Any) -> dbt.BuildResult:
        plain.append(options)
        return prepared.build(timeout=options["timeout"])

    monkeypatch.setattr(dbt, "build", build)
    run = step_run(env, prepared)
    assert data_state(run) == {"dbt": "1 node: 1 success"}
    assert prepared.timeouts == [77.0] and run.dbt_prepared is None
    if same:
        assert not plain and not prepared.cancelled
    else:  # prepared for another folder: stopped, and the step builds as it would without
        assert prepared.cancelled and [o["target_path"] for o in plain] == [target]


def test_prepare_data_state_prepares_only_what_the_step_will_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = validating(tmp_path, monkeypatch)
    assert env.dbt is not None
    without = [
        attrs.evolve(env, release=attrs.evolve(env.release, validation_sync=False)),
        attrs.evolve(env, dbt=None),
        attrs.evolve(env, dbt=attrs.evolve(env.dbt, project_dir="no-such-project")),
    ]
    for other in without:
        with pipeline.prepare_data_state(other) as nothing:
            assert nothing is None
    with pipeline.prepare_data_state(env) as prepared:
        assert prepared is not None
        assert prepared.project == PROJECT.resolve()
        assert prepared.target_path == tmp_path / "dbt" / "sandbox" / "target"
    assert gone(prepared.pid, 0)


# -- the deploy task -------------------------------------------------------------------------


def deploy_task(*argv: str) -> int:
    """Run `inv deploy <argv>` with the deploy collection in this process; its exit code."""
    from invoke import Collection, Program

    from runbooks import deploy as tasks

    ns = Collection()
    ns.add_collection(tasks.ns, name="deploy")
    try:
        Program(namespace=ns).run(["inv", "deploy", *argv])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_deploy_task_prepares_dbt_before_opening_the_environment_and_stops_it_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    import contextlib
    from collections.abc import Iterator

    from adinsights_ops import loader

    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(tmp_path))
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(ROOT / "environments.yaml"))
    events: list[str] = []

    @contextlib.contextmanager
    def prepare_data_state(env: config.Environment) -> Iterator[None]:
        events.append(f"prepare {env.name}")
        try:
            yield None
        finally:
            events.append("prepared stopped")

    def open_environment(*args: Any, **kwargs: Any) -> Any:
        events.append("open")
        raise UsageError("the environment cannot be opened")

    monkeypatch.setattr(pipeline, "prepare_data_state", prepare_data_state)
    monkeypatch.setattr(loader, "open_environment", open_environment)
    code = deploy_task("--env", "sandbox", "--yes", *(["--dry-run"] if dry_run else []))
    assert code == 2
    if dry_run:
        assert events == ["open"]
    else:  # started first, stopped when the failure left the task
        assert events == ["prepare sandbox", "open", "prepared stopped"]
