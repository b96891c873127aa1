"""`adinsights-ops` from any folder: --environments, $ADINSIGHTS_ENVIRONMENTS, the nearest
environments.yaml, the packaged sandbox; $ADINSIGHTS_ENV as the default --env (never production)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from runbooks.collection import ns
from runbooks.program import contexts_of
from tests.cli.runner import run

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ROOT / "environments.yaml"

pytestmark = pytest.mark.cli


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("ADINSIGHTS_ENVIRONMENTS", raising=False)
    monkeypatch.delenv("ADINSIGHTS_ENV", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    return empty


def _copy(folder: Path, cluster: str = "adinsights-sandbox") -> Path:
    data = yaml.safe_load(ENVIRONMENTS.read_text())
    data["sandbox"]["ecs"]["cluster"] = cluster
    data["sandbox"]["dbt"] = {
        "project_dir": str(ROOT / "adinsights_ops/sandbox/dbt_project"),
        "profiles_dir": str(ROOT / "adinsights_ops/sandbox/dbt_project"),
        "target": "sandbox",
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "environments.yaml"
    path.write_text(yaml.safe_dump({"sandbox": data["sandbox"]}))
    return path


def test_deploy_dry_run_works_from_an_empty_folder() -> None:
    from adinsights_ops import config

    result = run("deploy", "--env", "sandbox", "--dry-run")
    assert result.code == 0, result.output
    assert result.stdout.startswith("plan: deploy "), result.output
    assert " to sandbox (dry run: nothing was changed)" in result.stdout.splitlines()[0]
    # The packaged sandbox's files: its CloudFormation template and Airbyte manifests.
    assert str(config.PACKAGED_FILE.parent / "infrastructure") in result.stdout, result.stdout
    assert "Traceback" not in result.output


def test_env_show_names_the_file_it_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from adinsights_ops import config

    shown = run("env.show", "--env", "sandbox")
    assert shown.code == 0, shown.output
    assert shown.stdout.splitlines()[0] == f"sandbox  ({config.PACKAGED_FILE})"
    found = _copy(tmp_path / "project", cluster="found-cluster")
    deep = found.parent / "docs" / "runbooks"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)  # as `git` finds .git: the nearest parent's environments.yaml
    shown = run("env.show", "--env", "sandbox")
    assert shown.code == 0, shown.output
    assert f"({found.resolve()})" in shown.stdout and "cluster found-cluster" in shown.stdout


def test_the_flag_beats_the_variable_beats_the_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy(Path.cwd(), cluster="found-cluster")
    variable = _copy(tmp_path / "variable", cluster="variable-cluster")
    flag = _copy(tmp_path / "flag", cluster="flag-cluster")
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(variable))
    shown = run("env.show", "--env", "sandbox")
    assert "cluster variable-cluster" in shown.stdout, shown.output
    shown = run("--environments", str(flag), "env.show", "--env", "sandbox")
    assert shown.code == 0, shown.output
    assert "cluster flag-cluster" in shown.stdout and f"({flag})" in shown.stdout
    # The flag lasts one run: the next one reads the variable's file again.
    assert "cluster variable-cluster" in run("env.show", "--env", "sandbox").stdout


def test_a_missing_environments_file_is_one_line_naming_the_path() -> None:
    missing = Path.cwd() / "nosuch.yaml"
    result = run("--environments", "nosuch.yaml", "env.show", "--env", "sandbox")
    assert result.code == 2 and result.stdout == ""
    assert result.error_lines() == [
        f"error: nosuch.yaml: file not found (tried {missing}) (given by --environments)"
    ]
    empty = run("--environments", "", "env.show", "--env", "sandbox")
    assert empty.code == 2
    assert empty.error_lines()[0].startswith("error: --environments '': expected")


def test_another_environment_from_an_empty_folder_says_how_to_name_the_file() -> None:
    result = run("env.show", "--env", "staging")
    assert result.code == 2
    assert len(result.error_lines()) == 1
    assert "unknown environment (known: sandbox)" in result.stderr
    assert "--environments PATH" in result.stderr


def test_env_show_lists_every_problem_with_its_dotted_key() -> None:
    result = run("--environments", str(ENVIRONMENTS), "env.show", "--env", "staging")
    assert result.code == 2 and result.stdout == ""
    assert len(result.error_lines()) == 1
    details = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert len(details) > 10
    assert all(line.startswith("staging.") for line in details), result.stderr
    for key in ("staging.account", "staging.region", "staging.state_bucket"):
        assert any(line.startswith(key + ":") for line in details)


def test_adinsights_env_is_the_default_and_the_flag_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADINSIGHTS_ENV", "sandbox")
    shown = run("env.show")
    assert shown.code == 0, shown.output
    assert shown.stdout.startswith("sandbox  (")
    monkeypatch.setenv("ADINSIGHTS_ENV", "staging")  # not in the packaged file; --env wins
    assert run("env.show", "--env", "sandbox").code == 0


def test_production_is_never_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(ENVIRONMENTS))
    monkeypatch.setenv("ADINSIGHTS_ENV", "production")
    refused = run("deploy", "--dry-run")
    assert refused.code == 2 and refused.stdout == ""
    assert refused.error_lines() == [
        "error: ADINSIGHTS_ENV=production refused: production is never a default; "
        "pass --env production on the command line"
    ]
    given = run("env.show", "--env", "sandbox")  # the variable is not read when --env is given
    assert given.code == 0, given.output


TASKS_WITH_ENV = sorted(
    context.name
    for context in contexts_of(ns)
    if context.name
    and "env" in context.args
    and not context.name.startswith("sandbox.")  # the sandbox tasks default to the sandbox
)


def test_every_task_takes_the_same_optional_env() -> None:
    assert len(TASKS_WITH_ENV) > 40
    for name in TASKS_WITH_ENV:
        arg = next(c for c in contexts_of(ns) if c.name == name).args["env"]
        assert arg.default is None and not arg.positional, name
        assert "ADINSIGHTS_ENV" in (arg.help or ""), name


@pytest.mark.parametrize("task", TASKS_WITH_ENV)
def test_without_env_or_adinsights_env_a_task_says_it_needs_env(task: str) -> None:
    contexts = {c.name: c for c in contexts_of(ns)}
    required = [a for a in contexts[task].args.values() if a.positional]
    argv = [task]
    for arg in required:  # other required options, with a value that passes parsing
        argv += ["--" + arg.name.replace("_", "-"), "1"]
    result = run(*argv)
    assert result.code == 2, result.output
    assert result.error_lines() == [
        "error: no environment: this task needs --env NAME "
        "(or ADINSIGHTS_ENV set to one that is not production)"
    ], result.output
