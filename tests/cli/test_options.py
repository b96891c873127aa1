"""runbooks.options: each check takes the values an operator gives and refuses the rest by name."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from adinsights_ops.errors import UsageError
from runbooks import options


def refused(call: Callable[..., object], *args: object, **kwargs: object) -> str:
    with pytest.raises(UsageError) as raised:
        call(*args, **kwargs)
    assert raised.value.exit_code == 2
    return str(raised.value)


def test_whole_numbers() -> None:
    assert options.whole(3, "--keep") == 3
    assert options.whole("12", "--count", maximum=1000) == 12
    assert options.whole(0, "--keep") == 0
    assert refused(options.whole, -1, "--keep") == "--keep -1: expected a whole number of 0 or more"
    assert refused(options.whole, "5", "--count", maximum=4) == (
        "--count '5': expected a whole number from 0 to 4"
    )
    for bad in ("1.5", "x", "", " 1", "\uff11", True, 2.0, None):
        assert refused(options.whole, bad, "--count").startswith("--count ")


def test_numbers_are_finite_and_in_range() -> None:
    assert options.number("0.5", "--days") == 0.5
    assert options.number(14, "--days") == 14.0
    assert options.timeout("1e3") == 1000.0
    for bad in ("nan", "inf", "-inf", "1e400", math.nan, math.inf, "-1", "x", "\uff11\uff10"):
        assert "--timeout" in refused(options.timeout, bad)
    assert "at most 604800" in refused(options.timeout, "1e20")
    assert "above 0" in refused(options.timeout, 0)
    assert options.optional_timeout(None) is None


def test_text_is_never_empty_nor_a_control_character() -> None:
    assert options.text("alias/x", "--to-key") == "alias/x"
    assert "never taken as the default" in refused(options.text, "", "--to-key")
    assert "never taken as the default" in refused(options.text, "   ", "--to-key")
    assert "control characters" in refused(options.text, "a\nb", "--label")
    assert options.optional_text(None, "--label") is None


def test_run_ids_have_the_journal_form() -> None:
    from adinsights_ops.journal import new_run_id

    fresh = new_run_id()
    assert options.run_id(fresh, "--resume") == fresh
    for bad in (
        "../../etc/passwd",
        "",
        "latest",
        fresh + "\n",
        "\uff12" + fresh[1:],
        "20261126T051500Z-3FA2",  # upper case: a fresh id's hex may have no letter to raise
    ):
        assert refused(options.run_id, bad, "--resume").startswith(f"--resume {bad!r}")


def test_migrations_are_ascii_app_and_number() -> None:
    assert options.migration("analytics:0042") == ("analytics", "0042")
    assert options.migration("core_app:zero") == ("core_app", "zero")
    for bad in (
        "analytics:\uff10\uff10\uff14\uff12",
        "analytics:0042\n",
        "analytics",
        "A:0001",
        "a:42",
    ):
        assert refused(options.migration, bad).startswith(f"--to-migration {bad!r}")


def test_commands_have_balanced_quotes() -> None:
    assert options.command('python manage.py shell -c "print(1)"') == [
        "python",
        "manage.py",
        "shell",
        "-c",
        "print(1)",
    ]
    assert "balanced quotes" in refused(options.command, '"unbalanced')
    assert "a command" in refused(options.command, "  ")


@pytest.mark.parametrize("good", ["0 20 * * MON-FRI", "*/15 7-19 1,15 1-12 *", "0 0 * JAN-MAR 0"])
def test_cron_fields_in_range_pass(good: str) -> None:
    assert options.cron(good, "--down") == good


@pytest.mark.parametrize(
    "bad",
    [
        "0 25 * * *",
        "60 20 * * *",
        "0 20 32 * *",
        "0 20 * 13 *",
        "0 -1 * * *",
        "0 5-1 * * *",
        "*/0 * * * *",
        "bad",
    ],
)
def test_cron_fields_out_of_range_are_refused(bad: str) -> None:
    assert refused(options.cron, bad, "--down").startswith(f"--down {bad!r}")


def test_paths(tmp_path: Path) -> None:
    text = tmp_path / "a.yaml"
    text.write_text("a: 1\n")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"caf\xe9\n")
    assert options.readable_file(str(text), "--path") == text
    assert "not a folder" in refused(options.readable_file, str(tmp_path), "--path")
    assert "not UTF-8" in refused(options.readable_file, str(latin), "--path")
    assert "no such file" in refused(options.readable_file, str(tmp_path / "none"), "--path")
    assert options.output_folder(str(tmp_path / "new" / "dir"), "--out") == tmp_path / "new" / "dir"
    assert "not an existing file" in refused(options.output_folder, str(text), "--out")
    assert "is a file" in refused(options.output_folder, str(text / "below"), "--out")
    assert "is not a folder" in refused(options.folder, str(text), "--project-dir")
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    assert options.git_repository(str(tmp_path / "repo"), "--repo") == tmp_path / "repo"
    assert "has no .git" in refused(options.git_repository, str(tmp_path), "--repo")


def test_a_number_option_refuses_with_a_parse_error_naming_it() -> None:
    import copy

    from invoke.exceptions import ParseError

    from runbooks.collection import ns
    from runbooks.program import contexts_of

    (shared,) = [c for c in contexts_of(ns) if c.name == "deploy.status"]
    context = copy.deepcopy(shared)  # as a parse does: the shared one keeps no value
    limit = context.flags["--limit"]
    assert "--limit=INT" in context.help_for("--limit")[0]  # Invoke's help still reads it as int
    with pytest.raises(ParseError, match=r"^--limit 'x': expected a whole number"):
        limit.value = "x"
    with pytest.raises(ParseError):
        limit.value = "\uff11\uff10"
    limit.value = "7"
    assert limit.value == 7
