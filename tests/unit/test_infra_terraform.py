"""Terraform plan files: the commands through Invoke's MockContext, then for real through a process.

The real-process tests run a stand-in `terraform` (tests/fixtures/terraform-standin) put first on
PATH, so Invoke's subprocess path is exercised; when the real `terraform` is installed, one more
test runs it on a configuration that needs no provider download.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, cast
from unittest.mock import Mock

import pytest
from invoke.context import Context, MockContext
from invoke.exceptions import CommandTimedOut
from invoke.runners import Result

from adinsights_ops import infra
from adinsights_ops.errors import UsageError, WaitTimedOut
from adinsights_ops.infra._terraform import TerraformEngine, changes_of
from adinsights_ops.shell import LocalRunner
from tests.simulated import ROOT, FakeClock

STANDIN = ROOT / "tests" / "fixtures" / "terraform-standin" / "terraform"
PROJECT = ROOT / "tests" / "fixtures" / "terraform-project"


def show_json(*changes: tuple[str, str, list[str]], mode: str = "managed") -> str:
    return json.dumps(
        {
            "format_version": "1.2",
            "resource_changes": [
                {"address": a, "mode": mode, "type": t, "change": {"actions": actions}}
                for a, t, actions in changes
            ],
        }
    )


def test_show_json_actions_become_changes() -> None:
    document = json.loads(
        show_json(
            ("aws_vpc.main", "aws_vpc", ["no-op"]),
            ("aws_s3_bucket.exports", "aws_s3_bucket", ["create"]),
            ("aws_db_instance.warehouse", "aws_db_instance", ["update"]),
            ("aws_security_group.db", "aws_security_group", ["delete", "create"]),
            ("aws_lb.public", "aws_lb", ["create", "delete"]),
            ("aws_ecr_repository.old", "aws_ecr_repository", ["delete"]),
        )
    )
    document["resource_changes"].append(
        {
            "address": "data.aws_ami.x",
            "mode": "data",
            "type": "aws_ami",
            "change": {"actions": ["read"]},
        }
    )
    assert [(c.action, c.resource, c.replacement) for c in changes_of(document)] == [
        ("Add", "aws_s3_bucket.exports", ""),
        ("Modify", "aws_db_instance.warehouse", "False"),
        ("Modify", "aws_security_group.db", "True"),
        ("Modify", "aws_lb.public", "True"),
        ("Remove", "aws_ecr_repository.old", ""),
    ]


# MockContext's answers: a command as typed, or a pattern it must match in full.
Commands = dict[str | re.Pattern[str], Result]


def mock_engine(tmp_path: Path, run: Commands, **kwargs: Any) -> tuple[TerraformEngine, Any]:
    workdir = tmp_path / "tf"
    workdir.mkdir(exist_ok=True)
    context = MockContext(run=run)
    engine = TerraformEngine(
        context, working_dir=workdir, plan_dir=tmp_path / "plans", clock=FakeClock(), **kwargs
    )
    return engine, context


def planned_file(context: Any) -> Path:
    plan_command = next(c.args[0] for c in context.run.call_args_list if " plan " in c.args[0])
    return Path(plan_command.split(" -out ", 1)[1].split(" ", 1)[0])


def test_plan_and_apply_run_the_documented_commands(tmp_path: Path) -> None:
    workdir = tmp_path / "tf"
    chdir = f"-chdir={workdir}"
    show = show_json(("aws_s3_bucket.exports", "aws_s3_bucket", ["create"]))
    run: Commands = {
        f"terraform {chdir} init -input=false -no-color": Result("initialised"),
        # the plan file's name has a timestamp: match the rest of the command exactly
        re.compile(
            rf"terraform {chdir} plan -out {tmp_path}/plans/sandbox-\S+\.tfplan -input=false "
            r"-no-color -var environment=sandbox$"
        ): Result("Plan: 1 to add"),
        re.compile(rf"terraform {chdir} show -json \S+\.tfplan$"): Result(show),
        re.compile(rf"terraform {chdir} apply -input=false -no-color \S+\.tfplan$"): Result(
            "Apply complete!"
        ),
    }
    engine, context = mock_engine(
        tmp_path, run, variables={"environment": "sandbox"}, plan_stem="sandbox"
    )
    plan = engine.plan()
    assert [(c.action, c.resource, c.resource_type) for c in plan.changes] == [
        ("Add", "aws_s3_bucket.exports", "aws_s3_bucket")
    ]
    assert isinstance(plan.handle, infra.PlanFile)
    assert plan.handle.path == str(planned_file(context))
    # MockContext writes no file: put one where terraform would have.
    Path(plan.handle.path).write_text("plan")
    result = engine.apply(plan)
    assert result.outcome == "applied"
    commands = [c.args[0].split(" ")[2] for c in context.run.call_args_list]
    assert commands == ["init", "plan", "show", "apply"]
    assert all(c.kwargs["warn"] and c.kwargs["hide"] for c in context.run.call_args_list)
    assert all(c.kwargs["env"]["TF_IN_AUTOMATION"] == "1" for c in context.run.call_args_list)
    assert not Path(plan.handle.path).exists()  # applied plans are removed


def test_no_changes_removes_the_plan_file(tmp_path: Path) -> None:
    run: Commands = {
        re.compile(r".* (init|plan) .*"): Result(""),
        re.compile(r".* show -json .*"): Result(show_json(("aws_vpc.main", "aws_vpc", ["no-op"]))),
    }
    engine, context = mock_engine(tmp_path, run)
    (tmp_path / "plans").mkdir()
    plan = engine.plan()
    assert plan.no_changes and plan.handle is None
    assert list((tmp_path / "plans").iterdir()) == []
    assert engine.apply(plan).outcome == "no changes"
    assert len(context.run.call_args_list) == 3  # init, plan, show: apply ran nothing


def test_a_failing_plan_raises_with_its_last_lines(tmp_path: Path) -> None:
    stderr = "\n".join(f"line {i}" for i in range(30)) + "\nError: Unsupported argument"
    run: Commands = {
        re.compile(r".* init .*"): Result(""),
        re.compile(r".* plan .*"): Result(stderr=stderr, exited=1),
    }
    engine, _ = mock_engine(tmp_path, run)
    with pytest.raises(infra.TerraformFailed) as raised:
        engine.plan()
    assert (raised.value.command, raised.value.exited) == ("plan", 1)
    assert raised.value.tail[-1] == "Error: Unsupported argument"
    assert len(raised.value.tail) == 20
    assert raised.value.exit_code == 1  # this tool's exit code: failed, nothing applied


def test_a_missing_terraform_is_a_usage_error(tmp_path: Path) -> None:
    engine, _ = mock_engine(tmp_path, {re.compile(".*"): Result(exited=127)})
    with pytest.raises(UsageError, match="terraform not found"):
        engine.plan()


def changed_plan(tmp_path: Path) -> infra.InfraPlan:
    path = tmp_path / "x.tfplan"
    path.write_text("plan")
    change = infra.Change("Add", "aws_s3_bucket.exports", "aws_s3_bucket")
    handle = infra.PlanFile(str(path), str(tmp_path / "tf"))
    return infra.InfraPlan("terraform", str(tmp_path / "tf"), (change,), False, handle)


def test_an_apply_failing_part_way_needs_a_human(tmp_path: Path) -> None:
    engine, _ = mock_engine(
        tmp_path,
        {re.compile(".* apply .*"): Result(stderr="Error: creating S3 Bucket", exited=1)},
    )
    plan = changed_plan(tmp_path)
    with pytest.raises(infra.TerraformApplyIncomplete) as raised:
        engine.apply(plan)
    assert raised.value.exit_code == 4  # needs a human
    assert raised.value.exited == 1
    assert raised.value.details == ["Error: creating S3 Bucket"]
    assert isinstance(plan.handle, infra.PlanFile)
    assert not Path(plan.handle.path).exists()


def test_a_stale_plan_changed_nothing(tmp_path: Path) -> None:
    engine, _ = mock_engine(
        tmp_path,
        {re.compile(".* apply .*"): Result(stderr="Error: Saved plan is stale", exited=1)},
    )
    with pytest.raises(infra.TerraformFailed) as raised:
        engine.apply(changed_plan(tmp_path))
    assert raised.value.exit_code == 1


class TimingOut:
    """A runner whose command outlives its timeout, as Invoke reports it."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def run(self, command: str, **kwargs: Any) -> Any:
        self.timeouts.append(kwargs["timeout"])
        raise CommandTimedOut(Result(command=command, stderr="still planning"), kwargs["timeout"])


def test_terraform_runs_under_a_deadline(tmp_path: Path) -> None:
    (tmp_path / "tf").mkdir()
    runner = TimingOut()
    engine = TerraformEngine(
        runner, working_dir=tmp_path / "tf", plan_dir=tmp_path, timeout=300, clock=FakeClock()
    )
    with pytest.raises(WaitTimedOut) as raised:
        engine.plan()
    assert runner.timeouts == [300]
    assert raised.value.last_state == ["still planning"]


def test_a_local_runner_that_times_out_is_a_wait_timeout(tmp_path: Path) -> None:
    (tmp_path / "tf").mkdir()
    hanging = tmp_path / "terraform"
    hanging.write_text("#!/bin/sh\necho 'Acquiring state lock' >&2\nsleep 30\n")
    hanging.chmod(0o755)
    engine = TerraformEngine(
        LocalRunner(),
        working_dir=tmp_path / "tf",
        plan_dir=tmp_path,
        binary=str(hanging),
        timeout=0.5,
    )
    with pytest.raises(WaitTimedOut) as raised:
        engine.plan()
    assert raised.value.what == "terraform init"
    assert raised.value.last_state == ["Acquiring state lock"]


def test_a_missing_working_directory_is_refused_before_running_anything(tmp_path: Path) -> None:
    context = MockContext(run={})
    engine = TerraformEngine(context, working_dir=tmp_path / "nope", plan_dir=tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        engine.plan()
    assert cast(Mock, context.run).call_args_list == []


# -- a real process: the stand-in on PATH --------------------------------------------------------


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in, first on PATH, run by this interpreter; returns its working directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "terraform"
    lines = STANDIN.read_text().splitlines()
    program.write_text("\n".join([f"#!{sys.executable}", *lines[1:]]) + "\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    workdir = tmp_path / "tf"
    workdir.mkdir()
    write_config(workdir, bucket="adinsights-${var.environment}-exports-tf")
    return workdir


def write_config(workdir: Path, **values: str) -> None:
    config = {
        "resources": {
            "aws_s3_bucket.exports": {
                "type": "aws_s3_bucket",
                "values": values,
                "force_new": ["bucket"],
            },
            "aws_cloudwatch_log_group.jobs": {
                "type": "aws_cloudwatch_log_group",
                "values": {"name": "/adinsights/${var.environment}/jobs-tf"},
            },
        }
    }
    (workdir / "standin.json").write_text(json.dumps(config))


def calls(workdir: Path) -> list[list[str]]:
    lines = (workdir / "standin-calls.jsonl").read_text().splitlines()
    return [json.loads(line)["argv"] for line in lines]


def real_engine(workdir: Path, tmp_path: Path, **variables: str) -> TerraformEngine:
    return TerraformEngine(
        Context(),
        working_dir=workdir,
        plan_dir=tmp_path / "plans",
        variables=variables or {"environment": "sandbox"},
    )


def test_the_standin_plans_applies_and_then_has_nothing_to_do(
    standin: Path, tmp_path: Path
) -> None:
    engine = real_engine(standin, tmp_path)
    plan = engine.plan()
    assert sorted((c.action, c.resource) for c in plan.changes) == [
        ("Add", "aws_cloudwatch_log_group.jobs"),
        ("Add", "aws_s3_bucket.exports"),
    ]
    assert isinstance(plan.handle, infra.PlanFile) and Path(plan.handle.path).is_file()
    assert engine.apply(plan).outcome == "applied"
    state = json.loads((standin / "standin.tfstate").read_text())
    assert state["resources"]["aws_s3_bucket.exports"]["values"] == {
        "bucket": "adinsights-sandbox-exports-tf"
    }
    assert engine.plan().no_changes
    argv = calls(standin)
    assert [a[0] for a in argv] == ["init", "plan", "show", "apply", "init", "plan", "show"]
    assert argv[1][:5] == ["plan", "-out", plan.handle.path, "-input=false", "-no-color"]
    assert argv[1][5:] == ["-var", "environment=sandbox"]
    assert argv[3] == ["apply", "-input=false", "-no-color", plan.handle.path]


def test_the_standin_replaces_what_cannot_be_updated(standin: Path, tmp_path: Path) -> None:
    real_engine(standin, tmp_path).apply(real_engine(standin, tmp_path).plan())
    plan = real_engine(standin, tmp_path, environment="staging").plan()
    assert sorted((c.action, c.resource, c.replacement) for c in plan.changes) == [
        ("Modify", "aws_cloudwatch_log_group.jobs", "False"),
        ("Modify", "aws_s3_bucket.exports", "True"),
    ]
    assert plan.counts() == {"add": 0, "modify": 1, "replace": 1, "remove": 0}
    assert any(c.destructive for c in plan.changes)


def test_a_stale_plan_file_is_refused_by_the_standin(standin: Path, tmp_path: Path) -> None:
    engine = real_engine(standin, tmp_path)
    first = engine.plan()
    second = engine.plan()
    engine.apply(first)
    with pytest.raises(infra.TerraformFailed) as raised:
        engine.apply(second)
    assert "Saved plan is stale" in raised.value.tail[-1]


def test_a_part_way_apply_through_the_standin_needs_a_human(standin: Path, tmp_path: Path) -> None:
    config = json.loads((standin / "standin.json").read_text())
    config["fail"] = {"apply": "creating CloudWatch Logs Log Group: AccessDenied"}
    (standin / "standin.json").write_text(json.dumps(config))
    engine = real_engine(standin, tmp_path)
    with pytest.raises(infra.TerraformApplyIncomplete) as raised:
        engine.apply(engine.plan())
    assert raised.value.details == ["Error: creating CloudWatch Logs Log Group: AccessDenied"]
    state = json.loads((standin / "standin.tfstate").read_text())
    assert len(state["resources"]) == 1  # part of it landed, which is why a human must look


def test_discard_removes_the_plan_file(standin: Path, tmp_path: Path) -> None:
    engine = real_engine(standin, tmp_path)
    plan = engine.plan()
    assert isinstance(plan.handle, infra.PlanFile)
    engine.discard(plan)
    assert not Path(plan.handle.path).exists()
    assert not (standin / "standin.tfstate").exists()


def test_the_sandbox_can_use_terraform_through_settings(
    sim: Any, standin: Path, tmp_path: Path
) -> None:
    settings = infra.for_environment(
        sim.env,
        engine="terraform",
        terraform_dir=str(standin),
        parameters={"environment": "sandbox"},
    )
    asked: list[str] = []

    def approve(plan: infra.InfraPlan) -> bool:
        asked.append(plan.summary())
        return True

    result = infra.plan_and_apply(sim.ops, approve=approve, settings=settings, runner=Context())
    assert result.outcome == "applied"
    assert asked == ["2 to add, 0 to modify, 0 to replace, 0 to remove"]
    again = infra.plan_and_apply(sim.ops, approve=approve, settings=settings, runner=Context())
    assert again.outcome == "no changes" and len(asked) == 1


def test_without_a_runner_terraform_runs_in_a_local_shell(
    sim: Any, standin: Path, tmp_path: Path
) -> None:
    """The deploy pipeline passes no runner: the engine gets `LocalRunner`, not Invoke's."""
    settings = infra.for_environment(
        sim.env,
        engine="terraform",
        terraform_dir=str(standin),
        parameters={"environment": "sandbox"},
    )
    engine = infra.engine_for(sim.ops, settings)
    assert isinstance(engine, TerraformEngine) and isinstance(engine.runner, LocalRunner)
    result = infra.plan_and_apply(sim.ops, approve=lambda plan: True, settings=settings)
    assert result.outcome == "applied"
    assert [a[0] for a in calls(standin)] == ["init", "plan", "show", "apply"]


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_the_real_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", os.devnull)
    workdir = tmp_path / "project"
    shutil.copytree(PROJECT, workdir)
    engine = real_engine(workdir, tmp_path)
    plan = engine.plan()
    assert sorted((c.action, c.resource, c.resource_type) for c in plan.changes) == [
        ("Add", "terraform_data.exports_bucket", "terraform_data"),
        ("Add", "terraform_data.network", "terraform_data"),
    ]
    assert engine.apply(plan).outcome == "applied"
    assert (workdir / "terraform.tfstate").is_file()
    assert engine.plan().no_changes
    replaced = real_engine(workdir, tmp_path, environment="staging").plan()
    assert sorted((c.action, c.resource, c.replacement) for c in replaced.changes) == [
        ("Modify", "terraform_data.exports_bucket", "True"),
        ("Modify", "terraform_data.network", "False"),
    ]
