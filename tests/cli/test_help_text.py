"""`TASK --help`: every option shows its type and default; `--scenario` lists every scenario.

Also the shell completion the README documents (`--print-completion-script`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adinsights_ops.sandbox import scenarios
from runbooks import options
from runbooks.collection import ns
from runbooks.program import contexts_of
from tests.cli.runner import run

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SUFFIX = re.compile(r"\((int|float|str|switch)(, (default .+|no default|required))?\)$")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADINSIGHTS_")}
    env["ADINSIGHTS_OPS_HOME"] = str(tmp_path)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _flat(text: str) -> str:
    """Help as one line: Invoke wraps the help column (and breaks words at hyphens)."""
    return re.sub(r"\s+", " ", text)


def _option_help(output: str, flag: str) -> str:
    """The help of one option in `--help` output, unwrapped."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(rf"(^|, ){flag}\b", line.strip()))
    column = re.search(rf"{flag}\S*\s+", lines[start])
    assert column is not None
    text = [lines[start][column.end() :]]
    for line in lines[start + 1 :]:
        if not line[: column.end()].strip() and line.strip():
            text.append(line.strip())
        else:
            break
    return " ".join(text)


def test_every_task_is_an_ops_task() -> None:
    """A task declared with Invoke's own Task would show no types and pick its own short forms."""
    plain = [name for name in ns.task_names if not isinstance(ns[name], options.OpsTask)]
    assert plain == []


def test_every_option_of_every_task_ends_with_its_type_and_default() -> None:
    missing = [
        f"{context.name} --{arg.name}: {arg.help!r}"
        for context in contexts_of(ns)
        for arg in context.args.values()
        if not SUFFIX.search(arg.help or "")
    ]
    assert missing == []


@pytest.mark.parametrize(
    "task, flag, shown",
    [
        ("deploy.status", "--limit", "how many runs (int, default 10)"),
        ("rds.prune", "--keep", "(int, default 5)"),
        ("rds.prune", "--days", "(float, default 14)"),
        ("rds.prune", "--dry-run", "only say what would be deleted (switch, default off)"),
        ("deploy", "--resume", "(str, no default)"),
        ("checks.metrics", "--window", "(str, default 30m)"),
        ("sandbox.up", "--port", "(int, default 0)"),
        ("compose.smoke", "--services", '(default: "backend worker beat frontend") (str)'),
        ("deploy", "--env", "which may not be production (str)"),  # its default is in its words
        ("ecs.scale", "--count", "(str, required)"),
    ],
)
def test_help_shows_the_type_and_default(task: str, flag: str, shown: str) -> None:
    result = run(task, "--help")
    assert result.code == 0, result.stderr
    described = _option_help(result.stdout, flag)
    assert described.endswith(shown), described


def test_usage_errors_quote_the_help_without_type_and_default() -> None:
    """The type and default are for `--help`; an error quotes what the option is, once."""
    assert run("deploy.status", "--limit").error_lines() == [
        "error: --limit needs a value: expected a whole number (how many runs)"
    ]
    assert run("ecs.scale", "--env", "sandbox").error_lines() == [
        "error: ecs.scale needs --service (service name (e.g. celery-worker)); "
        "--count (desired count)"
    ]
    empty = run("deploy.smoke", "--env", "sandbox", "--expect-version", "").error_lines()
    assert empty == [
        "error: --expect-version '': expected version /api/health/ must report (default: what "
        "runs) (an empty value is refused, never taken as the default)"
    ]


def _scenarios_listed(help_output: str) -> None:
    described = re.sub(r"\s+", "", _option_help(help_output, "--scenario"))
    assert "failing-smoke" in scenarios.names()
    for name in scenarios.names():
        assert f"{name}:" in described, name


def test_scenario_help_lists_every_scenario_of_the_table() -> None:
    for task in ("deploy", "deploy.smoke", "ecs.run", "rollback.db"):
        result = run(task, "--help")
        assert result.code == 0, result.stderr
        _scenarios_listed(result.stdout)


def test_the_scenario_help_is_made_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(scenarios.DESCRIPTIONS, "new-one", "something new goes wrong")
    assert "new-one: something new goes wrong" in options.scenario_help()


def test_type_and_default_of_each_kind() -> None:
    def shown(described: str, **opts: object) -> str:
        return options.with_type_and_default(described, dict(opts))

    assert shown("how many", kind=int, default=10) == "how many (int, default 10)"
    assert shown("days", kind=float, default=14.0) == "days (float, default 14)"
    assert shown("why", default=None) == "why (str, no default)"
    assert shown("why", kind=str, default="") == "why (str, no default)"
    assert shown("tag", kind=str, positional=True) == "tag (str, required)"
    assert shown("off", kind=bool, default=False) == "off (switch, default off)"
    assert shown("on", kind=bool, default=True) == "on (switch, default on)"
    assert shown("file (default: beside it)", kind=str, default="") == (
        "file (default: beside it) (str)"
    )
    assert shown("", kind=str, default="a b") == "(str, default 'a b')"


def test_listing_and_help_import_neither_boto3_nor_moto(tmp_path: Path) -> None:
    """The scenario table is read when `--scenario`'s help is: `--list` does not even import it
    (nor the environments file's reader under it), and `--help` imports no AWS module."""
    check = (
        "import sys\n"
        "from invoke.main import program\n"
        "program.run(['inv', {args}], exit=False)\n"
        "loaded = sorted(m for m in {modules} if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    aws = ("boto3", "botocore", "moto")
    table = ("adinsights_ops.sandbox.scenarios", "adinsights_ops.config")
    for args, modules in (("'--list'", aws + table), ("'deploy', '--help'", aws)):
        done = subprocess.run(
            [sys.executable, "-c", check.format(args=args, modules=modules)],
            cwd=ROOT,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "deploy" in done.stdout
        if "--help" in args:  # `inv deploy --help` as an operator runs it
            _scenarios_listed(done.stdout)


# -- shell completion (README, "Shell completion") ---------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_program_prints_a_completion_script(shell: str) -> None:
    assert f"adinsights-ops --print-completion-script {shell}" in (ROOT / "README.md").read_text()
    result = run("--print-completion-script", shell)
    assert result.code == 0, result.stderr
    assert "adinsights-ops" in result.stdout and "--complete" in result.stdout
    assert {"bash": "complete -F", "zsh": "compctl", "fish": "complete --command"}[shell] in (
        result.stdout
    )


@pytest.mark.parametrize(
    "program, function",
    [("adinsights-ops", "_complete_adinsights-ops"), ("inv", "_complete_invoke")],
)
def test_bash_completes_a_task_option_with_the_printed_script(
    program: str, function: str, tmp_path: Path
) -> None:
    """Source the script in bash and press tab after `rds.prune --dr`: `--dry-run` comes back."""
    script = f"""
        eval "$({program} --print-completion-script bash)"
        complete -p {program}
        COMP_WORDS=({program} rds.prune --dr)
        {function} {program} --dr
        echo "replies: ${{COMPREPLY[*]}}"
    """
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"-F {function} {program}" in done.stdout
    assert "replies: --dry-run" in done.stdout, done.stdout + done.stderr
