"""`env.list` and `env.check` as library functions: each environment ready or with its problem,
and the section-1 rules for a tag as a check report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from adinsights_ops.config._listing import list_environments
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.pipeline._envcheck import check_environment
from tests.simulated import ENVIRONMENTS, Simulated


def test_every_environment_is_listed_ready_or_with_its_first_problem(tmp_path: Path) -> None:
    data = yaml.safe_load(ENVIRONMENTS.read_text())
    data["broken"] = {"region": "eu-west-1"}
    file = tmp_path / "environments.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    found = list_environments(file)
    assert found.source == str(file)
    by_name = {e.name: e for e in found.environments}
    assert list(by_name) == [*[str(n) for n in data]]
    assert by_name["sandbox"].ready and by_name["sandbox"].sandbox
    assert not by_name["staging"].ready and "placeholder" in by_name["staging"].problem
    assert not by_name["broken"].ready and by_name["broken"].problem


def opener(sim: Simulated, opened: list[str]) -> Any:
    @contextmanager
    def open_ops(name: Any) -> Iterator[OpsEnv]:
        opened.append(name if isinstance(name, str) else name.name)
        yield sim.ops

    return open_ops


def test_a_tag_the_branch_rule_refuses_is_one_failed_item_and_opens_nothing(
    sim: Simulated,
) -> None:
    import attrs

    opened: list[str] = []
    env = attrs.evolve(sim.env, branch_rule="tags")
    report = check_environment(env, opener(sim, opened), "main-a1b2c3d")
    assert [(i.name, i.status) for i in report.items] == [("branch rule", "fail")]
    assert not report.ok and opened == []


def test_a_good_tag_checks_account_images_and_promotion(sim: Simulated) -> None:
    opened: list[str] = []
    report = check_environment(sim.env, opener(sim, opened), None)
    names = [i.name for i in report.items]
    assert names == ["branch rule", "account", "images in ECR", "promotion"]
    assert report.title == "environment check" and report.environment == "sandbox"
    assert opened == ["sandbox"]
    assert {i.name: i.status for i in report.items}["account"] == "pass"
