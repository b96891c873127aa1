"""The cost tasks' checks as library functions: production refused by name before the file is
read, off-hours crons and time zones refused before AWS, who gets the budget's alerts."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import yaml

from adinsights_ops import config, cost
from adinsights_ops.config._cost import CostSettings
from adinsights_ops.errors import UsageError
from tests.simulated import ENVIRONMENTS


@pytest.fixture(autouse=True)
def environments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox, and `rehearsal`: the same shape but not a sandbox (a staging stand-in)."""
    data = yaml.safe_load(ENVIRONMENTS.read_text())
    data = {"sandbox": data["sandbox"], "rehearsal": {**data["sandbox"], "sandbox": False}}
    file = tmp_path / "environments.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(file))


def test_load_guarded_refuses_production_by_name_without_reading_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", "/nonexistent/environments.yaml")
    with pytest.raises(cost.ProductionRefused, match="production"):
        cost.load_guarded("production", "cost.scale-down")


def test_load_guarded_loads_what_is_not_production() -> None:
    assert cost.load_guarded("rehearsal", "cost.schedule").name == "rehearsal"
    assert cost.load_guarded("sandbox", "cost.schedule").sandbox


def test_load_guarded_refuses_an_environment_that_deploys_tags_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = yaml.safe_load(ENVIRONMENTS.read_text())
    file = tmp_path / "tags.yaml"
    file.write_text(
        yaml.safe_dump({"live": {**data["sandbox"], "sandbox": False, "branch_rule": "tags"}})
    )
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(file))
    with pytest.raises(cost.ProductionRefused, match="release tags only"):
        cost.load_guarded("live", "cost.scale-down")


def test_check_offhours_refuses_a_bad_cron_or_time_zone() -> None:
    env = config.load("rehearsal")
    cost.check_offhours(env)  # the environment's own settings are valid
    cost.check_offhours(env, down="0 21 * * MON-FRI", timezone="Europe/London")
    with pytest.raises(UsageError):
        cost.check_offhours(env, up="every morning")
    with pytest.raises(UsageError):
        cost.check_offhours(env, timezone="Mars/Olympus")


def test_budget_recipients_are_the_emails_then_the_topic() -> None:
    env = config.load("rehearsal")
    emails = list(env.notifications.email_to)
    assert cost.budget_recipients(attrs.evolve(env, cost=CostSettings())) == emails
    topic = "arn:aws:sns:eu-west-1:123456789012:budget"
    with_topic = attrs.evolve(env, cost=CostSettings(budget_sns_topic=topic))
    assert cost.budget_recipients(with_topic) == [*emails, topic]
