"""Which environments file is read (like `git` finds `.git`), and a load that reports every problem.

Order: an explicit path, `--environments` (`config.chosen_file`), $ADINSIGHTS_ENVIRONMENTS,
`environments.yaml` in the working folder or its nearest parent, the packaged sandbox-only file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import attrs
import pytest
import yaml

from adinsights_ops import config
from adinsights_ops.errors import EXIT_USAGE, ConfigError

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ROOT / "environments.yaml"


@pytest.fixture(autouse=True)
def _no_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADINSIGHTS_ENVIRONMENTS", raising=False)


def _sandbox_file(folder: Path, **changes: object) -> Path:
    data = yaml.safe_load(ENVIRONMENTS.read_text())
    sandbox = data["sandbox"]
    sandbox.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "environments.yaml"
    path.write_text(yaml.safe_dump({"sandbox": sandbox}))
    return path


def test_the_nearest_parent_holding_environments_yaml_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = _sandbox_file(tmp_path)
    inner = _sandbox_file(tmp_path / "a")
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert config.environments_file() == inner.resolve()
    monkeypatch.chdir(tmp_path)
    assert config.environments_file() == outer.resolve()
    assert config.load("sandbox").source == str(outer.resolve())


def test_the_order_argument_flag_variable_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = _sandbox_file(tmp_path / "here")
    variable = _sandbox_file(tmp_path / "variable")
    flag = _sandbox_file(tmp_path / "flag")
    argument = _sandbox_file(tmp_path / "argument")
    monkeypatch.chdir(found.parent)
    assert config.environments_file() == found.resolve()
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(variable))
    assert config.environments_file() == variable
    with config.chosen_file(flag):
        assert config.environments_file() == flag
        assert config.environments_file(argument) == argument
        assert config.load("sandbox").source == str(flag)
    assert config.environments_file() == variable  # --environments lasts one run only
    with config.chosen_file(None):
        assert config.environments_file() == variable


def test_an_empty_folder_falls_back_to_the_packaged_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert config.environments_file() == config.PACKAGED_FILE
    env = config.load("sandbox")
    assert env.source == str(config.PACKAGED_FILE) and env.sandbox
    package = config.PACKAGED_FILE.parent
    assert env.dbt is not None
    project = env.existing_path(env.dbt.project_dir, key="dbt", kind="directory")
    assert project == package / "dbt_project" and (project / "dbt_project.yml").is_file()
    manifests = env.existing_path("infrastructure/airbyte", key="m", kind="directory")
    template = env.existing_path(
        "infrastructure/cloudformation/network-data.yaml", key="infra.template"
    )
    # Found beside the packaged file (in an installed package, the copies setup.cfg ships).
    assert manifests == package / "infrastructure" / "airbyte"
    assert template.parent.parent == package / "infrastructure"
    assert sorted(p.name for p in manifests.glob("*.yaml")) == sorted(
        p.name for p in (ROOT / "infrastructure" / "airbyte").glob("*.yaml")
    )
    assert template.read_bytes() == (ROOT / template.relative_to(package)).read_bytes()


def test_the_packaged_sandbox_is_the_repositorys_sandbox() -> None:
    """Only the dbt paths differ: each file's are relative to its own folder."""
    packaged = config.load("sandbox", config.PACKAGED_FILE)
    repository = config.load("sandbox", ENVIRONMENTS)
    assert config.environment_names(config.PACKAGED_FILE) == ["sandbox"]
    assert packaged.dbt is not None and repository.dbt is not None
    assert packaged.path(packaged.dbt.project_dir).resolve() == (
        repository.path(repository.dbt.project_dir).resolve()
    )
    same = attrs.evolve(packaged, source=repository.source, dbt=repository.dbt)
    assert same == repository


def test_another_environment_than_the_packaged_sandbox_says_how_to_name_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        config.load("staging")
    message = str(raised.value)
    assert "unknown environment (known: sandbox)" in message
    assert "--environments PATH" in message and "$ADINSIGHTS_ENVIRONMENTS" in message


def test_a_missing_file_names_the_path_it_tried_and_who_named_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", "nosuch/environments.yaml")
    with pytest.raises(ConfigError) as raised:
        config.load("sandbox")
    tried = tmp_path.resolve() / "nosuch" / "environments.yaml"
    assert f"file not found (tried {tried})" in str(raised.value)
    assert "(given by $ADINSIGHTS_ENVIRONMENTS)" in str(raised.value)
    assert raised.value.exit_code == EXIT_USAGE
    with config.chosen_file(tmp_path / "gone.yaml"), pytest.raises(ConfigError) as flagged:
        config.load("sandbox")
    assert str(flagged.value).endswith("(given by --environments)")
    with config.chosen_file(tmp_path), pytest.raises(ConfigError, match="is a folder"):
        config.load("sandbox")


def test_paths_resolve_against_the_files_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ops"
    path = _sandbox_file(
        folder,
        dbt={"project_dir": "mydbt", "profiles_dir": "mydbt", "target": "sandbox"},
    )
    (folder / "mydbt").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    env = config.load("sandbox", path)
    assert env.existing_path("mydbt", key="k", kind="directory") == folder / "mydbt"
    shutil.rmtree(folder / "mydbt")
    with pytest.raises(ConfigError) as raised:
        env.existing_path("mydbt", key="sandbox.dbt.project_dir", kind="directory")
    assert str(folder / "mydbt") in str(raised.value)


def test_every_placeholder_is_reported_at_once_with_its_dotted_key() -> None:
    with pytest.raises(ConfigError) as raised:
        config.load("staging", ENVIRONMENTS)
    error = raised.value
    placeholders = ENVIRONMENTS.read_text().split("\nproduction:")[0].split("\nstaging:")[1]
    count = placeholders.count('"<') + placeholders.count('"https://<')
    assert len(error.details) == count > 10
    keys = [line.split(":", 1)[0] for line in error.details]
    for key in (
        "staging.account",
        "staging.region",
        "staging.state_bucket",
        "staging.health.sample_tenant",
        "staging.airbyte.connections.meta_ads",
        "staging.cost.monthly_budget",
    ):
        assert key in keys
    assert all(line.endswith(": fill it in") for line in error.details)
    # The attributes stay those of the first problem; the message says how many there are.
    assert error.key == keys[0] and error.details[0] == f"{error.key}: {error.expected}"
    assert f"(1 of {count} problems, each below)" in str(error)
    assert error.exit_code == EXIT_USAGE


def test_problems_of_every_kind_are_reported_together(tmp_path: Path) -> None:
    data = yaml.safe_load(ENVIRONMENTS.read_text())["sandbox"]
    del data["region"]
    data["approval_required"] = "yes"
    data["colour"] = "blue"
    data["ecs"]["services"]["beat"]["image"] = "nginx"
    data["ecs"]["timeouts"] = {"rollout": -1}
    data.pop("health")
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump({"sandbox": data}))
    with pytest.raises(ConfigError) as raised:
        config.load("sandbox", path)
    keys = [line.split(":", 1)[0] for line in raised.value.details]
    assert sorted(keys) == sorted(
        [
            "sandbox.region",
            "sandbox.approval_required",
            "sandbox.colour",
            "sandbox.ecs.services.beat.image",
            "sandbox.ecs.timeouts.rollout",
            "sandbox.health",  # missing: reported once, not once per key inside it
        ]
    )


def test_one_problem_is_one_error_as_before(tmp_path: Path) -> None:
    path = _sandbox_file(tmp_path, region="mars")
    with pytest.raises(ConfigError) as raised:
        config.load("sandbox", path)
    assert raised.value.key == "sandbox.region" and raised.value.details == []
    assert str(raised.value).endswith("expected an AWS region such as eu-west-1, got 'mars'")


def test_the_installed_package_carries_the_packaged_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """setup.cfg's package data: what `pip install .` copies (links followed) is a working sandbox,
    with no repository beside it."""
    import subprocess
    import sys

    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "target", "logs", "*.egg-info")
    for name in ("adinsights_ops", "runbooks", "infrastructure"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
    built = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "build_py", "-d", built],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=120,
    )
    shutil.rmtree(source)  # nothing left to fall back to
    empty = tmp_path / "empty"
    empty.mkdir()
    probe = (
        "from adinsights_ops import config\n"
        "e = config.load('sandbox')\n"
        "print(e.source)\n"
        "print(e.existing_path(e.dbt.project_dir, key='d', kind='directory'))\n"
        "print(e.existing_path('infrastructure/airbyte/meta_ads.yaml', key='a'))\n"
        "print(e.existing_path('infrastructure/cloudformation/network-data.yaml', key='t'))\n"
    )
    environ = {"PYTHONPATH": str(built), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(built)!r})\n" + probe],
        cwd=empty,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    package = built / "adinsights_ops" / "sandbox"
    assert done.stdout.splitlines() == [
        str(package / "environments.yaml"),
        str(package / "dbt_project"),
        str(package / "infrastructure" / "airbyte" / "meta_ads.yaml"),
        str(package / "infrastructure" / "cloudformation" / "network-data.yaml"),
    ]
    assert not (package / "infrastructure").is_symlink()
