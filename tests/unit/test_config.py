"""The environments file: the sandbox loads; every mistake is one line naming file, key, expectation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from adinsights_ops import config
from adinsights_ops.errors import EXIT_USAGE, ConfigError
from adinsights_ops.release import check_branch_rule, parse_image_tag
from tests.simulated import ENVIRONMENTS


def sandbox_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ENVIRONMENTS.read_text())["sandbox"]
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "envs.yaml"
    path.write_text(yaml.safe_dump({"sandbox": data}))
    return path


def test_sandbox_loads_ready_to_run() -> None:
    env = config.load("sandbox", ENVIRONMENTS)
    assert env.sandbox and env.account == "123456789012"
    assert [ref.name for ref in env.ecs.services.values()] == [
        "backend-service",
        "celery-worker",
        "celery-beat",
        "frontend-service",
    ]
    assert env.ecs.singletons == ("celery-beat",)
    assert env.service_images()["celery-beat"] == "adinsights/worker"


@pytest.mark.parametrize("name", ["staging", "production"])
def test_templates_say_which_placeholder_to_fill(name: str) -> None:
    with pytest.raises(ConfigError, match="placeholder"):
        config.load(name, ENVIRONMENTS)


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        config.load("prod", ENVIRONMENTS)
    assert "unknown environment" in str(raised.value) and "production" in str(raised.value)
    assert raised.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize(
    ("mutate", "key", "expected"),
    [
        (lambda d: d.pop("region"), "sandbox.region", "missing"),
        (lambda d: d.update(account="12345"), "sandbox.account", "12-digit"),
        (lambda d: d.update(approval_required="yes"), "sandbox.approval_required", "true or false"),
        (
            lambda d: d.update(branch_rule="develop"),
            "sandbox.branch_rule",
            "one of main, tags, any",
        ),
        (lambda d: d["ecs"]["services"].pop("beat"), "sandbox.ecs.services.beat", "missing"),
        (
            lambda d: d["ecs"]["services"]["beat"].update(image="nginx"),
            "sandbox.ecs.services.beat.image",
            "repositories",
        ),
        (
            lambda d: d["ecs"].update(timeouts={"rollout": -1}),
            "sandbox.ecs.timeouts.rollout",
            "positive",
        ),
        (lambda d: d.update(colour="blue"), "sandbox.colour", "unknown key"),
        (lambda d: d["ecs"].update(cluster=["a"]), "sandbox.ecs.cluster", "a string"),
        (
            lambda d: d["ecs"].update(run_task_network={}),
            "sandbox.ecs.run_task_network",
            "subnets and security_groups",
        ),
    ],
)
def test_each_mistake_names_the_key(tmp_path: Path, mutate: Any, key: str, expected: str) -> None:
    data = sandbox_data()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as raised:
        config.load("sandbox", path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {key}:")
    assert expected in message
    assert "\n" not in message


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        config.load("sandbox", tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sandbox: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load("sandbox", bad)


def test_a_file_is_read_again_when_it_changes_and_each_reader_gets_its_own_copy(
    tmp_path: Path,
) -> None:
    """The parsed YAML is kept for the file's text: an edit is seen at once, and what one caller
    does to its mapping is not what the next one reads."""
    path = tmp_path / "environments.yaml"
    data = yaml.safe_load(ENVIRONMENTS.read_text())
    path.write_text(yaml.safe_dump(data))
    _, first = config.read_file(path)
    first["sandbox"]["region"] = "changed-by-a-caller"
    assert config.load("sandbox", path).region == data["sandbox"]["region"]
    data["sandbox"]["region"] = "us-east-2"
    path.write_text(yaml.safe_dump(data))
    assert config.load("sandbox", path).region == "us-east-2"
    path.write_text("sandbox: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load("sandbox", path)


@pytest.mark.parametrize(
    ("given", "ecr", "kind"),
    [
        ("v1.4.0", "release-1.4.0", "release"),
        ("release-2.0.10", "release-2.0.10", "release"),
        ("main-a1b2c3d", "main-a1b2c3d", "main"),
    ],
)
def test_image_tags(given: str, ecr: str, kind: str) -> None:
    tag = parse_image_tag(given)
    assert (tag.ecr_tag, tag.kind) == (ecr, kind)


@pytest.mark.parametrize("bad", ["1.4.0", "v1.4", "v01.2.3", "latest", "main-XYZ", "main-abc", ""])
def test_malformed_tags_are_usage_errors(bad: str) -> None:
    with pytest.raises(Exception) as raised:
        parse_image_tag(bad)
    assert getattr(raised.value, "exit_code", None) == EXIT_USAGE


def test_branch_rules_name_the_rule() -> None:
    with pytest.raises(Exception, match="branch rule 'tags'"):
        check_branch_rule("production", "tags", parse_image_tag("main-a1b2c3d"))
    with pytest.raises(Exception, match="branch rule 'main'"):
        check_branch_rule("staging", "main", parse_image_tag("v1.0.0"))
    check_branch_rule("sandbox", "any", parse_image_tag("v1.0.0"))


def test_airbyte_polling_is_configuration_with_the_primitives_default_elsewhere(
    tmp_path: Path,
) -> None:
    from adinsights_ops import airbyte

    sandbox = config.load("sandbox", ENVIRONMENTS)
    assert sandbox.airbyte is not None
    fast = sandbox.airbyte.polling(airbyte.POLL_BACKOFF)
    assert (fast.initial, fast.maximum) == (0.5, 2.0)
    assert fast.factor == airbyte.POLL_BACKOFF.factor
    data = sandbox_data()
    del data["airbyte"]["polling"]
    unset = config.load("sandbox", write(tmp_path, data)).airbyte
    assert unset is not None and unset.polling(airbyte.POLL_BACKOFF) == airbyte.POLL_BACKOFF
    data["airbyte"]["polling"] = {"first": 5, "maximum": 1}
    with pytest.raises(ConfigError, match=r"airbyte\.polling\.maximum"):
        config.load("sandbox", write(tmp_path, data))


def test_polling_pace_is_configuration_with_the_primitives_defaults_elsewhere(
    tmp_path: Path,
) -> None:
    from adinsights_ops import ecs

    sandbox = config.load("sandbox", ENVIRONMENTS)
    fast = sandbox.ecs.polling(ecs.TASK_POLL)
    assert (fast.initial, fast.maximum) == (0.1, 0.4)
    assert fast.factor == ecs.TASK_POLL.factor  # only the pace changes, not the shape
    data = sandbox_data()
    del data["ecs"]["polling"]
    unset = config.load("sandbox", write(tmp_path, data))
    assert unset.ecs.polling(ecs.DEFAULT_POLL) == ecs.DEFAULT_POLL
    data["ecs"]["polling"] = {"first": 5, "maximum": 1}
    with pytest.raises(ConfigError, match=r"ecs\.polling\.maximum"):
        config.load("sandbox", write(tmp_path, data))
    data["ecs"]["polling"] = {"first": 0}
    with pytest.raises(ConfigError, match=r"ecs\.polling\.first"):
        config.load("sandbox", write(tmp_path, data))
