"""One flag, one short form: `-d` is `--dry-run` in every task that has `--dry-run`.

Invoke gives each option the first letter of its name that the task has not used yet, so the same
long flag got different letters in different tasks (`--dry-run` was `-r` in rds.prune, `-y` in
cost.schedule). The short forms are part of the command line's contract, listed in
docs/reference/options.md; the long names never change.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from invoke import Collection, Context, task

from runbooks.collection import ns
from runbooks.options import OpsTask
from runbooks.program import contexts_of

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference" / "options.md"


def short_forms(namespace: Collection) -> dict[str, dict[str | None, list[str]]]:
    """Each long flag -> its short form (None: it has none) -> the tasks that give it that one."""
    found: dict[str, dict[str | None, list[str]]] = defaultdict(lambda: defaultdict(list))
    # The program's contexts for the runbook's collection (built once: Invoke hands each help text
    # over once); a collection made up here is new, so it is asked directly.
    contexts = contexts_of(ns) if namespace is ns else namespace.to_contexts()
    for context in contexts:
        for arg in context.args.values():
            long = next(name for name in arg.names if len(name) > 1)
            short = next((name for name in arg.names if len(name) == 1), None)
            found[long][short].append(context.name or "")
    return found


def disagreements(namespace: Collection) -> list[str]:
    return [
        f"--{long}: "
        + ", ".join(f"{'-' + s if s else 'no short form'} in {', '.join(t)}" for s, t in by.items())
        for long, by in sorted(short_forms(namespace).items())
        if len(by) > 1
    ]


def test_every_long_flag_has_the_same_short_form_in_every_task_or_none_anywhere() -> None:
    assert disagreements(ns) == []


def test_the_short_forms_are_the_documented_ones() -> None:
    documented = dict(
        re.findall(r"^\| `--([a-z-]+)` \| (?:`-([a-z])`|none) \|", REFERENCE.read_text(), re.M)
    )
    actual = {long: next(iter(by)) or "" for long, by in short_forms(ns).items()}
    assert documented == actual


def test_y_is_only_ever_yes() -> None:
    """`-y` skips the typed confirmation: in no task may it mean anything else."""
    for context in contexts_of(ns):
        if "-y" in context.flags:
            assert context.flags["-y"].name == "yes", context.name


def test_the_check_finds_a_flag_with_two_short_forms() -> None:
    """What the contract test would say about the flags as Invoke assigned them by itself."""

    @task
    def schedule(c: Context, down: str = "", dry_run: bool = False) -> None: ...

    @task
    def prune(c: Context, dry_run: bool = False) -> None: ...

    broken = Collection(schedule, prune)
    assert disagreements(broken) == ["--dry-run: -r in schedule, -d in prune"]

    @task(klass=OpsTask, short={"down": "", "dry_run": "d"})
    def schedule2(c: Context, down: str = "", dry_run: bool = False) -> None: ...

    assert disagreements(Collection(schedule2, prune)) == []
    assert short_forms(Collection(schedule2))["down"] == {None: ["schedule2"]}


def test_a_mapped_option_leaves_its_letter_unused() -> None:
    """Taking `--reason`'s letter away moves no other option onto it (`-r` stays unknown)."""

    @task(klass=OpsTask, short={"reason": ""})
    def unlock(c: Context, reason: str = "", resume: str = "") -> None: ...

    names = {arg.name: arg.names for arg in unlock.get_arguments()}
    assert (names["reason"], names["resume"]) == (("reason",), ("resume", "e"))


@pytest.mark.parametrize(
    "short, message",
    [
        ({"keep": "x", "dry_run": "x"}, "given to two options: ['x']"),
        ({"dryrun": "d"}, "does not have"),
    ],
)
def test_a_wrong_short_form_is_refused_when_the_options_are_built(
    short: dict[str, str], message: str
) -> None:
    @task(klass=OpsTask, short=short)
    def prune(c: Context, keep: int = 5, dry_run: bool = False) -> None: ...

    with pytest.raises(ValueError, match=re.escape(message)):
        prune.get_arguments()
