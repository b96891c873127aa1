"""Invoke copies every task and every option at each start and parse; the runbook's task and option
classes make those copies cheap (runbooks.optask). A copy must still be as independent as it was."""

from __future__ import annotations

import copy

from invoke import Context, task
from invoke.parser import Parser, ParserContext

from runbooks.optask import OpsTask


def _listing() -> OpsTask:
    @task(klass=OpsTask, help={"limit": "how many", "tag": "a tag (repeatable)"}, iterable=["tag"])
    def listing(c: Context, limit: int = 3, tag: list[str] | None = None) -> None:
        """List things."""

    assert isinstance(listing, OpsTask)
    return listing


def test_a_copied_task_hands_its_own_help_to_its_options() -> None:
    original = _listing()
    copied = copy.deepcopy(original)
    assert {a.name: a.help for a in copied.get_arguments()}["limit"].startswith("how many")
    assert original.help == {"limit": "how many", "tag": "a tag (repeatable)"}
    assert {a.name: a.help for a in original.get_arguments()}["limit"].startswith("how many")


def test_each_parse_gets_its_own_values() -> None:
    context = ParserContext(name="listing", args=_listing().get_arguments())
    parser = Parser(contexts=[context])
    first = parser.parse_argv(["listing", "--limit", "5", "--tag", "a", "--tag", "b"])
    second = parser.parse_argv(["listing", "--tag", "c"])
    assert first[0].args["limit"].value == 5 and first[0].args["tag"].value == ["a", "b"]
    assert second[0].args["limit"].value == 3 and second[0].args["tag"].value == ["c"]
    assert context.args["tag"].value == [] and context.args["limit"].value == 3  # untouched
