"""CloudFormation through change sets: see exactly what will change, then execute that and only that.

`plan` creates a change set (UPDATE when the stack exists, CREATE otherwise), waits for it with a
deadline and reads its changes. "Nothing to change" comes in two forms and both mean no_changes:
CloudFormation makes a FAILED change set whose reason says it "didn't contain changes" (deleted at
once), or refuses the call with "No updates are to be performed.". `apply` executes the change set
and waits, with a deadline, for the stack to settle; a rollback raises `StackUpdateFailed` carrying
the failed resources' events, a stuck stack (`*_FAILED`) raises `StackRollbackFailed` (a human).
`discard` deletes an unexecuted change set and the empty REVIEW_IN_PROGRESS stack a CREATE made.

A plan's mutating calls are CreateChangeSet and, when discarded, DeleteChangeSet (plus DeleteStack
of the empty stack its own CREATE made); everything else it does is Describe*.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import attrs

from adinsights_ops.config._infra import STACK_NAME
from adinsights_ops.errors import UsageError
from adinsights_ops.infra._model import (
    Change,
    ChangeSet,
    ChangeSetFailed,
    InfraFailed,
    InfraPlan,
    InfraResult,
    OnPhase,
    StackBusy,
    StackEvent,
    StackRollbackFailed,
    StackUpdateFailed,
    Telling,
)
from adinsights_ops.waiting import SYSTEM_CLOCK, Backoff, Clock, Poll, check_timeout, wait_until

ENGINE = "cloudformation"
CFN_POLL = Backoff(initial=2.0, factor=1.5, maximum=15.0, jitter=0.2)
MAX_TEMPLATE_BODY = 51_200  # bytes CloudFormation accepts inline; larger needs TemplateURL
NO_CHANGES = ("didn't contain changes", "no updates are to be performed")
DONE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
ROLLED_BACK = frozenset(
    {"ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
)
# A stack in one of these can take a new UPDATE change set.
UPDATABLE = DONE | frozenset({"UPDATE_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"})
CHANGE_SET_SETTLED = frozenset({"CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE", "DELETE_FAILED"})


def _is_no_changes(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in NO_CHANGES)


def _error(exc: Exception) -> tuple[str, str]:
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message", ""))


# -- templates -----------------------------------------------------------------------------------


def parse_template(body: str) -> Any:
    """A template (YAML or JSON) as data; CloudFormation's short forms (`!Ref x`) become mappings."""
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when built with it

    class Loader(base):  # type: ignore[misc]
        pass

    def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: object = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    Loader.add_multi_constructor("!", tagged)
    return yaml.load(body, Loader=Loader)  # a safe loader subclass: no arbitrary objects


def read_template(path: Path) -> tuple[str, dict[str, Any]]:
    """The template's text and its parsed form; UsageError when missing, unreadable or too big."""
    import yaml

    try:
        body = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"template {path} not found") from None
    except OSError as exc:
        raise UsageError(f"template {path} cannot be read ({exc.strerror})") from exc
    if len(body.encode("utf-8")) > MAX_TEMPLATE_BODY:
        raise UsageError(
            f"template {path} is over {MAX_TEMPLATE_BODY} bytes: CloudFormation needs it in S3"
        )
    try:
        parsed = parse_template(body)
    except yaml.YAMLError as exc:
        raise UsageError(f"template {path} is not valid YAML or JSON: {exc}") from exc
    if not isinstance(parsed, dict) or not isinstance(parsed.get("Resources"), dict):
        raise UsageError(f"template {path} has no Resources mapping")
    return body, parsed


def template_parameters(path: Path) -> tuple[str, ...]:
    """The parameter names the template declares."""
    _, parsed = read_template(path)
    declared = parsed.get("Parameters") or {}
    return tuple(str(name) for name in declared) if isinstance(declared, dict) else ()


# -- the engine ----------------------------------------------------------------------------------


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


@attrs.frozen
class CloudFormationEngine(Telling):
    """Change sets for one stack and one template; see the module docstring."""

    ENGINE: ClassVar[str] = ENGINE

    cloudformation: Any
    stack_name: str
    template: Path
    parameters: Mapping[str, str] = attrs.field(factory=dict)
    tags: Mapping[str, str] = attrs.field(factory=dict)
    capabilities: tuple[str, ...] = ()
    change_set_timeout: float = 600.0
    timeout: float = 3600.0
    clock: Clock = SYSTEM_CLOCK
    backoff: Backoff = CFN_POLL
    on_event: OnPhase | None = None

    def __attrs_post_init__(self) -> None:
        # However the engine was made, a name CloudFormation would refuse (or read as another
        # stack's ARN) never reaches a call.
        if not isinstance(self.stack_name, str) or not STACK_NAME.fullmatch(self.stack_name):
            raise UsageError(
                f"stack name {self.stack_name!r} is not a CloudFormation stack name "
                "(a letter, then letters, digits and '-', at most 128 characters)"
            )
        check_timeout(self.change_set_timeout, name="change_set_timeout")
        check_timeout(self.timeout)

    # -- reading ---------------------------------------------------------------------------------

    def stack(self) -> dict[str, Any] | None:
        """The stack as described, or None when there is none by that name."""
        try:
            stacks = self.cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"]
        except Exception as exc:
            code, message = _error(exc)
            if code == "ValidationError" and "does not exist" in message:
                return None
            raise
        return dict(stacks[0]) if stacks else None

    def events(self, *, since_event: str | None, limit: int = 500) -> list[StackEvent]:
        """Failed-resource events newer than `since_event` (newest first), with their reasons."""
        found: list[StackEvent] = []
        seen = 0
        paginator = self.cloudformation.get_paginator("describe_stack_events")
        for page in paginator.paginate(StackName=self.stack_name):
            for event in page.get("StackEvents", []):
                if event.get("EventId") == since_event or seen >= limit:
                    return found
                seen += 1
                status = str(event.get("ResourceStatus", ""))
                if status.endswith("_FAILED") and event.get("ResourceStatusReason"):
                    found.append(
                        StackEvent(
                            timestamp=str(event.get("Timestamp", "")),
                            logical_id=str(event.get("LogicalResourceId", "")),
                            resource_type=str(event.get("ResourceType", "")),
                            status=status,
                            reason=str(event["ResourceStatusReason"]),
                        )
                    )
        return found

    def _newest_event(self) -> str | None:
        """The id of the stack's newest event: where the events of the next operation start."""
        try:
            page = self.cloudformation.describe_stack_events(StackName=self.stack_name)
        except Exception as exc:
            if _error(exc)[0] == "ValidationError":
                return None
            raise
        events = page.get("StackEvents", [])
        return str(events[0]["EventId"]) if events else None

    def _changes(self, arn: str) -> tuple[dict[str, Any], list[Change]]:
        changes: list[Change] = []
        kwargs: dict[str, Any] = {"ChangeSetName": arn}
        while True:
            described = self.cloudformation.describe_change_set(**kwargs)
            for item in described.get("Changes", []):
                rc = item.get("ResourceChange")
                if not rc:
                    continue
                changes.append(
                    Change(
                        action=str(rc.get("Action", "")),
                        resource=str(rc.get("LogicalResourceId", "")),
                        resource_type=str(rc.get("ResourceType", "")),
                        replacement=str(rc.get("Replacement", "") or ""),
                        physical_id=str(rc.get("PhysicalResourceId", "") or ""),
                    )
                )
            token = described.get("NextToken")
            if not token:
                return dict(described), changes
            kwargs["NextToken"] = token

    # -- plan ------------------------------------------------------------------------------------

    def _kind(self) -> tuple[str, bool]:
        """CREATE or UPDATE, and whether a CREATE change set will make the (empty) stack."""
        stack = self.stack()
        if stack is None:
            return "CREATE", True
        status = str(stack["StackStatus"])
        if status == "REVIEW_IN_PROGRESS":
            return "CREATE", False  # someone's unexecuted CREATE: not ours to delete
        if status in UPDATABLE:
            return "UPDATE", False
        if status == "ROLLBACK_COMPLETE":
            raise InfraFailed(
                f"stack {self.stack_name} is ROLLBACK_COMPLETE: its creation failed and it cannot "
                f"be updated; delete it (aws cloudformation delete-stack --stack-name "
                f"{self.stack_name}) and apply again",
                [e.line() for e in self.events(since_event=None, limit=50)],
            )
        if status.endswith("_IN_PROGRESS"):
            raise StackBusy(self.stack_name, status)
        raise StackRollbackFailed(self.stack_name, status, self.events(since_event=None, limit=50))

    def plan(self) -> InfraPlan:
        """Create a change set and return its changes (no_changes when there are none)."""
        body, _ = read_template(self.template)
        kind, creates_stack = self._kind()
        name = f"adinsights-ops-{_stamp()}"
        self._say("creating change set", f"{kind} {self.stack_name} ({name})")
        try:
            created = self.cloudformation.create_change_set(
                StackName=self.stack_name,
                ChangeSetName=name,
                ChangeSetType=kind,
                TemplateBody=body,
                Parameters=[
                    {"ParameterKey": k, "ParameterValue": v} for k, v in self.parameters.items()
                ],
                Capabilities=list(self.capabilities),
                Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()],
                Description="adinsights-ops infra plan",
            )
        except Exception as exc:
            code, message = _error(exc)
            if code == "ValidationError" and _is_no_changes(message):
                return self._nothing(message)
            if code in ("ValidationError", "InsufficientCapabilitiesException"):
                raise ChangeSetFailed(self.stack_name, message) from exc
            raise
        handle = ChangeSet(
            arn=str(created["Id"]),
            name=name,
            stack_name=self.stack_name,
            stack_id=str(created.get("StackId", "")),
            change_set_type=kind,
            created_stack=creates_stack,
        )
        try:
            described = wait_until(
                lambda: dict(self.cloudformation.describe_change_set(ChangeSetName=handle.arn)),
                what=f"change set {name} of stack {self.stack_name}",
                success=lambda d: d.get("Status") in CHANGE_SET_SETTLED,
                timeout=self.change_set_timeout,
                backoff=self.backoff,
                clock=self.clock,
            )
        except BaseException:
            # Best effort: a change set still being made cannot be deleted yet; the error stands.
            with contextlib.suppress(Exception):
                self.discard(InfraPlan(ENGINE, self.stack_name, (), True, handle))
            raise
        if described.get("Status") != "CREATE_COMPLETE":
            reason = str(described.get("StatusReason") or described.get("Status"))
            empty = InfraPlan(ENGINE, self.stack_name, (), True, handle)
            self.discard(empty)
            if _is_no_changes(reason):
                return self._nothing(reason)
            raise ChangeSetFailed(self.stack_name, reason)
        _, changes = self._changes(handle.arn)
        self._say("change set ready", f"{len(changes)} resource change(s)")
        return InfraPlan(ENGINE, self.stack_name, tuple(changes), False, handle)

    def _nothing(self, reason: str) -> InfraPlan:
        self._say("no changes", reason)
        return InfraPlan(ENGINE, self.stack_name, (), True, None, note=reason)

    # -- apply -----------------------------------------------------------------------------------

    def apply(self, plan: InfraPlan) -> InfraResult:
        """Execute the plan's change set; wait until the stack settles; raise if it rolled back."""
        if plan.no_changes:
            return InfraResult(ENGINE, "no changes", f"stack {self.stack_name}: no changes", plan)
        handle = plan.handle
        if not isinstance(handle, ChangeSet):
            raise UsageError("a CloudFormation apply needs the change set its plan made")
        before = self._newest_event()
        self._say("executing change set", handle.name)
        try:
            self.cloudformation.execute_change_set(
                ChangeSetName=handle.arn, ClientRequestToken=handle.name[:128]
            )
        except Exception as exc:
            code, message = _error(exc)
            if code in ("InvalidChangeSetStatus", "InvalidChangeSetStatusException"):
                raise InfraFailed(
                    f"change set {handle.name} can no longer be executed ({message}): "
                    "the stack changed since the plan; plan again"
                ) from exc
            raise
        last: dict[str, str] = {}

        def on_poll(poll: Poll[str]) -> None:
            if last.get("status") != poll.state:
                last["status"] = poll.state
                self._say("stack", f"{self.stack_name} {poll.state} ({poll.elapsed:.0f}s)")

        def poll() -> str:
            stack = self.stack()
            return str(stack["StackStatus"]) if stack else "DELETE_COMPLETE"

        status = wait_until(
            poll,
            what=f"stack {self.stack_name} to settle",
            success=lambda s: not s.endswith("_IN_PROGRESS"),
            timeout=self.timeout,
            backoff=self.backoff,
            clock=self.clock,
            on_poll=on_poll,
        )
        if status in DONE:
            stack = self.stack() or {}
            outputs = {
                str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stack.get("Outputs", [])
            }
            return InfraResult(
                ENGINE,
                "applied",
                f"stack {self.stack_name} {status}: {plan.summary()}",
                plan,
                status=status,
                outputs=outputs,
            )
        events = self.events(since_event=before)
        if status in ROLLED_BACK:
            advice = ""
            if status == "ROLLBACK_COMPLETE":
                advice = "the stack was never created: delete it before applying again"
            raise StackUpdateFailed(self.stack_name, status, events, advice)
        raise StackRollbackFailed(self.stack_name, status, events)

    # -- discard ---------------------------------------------------------------------------------

    def discard(self, plan: InfraPlan) -> None:
        """Delete the plan's change set (if unexecuted) and the empty stack its CREATE made."""
        handle = plan.handle
        if not isinstance(handle, ChangeSet):
            return
        try:
            self.cloudformation.delete_change_set(ChangeSetName=handle.arn)
        except Exception as exc:
            code, _ = _error(exc)
            if code not in ("ChangeSetNotFound", "ChangeSetNotFoundException", "ValidationError"):
                raise
        if handle.created_stack:
            stack = self.stack()
            if stack is not None and stack.get("StackStatus") == "REVIEW_IN_PROGRESS":
                self.cloudformation.delete_stack(StackName=handle.stack_id or self.stack_name)
