"""Under `--json`, a command line refused by the parser is a JSON object on stdout as well."""

from __future__ import annotations

import json

import pytest

from tests.cli.runner import run


@pytest.mark.parametrize(
    "argv",
    [
        ("ecs.status", "--env", "sandbox", "--json", "--bogus"),
        ("ecs.status", "--env", "sandbox", "-j", "--bogus"),
        ("ecs.prune", "--env", "sandbox", "--json", "--keep", "many"),
        ("cost.report", "--env", "sandbox", "--format", "json", "--nope"),
    ],
)
def test_a_parse_error_under_json_is_one_json_object_on_stdout(argv: tuple[str, ...]) -> None:
    done = run(*argv)
    assert done.code == 2, done.stderr
    assert len(done.error_lines()) == 1
    found = json.loads(done.stdout)
    assert found["exit_code"] == 2
    assert found["error"] == done.error_lines()[0].removeprefix("error: ")


def test_without_json_stdout_stays_empty() -> None:
    done = run("ecs.status", "--env", "sandbox", "--bogus")
    assert done.code == 2 and done.stdout == ""
