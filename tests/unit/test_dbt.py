"""adinsights_ops.dbt: real dbt builds of the sandbox project on DuckDB, and the parts around them.

Real builds cost a few seconds each, so the builds are module-scoped fixtures shared by the tests
that read them; the rest (exit codes, argv, timeouts, worktrees) uses fake runners or tiny scripts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import attrs
import boto3
import moto
import pytest

from adinsights_ops import dbt
from adinsights_ops.errors import EXIT_FAILED, EXIT_USAGE, UsageError, WaitTimedOut
from tests.processes import gone

PROJECT = Path(dbt.__file__).parents[1] / "sandbox" / "dbt_project"
ENVIRONMENTS = Path(__file__).parents[2] / "environments.yaml"
HAVE_DBT = importlib.util.find_spec("dbt.adapters.duckdb") is not None
needs_dbt = pytest.mark.skipif(
    not HAVE_DBT, reason="dbt-core and dbt-duckdb are not installed (pip install -e '.[dbt]')"
)
REGION: Final = "eu-west-1"  # a Literal, as create_bucket's LocationConstraint is typed
BUCKET = "adinsights-sandbox-dbt-artifacts"


def files_under(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in folder.rglob("*")}


def duck(target: Path, sql: str) -> list[tuple[Any, ...]]:
    import duckdb

    con = duckdb.connect(str(target / "adinsights.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def failed_build(**options: Any) -> dbt.BuildFailed:
    with pytest.raises(dbt.BuildFailed) as caught:
        dbt.build(project_dir=PROJECT, target="sandbox", **options)
    return caught.value


# -- real builds, shared ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def package_before() -> dict[str, float]:
    return files_under(PROJECT)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dbt") / "target"


@pytest.fixture(scope="module")
def first(package_before: dict[str, float], target: Path) -> dbt.BuildResult:
    return dbt.build(project_dir=PROJECT, target="sandbox", target_path=target)


@pytest.fixture(scope="module")
def second(first: dbt.BuildResult, target: Path) -> dbt.BuildResult:
    return dbt.build(project_dir=PROJECT, target="sandbox", target_path=target)


@pytest.fixture(scope="module")
def test_failure(
    package_before: dict[str, float], tmp_path_factory: pytest.TempPathFactory
) -> dbt.BuildFailed:
    target = tmp_path_factory.mktemp("dbt-test-failure")
    return failed_build(target_path=target, vars={"inject_failure": "test"})


@pytest.fixture(scope="module")
def model_failure(
    package_before: dict[str, float], tmp_path_factory: pytest.TempPathFactory
) -> dbt.BuildFailed:
    target = tmp_path_factory.mktemp("dbt-model-failure")
    return failed_build(target_path=target, vars={"inject_failure": "model"})


@needs_dbt
def test_a_build_runs_every_node_and_fills_the_aggregate_snapshot(
    first: dbt.BuildResult, target: Path
) -> None:
    assert first.ok and first.failed == ()
    assert first.target == "sandbox" and first.full_refresh is False
    assert first.target_path == str(target.resolve())
    assert first.counts == {"success": 7, "pass": 23}  # 3 seeds + 4 models, 23 tests
    assert first.node("fct_campaign_daily").status == "success"
    assert first.node("model.adinsights.aggregate_snapshot").resource_type == "model"
    assert first.invocation_id and first.generated_at is not None
    assert abs((datetime.now(UTC) - first.generated_at).total_seconds()) < 300
    assert (target / "manifest.json").is_file() and (target / "logs" / "dbt.log").is_file()
    assert any("Completed successfully" in line for line in first.output_tail)
    rows = duck(
        target,
        "select tenant_id, channel, campaigns from analytics.aggregate_snapshot order by 1, 2",
    )
    tenants = {r[0] for r in rows}
    assert tenants == {"tenant-demo", "tenant-acme", "tenant-globex"}
    assert ("tenant-demo", "all", 4) in rows and ("tenant-acme", "google_ads", 1) in rows


@needs_dbt
def test_a_second_build_is_incremental(
    first: dbt.BuildResult, second: dbt.BuildResult, target: Path
) -> None:
    assert second.ok and second.invocation_id != first.invocation_id
    loaded = dict(
        duck(
            target,
            "select loaded_by_invocation, count(*) from analytics.fct_campaign_daily group by 1",
        )
    )
    # 10 campaigns x 10 days; the second run replaced only the lookback window (3 days).
    assert loaded == {first.invocation_id: 70, second.invocation_id: 30}
    days = duck(
        target,
        "select distinct date_day from analytics.fct_campaign_daily "
        f"where loaded_by_invocation = '{second.invocation_id}' order by 1",
    )
    assert [str(d[0]) for d in days] == ["2024-06-08", "2024-06-09", "2024-06-10"]


@needs_dbt
def test_a_build_in_a_new_target_folder_parses_partially_from_the_kept_parse(
    first: dbt.BuildResult, tmp_path: Path
) -> None:
    from adinsights_ops.dbt import _parsecache

    kept = _parsecache.kept_for(PROJECT.resolve(), PROJECT.resolve(), "sandbox")
    assert kept.is_file()  # the first build's parse, kept in the cache folder
    result = dbt.build(project_dir=PROJECT, target="sandbox", target_path=tmp_path / "t")
    log = (tmp_path / "t" / "logs" / "dbt.log").read_text()
    assert result.ok
    assert "Unable to do partial parsing" not in log
    assert "Partial parsing enabled" in log  # dbt trusted the brought file after its own checks


def test_the_kept_parse_goes_only_into_a_folder_without_one_and_only_newer_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adinsights_ops.dbt import _parsecache

    monkeypatch.setenv("ADINSIGHTS_OPS_CACHE", str(tmp_path / "cache"))
    kept = _parsecache.kept_for(PROJECT, PROJECT, "sandbox")
    assert kept != _parsecache.kept_for(PROJECT, PROJECT, "sandbox", '{"x": 1}')
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _parsecache.bring(kept, first)  # nothing kept yet: nothing brought, no error
    assert not (first / _parsecache.PARSE_FILE).exists()
    (first / _parsecache.PARSE_FILE).write_bytes(b"parse one")
    _parsecache.keep(kept, first)
    assert kept.read_bytes() == b"parse one"
    (second / _parsecache.PARSE_FILE).write_bytes(b"its own")
    _parsecache.bring(kept, second)
    assert (second / _parsecache.PARSE_FILE).read_bytes() == b"its own"  # never overwritten
    os.utime(second / _parsecache.PARSE_FILE, (1, 1))  # older than the kept one
    _parsecache.keep(kept, second)
    assert kept.read_bytes() == b"parse one"
    third = tmp_path / "c"
    third.mkdir()
    _parsecache.bring(kept, third)
    assert (third / _parsecache.PARSE_FILE).read_bytes() == b"parse one"
    monkeypatch.setenv("ADINSIGHTS_OPS_CACHE", str(third / _parsecache.PARSE_FILE))  # not a folder
    _parsecache.keep(_parsecache.kept_for(PROJECT, PROJECT, "x"), first)  # only logged


@needs_dbt
def test_a_failing_test_raises_build_failed_naming_the_test(
    test_failure: dbt.BuildFailed,
) -> None:
    (node,) = test_failure.failed
    assert node.resource_type == "test"
    assert node.name.startswith("accepted_values_stg_google_ads_channel")
    assert (node.status, node.failures) == ("fail", 1)
    assert node.name in str(test_failure)
    assert test_failure.exit_code == EXIT_FAILED
    assert test_failure.details == [node.describe()]
    result = test_failure.result
    assert not result.ok
    assert result.node("fct_campaign_daily").status == "skipped"  # downstream of the failure
    assert result.node("stg_meta_ads").status == "success"


@needs_dbt
def test_a_model_error_raises_build_failed_naming_the_model(
    model_failure: dbt.BuildFailed,
) -> None:
    (node,) = model_failure.failed
    assert node.unique_id == "model.adinsights.aggregate_snapshot"
    assert node.status == "error"
    assert node.message is not None and "Conversion Error" in node.message
    assert "aggregate_snapshot" in str(model_failure)
    result = model_failure.result
    assert result.node("fct_campaign_daily").status == "success"
    assert result.node("unique_aggregate_snapshot_snapshot_id").status == "skipped"


@needs_dbt
def test_a_broken_profile_makes_dbt_exit_2_and_raises_dbt_crashed(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(
        "adinsights:\n  target: sandbox\n  outputs:\n    sandbox:\n      type: nosuchadapter\n"
    )
    with pytest.raises(dbt.DbtCrashed) as caught:
        dbt.build(
            project_dir=PROJECT,
            target="sandbox",
            profiles_dir=profiles,
            target_path=tmp_path / "target",
        )
    assert caught.value.returncode == 2
    assert "nosuchadapter" in str(caught.value)
    assert any("nosuchadapter" in line for line in caught.value.details)
    assert not (tmp_path / "target" / "run_results.json").exists()


@needs_dbt
def test_builds_write_nothing_into_the_package(
    package_before: dict[str, float],
    first: dbt.BuildResult,
    second: dbt.BuildResult,
    test_failure: dbt.BuildFailed,
    model_failure: dbt.BuildFailed,
) -> None:
    assert files_under(PROJECT) == package_before


# -- argv, exit codes and timeouts, with a fake runner ----------------------------------------


@attrs.define
class FakeRunner:
    """Stands in for dbt: records each call, writes `run_results` (if any), answers `outcome`."""

    outcome: dbt.ProcessOutcome
    run_results: Mapping[str, Any] | None = None
    calls: list[dict[str, Any]] = attrs.Factory(list)
    on_call: Any = None

    def __call__(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str, timeout: float
    ) -> dbt.ProcessOutcome:
        self.calls.append({"argv": list(argv), "env": dict(env), "cwd": cwd, "timeout": timeout})
        if self.on_call is not None:
            self.on_call(argv, cwd)
        if self.run_results is not None:
            target = Path(argv[argv.index("--target-path") + 1])
            (target / "run_results.json").write_text(json.dumps(self.run_results))
        return self.outcome

    @property
    def argv(self) -> list[str]:
        return list(self.calls[-1]["argv"])


def outcome(returncode: int | None, *lines: str, timed_out: bool = False) -> dbt.ProcessOutcome:
    return dbt.ProcessOutcome(returncode, tuple(lines), elapsed=1.0, timed_out=timed_out)


def run_results(*nodes: tuple[str, str], generated_at: str = "2024-06-10T05:00:00Z") -> Any:
    return {
        "metadata": {"generated_at": generated_at, "invocation_id": "inv-1"},
        "elapsed_time": 12.5,
        "args": {"target": "sandbox"},
        "results": [{"unique_id": uid, "status": status} for uid, status in nodes],
    }


def test_build_passes_the_options_to_dbt_and_keeps_writes_out_of_the_project(
    tmp_path: Path,
) -> None:
    fake = FakeRunner(outcome(0, "Done."), run_results(("model.adinsights.x", "success")))
    result = dbt.build(
        project_dir=PROJECT,
        target="sandbox",
        select=["stg_meta_ads+", "tag:daily"],
        exclude="aggregate_snapshot  tag:slow",
        selector="nightly",
        vars={"inject_failure": "test"},
        target_path=tmp_path / "t",
        full_refresh=True,
        timeout=42,
        env={"ADINSIGHTS_DBT_DUCKDB": str(tmp_path / "x.duckdb")},
        runner=fake,
    )
    call = fake.calls[0]
    argv: list[str] = call["argv"]
    assert argv[: len(dbt.dbt_command())] == dbt.dbt_command()
    assert argv[len(dbt.dbt_command())] == "build"

    def after(flag: str, n: int = 1) -> list[str]:
        return argv[argv.index(flag) + 1 : argv.index(flag) + 1 + n]

    target = str((tmp_path / "t").resolve())
    assert after("--project-dir") == after("--profiles-dir") == [str(PROJECT.resolve())]
    assert after("--target") == ["sandbox"]
    assert after("--target-path") == [target]
    assert after("--log-path") == [f"{target}/logs"]
    assert after("--select", 2) == ["stg_meta_ads+", "tag:daily"]
    assert after("--exclude", 3) == ["aggregate_snapshot", "tag:slow", "--selector"]
    assert after("--selector") == ["nightly"]
    assert json.loads(after("--vars")[0]) == {"inject_failure": "test"}
    assert "--full-refresh" in argv and "--no-use-colors" in argv
    assert call["cwd"] == target and call["timeout"] == 42  # relative profile paths land there
    assert call["env"]["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert call["env"]["DBT_TARGET_PATH"] == target
    assert call["env"]["ADINSIGHTS_DBT_DUCKDB"] == str(tmp_path / "x.duckdb")
    assert call["env"]["PATH"] == os.environ["PATH"]
    assert result.target_path == target and result.output_tail == ("Done.",)


def test_dbt_command_is_the_script_beside_the_interpreter_or_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sys.executable
    if HAVE_DBT:
        assert dbt.dbt_command() == [str(Path(real).parent / "dbt")]
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    fallback = dbt.dbt_command()
    assert fallback[:2] == [str(tmp_path / "python"), "-c"]
    if HAVE_DBT:  # the fallback really starts dbt
        ran = dbt.run_process(
            [real, *fallback[1:], "--version"], dict(os.environ), str(tmp_path), 60
        )
        assert ran.returncode == 0, ran.output_tail
        assert any("installed:" in line for line in ran.output_tail)


def test_build_without_a_target_path_uses_a_new_temporary_folder(tmp_path: Path) -> None:
    fake = FakeRunner(outcome(0), run_results(("model.adinsights.x", "success")))
    result = dbt.build(project_dir=PROJECT, target="sandbox", runner=fake)
    assert result.target_path is not None
    target = Path(result.target_path)
    try:
        assert not target.is_relative_to(PROJECT.resolve())
        assert (target / "run_results.json").is_file()
        assert "--full-refresh" not in fake.argv and "--select" not in fake.argv
    finally:
        shutil.rmtree(target)


def test_build_refuses_a_folder_without_dbt_project_yml(tmp_path: Path) -> None:
    fake = FakeRunner(outcome(0))
    with pytest.raises(UsageError, match="not a dbt project"):
        dbt.build(project_dir=tmp_path, target="sandbox", runner=fake)
    assert fake.calls == []


def test_exit_2_without_run_results_is_dbt_crashed_with_dbt_s_reason(tmp_path: Path) -> None:
    fake = FakeRunner(
        outcome(
            2,
            "05:13:47  Running with dbt=1.11.16",
            "05:13:47  Encountered an error:",
            "Runtime Error",
            "  Could not find profile named 'adinsights'",
        )
    )
    with pytest.raises(dbt.DbtCrashed) as caught:
        dbt.build(project_dir=PROJECT, target="sandbox", target_path=tmp_path, runner=fake)
    error = caught.value
    assert error.returncode == 2 and error.exit_code == EXIT_FAILED
    assert "Runtime Error Could not find profile named 'adinsights'" in str(error)
    assert error.output_tail[-1] == "  Could not find profile named 'adinsights'"


def test_a_previous_build_s_run_results_is_not_taken_for_this_one(tmp_path: Path) -> None:
    (tmp_path / "run_results.json").write_text(
        json.dumps(run_results(("test.adinsights.old", "fail")))
    )
    with pytest.raises(dbt.DbtCrashed):
        dbt.build(
            project_dir=PROJECT,
            target="sandbox",
            target_path=tmp_path,
            runner=FakeRunner(outcome(2)),
        )
    assert not (tmp_path / "run_results.json").exists()


@pytest.mark.parametrize("code", [0, 1])
def test_an_exit_without_run_results_is_dbt_crashed(tmp_path: Path, code: int) -> None:
    with pytest.raises(dbt.DbtCrashed, match="did not run"):
        dbt.build(
            project_dir=PROJECT,
            target="sandbox",
            target_path=tmp_path,
            runner=FakeRunner(outcome(code, "boom")),
        )


def test_exit_1_with_failed_nodes_is_build_failed_carrying_them(tmp_path: Path) -> None:
    fake = FakeRunner(
        outcome(1),
        run_results(
            ("model.adinsights.a", "success"),
            ("model.adinsights.b", "error"),
            ("test.adinsights.c", "fail"),
            ("test.adinsights.d", "warn"),
        ),
    )
    with pytest.raises(dbt.BuildFailed) as caught:
        dbt.build(project_dir=PROJECT, target="sandbox", target_path=tmp_path, runner=fake)
    assert [n.name for n in caught.value.failed] == ["b", "c"]
    assert caught.value.result.counts == {"success": 1, "error": 1, "fail": 1, "warn": 1}
    assert str(caught.value) == "dbt build failed: 2 of 4 nodes failed (b, c)"


def test_a_timeout_raises_build_timed_out_with_the_output_tail(tmp_path: Path) -> None:
    fake = FakeRunner(outcome(None, "1 of 30 START seed", "2 of 30 START model", timed_out=True))
    with pytest.raises(dbt.BuildTimedOut) as caught:
        dbt.build(
            project_dir=PROJECT, target="sandbox", target_path=tmp_path, timeout=5, runner=fake
        )
    error = caught.value
    assert isinstance(error, WaitTimedOut) and error.timeout == 5
    assert error.output_tail == ("1 of 30 START seed", "2 of 30 START model")
    assert "timed out after 5s" in str(error) and "dbt_project" in str(error)


# -- the process runner, for real, with tiny scripts -----------------------------------------


def test_run_process_kills_the_whole_process_group_at_the_deadline(tmp_path: Path) -> None:
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    result = dbt.run_process(
        [sys.executable, "-c", script], dict(os.environ), str(tmp_path), 1.0, kill_grace=2.0
    )
    assert result.timed_out and result.returncode is None
    assert result.elapsed < 10
    (line,) = [line for line in result.output_tail if line.startswith("child ")]
    assert gone(int(line.split()[1]), within=5.0)


def test_run_process_passes_lines_on_and_keeps_only_the_tail(tmp_path: Path) -> None:
    seen: list[str] = []
    result = dbt.run_process(
        [sys.executable, "-c", "import sys\nfor i in range(50): print(i)\nsys.exit(3)"],
        dict(os.environ),
        str(tmp_path),
        30.0,
        on_line=seen.append,
        tail_lines=5,
    )
    assert (result.returncode, result.timed_out) == (3, False)
    assert seen == [str(i) for i in range(50)]
    assert result.output_tail == ("45", "46", "47", "48", "49")


# -- run_results parsing ----------------------------------------------------------------------


def test_parse_run_results_ignores_unknown_fields_and_defaults_missing_ones(
    tmp_path: Path,
) -> None:
    data = {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v99.json",
            "generated_at": "2024-06-10T05:00:01.123456Z",
            "invocation_id": "abc",
            "dbt_version": "1.42.0",
            "something_new": {"nested": [1, 2]},
        },
        "elapsed_time": 3.5,
        "args": {"target": "prod", "full_refresh": True, "new_flag": 1},
        "new_top_level": True,
        "results": [
            {
                "unique_id": "model.p.m",
                "status": "success",
                "execution_time": 1.25,
                "message": "OK",
                "failures": None,
                "relation_name": '"db"."s"."m"',
                "timing": [],
                "brand_new": "ignored",
            },
            {"unique_id": "test.p.t.123", "status": "FAIL", "failures": 3},
            {"status": "error"},
            {"unique_id": "seed.p.s", "execution_time": "soon", "failures": True},
        ],
    }
    path = tmp_path / "run_results.json"
    path.write_text(json.dumps(data))
    result = dbt.parse_run_results(path)
    assert result == dbt.parse_run_results(path.read_bytes())
    assert result.generated_at == datetime(2024, 6, 10, 5, 0, 1, 123456, tzinfo=UTC)
    assert (result.invocation_id, result.dbt_version, result.elapsed) == ("abc", "1.42.0", 3.5)
    assert (result.target, result.full_refresh) == ("prod", True)
    model, test, nameless, seed = result.results
    assert model == dbt.NodeResult("model.p.m", "success", 1.25, "OK", None, '"db"."s"."m"')
    assert (test.name, test.status, test.failures, test.message) == ("t", "fail", 3, None)
    assert nameless.unique_id == "unknown.results[2]" and nameless.failed
    assert (seed.status, seed.execution_time, seed.failures) == ("unknown", 0.0, None)
    assert [n.unique_id for n in result.failed] == ["test.p.t.123", "unknown.results[2]"]
    assert result.counts == {"success": 1, "fail": 1, "error": 1, "unknown": 1}


def test_parse_run_results_of_a_bare_object_gives_an_empty_result() -> None:
    result = dbt.parse_run_results(b"{}")
    assert result.results == () and result.ok
    assert (result.generated_at, result.invocation_id, result.elapsed) == (None, None, 0.0)
    assert result.summary() == "0 nodes"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "top level is not an object"),
        (b'{"results": {"a": 1}}', "`results` is not a list"),
        (b'{"results": ["x"]}', "results[0] is not an object"),
    ],
)
def test_parse_run_results_refuses_what_is_not_run_results(content: bytes, reason: str) -> None:
    with pytest.raises(dbt.RunResultsInvalid, match=reason.replace("[", r"\[")):
        dbt.parse_run_results(content)


def test_parse_run_results_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(dbt.RunResultsInvalid, match="file not found") as caught:
        dbt.parse_run_results(tmp_path / "nope.json")
    assert caught.value.source == str(tmp_path / "nope.json")


# -- freshness and artifacts ------------------------------------------------------------------


def write_results(folder: Path, *nodes: tuple[str, str], generated_at: datetime) -> Path:
    path = folder / "run_results.json"
    stamp = generated_at.isoformat().replace("+00:00", "Z")
    path.write_text(json.dumps(run_results(*nodes, generated_at=stamp)))
    return path


BUILT = datetime(2024, 6, 10, 5, 0, tzinfo=UTC)


def test_freshness_passes_for_a_recent_clean_build(tmp_path: Path) -> None:
    path = write_results(
        tmp_path, ("model.a.m", "success"), ("test.a.t", "pass"), generated_at=BUILT
    )
    check = dbt.freshness(run_results=path, max_age=26 * 3600, now=BUILT + timedelta(hours=3))
    assert check.ok and check.age == 3 * 3600
    assert (check.evidence, check.nodes, check.failing) == (str(path), 2, ())
    assert check.generated_at == BUILT and check.invocation_id == "inv-1"
    assert check.reason == "built 3h ago (limit 26h), 2 nodes, none failed"


def test_freshness_fails_for_an_old_build(tmp_path: Path) -> None:
    path = write_results(tmp_path, ("model.a.m", "success"), generated_at=BUILT)
    check = dbt.freshness(run_results=path, max_age=26 * 3600, now=BUILT + timedelta(hours=30))
    assert not check.ok and check.age == 30 * 3600
    assert check.reason == "stale: built 30h ago, more than 26h"


def test_freshness_fails_for_a_recent_build_with_errors(tmp_path: Path) -> None:
    path = write_results(tmp_path, ("model.a.m", "error"), ("test.a.t", "pass"), generated_at=BUILT)
    check = dbt.freshness(run_results=path, max_age=3600, now=BUILT + timedelta(minutes=5))
    assert not check.ok and [n.unique_id for n in check.failing] == ["model.a.m"]
    assert check.reason == "1 of 2 nodes failed"


def test_freshness_fails_when_there_is_nothing_to_read(tmp_path: Path) -> None:
    check = dbt.freshness(run_results=tmp_path / "run_results.json", max_age=3600)
    assert not check.ok and check.reason == "no run_results.json there" and check.age is None


def test_freshness_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        dbt.freshness(max_age=1)
    with pytest.raises(UsageError):
        dbt.freshness(run_results=tmp_path, s3=object(), bucket="b", key="k", max_age=1)  # type: ignore[arg-type]


@pytest.fixture
def s3() -> Iterator[Any]:
    with moto.mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield client


def test_uploaded_artifacts_are_read_back_by_freshness_from_s3(s3: Any, tmp_path: Path) -> None:
    path = write_results(tmp_path, ("model.a.m", "success"), generated_at=BUILT)
    (tmp_path / "manifest.json").write_text('{"nodes": {}}')
    uploaded = dbt.upload_artifacts(s3, bucket=BUCKET, prefix="dbt", target_path=tmp_path)
    assert uploaded.keys == ("dbt/manifest.json", "dbt/run_results.json")
    assert uploaded.invocation_id == "inv-1"
    head = s3.head_object(Bucket=BUCKET, Key="dbt/run_results.json")
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"dbt-invocation-id": "inv-1"}
    body = s3.get_object(Bucket=BUCKET, Key="dbt/manifest.json")["Body"].read()
    assert body == b'{"nodes": {}}'

    key = dbt.artifact_key("dbt/", "run_results.json")
    fresh = dbt.freshness(
        s3=s3, bucket=BUCKET, key=key, max_age=26 * 3600, now=BUILT + timedelta(hours=1)
    )
    assert fresh.ok and fresh.nodes == 1
    assert fresh.evidence.startswith(f"s3://{BUCKET}/dbt/run_results.json (LastModified ")
    assert dbt.parse_run_results(path) == dbt.parse_run_results(
        s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    )
    stale = dbt.freshness(
        s3=s3, bucket=BUCKET, key=key, max_age=26 * 3600, now=BUILT + timedelta(days=2)
    )
    assert not stale.ok and stale.reason.startswith("stale: built 48h ago")


def test_freshness_from_s3_fails_on_an_errored_build_and_on_a_missing_object(
    s3: Any, tmp_path: Path
) -> None:
    write_results(tmp_path, ("seed.a.s", "success"), ("model.a.m", "error"), generated_at=BUILT)
    dbt.upload_artifacts(s3, bucket=BUCKET, prefix="", target_path=tmp_path)
    check = dbt.freshness(s3=s3, bucket=BUCKET, key="run_results.json", max_age=3600, now=BUILT)
    assert not check.ok and [n.name for n in check.failing] == ["m"]
    missing = dbt.freshness(s3=s3, bucket=BUCKET, key="dbt/run_results.json", max_age=3600)
    assert not missing.ok and missing.evidence == f"s3://{BUCKET}/dbt/run_results.json"


def test_upload_refuses_a_target_path_without_run_results(s3: Any, tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(UsageError, match=r"no run_results\.json"):
        dbt.upload_artifacts(s3, bucket=BUCKET, prefix="dbt/", target_path=tmp_path)
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


@needs_dbt
def test_a_real_build_s_artifacts_round_trip_through_s3(s3: Any, second: dbt.BuildResult) -> None:
    latest = second  # first and second share a target path: it holds the latest build
    assert latest.target_path is not None
    dbt.upload_artifacts(s3, bucket=BUCKET, prefix="dbt/", target_path=latest.target_path)
    assert latest.generated_at is not None
    check = dbt.freshness(
        s3=s3,
        bucket=BUCKET,
        key="dbt/run_results.json",
        max_age=60,
        now=latest.generated_at + timedelta(seconds=30),
    )
    assert check.ok and check.nodes == 30 and check.invocation_id == latest.invocation_id


# -- a prior release from git -----------------------------------------------------------------

SUBDIR = "analytics/dbt"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1.0.0: the sandbox project; v1.1.0: a new column on the incremental fact;
    HEAD (untagged): a comment in a view model."""
    repo = tmp_path_factory.mktemp("release-repo")
    git(repo, "init", "-q", "-b", "main")
    project = repo / SUBDIR
    shutil.copytree(PROJECT, project)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "v1.0.0")
    git(repo, "tag", "v1.0.0")
    fct = project / "models" / "marts" / "fct_campaign_daily.sql"
    fct.write_text(
        fct.read_text().replace("    currency,\n", "    currency,\n    'v1.1' as model_version,\n")
    )
    marts = project / "models" / "marts" / "_marts.yml"
    marts.write_text(marts.read_text() + "      - name: model_version\n")
    git(repo, "commit", "-q", "-am", "v1.1.0: model_version column")
    git(repo, "tag", "v1.1.0")
    stg = project / "models" / "staging" / "stg_meta_ads.sql"
    stg.write_text("-- head\n" + stg.read_text())
    git(repo, "commit", "-q", "-am", "head: a comment")
    return repo


def worktrees(repo: Path) -> list[str]:
    return [
        line
        for line in git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]


def test_schema_changes_since_a_tag(repo: Path) -> None:
    assert dbt.schema_changes(repo_dir=repo, tag="v1.0.0", project_subdir=SUBDIR) == (
        f"{SUBDIR}/models/marts/_marts.yml",
        f"{SUBDIR}/models/marts/fct_campaign_daily.sql",
    )
    # only a view changed since v1.1.0: views are rebuilt anyway
    assert dbt.schema_changes(repo_dir=repo, tag="v1.1.0", project_subdir=SUBDIR) == ()


@needs_dbt
def test_build_at_builds_the_tag_s_code_with_a_full_refresh_and_removes_the_worktree(
    repo: Path, tmp_path: Path
) -> None:
    result = dbt.build_at(
        "v1.0.0", repo_dir=repo, project_subdir=SUBDIR, target="sandbox", target_path=tmp_path
    )
    assert result.ok and result.full_refresh is True  # the fact's columns differ at HEAD
    columns = {
        r[0]
        for r in duck(
            tmp_path,
            "select column_name from information_schema.columns "
            "where table_name = 'fct_campaign_daily'",
        )
    }
    assert "currency" in columns and "model_version" not in columns  # v1.0.0's SQL
    assert worktrees(repo) == [f"worktree {repo}"]
    assert git(repo, "status", "--porcelain") == ""


def test_build_at_runs_in_a_checkout_of_the_tag_without_full_refresh_when_nothing_changed(
    repo: Path, tmp_path: Path
) -> None:
    seen: dict[str, str] = {}

    def look(argv: Sequence[str], cwd: str) -> None:
        project = argv[list(argv).index("--project-dir") + 1]
        seen["project"] = project
        seen["stg"] = (Path(project) / "models" / "staging" / "stg_meta_ads.sql").read_text()
        seen["profiles"] = argv[list(argv).index("--profiles-dir") + 1]

    fake = FakeRunner(outcome(0), run_results(("model.adinsights.x", "success")), on_call=look)
    result = dbt.build_at(
        "v1.1.0",
        repo_dir=repo,
        project_subdir=SUBDIR,
        target="sandbox",
        target_path=tmp_path,
        runner=fake,
    )
    assert result.ok and "--full-refresh" not in fake.argv
    assert not seen["stg"].startswith("-- head")  # the file as it is at v1.1.0
    assert seen["project"] != str(repo / SUBDIR) and seen["project"].endswith(SUBDIR)
    assert seen["profiles"] == seen["project"]
    assert not Path(seen["project"]).exists()
    assert worktrees(repo) == [f"worktree {repo}"]


def test_build_at_finds_the_repository_from_the_project_folder(repo: Path, tmp_path: Path) -> None:
    fake = FakeRunner(outcome(0), run_results(("model.adinsights.x", "success")))
    result = dbt.build_at(
        "v1.0.0",
        repo_dir=repo / SUBDIR,
        project_subdir=".",
        target="sandbox",
        target_path=tmp_path,
        runner=fake,
    )
    assert result.ok and "--full-refresh" in fake.argv  # the same schema changes as from the top
    argv = fake.calls[0]["argv"]
    project = argv[argv.index("--project-dir") + 1]
    assert project.endswith(SUBDIR) and not project.startswith(str(repo))
    with pytest.raises(UsageError, match="outside the git repository"):
        dbt.build_at("v1.0.0", repo_dir=repo, project_subdir="..", target="sandbox", runner=fake)


def test_build_at_can_skip_the_schema_check(repo: Path, tmp_path: Path) -> None:
    fake = FakeRunner(outcome(0), run_results(("model.adinsights.x", "success")))
    dbt.build_at(
        "v1.0.0",
        repo_dir=repo,
        project_subdir=SUBDIR,
        target="sandbox",
        target_path=tmp_path,
        runner=fake,
        full_refresh_if_schema_changed=False,
    )
    assert "--full-refresh" not in fake.argv


def test_build_at_removes_the_worktree_when_dbt_crashes(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(dbt.DbtCrashed):
        dbt.build_at(
            "v1.1.0",
            repo_dir=repo,
            project_subdir=SUBDIR,
            target="sandbox",
            target_path=tmp_path,
            runner=FakeRunner(outcome(2, "Encountered an error:", "boom")),
        )
    assert worktrees(repo) == [f"worktree {repo}"]


def test_build_at_refuses_an_unknown_tag(repo: Path) -> None:
    fake = FakeRunner(outcome(0))
    with pytest.raises(dbt.UnknownTag) as caught:
        dbt.build_at("v9.9.9", repo_dir=repo, project_subdir=SUBDIR, target="sandbox", runner=fake)
    assert caught.value.exit_code == EXIT_USAGE
    assert set(caught.value.known) == {"v1.0.0", "v1.1.0"}
    assert "no git tag 'v9.9.9'" in str(caught.value)
    assert fake.calls == [] and worktrees(repo) == [f"worktree {repo}"]


@pytest.mark.parametrize("tag", ["", "--orphan", "v1 .0"])
def test_build_at_refuses_what_is_not_a_tag_name(repo: Path, tag: str) -> None:
    with pytest.raises(UsageError, match="not a git tag name"):
        dbt.build_at(tag, repo_dir=repo, project_subdir=SUBDIR, target="sandbox")


def test_build_at_refuses_a_folder_that_is_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not in a git repository"):
        dbt.build_at("v1.0.0", repo_dir=tmp_path, project_subdir=".", target="sandbox")


def test_build_at_refuses_a_tag_without_the_project(repo: Path) -> None:
    fake = FakeRunner(outcome(0))
    with pytest.raises(UsageError, match=r"at tag v1\.0\.0, elsewhere is not a dbt project"):
        dbt.build_at(
            "v1.0.0", repo_dir=repo, project_subdir="elsewhere", target="sandbox", runner=fake
        )
    assert fake.calls == [] and worktrees(repo) == [f"worktree {repo}"]


# -- the inv tasks ----------------------------------------------------------------------------


def inv(*argv: str) -> int:
    """Run `inv <argv>` with the dbt collection in this process; its exit code."""
    from invoke import Collection, Program

    from runbooks import dbt as tasks

    ns = Collection()
    ns.add_collection(tasks.ns, name="dbt")
    try:
        Program(namespace=ns).run(["inv", *argv])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def environments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(ENVIRONMENTS))


@pytest.mark.parametrize(
    ("text", "seconds"), [("26h", 93600), ("90m", 5400), ("1d", 86400), ("1h30m", 5400), ("42", 42)]
)
def test_durations(text: str, seconds: float) -> None:
    from runbooks.dbt import parse_duration

    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "26x", "-1h", "1 day"])
def test_bad_durations(text: str) -> None:
    from runbooks.dbt import parse_duration

    with pytest.raises(UsageError, match="not a duration"):
        parse_duration(text)


def test_inv_dbt_build_prints_each_failed_node_and_a_summary_and_exits_1(
    environments: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[dict[str, Any]] = []
    failing = dbt.parse_run_results(
        json.dumps(
            run_results(
                ("model.adinsights.a", "success"),
                ("test.adinsights.not_null_a_id", "fail"),
                ("model.adinsights.b", "skipped"),
            )
        ).encode()
    )

    def fake_build(**options: Any) -> dbt.BuildResult:
        calls.append(options)
        raise dbt.BuildFailed(attrs.evolve(failing, target_path="/t"))

    import runbooks.dbt

    uploaded: list[dbt.BuildResult] = []
    monkeypatch.setattr(dbt, "build", fake_build)
    monkeypatch.setattr(runbooks.dbt, "_upload", lambda _e, _s, result: uploaded.append(result))
    code = inv("dbt.build", "--env", "sandbox", "--select", "a+ b", "--full-refresh", "--upload")
    out, err = capsys.readouterr()
    assert code == EXIT_FAILED
    assert out.splitlines() == [
        "FAILED test not_null_a_id: fail",
        "dbt build: 3 nodes: 1 fail, 1 skipped, 1 success in 12.5s -> /t",
    ]
    assert "error: dbt build failed: 1 of 3 nodes failed (not_null_a_id)" in err
    (options,) = calls
    assert options["project_dir"] == PROJECT.resolve()
    assert options["select"] == ["a+", "b"] and options["full_refresh"] is True
    assert options["target"] == "sandbox"
    assert str(options["target_path"]).endswith("dbt/sandbox/target")
    assert [r.target_path for r in uploaded] == ["/t"]  # failed builds are published too


def test_inv_dbt_build_tag_builds_the_release_with_the_profiles_as_they_were(
    environments: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    done = attrs.evolve(
        dbt.parse_run_results(json.dumps(run_results(("model.adinsights.a", "success"))).encode()),
        full_refresh=True,
        target_path="/t",
    )

    def fake_build_at(tag: str, **options: Any) -> dbt.BuildResult:
        calls.append((tag, options))
        return done

    monkeypatch.setattr(dbt, "build_at", fake_build_at)
    assert inv("dbt.build", "--env", "sandbox", "--tag", "v1.2.0", "--quiet") == 0
    ((tag, options),) = calls
    assert tag == "v1.2.0" and options["repo_dir"] == PROJECT.resolve()
    assert options["project_subdir"] == "." and options["profiles_dir"] is None
    out, _ = capsys.readouterr()
    assert out == "dbt build (full refresh): 1 node: 1 success in 12.5s -> /t\n"


def test_inv_dbt_freshness_of_a_stale_file_exits_1(
    environments: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_results(tmp_path, ("model.a.m", "success"), generated_at=BUILT)
    code = inv("dbt.freshness", "--env", "sandbox", "--path", str(path), "--max-age", "1h")
    out, _ = capsys.readouterr()
    assert code == EXIT_FAILED
    assert out.startswith("NOT FRESH: stale: built ")
    assert f"read {path}" in out


def test_the_artifacts_bucket_is_the_environment_s_or_the_blueprint_s() -> None:
    from adinsights_ops import config
    from runbooks.dbt import artifacts_bucket

    sandbox = config.load("sandbox", ENVIRONMENTS)
    assert sandbox.dbt is not None
    named = attrs.evolve(sandbox, dbt=attrs.evolve(sandbox.dbt, artifacts_bucket="other-bucket"))
    assert artifacts_bucket(named) == "other-bucket"
    unnamed = attrs.evolve(sandbox, dbt=attrs.evolve(sandbox.dbt, artifacts_bucket=None))
    assert artifacts_bucket(unnamed) == "adinsights-sandbox-dbt-artifacts"
