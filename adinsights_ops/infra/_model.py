"""What an infrastructure change is, whichever engine makes it: plans, changes, results, errors.

Both engines (CloudFormation change sets, Terraform plan files) answer in these values, so the
command line, the deploy pipeline and the journal never care which engine an environment uses.
Actions use CloudFormation's words (Add, Modify, Remove; Replacement True/False/Conditional) because
an operator reads them in the AWS console too; Terraform's are translated (a replace is a Modify with
Replacement True).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, Protocol

import attrs

from adinsights_ops.ecs._views import Phase
from adinsights_ops.errors import NeedsHuman, OpsError

ADD, MODIFY, REMOVE = "Add", "Modify", "Remove"
Outcome = Literal["applied", "no changes", "skipped", "declined"]
OnPhase = Callable[[Phase], None]


@attrs.frozen
class Change:
    """One resource the plan touches: what happens to it, and whether it is replaced."""

    action: str  # Add | Modify | Remove (| Import | Dynamic | Forget, as the engine says)
    resource: str  # CloudFormation logical id, or Terraform address
    resource_type: str  # AWS::S3::Bucket, or aws_s3_bucket
    replacement: str = ""  # for a Modify: True | False | Conditional; "" otherwise
    physical_id: str = ""

    @property
    def destructive(self) -> bool:
        """True when data can be lost: a removal, or a replacement (certain or conditional)."""
        return self.action == REMOVE or self.replacement in ("True", "Conditional")

    def line(self) -> str:
        replace = {"True": " (replaced)", "Conditional": " (may be replaced)"}
        return (
            f"{self.action:<7} {self.resource} {self.resource_type}"
            f"{replace.get(self.replacement, '')}"
        )


@attrs.frozen
class ChangeSet:
    """A CloudFormation change set waiting to be executed (or discarded)."""

    arn: str
    name: str
    stack_name: str
    stack_id: str
    change_set_type: str  # CREATE (the stack does not exist yet) | UPDATE
    created_stack: bool = False  # CREATE made a REVIEW_IN_PROGRESS stack that discard removes


@attrs.frozen
class PlanFile:
    """A saved Terraform plan: `terraform apply` of this file does exactly what was shown."""

    path: str
    working_dir: str


@attrs.frozen
class InfraPlan:
    """What applying would change; `handle` is what `apply` executes (None when nothing to do)."""

    engine: str  # cloudformation | terraform
    target: str  # the stack name, or the Terraform working directory
    changes: tuple[Change, ...]
    no_changes: bool
    handle: ChangeSet | PlanFile | None = None
    note: str = ""

    def counts(self) -> dict[str, int]:
        out = {"add": 0, "modify": 0, "replace": 0, "remove": 0}
        for change in self.changes:
            if change.action == ADD:
                out["add"] += 1
            elif change.action == REMOVE:
                out["remove"] += 1
            elif change.replacement == "True":
                out["replace"] += 1
            else:
                out["modify"] += 1
        return out

    def summary(self) -> str:
        if self.no_changes:
            return "no changes"
        counts = self.counts()
        text = ", ".join(f"{n} to {verb}" for verb, n in counts.items())
        if not self.changes:
            text += " (parameters or outputs only)"
        return text


@attrs.frozen
class InfraResult:
    """What `apply` (or `plan_and_apply`) did: applied, nothing to do, skipped or declined."""

    engine: str
    outcome: Outcome
    detail: str
    plan: InfraPlan | None = None
    status: str = ""  # the stack's final status (CloudFormation)
    outputs: Mapping[str, str] = attrs.field(factory=dict)

    def journal_outputs(self) -> dict[str, Any]:
        """Plain JSON for a journal step."""
        out: dict[str, Any] = {
            "engine": self.engine,
            "outcome": self.outcome,
            "detail": self.detail,
        }
        if self.plan is not None:
            out["target"] = self.plan.target
            out["changes"] = [c.line() for c in self.plan.changes]
        if self.status:
            out["status"] = self.status
        if self.outcome == "skipped":
            out["skipped"] = self.detail
        return out


class Telling:
    """What both engines share: their name, and each phase told to `on_event` as it begins."""

    ENGINE: ClassVar[str] = ""
    on_event: OnPhase | None

    @property
    def name(self) -> str:
        return self.ENGINE

    def _say(self, name: str, detail: str = "") -> None:
        if self.on_event is not None:
            self.on_event(Phase(name, detail))


class Engine(Protocol):
    """An infrastructure engine: plan reads and stages, apply executes a plan, discard drops it."""

    @property
    def name(self) -> str: ...

    def plan(self) -> InfraPlan: ...

    def apply(self, plan: InfraPlan) -> InfraResult: ...

    def discard(self, plan: InfraPlan) -> None: ...


# -- errors --------------------------------------------------------------------------------------


@attrs.frozen
class StackEvent:
    """One CloudFormation stack event that explains a failure."""

    timestamp: str
    logical_id: str
    resource_type: str
    status: str
    reason: str

    def line(self) -> str:
        return f"{self.logical_id} ({self.resource_type}) {self.status}: {self.reason}"


class InfraFailed(OpsError):
    """An infrastructure plan or apply failed; `details` are lines worth showing the operator."""

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.details = list(details)


class ChangeSetFailed(InfraFailed):
    """CloudFormation could not make the change set (bad template, bad parameter, ...)."""

    def __init__(self, stack: str, reason: str) -> None:
        super().__init__(f"change set for stack {stack} failed: {reason}")
        self.stack = stack
        self.reason = reason


class StackBusy(InfraFailed):
    """The stack is in the middle of another operation."""

    def __init__(self, stack: str, status: str) -> None:
        super().__init__(
            f"stack {stack} is {status}: another operation runs; try again when it ends"
        )
        self.stack = stack
        self.status = status


class StackUpdateFailed(InfraFailed):
    """The stack update failed and CloudFormation rolled it back; carries the events that say why."""

    def __init__(
        self, stack: str, status: str, events: Sequence[StackEvent], advice: str = ""
    ) -> None:
        message = f"stack {stack} ended {status}: the change failed and was rolled back"
        if advice:
            message += f"; {advice}"
        super().__init__(message, [e.line() for e in events])
        self.stack = stack
        self.status = status
        self.events = tuple(events)


class StackRollbackFailed(NeedsHuman):
    """The stack is stuck (a *_FAILED state): a person must look before anything else runs."""

    def __init__(self, stack: str, status: str, events: Sequence[StackEvent]) -> None:
        super().__init__(
            f"stack {stack} is {status}: CloudFormation could not finish or roll back",
            details=[e.line() for e in events],
        )
        self.stack = stack
        self.status = status
        self.events = tuple(events)


class TerraformFailed(InfraFailed):
    """A terraform command exited non-zero; carries the command, its exit code, its last lines."""

    def __init__(self, command: str, exit_code: int, tail: Sequence[str]) -> None:
        super().__init__(f"`terraform {command}` exited {exit_code}", tail)
        self.command = command
        self.exited = exit_code  # terraform's; `exit_code` is this tool's (1)
        self.tail = tuple(tail)


class TerraformApplyIncomplete(NeedsHuman):
    """`terraform apply` failed part-way: Terraform does not roll back, so state is partly changed."""

    def __init__(self, exit_code: int, tail: Sequence[str]) -> None:
        super().__init__(
            f"`terraform apply` exited {exit_code} part-way: what it changed stays changed; "
            "run `inv infra.plan` to see what remains",
            details=list(tail),
        )
        self.exited = exit_code  # terraform's; `exit_code` is this tool's (4)
