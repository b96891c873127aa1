"""Prompts and approvals, through click: the plan first, then the question (as `terraform apply`).

Every answer that is not the expected one is "not confirmed", and so are Ctrl-C and the end of
input at the prompt: the task then exits 2 having changed nothing. A task that needs an answer but
has no terminal to ask on refuses before it opens anything, unless `--yes` was given.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Protocol

import click

from runbooks.render._console import say

NOT_CONFIRMED = "error: not confirmed; nothing was changed"


class Approvable(Protocol):
    """An environment's settings as far as approval goes (`config.Environment`)."""

    @property
    def name(self) -> str: ...

    @property
    def approval_required(self) -> bool: ...


def interactive() -> bool:
    """Whether someone can answer a prompt (stdin is a terminal)."""
    return sys.stdin.isatty()


def ask(question: str) -> str | None:
    """The answer typed to `question` (on stderr); None for Ctrl-C or the end of input."""
    try:
        answer: str = click.prompt(question, default="", show_default=False, err=True)
    except click.Abort:
        click.echo("", err=True)  # the prompt's line ends; the error line follows on its own
        return None
    return answer.strip()


def yes_no(question: str) -> bool:
    """click.confirm with "no" as the default; Ctrl-C or the end of input is "no"."""
    try:
        return bool(click.confirm(question, default=False, err=True))
    except click.Abort:
        click.echo("", err=True)
        return False


def needs_terminal(environment: str, yes: bool, action: str) -> None:
    """Refuse (exit 2) a run that would have to ask but cannot, before anything is opened."""
    if not yes and not interactive():
        from adinsights_ops.errors import UsageError

        raise UsageError(f"{action} on {environment} needs approval: pass --yes (not interactive)")


def confirm(environment: str, yes: bool, action: str) -> bool:
    """Production-style approval: `--yes`, or the environment's name typed at the prompt."""
    if yes:
        return True
    needs_terminal(environment, yes, action)
    answer = ask(f"{action} on {environment}. Type the environment name to go on")
    return answer == environment


def confirm_word(word: str, question: str, *, not_interactive: str, declined: str) -> None:
    """Ask for `word` typed back; anything else (Ctrl-C, end of input) is refused with exit 2
    (`declined`), as is a run with no terminal to ask on (`not_interactive`)."""
    from adinsights_ops.errors import UsageError

    if not interactive():
        raise UsageError(not_interactive)
    if ask(question) != word:
        raise UsageError(declined)


def check_approval(environment: Approvable, yes: bool, action: str) -> None:
    """Before anything is opened: an environment that needs approval, with no `--yes` and no
    terminal to ask on, is refused (exit 2)."""
    if environment.approval_required:
        needs_terminal(environment.name, yes, action)


def approve(
    environment: Approvable,
    yes: bool,
    action: str,
    plan: Iterable[str] | Callable[[], Iterable[str]],
    *,
    always: bool = False,
) -> None:
    """Show the plan (stderr), then ask for the environment's name unless `--yes`.

    Only for an environment with `approval_required` (or `always`): elsewhere nothing is shown
    or asked, and a callable `plan` is not even called. Not confirmed: exit 2 (Invoke's Exit), nothing changed.
    """
    if not (environment.approval_required or always):
        return
    for line in plan() if callable(plan) else plan:
        say(line)
    if not confirm(environment.name, yes, action):
        from invoke.exceptions import Exit

        raise Exit(NOT_CONFIRMED, 2)
