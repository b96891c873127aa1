"""One output contract: `--json` on every reporting task, errors as JSON too, drift in the exit code.

Under `--json`, stdout holds exactly one JSON document (the result, or `{"error", "exit_code"}` when
the task failed before it had one) and every human line goes to stderr. `--exit-code` makes a task
that reports drift exit 1 when it found some, as `git diff --exit-code` does.

One sandbox server for the module, found by every in-process command through the state file.
The tests that change the sandbox (scaling, rotating, patching Airbyte) leave it as they found it
or run last (`test_zz_...`): the fresh sandbox's seeded Airbyte drift is what the diff tests read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.runner import Result, run
from tests.cli.shared import shared_sandbox


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with shared_sandbox(tmp_path_factory.mktemp("output-contract")) as started:
        yield started


@pytest.fixture
def cli(server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The module's sandbox, with this test's commands pointed at it."""
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(server.home))
    return server


def one_document(result: Result) -> Any:
    """stdout is one JSON document and nothing else; no traceback anywhere."""
    assert "Traceback" not in result.output, result.output
    return json.loads(result.stdout)


def mutating_calls(server: Any) -> list[Any]:
    with server._lock:
        return [c for c in server.calls if c["mutating"]]


SANDBOX = ("--env", "sandbox")

# The tasks the contract names (they had no --json before), with what their JSON must hold.
NEW_JSON = [
    (("env.list",), "environments"),
    (("ecs.prune", *SANDBOX, "--keep", "3", "--dry-run"), "kept"),
    (("airbyte.apply", *SANDBOX, "--dry-run"), "drift"),
    (("cost.report", *SANDBOX), "lines"),
    (("cost.report", *SANDBOX, "--format", "json"), "lines"),
    (("sandbox.status",), "running"),
    (("deploy.unlock", *SANDBOX, "--force", "--reason", "stale", "--yes"), "locked"),
]


@pytest.mark.parametrize(
    ("argv", "key"), NEW_JSON, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v
)
def test_reporting_tasks_print_one_json_document_on_stdout(
    cli: Any, argv: tuple[str, ...], key: str
) -> None:
    result = run(*argv, "--json") if "--format" not in argv else run(*argv)
    assert result.code == 0, result.output
    assert key in one_document(result)


def test_ecs_scale_json_reports_the_service_and_its_progress_goes_to_stderr(cli: Any) -> None:
    result = run(*("ecs.scale", *SANDBOX), "--service", "celery-worker", "--count", "1", "--json")
    assert result.code == 0, result.output
    found = one_document(result)
    assert (found["service"], found["running"], found["desired"]) == ("celery-worker", 1, 1)
    assert "celery-worker" in result.stderr  # the live progress lines


def test_kms_rotate_key_json_lists_the_on_demand_rotation(cli: Any) -> None:
    result = run("kms.rotate-key", *SANDBOX, "--json")
    assert result.code == 0, result.output
    found = one_document(result)
    assert found["automatic_rotation"] is True
    assert "ON_DEMAND" in [r["kind"] for r in found["rotations"]]


def test_sandbox_status_and_unlock_json_say_what_they_found(cli: Any) -> None:
    status = one_document(run("sandbox.status", "--json"))
    assert status["running"] is True and status["endpoint"]
    unlocked = one_document(
        run("deploy.unlock", *SANDBOX, "--force", "--reason", "stale", "--yes", "--json")
    )
    assert unlocked == {"environment": "sandbox", "locked": False, "removed": None}


def test_env_list_json_says_which_environments_are_ready(cli: Any) -> None:
    found = one_document(run("env.list", "--json"))
    ready = {e["name"]: e["ready"] for e in found["environments"]}
    assert ready["sandbox"] is True
    # The shipped staging and production still hold placeholders: not ready, with the key named.
    assert ready["staging"] is False
    staging = next(e for e in found["environments"] if e["name"] == "staging")
    assert staging["problem"].startswith("staging.")


def test_json_and_format_json_print_the_same_cost_report(cli: Any) -> None:
    by_flag = one_document(run("cost.report", *SANDBOX, "--json"))
    by_format = one_document(run("cost.report", *SANDBOX, "--format", "json"))
    assert by_flag == by_format


def test_json_with_format_csv_is_refused_as_a_usage_error(cli: Any) -> None:
    result = run("cost.report", *SANDBOX, "--json", "--format", "csv")
    assert result.code == 2, result.output
    assert one_document(result) == {
        "error": "--format 'csv': expected table or json with --json (or leave --json out)",
        "exit_code": 2,
    }


# An error under --json: the JSON object on stdout as well as the `error:` line on stderr.
ERRORS = [
    # a preflight refusal of deploy: before any AWS call
    (("deploy", *SANDBOX, "--image-tag", "bad tag!"), 2, "malformed image tag 'bad tag!'"),
    # an option refused by runbooks.options
    (("ecs.scale", *SANDBOX, "--service", "nosuch", "--count", "1"), 2, "--service 'nosuch'"),
    (("ecs.prune", *SANDBOX, "--keep", "0"), 2, "--keep 0"),
    # the environments file
    (("env.show", "--env", "nosuch"), 2, "nosuch: unknown environment"),
    (("airbyte.diff", "--env", "nosuch"), 2, "nosuch: unknown environment"),
    # an environment whose entry still holds placeholders
    (("kms.rotate-key", "--env", "staging"), 2, "staging."),
]


@pytest.mark.parametrize(
    ("argv", "code", "says"), ERRORS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else str(v)
)
def test_an_error_under_json_is_a_json_object_on_stdout_and_a_line_on_stderr(
    cli: Any, argv: tuple[str, ...], code: int, says: str
) -> None:
    before = len(mutating_calls(cli))
    result = run(*argv, "--json")
    assert result.code == code, result.output
    found = one_document(result)
    assert found["exit_code"] == code
    assert says in found["error"], found
    (line,) = result.error_lines()
    assert line == f"error: {found['error']}"
    assert len(mutating_calls(cli)) == before  # refused before anything changed


def test_without_json_an_error_prints_nothing_on_stdout(cli: Any) -> None:
    result = run("deploy", *SANDBOX, "--image-tag", "bad tag!")
    assert (result.code, result.stdout) == (2, "")
    assert len(result.error_lines()) == 1


def test_a_failure_after_the_result_keeps_stdout_one_document(cli: Any) -> None:
    # No dbt run has uploaded results to the fresh sandbox: the check fails (exit 1) after its
    # report is printed; the report is the one document, the error line is on stderr.
    result = run("checks.dbt", *SANDBOX, "--json")
    assert result.code == 1, result.output
    found = one_document(result)
    assert [i["status"] for i in found["items"]] == ["fail"]
    assert "error" not in found
    (line,) = result.error_lines()
    assert "1 check(s) failed" in line


# Drift in the exit code (docs/reference/exit-codes.md, "Drift and check results").


def test_airbyte_diff_exits_0_with_drift_unless_asked(cli: Any) -> None:
    result = run("airbyte.diff", *SANDBOX)
    assert result.code == 0, result.output
    assert "google_ads" in result.stdout  # the seeded schedule drift


@pytest.mark.parametrize("as_json", [False, True])
def test_airbyte_diff_exit_code_exits_1_on_the_seeded_drift(cli: Any, as_json: bool) -> None:
    result = run("airbyte.diff", *SANDBOX, "--exit-code", *(["--json"] if as_json else []))
    assert result.code == 1, result.output
    if as_json:
        (drift,) = one_document(result)
        assert (drift["connection"], drift["field"]) == ("google_ads", "schedule.cronExpression")
    assert "drift: 1 field(s) differ" in result.stderr
    assert not result.error_lines()  # drift is a result, not an error


def test_infra_plan_exit_code_exits_1_when_the_plan_has_changes(cli: Any) -> None:
    # The sandbox's stack does not exist yet: the plan creates every resource.
    plain = run("infra.plan", *SANDBOX, "--json")
    assert plain.code == 0, plain.output
    asked = run("infra.plan", *SANDBOX, "--json", "--exit-code")
    assert asked.code == 1, asked.output
    found = one_document(asked)
    assert found["changes"] and not found["no_changes"]
    assert "drift:" in asked.stderr and "to add" in asked.stderr


def test_secrets_audit_exit_code_exits_0_when_nothing_is_found(cli: Any) -> None:
    result = run("secrets.audit", *SANDBOX, "--json", "--exit-code")
    assert result.code == 0, result.output
    assert one_document(result)["findings"] == []


@pytest.mark.parametrize(
    "task",
    [
        "secrets.audit",
        "env.check",
        "infra.verify",
        *(
            f"checks.{n}"
            for n in ("post-deploy", "metrics", "airbyte", "dbt", "audit", "activity-log")
        ),
    ],
)
def test_every_drift_and_check_task_takes_exit_code(cli: Any, task: str) -> None:
    result = run(task, "--help")
    assert result.code == 0, result.output
    assert "--exit-code" in result.stdout


def test_env_check_exit_code_exits_1_for_a_tag_the_rule_refuses(cli: Any) -> None:
    result = run("env.check", *SANDBOX, "--image-tag", "v9.9.9", "--json", "--exit-code")
    assert result.code == 1, result.output
    found = one_document(result)
    assert "fail" in [i["status"] for i in found["items"]]


def test_zz_airbyte_apply_json_patches_and_then_diff_exit_code_exits_0(cli: Any) -> None:
    # Runs last in the module: it removes the seeded drift the tests above read.
    applied = run("airbyte.apply", *SANDBOX, "--yes", "--json")
    assert applied.code == 0, applied.output
    found = one_document(applied)
    assert found["in_sync"] is True and found["remaining"] == []
    assert [p["connection"] for p in found["patched"]] == ["google_ads"]
    assert "patched google_ads" in applied.stderr
    again = run("airbyte.diff", *SANDBOX, "--json", "--exit-code")
    assert again.code == 0, again.output
    assert one_document(again) == []


def test_an_exit_the_task_raises_itself_is_a_json_error_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from invoke.exceptions import Exit

    from adinsights_ops.errors import OpsError
    from runbooks.common import ops_task

    @ops_task
    def refused(json: bool = False) -> None:
        raise Exit("error: not confirmed; nothing was changed", 2)

    @ops_task
    def failed(json: bool = False) -> None:
        raise OpsError("the rollout stopped", details=["backend-service: 1/2 running"])

    with pytest.raises(Exit) as raised:
        refused(json=True)
    assert raised.value.code == 2
    assert json.loads(capsys.readouterr().out) == {
        "error": "not confirmed; nothing was changed",
        "exit_code": 2,
    }
    with pytest.raises(Exit):
        failed(json=True)
    assert json.loads(capsys.readouterr().out) == {
        "error": "the rollout stopped",
        "exit_code": 1,
        "details": ["backend-service: 1/2 running"],
    }
    with pytest.raises(Exit):
        refused(json=False)
    assert capsys.readouterr().out == ""
