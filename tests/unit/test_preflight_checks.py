"""Preflight (and so the dry run) checks every path the deploy needs and refuses plaintext secrets,
before the lock is taken and before Airbyte, dbt or AWS change anything.

Measured before: a deploy whose environments file named a missing template took the lock and ran
Airbyte and dbt before failing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from adinsights_ops import pipeline
from adinsights_ops.errors import EXIT_USAGE, ConfigError, OpsError
from adinsights_ops.pipeline import _preflight as preflight
from adinsights_ops.pipeline._plan import plan_deploy
from adinsights_ops.release import parse_image_tag
from tests.simulated import Simulated

TAG = parse_image_tag("v1.3.0")


def with_env(sim: Simulated, **changes: Any) -> Any:
    return attrs.evolve(sim.ops, env=attrs.evolve(sim.env, **changes))


def refused_before_anything(sim: Simulated, ops: Any, match: str) -> OpsError:
    """preflight.run, plan_deploy and the deploy itself all refuse with exit 2 and no AWS call."""
    sim.calls.clear()
    calls: list[Callable[[], object]] = [
        lambda: preflight.run(ops, TAG),
        lambda: plan_deploy(ops, TAG),
        lambda: pipeline.deploy(ops, image_tag="v1.3.0"),
        lambda: pipeline.deploy(ops, image_tag=TAG),  # the tag as the task parsed it
    ]
    raised: OpsError | None = None
    for call in calls:
        with pytest.raises(OpsError, match=match) as caught:
            call()
        assert caught.value.exit_code == EXIT_USAGE
        raised = caught.value
    assert raised is not None
    return raised


def test_the_sandbox_passes_with_evidence_for_each_path(sim: Simulated) -> None:
    checked = preflight.run(sim.ops, TAG)
    joined = "\n".join(checked.checks)
    assert "network-data.yaml" in joined
    assert "2 Airbyte manifests" in joined
    assert "dbt project" in joined
    assert "no plaintext secrets in the 4 revisions to register" in joined


def test_a_missing_template_is_refused_before_any_call(sim: Simulated) -> None:
    ops = with_env(sim, infra={"engine": "cloudformation", "template": "infra/nosuch.yaml"})
    error = refused_before_anything(sim, ops, "infra/nosuch.yaml")
    assert isinstance(error, ConfigError) and error.key == "sandbox.infra.template"
    assert "tried" in str(error)
    assert sum(sim.calls.values()) == 0, dict(sim.calls)  # no lock, no journal, nothing


@pytest.mark.parametrize(
    ("field", "value", "key"),
    [
        ("manifests", "nowhere/airbyte", "sandbox.airbyte.manifests"),
    ],
)
def test_a_missing_manifests_folder_is_refused(
    sim: Simulated, field: str, value: str, key: str
) -> None:
    assert sim.env.airbyte is not None
    changed: dict[str, Any] = {field: value}  # one field, named by the parameter
    ops = with_env(sim, airbyte=attrs.evolve(sim.env.airbyte, **changed))
    error = refused_before_anything(sim, ops, value)
    assert isinstance(error, ConfigError) and error.key == key
    assert sum(sim.calls.values()) == 0


def test_an_empty_stream_list_is_refused_before_the_lock(sim: Simulated, tmp_path: Path) -> None:
    from tests.simulated import ROOT

    folder = tmp_path / "airbyte"
    folder.mkdir()
    for source in (ROOT / "infrastructure/airbyte").glob("*.yaml"):
        text = source.read_text()
        if source.name == "meta_ads.yaml":
            text = text.split("streams:")[0] + "streams: []\n"
        (folder / source.name).write_text(text)
    assert sim.env.airbyte is not None
    ops = with_env(sim, airbyte=attrs.evolve(sim.env.airbyte, manifests=str(folder)))
    error = refused_before_anything(sim, ops, "streams: is empty")
    assert isinstance(error, ConfigError) and error.source == str(folder / "meta_ads.yaml")
    assert sum(sim.calls.values()) == 0


@pytest.mark.parametrize("field", ["project_dir", "profiles_dir"])
def test_a_missing_dbt_folder_is_refused(sim: Simulated, field: str) -> None:
    assert sim.env.dbt is not None
    changed: dict[str, Any] = {field: "no/such/dbt"}
    ops = with_env(sim, dbt=attrs.evolve(sim.env.dbt, **changed))
    error = refused_before_anything(sim, ops, "no/such/dbt")
    assert isinstance(error, ConfigError) and error.key == f"sandbox.dbt.{field}"
    assert sum(sim.calls.values()) == 0


def test_an_activity_log_that_cannot_be_written_is_refused(sim: Simulated, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    notes = attrs.evolve(sim.env.notifications, activity_log=str(blocker / "log.md"))
    error = refused_before_anything(sim, with_env(sim, notifications=notes), "is a file")
    assert isinstance(error, ConfigError)
    assert error.key == "sandbox.notifications.activity_log"
    folder = tmp_path / "folder.md"
    folder.mkdir()
    notes = attrs.evolve(sim.env.notifications, incident_log=str(folder))
    refused_before_anything(sim, with_env(sim, notifications=notes), "is not a file")
    assert sum(sim.calls.values()) == 0


def test_a_revision_with_a_plaintext_secret_is_never_registered(sim: Simulated) -> None:
    client = sim.client("ecs")
    backend = sim.env.ecs.services["backend"].name
    running = sim.primary_task_definitions()[backend]
    td = client.describe_task_definition(taskDefinition=running)["taskDefinition"]
    keys = (
        "family",
        "networkMode",
        "containerDefinitions",
        "requiresCompatibilities",
        "cpu",
        "memory",
    )
    register = {k: td[k] for k in keys}
    leaked = "s3cr3t-Passw0rd-not-for-logs"
    register["containerDefinitions"] = [
        {**c, "environment": [*c.get("environment", []), {"name": "DB_PASSWORD", "value": leaked}]}
        for c in td["containerDefinitions"]
    ]
    arn = client.register_task_definition(**register)["taskDefinition"]["taskDefinitionArn"]
    client.update_service(cluster=sim.env.ecs.cluster, service=backend, taskDefinition=arn)
    sim.clock.sleep(120)  # let the simulated scheduler settle the service on it
    sim.calls.clear()
    error = refused_before_anything(sim, sim.ops, "plaintext secrets")
    assert isinstance(error, preflight.PlaintextSecrets)
    assert "DB_PASSWORD" in str(error) and "its name says PASSWORD" in str(error)
    assert leaked not in str(error)  # never the value
    mutating = [op for op in sim.calls if op.startswith(("Register", "Update", "Put", "Create"))]
    assert mutating == []
