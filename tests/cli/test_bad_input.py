"""The bad-input corpus: every task refuses nonsense with exit 2, one `error:` line, nothing changed.

Cases come from tables: generic kinds applied to every task and option the collection declares
(unknown option, typo'd task, missing argument or value, empty value, a value for a switch, a
non-number, an unknown environment), then each task's own bad values. Every case runs in this
process through `adinsights-ops` (runbooks.program) against one sandbox server for the module,
which counts the calls: a refused request makes no mutating AWS, Airbyte or Slack call.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from runbooks.collection import ns
from runbooks.program import contexts_of
from tests.cli.runner import run
from tests.cli.shared import shared_sandbox

# Valid values for the arguments a task requires, so that each case has one bad thing only.
REQUIRED = {
    "env": "sandbox",
    "command": "true",
    "service": "celery-worker",
    "count": "1",
    "to_key": "alias/adinsights-sandbox",
    "tag": "v1.0.0",
    "version": "v9.9.9",
}
# What else a task needs before it reaches the option a case is about.
EXTRA = {
    "deploy.unlock": ["--force", "--reason", "bad-input corpus"],
    "rollback.db": ["--to-migration", "analytics:0001"],
}
TASKS = sorted(ns.task_names)
CONTEXTS = {
    name: context for context in contexts_of(ns) for name in (context.name, *context.aliases)
}


def fw(text: str) -> str:
    """`text` in full-width forms: digits and letters that look like ASCII ones and are not."""
    return "".join(chr(ord(ch) + 0xFEE0) for ch in text)


@attrs.frozen
class Case:
    argv: tuple[str, ...]
    shows: str
    """text the `error:` line must contain: the bad value (or option) as the operator typed it"""
    code: int = 2

    @property
    def id(self) -> str:
        return " ".join(a if a else "''" for a in self.argv)[:120]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _args(task: str) -> list[Any]:
    return list(CONTEXTS[task].args.values())


def _required(task: str) -> list[str]:
    names = [a.attr_name or a.name for a in _args(task) if a.positional]
    # --env is optional to Invoke ($ADINSIGHTS_ENV may stand in for it), required without it.
    if any(a.name == "env" and a.default is None for a in _args(task)):
        names.append("env")
    return names


def base(task: str, *, without: str = "", **override: str) -> list[str]:
    """`task --env sandbox ...`: the task with valid values for what it requires."""
    argv = [task]
    values = {name: REQUIRED[name] for name in _required(task) if name != without}
    values.update(override)
    for name, value in values.items():
        argv += [_flag(name), value]
    return argv


def full(task: str, *, unless: str = "", **override: str) -> list[str]:
    """`base` plus what else the task needs to get past its other checks (not `unless` itself)."""
    extra = EXTRA.get(task, [])
    return base(task, **override) + ([] if unless and unless in extra else extra)


def generic_cases() -> Iterator[Case]:
    for task in TASKS:
        yield Case((*full(task), "--no-such-option"), "--no-such-option")
        yield Case((task + "x", *full(task)[1:]), repr(task + "x"))
        if _required(task):
            yield Case((task,), "needs " + _flag(_required(task)[0]))
        if "env" in _required(task):
            yield Case(tuple(full(task, env="nosuch")), "nosuch")
            yield Case((*full(task), "--env", "production"), "--env given twice")
        for arg in _args(task):
            name = arg.attr_name or arg.name
            flag = _flag(name)
            if arg.takes_value:
                extra = EXTRA.get(task, [])
                rest = base(task, without=name) + ([] if flag in extra else extra)
                yield Case((*rest, flag, ""), f"{flag} ''")
                yield Case((*rest, flag), f"{flag} needs a value")
            else:
                yield Case((*full(task, unless=flag), f"{flag}=yes"), f"{flag} takes no value")
            if arg.kind in (int, float):
                yield Case((*full(task), flag, "x"), f"{flag} 'x'")


TIMEOUTS = ["abc", "-1", "0", "nan", "inf", "-inf", "1e400", "1e20", " ", fw("10")]
NUMBERS = ["-1", "1e400", "nan", "inf", "1e20", "x", fw("10")]
RUN_IDS = [
    "../../etc/passwd",
    "latest",
    "20261126T051500Z-3fa2\n",
    fw("2") + "0261126T051500Z-3fa2",
    "-",
]
MIGRATIONS = [
    "analytics:" + fw("0042"),
    "analytics:0042\n",
    "analytics",
    "Analytics:0042",
    "a:42",
    ":0042",
]
PATH_KINDS = ["{dir}", "{nonutf8}", "{unreadable}", "{missing}"]
WINDOWS = ["0m", "25h", "30x", "-1m", "1e400"]


def _specific() -> Iterator[tuple[list[str], str]]:
    """(argv, what the error names) for each task's own bad values."""
    for value in RUN_IDS:
        yield [*base("deploy"), "--resume", value], repr(value)
        yield [*base("rollback"), "--to-run", value], repr(value)
    unknown = "20991231T000000Z-dead"  # the journal's form, but no such run
    yield [*base("deploy"), "--resume", unknown], unknown
    yield [*base("rollback"), "--to-run", unknown], unknown
    for value in ["0", "-1", "1001", "1.5"]:
        yield [*base("deploy.status"), "--limit", value], value
    for value in ['"unbalanced', "it's", "   "]:
        yield [*base("ecs.run", command=value)], repr(value)
    for value in TIMEOUTS:
        yield [*base("ecs.run"), "--timeout", value], repr(value)
        yield [*base("airbyte.sync"), "--timeout", value], repr(value)
    for value in ["x", "-1", "1.5", "1e3", fw("3"), "1001"]:
        yield [*base("ecs.scale", count=value)], repr(value)
    yield [*base("ecs.scale", service="nosuch")], "'nosuch'"
    yield [*base("ecs.scale", service="celery-beat", count="3")], "--count 3"
    for value in ["0", "-1", "1001"]:
        yield [*base("ecs.prune"), "--keep", value], f"--keep {value}"
    for value in ["-1", "10001"]:
        yield [*base("rds.prune"), "--keep", value], f"--keep {value}"
    for value in ["-1", "nan", "inf", "1e400", "36501"]:
        yield [*base("rds.prune"), "--days", value], "--days"
    for value in ["---", "!!!", "\n"]:
        yield [*base("rds.snapshot"), "--label", value], repr(value)
    yield [*base("rds.restore"), "--snapshot", "nosuch", "--yes"], "--snapshot 'nosuch'"
    yield [*base("rds.restore"), "--snapshot", " ", "--yes"], "' '"
    for value in MIGRATIONS:
        yield [*base("rollback.db"), "--to-migration", value], repr(value)
    yield [*base("rollback.db")], "exactly one of"
    yield (
        [*base("rollback.db"), "--to-migration", "a:0001", "--restore-snapshot", "s"],
        "exactly one",
    )
    yield [*base("rollback.db"), "--restore-snapshot", "nosuch", "--yes"], "nosuch"
    for value in ["nonsense", "v1", "1.2.3"]:
        yield [*base("rollback.data", tag=value)], value
    for value in ["{missing}", "{file}", "{nonrepo}"]:
        yield [*base("rollback.data"), "--repo", value], value
    for value in [" ", "nosuch", "\n"]:
        yield [*base("airbyte.sync"), "--connection", value], repr(value)
    for value in ["-1", "0", "101", "nan", "inf"]:
        yield [*base("airbyte.host-check"), "--threshold", value], "--threshold"
    for value in ["-1", "0", "1e20", "nan", "3601"]:
        yield [*base("airbyte.host-check"), "--timeout", value], "--timeout"
    for value in ["{", "[1]", '"x"', "null"]:
        yield [*base("dbt.build"), "--vars", value], repr(value)
    yield [*base("dbt.build"), "--target-path", "{file}"], "{file}"
    for value in ["0", "-1h", "26x", "400d", "1e400", fw("26") + "h"]:
        yield [*base("dbt.freshness"), "--max-age", value], repr(value)
    for value in PATH_KINDS:
        yield [*base("dbt.freshness"), "--path", value], value
        yield [*base("secrets.audit"), "--env-sample", value], value
        yield [*base("golive"), "--signoff", value], value  # missing: read_signoff's message
        yield [*base("infra.plan"), "--template", value], value
        yield [*base("infra.apply"), "--template", value, "--yes"], value
    yield [*base("golive"), "--out", "{file}"], "{file}"
    yield [*base("golive"), "--root", "{missing}"], "{missing}"
    for value in ["nosuch", "CloudFormation"]:
        yield [*base("infra.plan"), "--engine", value], repr(value)
        yield [*base("infra.apply"), "--engine", value, "--yes"], repr(value)
    yield [*base("infra.apply")], "--yes"
    for value in ["xml", "JSON"]:
        yield [*base("cost.report"), "--format", value], repr(value)
    for value in ["2026-13", "13-2026", "2999-01", fw("2026") + "-01"]:
        yield [*base("cost.report"), "--month", value], value
    for value in [*NUMBERS, "0"]:
        yield [*base("cost.budgets"), "--amount", value], repr(value)
    for flag in ("--down", "--up"):
        for value in [
            "0 25 * * *",
            "60 20 * * *",
            "0 20 32 * *",
            "0 20 * 13 *",
            "bad",
            "0 -1 * * *",
        ]:
            yield [*base("cost.schedule"), flag, value], repr(value)
    yield [*base("cost.schedule"), "--timezone", "Nowhere/City"], "Nowhere/City"
    for value in ["0", "-1", "456", "x", "1.5", fw("1")]:
        yield [*base("cost.rightsize"), "--days", value], repr(value)
    for task in ("cost.scale-down", "cost.scale-up", "cost.schedule"):
        yield [*base(task, env="production")], "production"
    for task in ("checks.post-deploy", "checks.metrics", "checks.audit"):
        for value in WINDOWS:
            yield [*base(task), "--window", value], repr(value)
    for value in ["-1", "-0.5", "nan", "1e20", "3601"]:
        yield ["compose.smoke", "--timeout", value], "--timeout"
    yield ["compose.smoke", "--services", " "], "' '"
    yield ["compose.smoke", "--project-dir", "{missing}"], "{missing}"
    yield ["compose.smoke", "--project-dir", "{file}"], "{file}"
    yield ["compose.smoke", "--project-dir", "{tree}", "--env-file", "sub"], "sub"
    yield ["compose.smoke", "--project-dir", "{tree}", "--env-file", "latin1.env"], "latin1.env"
    for value in [" ", "\n", "\t"]:
        yield [*base("kms.rewrap", to_key=value)], repr(value)
    for task in ("release.ci", "release.build", "release.push"):
        yield [*base(task), "--project-dir", "{missing}"], "{missing}"
        yield [*base(task), "--project-dir", "{file}"], "{file}"
    for task in ("release.build", "release.push", "release.tag"):
        for value in ["xyz", "12345", fw("ABCDEF") + "0"]:
            yield [*base(task), "--sha", value], value
    for value in ["v1", "1.2.3", "v1.2.3\n", "v1.2.3-rc1x"]:
        yield [*base("release.tag", version=value), "--sha", "abcdef0"], value.strip()
    for value in ["-1", "65536"]:
        yield [*base("sandbox.up"), "--port", value], f"--port {value}"
    yield [*base("sandbox.up"), "--scenario", "nosuch"], "--scenario 'nosuch'"
    yield [*base("sandbox.up", env="staging")], "staging"
    yield [*base("sandbox.up")], "already runs"
    yield [*base("sandbox.reset")], "runs now"
    for task in ("sandbox.status", "sandbox.reset"):
        yield [*base(task, env="staging")], "staging"
    for task in ("deploy", "deploy.smoke", "ecs.run", "rollback.db"):
        extra = ["--to-migration", "a:0001"] if task == "rollback.db" else []
        named = task in ("deploy.smoke", "ecs.run")  # the others' message is the library's
        yield (
            [*base(task), *extra, "--scenario", "nosuch"],
            ("--scenario 'nosuch'" if named else "nosuch"),
        )
    yield [*base("deploy.unlock")], "--force"
    for value in ["nonsense", "v1", "latest"]:
        yield [*base("deploy"), "--image-tag", value], value
    yield (
        [*base("deploy"), "--resume", "20261126T051500Z-3fa2", "--image-tag", "v1.0.0"],
        "--resume",
    )
    for value in ["--nosuch", "--env"]:
        yield ["deploy.status", value], value


def specific_cases() -> Iterator[Case]:
    for argv, shows in _specific():
        yield Case(tuple(argv), shows)


CASES = [*generic_cases(), *specific_cases()]


def test_the_corpus_covers_every_task_with_hundreds_of_cases() -> None:
    covered = {case.argv[0] for case in CASES}
    assert set(TASKS) <= covered
    assert len(CASES) >= 300


# -- the sandbox every case talks to ------------------------------------------------------------


@attrs.define
class Counted:
    server: Any
    baseline: list[str] = attrs.field(factory=list)

    def forget(self) -> None:
        with self.server._lock:
            self.server.calls.clear()
        self.baseline = self._simulated()

    def _simulated(self) -> list[str]:
        airbyte = self.server.apps.get("airbyte")
        slack = self.server.apps.get("slack")
        made = [
            f"airbyte {c.method} {c.route}"
            for c in (airbyte.calls if airbyte is not None else [])
            if c.method != "GET" and "token" not in c.route
        ]
        return made + [f"slack {m.get('text', '')[:40]}" for m in getattr(slack, "messages", [])]

    def mutating(self) -> list[str]:
        with self.server._lock:
            aws = [c["operation"] for c in self.server.calls if c["mutating"]]
        return aws + self._simulated()[len(self.baseline) :]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad-input-home")


@pytest.fixture(scope="module")
def sandbox_server(home: Path) -> Iterator[Counted]:
    """One sandbox for the module, found by every command through the state file sandbox.up writes."""
    with shared_sandbox(home) as server:
        yield Counted(server)


@pytest.fixture
def counted(
    sandbox_server: Counted,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    _fake_aws_credentials: None,
) -> Counted:
    monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(home))
    sandbox_server.forget()
    return sandbox_server


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Paths of each bad kind: a folder, a non-UTF-8 file, an unreadable one, one missing, ..."""
    root = tmp_path_factory.mktemp("bad-paths")
    (root / "a-folder").mkdir()
    (root / "latin1.yaml").write_bytes("caf\xe9: 1\n".encode("latin-1"))
    (root / "a-file").write_text("not a folder\n")
    (root / "not-a-repo").mkdir()
    tree = root / "app"
    (tree / "sub").mkdir(parents=True)
    (tree / "latin1.env").write_bytes("NAME=caf\xe9\n".encode("latin-1"))
    if os.geteuid() == 0:
        unreadable = "/proc/self/mem"  # root reads any mode; this one cannot be read from offset 0
    else:
        locked = root / "locked.yaml"
        locked.write_text("a: 1\n")
        locked.chmod(0)
        unreadable = str(locked)
    return {
        "{dir}": str(root / "a-folder"),
        "{nonutf8}": str(root / "latin1.yaml"),
        "{unreadable}": unreadable,
        "{missing}": str(root / "no-such-thing"),
        "{file}": str(root / "a-file"),
        "{nonrepo}": str(root / "not-a-repo"),
        "{tree}": str(tree),
    }


def _fill(text: str, paths: dict[str, str]) -> str:
    for key, value in paths.items():
        text = text.replace(key, value)
    return text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(
    case: Case, counted: Counted, paths: dict[str, str]
) -> None:
    result = run(*(_fill(a, paths) for a in case.argv))
    errors = result.error_lines()
    assert "Traceback" not in result.output, result.output
    assert result.code == case.code, result.output
    assert len(errors) == 1, result.output
    assert _fill(case.shows, paths) in errors[0], result.output
    assert counted.mutating() == [], result.output


# Options whose default is "left out": given empty, the task itself refuses, so `inv` does too.
EMPTY_IN_THE_TASK = [
    ("airbyte.sync", "--connection"),
    ("airbyte.sync", "--timeout"),
    ("rds.snapshot", "--label"),
    ("rds.restore", "--snapshot"),
    ("kms.rewrap", "--to-key"),
    ("kms.rewrap", "--deks-object"),
    ("ecs.run", "--task-definition"),
    ("ecs.run", "--timeout"),
    ("ecs.run", "--command"),
    ("dbt.build", "--tag"),
    ("infra.plan", "--engine"),
    ("infra.apply", "--stack"),
    ("release.build", "--sha"),
    ("release.tag", "--sha"),
    ("cost.budgets", "--amount"),
    ("cost.rightsize", "--days"),
]


@pytest.mark.parametrize(
    ("task", "flag"), EMPTY_IN_THE_TASK, ids=[" ".join(c) for c in EMPTY_IN_THE_TASK]
)
def test_an_empty_value_is_refused_by_the_task_under_plain_invoke_too(
    task: str, flag: str, counted: Counted
) -> None:
    argv = [*base(task, without=flag[2:].replace("-", "_")), flag, ""]
    if task in ("rds.restore", "infra.apply"):
        argv.append("--yes")
    result = run(*argv, plain_invoke=True)
    assert result.code == 2, result.output
    assert result.error_lines() and f"{flag} ''" in result.error_lines()[0], result.output
    assert counted.mutating() == []


# -- the program itself ------------------------------------------------------------------------


def test_version_names_the_program() -> None:
    from adinsights_ops import __version__

    result = run("--version")
    assert (result.code, result.stdout.strip()) == (0, f"adinsights-ops {__version__}")


def test_good_values_still_pass(counted: Counted) -> None:
    """The validators refuse nonsense, not the values an operator gives every day."""
    for argv in (
        ["deploy.status", "--env", "sandbox", "--limit", "1"],
        ["deploy.status", "-e", "sandbox", "-l", "3", "--json"],
        ["ecs.status", "--env", "sandbox"],
        ["rds.snapshots", "--env", "sandbox"],
        ["sandbox.status", "--env", "sandbox"],
        ["env.show", "--env", "sandbox"],
        ["rds.prune", "--env", "sandbox", "--keep", "0", "--days", "0.5", "--dry-run"],
        ["ecs.prune", "--env", "sandbox", "--keep", "3", "--dry-run"],
    ):
        result = run(*argv)
        assert result.code == 0, (argv, result.output)
        assert "error:" not in result.stderr
    assert counted.mutating() == []


def test_ecs_scale_takes_a_count_from_the_command_line(counted: Counted) -> None:
    """`--count 2` used to crash on every value (the count arrived as text)."""
    result = run("ecs.scale", "--env", "sandbox", "--service", "celery-worker", "--count", "2")
    assert result.code == 0, result.output
    assert "celery-worker" in result.stdout and "/2 running" in result.stdout
    assert "UpdateService" in counted.mutating()
    back = run("ecs.scale", "--env", "sandbox", "--service", "celery-worker", "--count", "1")
    assert back.code == 0, back.output


def test_a_reader_that_closes_the_pipe_ends_the_program_quietly(
    counted: Counted, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runbooks.program import EXIT_BROKEN_PIPE, OpsProgram

    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            raise OSError("not a real file")

    import io
    import sys

    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    monkeypatch.setattr(sys, "stderr", err)
    program = OpsProgram()
    program.run(["adinsights-ops", "deploy.status", "--env", "sandbox"], exit=False)
    assert program.exit_code == EXIT_BROKEN_PIPE
    assert "Traceback" not in err.getvalue()


def test_the_same_collection_serves_inv_and_the_program() -> None:
    import tasks
    from runbooks.program import OpsProgram

    assert tasks.ns is ns
    assert OpsProgram().namespace is ns
