"""The pieces the deploy shares with the rest of the library, rather than copies of them: one-off
tasks through `oneoff.run`, the image tag parsed once, the dbt target folder in one place.

Measured before: the deploy's one-off and warm steps repeated `ecs.run_task`'s nine arguments
(and `oneoff.run` could not run on another service's revision or once per run), the tag went
string -> ImageTag -> string -> ImageTag between the task and the pipeline, and the dbt target
path was spelled out in the deploy and again in the post-deploy checks.
"""

from __future__ import annotations

import pytest

from adinsights_ops import paths, pipeline
from adinsights_ops.ecs import _oneoff as oneoff
from adinsights_ops.errors import UsageError
from adinsights_ops.release import parse_image_tag
from tests.simulated import Simulated


def essential_container(sim: Simulated, task_definition: str) -> str:
    td = sim.client("ecs").describe_task_definition(taskDefinition=task_definition)
    containers = td["taskDefinition"]["containerDefinitions"]
    return str(next(c for c in containers if c.get("essential", True))["name"])


def test_a_one_off_runs_on_the_backend_in_its_one_off_container_by_default(sim: Simulated) -> None:
    ran = oneoff.run(sim.ops, "python manage.py seed_roles")
    assert ran.exit_code == 0
    assert ran.container == sim.env.ecs.one_off_container
    assert ran.task_definition == oneoff.service_revision(sim.ops, "backend")


def test_a_one_off_on_another_service_runs_in_that_revisions_own_container(
    sim: Simulated,
) -> None:
    revision = oneoff.service_revision(sim.ops, "worker")
    ran = oneoff.run(
        sim.ops, "python manage.py sync_meta_metrics", role="worker", task_definition=revision
    )
    assert ran.exit_code == 0
    assert ran.task_definition == revision
    assert ran.container == essential_container(sim, revision)
    assert ran.container != sim.env.ecs.one_off_container  # not the backend's container


def test_a_one_off_with_a_key_runs_once(sim: Simulated) -> None:
    first = oneoff.run(sim.ops, "python manage.py enable_rls", idempotency_key="run-1:one-off:2")
    again = oneoff.run(sim.ops, "python manage.py enable_rls", idempotency_key="run-1:one-off:2")
    assert again.task_arn == first.task_arn
    assert sim.calls["RunTask"] == 1


def test_a_parsed_tag_is_taken_as_it_is_and_still_meets_the_branch_rule(sim: Simulated) -> None:
    tag = parse_image_tag("v1.3.0")
    assert pipeline.resolve_tag(sim.env, tag) is tag
    assert pipeline.resolve_tag(sim.env, "v1.3.0") == tag
    import attrs

    tags_only = attrs.evolve(sim.env, branch_rule="tags")
    with pytest.raises(UsageError) as refused:
        pipeline.resolve_tag(tags_only, parse_image_tag("main-a1b2c3d"))
    with pytest.raises(UsageError) as refused_text:
        pipeline.resolve_tag(tags_only, "main-a1b2c3d")
    assert str(refused.value) == str(refused_text.value)


def test_the_dbt_target_folder_is_the_tools_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", "/srv/ops-home")
    assert str(paths.dbt_target("staging")) == "/srv/ops-home/dbt/staging/target"


def test_the_infrastructure_step_runs_its_shell_commands_through_the_callers_runner(
    sim: Simulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library never builds a task runner: the deploy hands the infra step the one it got."""
    from invoke import MockContext

    from adinsights_ops import infra
    from adinsights_ops.journal import RunRecord
    from adinsights_ops.pipeline._prepare import infrastructure
    from adinsights_ops.pipeline._state import DeployRun

    seen: list[object] = []

    def plan_and_apply(ops: object, **kwargs: object) -> infra.InfraResult:
        seen.append(kwargs["runner"])
        return infra.InfraResult(engine="none", outcome="skipped", detail="no engine")

    monkeypatch.setattr(infra, "plan_and_apply", plan_and_apply)
    runner = MockContext()
    run = DeployRun(
        ops=sim.ops,
        tag=parse_image_tag("release-1.2.3"),
        record=RunRecord(run_id="r", environment="sandbox", kind="deploy", who="t", started="t"),
        journal=sim.ops.journal(),
        runner=runner,
    )
    infrastructure(run)
    assert seen == [runner]


def test_the_one_off_tasks_of_a_run_read_their_network_once(sim: Simulated) -> None:
    """The one-off and warm steps' four tasks copy the backend's network: one DescribeServices for
    the run, not one per task (each answer carries up to 100 events per service)."""
    from adinsights_ops.journal import RunRecord
    from adinsights_ops.pipeline._release import run_once
    from adinsights_ops.pipeline._state import DeployRun

    run = DeployRun(
        ops=sim.ops,
        tag=parse_image_tag("release-1.2.3"),
        record=RunRecord(run_id="r", environment="sandbox", kind="deploy", who="t", started="t"),
        journal=sim.ops.journal(),
    )
    run.targets = dict(sim.primary_task_definitions())
    before = sim.calls["DescribeServices"]
    for index, command in enumerate(("python manage.py migrate", "python manage.py seed_roles")):
        run_once(run, "one-off", index, command, "backend")
    run_once(run, "warm", 0, sim.env.release.warm_command, "worker")
    assert sim.calls["DescribeServices"] - before == 1
    assert run.task_network() == oneoff.network(sim.ops)
