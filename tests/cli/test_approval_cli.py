"""The plan before the prompt (issue #10): on an environment with `approval_required`, the tasks
that change something show what they will do, then ask, as `terraform apply` does; `--yes` skips
the question and still shows the plan; "no", Ctrl-C or the end of input change nothing (exit 2).

The shared sandbox is the environment, made `approval_required` through a copy of its environments
file. The prompt sees a terminal: `render.interactive` says so, and `render._prompt.ask` records
what had been printed when it was asked, so the test knows the plan came first.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

import adinsights_ops.sandbox
from runbooks.render import _prompt
from tests.cli.runner import run
from tests.cli.shared import shared_sandbox

SANDBOX = ("--env", "sandbox")
QUESTION = "Type the environment name to go on"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("approval")
    with shared_sandbox(home) as started:
        packaged = Path(adinsights_ops.sandbox.__file__).parent
        data = yaml.safe_load((packaged / "environments.yaml").read_text())["sandbox"]
        data["approval_required"] = True
        # The copy lives elsewhere: the files the packaged one names, by their full paths.
        data["dbt"]["project_dir"] = str(packaged / data["dbt"]["project_dir"])
        data["dbt"]["profiles_dir"] = str(packaged / data["dbt"]["profiles_dir"])
        data["infra"]["template"] = str(
            packaged / "infrastructure/cloudformation/network-data.yaml"
        )
        copy = home / "approval" / "environments.yaml"
        copy.parent.mkdir()
        copy.write_text(yaml.safe_dump({"sandbox": data}))
        started.environments = copy
        yield started


class Asked:
    """Stands in for the person at the terminal: answers, and notes what was shown by then."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.questions: list[str] = []
        self.shown: list[str] = []

    def __call__(self, question: str) -> str | None:
        import sys

        self.questions.append(question)
        # The runner's captured streams (under --json, stdout wrapped by ops_task, which passes
        # getvalue through)
        captured = [cast(io.StringIO, stream).getvalue() for stream in (sys.stdout, sys.stderr)]
        self.shown.append("".join(captured))
        return self.answer


@pytest.fixture
def cli(server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(server.home))
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(server.environments))
    monkeypatch.setattr(_prompt, "interactive", lambda: True)
    return server


# What a plan itself writes and takes back: the lock held while planning, and CloudFormation's
# change set (a new stack's change set comes with a stack under review, deleted with it).
PLANNING = {"CreateChangeSet", "DeleteChangeSet", "DeleteStack"}


def changed(call: dict[str, Any]) -> bool:
    if not call["mutating"] or call["operation"] in PLANNING:
        return False
    return not str(call.get("key", "")).startswith("locks/")


def changes(server: Any) -> list[dict[str, Any]]:
    with server._lock:
        return [call for call in server.calls if changed(call)]


def answered(monkeypatch: pytest.MonkeyPatch, answer: str | None) -> Asked:
    asked = Asked(answer)
    monkeypatch.setattr(_prompt, "ask", asked)
    return asked


PLANS = [
    (("deploy", *SANDBOX, "--image-tag", "v1.3.0"), "plan: deploy release-1.3.0 to sandbox"),
    (("deploy", *SANDBOX, "--image-tag", "v1.3.0"), "  task definitions:"),
    (("kms.rotate-key", *SANDBOX), "plan: rotate the material of alias/adinsights-sandbox"),
    (("secrets.rotate-deks", *SANDBOX), "  pause celery-beat: 1 -> 0 tasks"),
    (("infra.apply", *SANDBOX), "network-data"),
    (("cost.scale-down", *SANDBOX), "  celery-beat: 1 -> 0 tasks"),
]


@pytest.mark.parametrize("answer", ["no", None], ids=["no", "ctrl-c-or-eof"])
@pytest.mark.parametrize(
    ("argv", "plan"), PLANS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else None
)
def test_the_plan_comes_before_the_prompt_and_no_changes_nothing(
    cli: Any, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...], plan: str, answer: str | None
) -> None:
    asked = answered(monkeypatch, answer)
    before = changes(cli)
    result = run(*argv)
    assert len(asked.questions) == 1, result.output
    assert QUESTION in asked.questions[0] and "on sandbox" in asked.questions[0]
    assert plan in asked.shown[0], asked.shown[0]  # shown before the question was asked
    assert result.code == 2, result.output
    assert result.error_lines() == ["error: not confirmed; nothing was changed"], result.output
    assert "Traceback" not in result.output
    assert changes(cli) == before  # nothing was changed


def test_a_deploy_asked_first_starts_dbt_only_after_a_yes(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt's parse is prepared ahead of the deploy, but not ahead of the question: a "no" has not
    started one."""
    from adinsights_ops import dbt

    prepared: list[int] = []

    def prepare(**_: Any) -> None:
        prepared.append(len(asked.questions))  # how many questions had been asked by then
        raise OSError("not for this test")  # prepare_data_state then prepares nothing

    monkeypatch.setattr(dbt, "prepare", prepare)
    asked = answered(monkeypatch, "no")
    result = run("deploy", *SANDBOX, "--image-tag", "v1.3.0")
    assert (result.code, len(asked.questions)) == (2, 1), result.output
    assert prepared == []
    # Without a question it is prepared at once, before the environment opens (which refuses an
    # unknown scenario, and no question is asked).
    result = run("deploy", *SANDBOX, "--image-tag", "v1.3.0", "--yes", "--scenario", "nosuch")
    assert (result.code, len(asked.questions)) == (2, 1), result.output
    assert prepared == [1]


def test_rds_restore_shows_the_data_loss_before_it_asks(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = run("rds.snapshot", *SANDBOX, "--label", "approval-test")
    assert taken.code == 0, taken.output
    asked = answered(monkeypatch, "no")
    before = changes(cli)
    result = run("rds.restore", *SANDBOX, "--snapshot", "approval-test")
    assert "DATA LOSS: everything written to adinsights-sandbox" in asked.shown[0]
    assert "restore adinsights-sandbox from approval-test on sandbox" in asked.questions[0]
    assert (result.code, result.error_lines()) == (2, ["error: not confirmed; nothing was changed"])
    assert changes(cli) == before


def test_without_a_terminal_it_refuses_before_opening_anything(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_prompt, "interactive", lambda: False)
    asked = answered(monkeypatch, "sandbox")
    before = changes(cli)
    with cli._lock:
        calls = len(cli.calls)
    result = run("kms.rotate-key", *SANDBOX)
    assert result.code == 2
    assert result.error_lines() == [
        "error: rotate the KMS key on sandbox needs approval: pass --yes (not interactive)"
    ]
    assert asked.questions == []
    with cli._lock:
        assert len(cli.calls) == calls  # not even a read
    assert changes(cli) == before


def test_the_environment_name_typed_goes_on(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = answered(monkeypatch, "sandbox")
    result = run("kms.rotate-key", *SANDBOX, "--json")
    assert result.code == 0, result.output
    assert "plan: rotate the material" in result.stderr  # the plan on stderr: stdout is the JSON
    assert result.stdout.lstrip().startswith("{")
    assert len(asked.questions) == 1


def test_yes_skips_the_question_but_still_shows_the_plan(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = answered(monkeypatch, None)
    result = run("kms.rotate-key", *SANDBOX, "--yes")
    assert result.code == 0, result.output
    assert "plan: rotate the material of alias/adinsights-sandbox" in result.stderr
    assert asked.questions == []
    assert "rotated alias/adinsights-sandbox" in result.stdout


def test_the_plan_is_shown_only_where_approval_is_required(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ADINSIGHTS_ENVIRONMENTS")  # the packaged sandbox: no approval
    asked = answered(monkeypatch, None)
    result = run("kms.rotate-key", *SANDBOX)
    assert result.code == 0, result.output
    assert asked.questions == [] and "plan:" not in result.output


@pytest.mark.parametrize(("typed", "code"), [("", 2), ("staging\n", 2), ("sandbox\n", 0)])
def test_click_reads_the_answer_after_the_plan(cli: Any, typed: str, code: int) -> None:
    """The real prompt (click, on stderr): the end of input or another name is "no"."""
    before = changes(cli)
    result = run("kms.rotate-key", *SANDBOX, stdin=typed)
    assert result.code == code, result.output
    plan = result.stderr.index("plan: rotate the material of alias/adinsights-sandbox")
    assert plan < result.stderr.index(f"rotate the KMS key on sandbox. {QUESTION}: ")
    if code:
        # (a terminal echoes the typed answer and its newline; a test's stdin does not)
        assert result.stderr.rstrip().endswith("error: not confirmed; nothing was changed")
        assert changes(cli) == before
    else:
        assert "rotated alias/adinsights-sandbox" in result.stdout
