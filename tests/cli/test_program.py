"""The installed `adinsights-ops` program, run as an operator runs it (a few subprocesses only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cli.runner import run

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = str(Path(sys.executable).with_name("adinsights-ops"))


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADINSIGHTS_")}
    env["ADINSIGHTS_OPS_HOME"] = str(tmp_path)
    return env


def test_the_console_script_maps_a_parse_error_to_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [PROGRAM, "deploy.status", "--env", "sandbox", "--limit", "x"],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == "error: --limit 'x': expected a whole number (how many runs)\n"
    assert done.stdout == ""


def test_a_closed_pipe_ends_the_program_without_a_traceback(tmp_path: Path) -> None:
    """`adinsights-ops env.list | head -0`: the reader is gone before the first line is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [PROGRAM, "env.list"],
            cwd=ROOT,
            env=_env(tmp_path),
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141


# What `--list` must not load: the AWS SDK and the sandbox's server, and what the tasks print and
# read with (rich and click through runbooks.render, attrs, the environments file's reader). Only
# Invoke and the task modules' own top-level code run; each of these is imported by a task that
# needs it, when it runs.
NOT_AT_LIST = (
    "boto3",
    "botocore",
    "moto",
    "rich",
    "click",
    "attr",
    "attrs",
    "requests",
    "urllib3",
    "tenacity",
    "fabric",
    "paramiko",
    "adinsights_ops.config",
    "adinsights_ops.sandbox",
    "runbooks.render._console",
    "runbooks.render._prompt",
    "runbooks.render._json",
)


def test_listing_tasks_imports_nothing_heavy(tmp_path: Path) -> None:
    check = (
        "import sys\n"
        "from {module} import {name}\n"
        "{call}\n"
        "heavy = sorted(m for m in {modules} if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "lazy = sorted(m for m, v in sys.modules.items() if m.startswith('runbooks.render.')\n"
        "              and type(v).__name__ != '_LazyModule')\n"
        "assert not lazy, lazy  # named by the task modules, never executed\n"
    )
    for module, name, call in (
        ("runbooks.program", "OpsProgram", "OpsProgram().run(['adinsights-ops', '--list'])"),
        ("invoke.main", "program", "program.run(['inv', '--list'], exit=False)"),
    ):
        code = check.format(module=module, name=name, call=call, modules=NOT_AT_LIST)
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "deploy.status" in done.stdout


def test_help_and_list_exit_0_and_a_bad_help_topic_exits_2() -> None:
    assert run("--help", "deploy.status").code == 0
    assert run("deploy.status", "--help").code == 0
    assert run("--list").code == 0
    bad = run("--help", "deploy.statu")
    assert bad.code == 2 and bad.error_lines() == [
        "error: 'deploy.statu': expected a task from `adinsights-ops --list`; "
        "did you mean deploy.status?"
    ]
    listed = run("--list", "nosuch")
    assert listed.code == 2 and listed.error_lines() == ["error: sub-collection 'nosuch' not found"]


def test_an_option_given_twice_is_refused_not_half_dropped() -> None:
    """Invoke kept the first `--env` and dropped the second; an operator means one of them."""
    result = run("env.show", "--env", "sandbox", "--env", "production")
    assert result.code == 2
    assert result.error_lines() == [
        "error: --env given twice (--env first): give each option once; "
        "no value is silently dropped"
    ]
    short = run("deploy.status", "-e", "sandbox", "--env", "staging")
    assert short.code == 2 and "--env given twice (-e first)" in short.stderr


def test_a_value_that_looks_like_an_option_is_the_unknown_option_it_is() -> None:
    """Invoke fills a missing required argument first: `--nosuch` became the environment."""
    result = run("deploy.status", "--nosuch")
    assert result.code == 2
    assert result.error_lines()[0].startswith("error: --nosuch: not an option of deploy.status")


def test_a_value_for_a_switch_is_refused() -> None:
    result = run("env.show", "--env", "sandbox", "--json=yes")
    assert result.code == 2
    assert result.error_lines() == [
        "error: --json=yes: --json takes no value (it is an on/off switch)"
    ]


def test_a_non_number_is_one_line_under_plain_invoke_too() -> None:
    """`inv` keeps Invoke's exit 1 for parse errors, but no longer shows a traceback for them."""
    for argv in (
        ["deploy.status", "--env", "sandbox", "--limit", "x"],
        ["ecs.prune", "--env", "sandbox", "--keep", "x"],
        ["rds.prune", "--env", "sandbox", "--days", "x"],
        ["sandbox.up", "--port", "x"],
        ["airbyte.host-check", "--env", "sandbox", "--threshold", "x"],
        ["compose.smoke", "--timeout", "abc"],
    ):
        result = run(*argv, plain_invoke=True)
        flag, value = argv[-2], argv[-1]
        assert result.code == 1, result.output
        assert "Traceback" not in result.output
        assert result.stderr.startswith(f"{flag} '{value}': expected a "), result.stderr
        assert result.stderr.count("\n") == 1


def test_help_after_a_task_with_several_required_options_shows_its_help() -> None:
    from tests.cli.runner import run

    result = run("ecs.scale", "--help")
    assert result.code == 0, result.output
    assert "ecs.scale" in result.stdout and "--count" in result.stdout
    assert not result.error_lines()
