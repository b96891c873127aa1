"""Terraform through a saved plan file: what `apply` does is exactly what `plan` showed.

`plan` runs `terraform init` (optional), `terraform plan -out <file> -input=false -no-color`, then
reads the summary from `terraform show -json <file>` (resource_changes: actions, address, type; a
replace is ["delete","create"] or ["create","delete"]). `apply` runs `terraform apply -input=false
<file>`. Commands go through the caller's runner (`adinsights_ops.shell.Runner`: the task's Invoke
`Context`, `LocalRunner`, or in tests `MockContext` or a stand-in `terraform` on PATH), with
`-chdir=<dir>` rather than a `cd` prefix, and a deadline shared by the commands of one plan.
Terraform does not roll back: an apply that fails part-way needs a human.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import attrs

from adinsights_ops.errors import UsageError, WaitTimedOut
from adinsights_ops.infra._model import (
    ADD,
    MODIFY,
    REMOVE,
    Change,
    InfraFailed,
    InfraPlan,
    InfraResult,
    OnPhase,
    PlanFile,
    Telling,
    TerraformApplyIncomplete,
    TerraformFailed,
)
from adinsights_ops.shell import CommandResult, Runner, timed_out
from adinsights_ops.waiting import SYSTEM_CLOCK, Clock

ENGINE = "terraform"
TAIL = 20
REPLACE = (["delete", "create"], ["create", "delete"])
SKIPPED_ACTIONS = (["no-op"], ["read"])
AUTOMATION_ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


def _tail(text: str, lines: int = TAIL) -> list[str]:
    return [line for line in (text or "").splitlines() if line.strip()][-lines:]


def change_of(resource_change: Mapping[str, Any]) -> Change | None:
    """One `resource_changes` entry of `terraform show -json` as a Change (None: nothing happens)."""
    if resource_change.get("mode", "managed") != "managed":
        return None
    actions = list(resource_change.get("change", {}).get("actions", []))
    if actions in SKIPPED_ACTIONS or not actions:
        return None
    address = str(resource_change.get("address", ""))
    kind = str(resource_change.get("type", ""))
    if actions in REPLACE:
        return Change(MODIFY, address, kind, "True")
    if actions == ["create"]:
        return Change(ADD, address, kind)
    if actions == ["update"]:
        return Change(MODIFY, address, kind, "False")
    if actions == ["delete"]:
        return Change(REMOVE, address, kind)
    return Change("/".join(str(a).capitalize() for a in actions), address, kind)


def changes_of(show: Mapping[str, Any]) -> tuple[Change, ...]:
    """The changes in a `terraform show -json <planfile>` document."""
    found = (change_of(rc) for rc in show.get("resource_changes") or [])
    return tuple(c for c in found if c is not None)


@attrs.frozen
class TerraformEngine(Telling):
    """Plan files for one Terraform working directory; see the module docstring."""

    ENGINE: ClassVar[str] = ENGINE

    runner: Runner
    working_dir: Path
    plan_dir: Path
    variables: Mapping[str, str] = attrs.field(factory=dict)
    var_file: Path | None = None
    init: bool = True
    binary: str = "terraform"
    timeout: float = 3600.0
    plan_stem: str = "adinsights-ops"
    clock: Clock = SYSTEM_CLOCK
    on_event: OnPhase | None = None

    def command(self, *args: str) -> str:
        """The shell command for `terraform -chdir=<dir> <args>` (what MockContext keys match)."""
        return shlex.join([self.binary, f"-chdir={self.working_dir}", *args])

    def _run(self, args: Sequence[str], *, deadline: float) -> CommandResult:
        remaining = deadline - self.clock.monotonic()
        what = f"terraform {args[0]}"
        if remaining <= 0:
            raise WaitTimedOut(what, self.timeout, "not started")
        command = self.command(*args)
        try:
            result = self.runner.run(
                command,
                hide=True,
                warn=True,
                pty=False,
                in_stream=False,
                timeout=remaining,
                env=AUTOMATION_ENV,
            )
        except FileNotFoundError as exc:  # pragma: no cover - runners report it as exit 127
            raise UsageError(f"{self.binary} not found: install Terraform") from exc
        except Exception as exc:
            cut = timed_out(exc)
            if cut is None:
                raise
            raise WaitTimedOut(what, self.timeout, _tail(cut.stderr)) from exc
        if result is None:  # pragma: no cover - only when run(..., disown=True)
            raise InfraFailed(f"`{what}` returned nothing")
        return result

    def _check(self, result: CommandResult, subcommand: str) -> CommandResult:
        exited = int(result.exited or 0)
        if exited == 127:
            raise UsageError(f"{self.binary} not found on PATH: install Terraform")
        if exited != 0:
            tail = _tail(result.stderr) or _tail(result.stdout)
            raise TerraformFailed(subcommand, exited, tail)
        return result

    def plan_args(self, plan_file: Path) -> list[str]:
        args = ["plan", "-out", str(plan_file), "-input=false", "-no-color"]
        if self.var_file is not None:
            args.append(f"-var-file={self.var_file}")
        for key, value in self.variables.items():
            args += ["-var", f"{key}={value}"]
        return args

    def plan(self) -> InfraPlan:
        """init (optional), plan to a file, and read the changes with `show -json`."""
        if not self.working_dir.is_dir():
            raise UsageError(f"Terraform directory {self.working_dir} does not exist")
        deadline = self.clock.monotonic() + self.timeout
        self.plan_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        plan_file = (self.plan_dir / f"{self.plan_stem}-{stamp}.tfplan").resolve()
        target = str(self.working_dir)
        if self.init:
            self._say("terraform init", target)
            self._check(self._run(["init", "-input=false", "-no-color"], deadline=deadline), "init")
        self._say("terraform plan", target)
        self._check(self._run(self.plan_args(plan_file), deadline=deadline), "plan")
        shown = self._check(
            self._run(["show", "-json", str(plan_file)], deadline=deadline), "show -json"
        )
        try:
            document = json.loads(shown.stdout)
        except (TypeError, ValueError) as exc:
            raise InfraFailed(f"`terraform show -json` did not print JSON: {exc}") from exc
        changes = changes_of(document)
        handle = PlanFile(path=str(plan_file), working_dir=target)
        if not changes:
            plan_file.unlink(missing_ok=True)
            self._say("no changes", target)
            return InfraPlan(ENGINE, target, (), True, None, note="terraform plan: no changes")
        self._say("plan ready", f"{len(changes)} resource change(s)")
        return InfraPlan(ENGINE, target, changes, False, handle)

    def apply(self, plan: InfraPlan) -> InfraResult:
        """`terraform apply` the plan's file; it is removed afterwards either way."""
        if plan.no_changes:
            return InfraResult(ENGINE, "no changes", f"{plan.target}: no changes", plan)
        handle = plan.handle
        if not isinstance(handle, PlanFile):
            raise UsageError("a Terraform apply needs the plan file its plan wrote")
        if not Path(handle.path).is_file():
            raise UsageError(f"plan file {handle.path} is gone: plan again")
        deadline = self.clock.monotonic() + self.timeout
        self._say("terraform apply", handle.path)
        try:
            result = self._run(
                ["apply", "-input=false", "-no-color", handle.path], deadline=deadline
            )
            exited = int(result.exited or 0)
            if exited == 127:
                raise UsageError(f"{self.binary} not found on PATH: install Terraform")
            if exited != 0:
                tail = _tail(result.stderr) or _tail(result.stdout)
                if any("Saved plan is stale" in line for line in tail):
                    # Nothing was applied: the state moved on since the plan.
                    raise TerraformFailed("apply", exited, tail)
                raise TerraformApplyIncomplete(exited, tail)
        finally:
            Path(handle.path).unlink(missing_ok=True)
        return InfraResult(
            ENGINE, "applied", f"{plan.target}: {plan.summary()}", plan, status="applied"
        )

    def discard(self, plan: InfraPlan) -> None:
        """Remove the plan file (nothing was applied)."""
        if isinstance(plan.handle, PlanFile):
            Path(plan.handle.path).unlink(missing_ok=True)
