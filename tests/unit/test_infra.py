"""Settings, the deploy pipeline's `plan_and_apply`, and the read-only `describe` for a dry run."""

from __future__ import annotations

import types
from typing import Any

import attrs
import pytest

from adinsights_ops import infra
from adinsights_ops.aws import is_mutating
from adinsights_ops.config._infra import check_mapping
from adinsights_ops.errors import ConfigError, UsageError
from tests.simulated import Simulated

STACK = "adinsights-sandbox-network-data"


def mutating(sim: Simulated) -> set[str]:
    return {op for op in sim.calls if is_mutating(op)}


# -- settings ------------------------------------------------------------------------------------


def test_the_sandbox_defaults_to_the_cloudformation_template(sim: Simulated) -> None:
    s = infra.for_environment(sim.env)
    assert (s.engine, s.stack_name, s.template) == (
        "cloudformation",
        STACK,
        "infrastructure/cloudformation/network-data.yaml",
    )
    assert s.security_groups["ecs"] == "adinsights-sandbox-ecs"
    assert s.buckets["dbt-artifacts"] == "adinsights-sandbox-dbt-artifacts"
    assert (s.redis, s.load_balancer, s.backup_retention) == (
        "adinsights-sandbox-redis",
        "adinsights-sandbox-alb",
        (7, 14),
    )


def test_other_environments_apply_nothing_until_configured(sim: Simulated) -> None:
    staging = attrs.evolve(sim.env, name="staging", sandbox=False, infra={})
    assert infra.for_environment(staging).engine == "none"


def test_an_infra_section_is_laid_over_the_defaults() -> None:
    env: Any = types.SimpleNamespace(
        name="staging",
        sandbox=False,
        dbt=None,
        source="environments.yaml",
        infra={
            "engine": "terraform",
            "terraform_dir": "infrastructure/terraform",
            "parameters": {"environment": "staging", "replicas": 2},
            "security_groups": {"ecs": "adinsights-staging-tasks"},
            "backup_retention": [7, 10],
        },
    )
    s = infra.for_environment(env, stack_name="override")
    assert s.engine == "terraform"
    assert s.parameters == {"environment": "staging", "replicas": "2"}
    assert s.security_groups == {
        "alb": "adinsights-staging-alb",
        "ecs": "adinsights-staging-tasks",
        "rds": "adinsights-staging-rds",
        "redis": "adinsights-staging-redis",
    }
    assert s.backup_retention == (7, 10)
    assert s.stack_name == "override"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"engine": "pulumi"}, "staging.infra.engine"),
        ({"stack": "x"}, "staging.infra.stack"),
        ({"parameters": ["a"]}, "staging.infra.parameters"),
        ({"security_groups": {"nat": "x"}}, "staging.infra.security_groups.nat"),
        ({"backup_retention": [14, 7]}, "staging.infra.backup_retention"),
        ({"timeout": -1}, "staging.infra.timeout"),
        ({"terraform_init": "yes"}, "staging.infra.terraform_init"),
        ("cloudformation", "staging.infra"),
    ],
)
def test_a_bad_infra_section_names_the_key(data: Any, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_mapping(data, source="environments.yaml", key="staging.infra")
    assert (raised.value.source, raised.value.key) == ("environments.yaml", key)
    assert raised.value.exit_code == 2


def test_an_unknown_engine_on_the_command_line_is_a_usage_error(sim: Simulated) -> None:
    with pytest.raises(UsageError, match="--engine"):
        infra.for_environment(sim.env, engine="pulumi")


# -- plan_and_apply: the deploy pipeline's step 4 ------------------------------------------------


def test_no_engine_is_skipped_without_a_call(sim: Simulated) -> None:
    sim.calls.clear()
    settings = infra.for_environment(sim.env, engine="none")
    result = infra.plan_and_apply(sim.ops, approve=lambda plan: True, settings=settings)
    assert (result.outcome, result.detail) == (
        "skipped",
        "skipped: no infrastructure engine configured for sandbox",
    )
    assert result.journal_outputs()["skipped"] == result.detail
    assert not sim.calls


def test_a_plan_makes_and_then_removes_only_its_change_set(sim: Simulated) -> None:
    sim.calls.clear()
    engine = infra.engine_for(sim.ops)
    assert engine is not None
    plan = engine.plan()
    assert mutating(sim) == {"CreateChangeSet"}
    engine.discard(plan)
    assert mutating(sim) == {"CreateChangeSet", "DeleteChangeSet", "DeleteStack"}
    cfn = sim.client("cloudformation")
    assert [s["StackName"] for s in cfn.list_stacks()["StackSummaries"]] == [STACK]
    assert cfn.list_stacks()["StackSummaries"][0]["StackStatus"] == "DELETE_COMPLETE"


def test_declined_changes_are_discarded(sim: Simulated) -> None:
    seen: list[infra.InfraPlan] = []

    def decline(plan: infra.InfraPlan) -> bool:
        seen.append(plan)
        return False

    result = infra.plan_and_apply(sim.ops, approve=decline)
    assert result.outcome == "declined"
    assert (
        result.detail == f"{STACK}: 11 to add, 0 to modify, 0 to replace, 0 to remove not approved"
    )
    assert seen and seen[0].changes
    buckets = {b["Name"] for b in sim.client("s3").list_buckets()["Buckets"]}
    assert "adinsights-sandbox-exports-cfn" not in buckets
    summaries = sim.client("cloudformation").list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in summaries] == ["DELETE_COMPLETE"]


def test_applied_once_then_nothing_to_approve(sim: Simulated) -> None:
    asked: list[str] = []

    def approve(plan: infra.InfraPlan) -> bool:
        asked.append(plan.summary())
        return True

    first = infra.plan_and_apply(sim.ops, approve=approve)
    assert (first.outcome, first.status) == ("applied", "CREATE_COMPLETE")
    assert first.journal_outputs()["changes"][0].startswith("Add")
    assert "adinsights-sandbox-exports-cfn" in {
        b["Name"] for b in sim.client("s3").list_buckets()["Buckets"]
    }
    second = infra.plan_and_apply(sim.ops, approve=approve)
    assert second.outcome == "no changes"
    assert len(asked) == 1  # nothing to approve the second time


def test_an_approval_that_raises_leaves_no_change_set(sim: Simulated) -> None:
    def interrupted(plan: infra.InfraPlan) -> bool:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        infra.plan_and_apply(sim.ops, approve=interrupted)
    summaries = sim.client("cloudformation").list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in summaries] == ["DELETE_COMPLETE"]


# -- describe: what a dry run prints -------------------------------------------------------------


def test_describe_reads_only_and_says_what_step_4_would_do(sim: Simulated) -> None:
    sim.calls.clear()
    assert infra.describe(sim.ops) == (
        f"cloudformation: stack {STACK} does not exist yet; step 4 creates it"
    )
    assert not mutating(sim)
    infra.plan_and_apply(sim.ops, approve=lambda plan: True)
    sim.calls.clear()
    assert infra.describe(sim.ops).endswith("no changes expected")
    changed = infra.for_environment(sim.env, parameters={"CostCentre": "data"})
    assert infra.describe(sim.ops, changed).endswith("step 4 will show a change set")
    assert not mutating(sim)
    assert (
        infra.describe(sim.ops, infra.for_environment(sim.env, engine="none")) == "none configured"
    )
