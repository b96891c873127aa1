"""Runbook section 8 through the command line, against a shared `inv sandbox.up`.

The sandbox must be seeded by `adinsights_ops.sandbox.blueprint_cost.seed_cost` (a simulated bill,
the monthly budget, 14 days of ECS utilisation); the first test says so plainly when it is not.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from adinsights_ops.aws import new_session
from tests.integration.cli import Result, SandboxProcess, run_inprocess

pytestmark = pytest.mark.cli
BUDGET = "adinsights-sandbox-monthly"
PARAMETER = "/adinsights/sandbox/ops/scale-down"
NORMAL = {"backend-service": 2, "celery-worker": 2, "celery-beat": 1, "frontend-service": 2}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    process = SandboxProcess(tmp_path_factory.mktemp("home"))
    yield process
    process.stop()


def client(sandbox: SandboxProcess, service: str) -> Any:
    session = new_session(
        aws_access_key_id="sandbox", aws_secret_access_key="sandbox", region_name="eu-west-1"
    )
    return session.client(service, endpoint_url=sandbox.endpoint)  # type: ignore[call-overload]


def run(sandbox: SandboxProcess, *args: str) -> Result:
    return run_inprocess(*args, env=sandbox.env, timeout=180)


def desired(sandbox: SandboxProcess) -> dict[str, int]:
    described = client(sandbox, "ecs").describe_services(
        cluster="adinsights-sandbox", services=list(NORMAL)
    )
    return {s["serviceName"]: s["desiredCount"] for s in described["services"]}


def remembered(sandbox: SandboxProcess) -> dict[str, int] | None:
    ssm = client(sandbox, "ssm")
    try:
        value = ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    counts: dict[str, int] = json.loads(value)["services"]
    return counts


def changes_to_aws(sandbox: SandboxProcess) -> list[str]:
    """Mutating calls other than the environment lock's put and delete in the state bucket."""
    return [op for op in sandbox.mutating_calls() if not op.endswith(" locks/sandbox.json")]


def test_the_sandbox_is_seeded_with_cost_data(sandbox: SandboxProcess) -> None:
    budgets = client(sandbox, "budgets").describe_budgets(AccountId="123456789012")["Budgets"]
    assert [b["BudgetName"] for b in budgets] == [BUDGET], (
        "the sandbox has no cost data: SandboxServer.seed must call "
        "adinsights_ops.sandbox.blueprint_cost.seed_cost(client, env, endpoint=self.endpoint)"
    )


def test_report_in_three_formats(sandbox: SandboxProcess) -> None:
    sandbox.forget_calls()

    table = run(sandbox, "cost.report", "--env", "sandbox")
    as_json = run(sandbox, "cost.report", "--env", "sandbox", "--format", "json")
    as_csv = run(sandbox, "cost.report", "--env", "sandbox", "--format", "csv")

    assert table.code == 0, table.output
    for line in ("RDS", "ECS", "Airbyte/EC2", "Redis (ElastiCache)", "CloudWatch", "other"):
        assert f"  {line} " in table.stdout
    assert "Amazon Simple Storage Service" in table.stdout  # an unmapped service, listed
    data = json.loads(as_json.stdout)
    assert [line["name"] for line in data["lines"]] == [
        "RDS",
        "ECS",
        "Airbyte/EC2",
        "Redis (ElastiCache)",
        "CloudWatch",
        "other",
    ]
    assert data["month_to_date"] and data["total"] > 0
    assert data["total"] == pytest.approx(sum(v["amount"] for v in data["lines"]), abs=0.05)
    assert "Amazon Simple Storage Service" in data["unmapped"]
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    totals = {r["line"]: float(r["amount"]) for r in rows if not r["service"]}
    assert totals["total"] == pytest.approx(data["total"], abs=0.01)
    assert changes_to_aws(sandbox) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--month", "2026-13"), "error: --month must be YYYY-MM"),
        (("--month", "2999-01"), "has not begun yet"),
        (("--format", "xml"), "error: --format 'xml': expected one of table, csv, json"),
    ],
)
def test_report_refuses_bad_input_with_exit_2(
    sandbox: SandboxProcess, args: tuple[str, ...], message: str
) -> None:
    sandbox.forget_calls()
    result = run(sandbox, "cost.report", "--env", "sandbox", *args)
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert sandbox.control("/calls")["calls"] == []  # not even a read


def test_budgets_converge(sandbox: SandboxProcess) -> None:
    budgets = client(sandbox, "budgets")
    sandbox.forget_calls()

    same = run(sandbox, "cost.budgets", "--env", "sandbox")
    dry = run(sandbox, "cost.budgets", "--env", "sandbox", "--amount", "900", "--dry-run")
    assert changes_to_aws(sandbox) == []
    changed = run(sandbox, "cost.budgets", "--env", "sandbox", "--amount", "900", "--json")
    after = budgets.describe_budget(AccountId="123456789012", BudgetName=BUDGET)["Budget"]
    mutations = changes_to_aws(sandbox)
    back = run(sandbox, "cost.budgets", "--env", "sandbox")

    assert same.code == 0 and "already as configured: nothing to do" in same.stdout
    assert "spend this month:" in same.stdout and "% of the limit" in same.stdout
    assert "would limit 450.00 -> 900.00 USD/month" in dry.stdout
    result = json.loads(changed.stdout)
    assert [c["action"] for c in result["changes"]] == ["update-limit"]
    assert after["BudgetLimit"]["Amount"] == "900.00"
    assert mutations == ["UpdateBudget"]
    spend = after["CalculatedSpend"]["ActualSpend"]["Amount"]
    assert float(spend) > 0  # the seeded spend survives the update
    assert float(result["actual_spend"]) == pytest.approx(float(spend))
    assert "limit 900.00 -> 450.00 USD/month" in back.stdout


def test_scale_down_then_up(sandbox: SandboxProcess) -> None:
    down = run(sandbox, "cost.scale-down", "--env", "sandbox")
    assert down.code == 0, down.output
    assert desired(sandbox) == dict.fromkeys(NORMAL, 0)
    assert remembered(sandbox) == NORMAL

    again = run(sandbox, "cost.scale-down", "--env", "sandbox", "--json")
    assert again.code == 0, again.output
    assert json.loads(again.stdout)["kept_remembered"] is True
    assert remembered(sandbox) == NORMAL  # not overwritten with zeros

    up = run(sandbox, "cost.scale-up", "--env", "sandbox")
    assert up.code == 0, up.output
    assert desired(sandbox) == NORMAL
    assert remembered(sandbox) is None

    sandbox.forget_calls()
    twice = run(sandbox, "cost.scale-up", "--env", "sandbox")
    assert twice.code == 2
    assert "error: no remembered desired counts for sandbox" in twice.stderr
    assert changes_to_aws(sandbox) == []


@pytest.mark.parametrize(
    "args",
    [
        ("cost.scale-down",),
        ("cost.scale-up",),
        ("cost.schedule",),
        ("cost.schedule", "--remove"),
    ],
)
def test_production_is_refused_in_one_line(sandbox: SandboxProcess, args: tuple[str, ...]) -> None:
    result = run(sandbox, *args, "--env", "production")
    assert result.code == 2
    assert result.stderr.strip().count("\n") == 0
    assert f"error: {args[0]} is refused for production" in result.stderr
    assert "Traceback" not in result.output


def test_schedule_is_idempotent(sandbox: SandboxProcess) -> None:
    sandbox.forget_calls()
    first = run(sandbox, "cost.schedule", "--env", "sandbox", "--timezone", "America/Jamaica")
    made = changes_to_aws(sandbox)
    sandbox.forget_calls()
    second = run(sandbox, "cost.schedule", "--env", "sandbox")
    assert changes_to_aws(sandbox) == []
    removed = run(sandbox, "cost.schedule", "--env", "sandbox", "--remove")

    assert first.code == 0, first.output
    assert made.count("PutScheduledAction") == 8 and made.count("RegisterScalableTarget") == 4
    assert "nothing to do" in second.stdout and second.stdout.count("unchanged:") == 8
    assert removed.code == 0 and removed.stdout.count("delete ") == 8
    left = client(sandbox, "application-autoscaling").describe_scheduled_actions(
        ServiceNamespace="ecs"
    )["ScheduledActions"]
    assert left == []


def test_rightsize(sandbox: SandboxProcess) -> None:
    table = run(sandbox, "cost.rightsize", "--env", "sandbox")
    data = json.loads(run(sandbox, "cost.rightsize", "--env", "sandbox", "--json").stdout)
    zero = run(sandbox, "cost.rightsize", "--env", "sandbox", "--days", "0")

    assert table.code == 0, table.output
    assert "utilisation over 14 days" in table.stdout
    suggestions = {
        s["service"]: (s["cpu_action"], s["memory_action"], s["suggested_cpu"])
        for s in data["services"]
    }
    assert suggestions == {
        "backend-service": ("halve", "keep", 256),
        "celery-worker": ("grow", "grow", 1024),
        "celery-beat": ("halve", "halve", 256),
        "frontend-service": ("keep", "keep", 512),
    }
    assert zero.code == 2 and "--days '0': expected a whole number from 1 to 455" in zero.stderr
    out_of_range = run(sandbox, "cost.rightsize", "--env", "sandbox", "--days", "500")
    assert out_of_range.code == 2 and "from 1 to 455" in out_of_range.stderr
