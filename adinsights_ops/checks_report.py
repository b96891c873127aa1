"""Check reports: items that pass, fail or are not available, each with the evidence behind it.

Every verification in the runbook (post-deploy checks, infrastructure verification, the go-live
checklist) returns one of these, so they all print, serialise and exit the same way. "Not
available" is only for an API the environment truly lacks (CloudTrail in the sandbox, say) and says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import attrs

Status = Literal["pass", "fail", "not available"]
PASS: Status = "pass"
FAIL: Status = "fail"
NOT_AVAILABLE: Status = "not available"


@attrs.frozen
class CheckItem:
    """One item: what was checked, its status, and the evidence (what was read, from where)."""

    name: str
    status: Status
    evidence: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL


@attrs.frozen
class CheckReport:
    """A titled list of items; `ok` when none failed (not available is not a failure)."""

    title: str
    environment: str
    items: tuple[CheckItem, ...]
    generated_at: str = ""

    @property
    def ok(self) -> bool:
        return not any(item.failed for item in self.items)

    @property
    def failures(self) -> tuple[CheckItem, ...]:
        return tuple(item for item in self.items if item.failed)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {PASS: 0, FAIL: 0, NOT_AVAILABLE: 0}
        for item in self.items:
            out[item.status] += 1
        return out


def report(title: str, environment: str, items: Iterable[CheckItem]) -> CheckReport:
    from datetime import UTC, datetime

    return CheckReport(
        title=title,
        environment=environment,
        items=tuple(items),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def passed(name: str, evidence: str, detail: str = "") -> CheckItem:
    return CheckItem(name, PASS, evidence, detail)


def failed(name: str, evidence: str, detail: str = "") -> CheckItem:
    return CheckItem(name, FAIL, evidence, detail)


def not_available(name: str, evidence: str, detail: str = "") -> CheckItem:
    return CheckItem(name, NOT_AVAILABLE, evidence, detail)


def to_markdown(rep: CheckReport) -> str:
    """The report as a Markdown table (saved as evidence)."""
    lines = [
        f"# {rep.title}: {rep.environment}",
        "",
        f"Generated {rep.generated_at}.",
        "",
        "| item | status | evidence | detail |",
        "| --- | --- | --- | --- |",
    ]
    for item in rep.items:
        cells = [item.name, item.status, item.evidence, item.detail]
        lines.append(
            "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
        )
    counts = rep.counts()
    lines += [
        "",
        f"{counts[PASS]} pass, {counts[FAIL]} fail, {counts[NOT_AVAILABLE]} not available.",
    ]
    return "\n".join(lines) + "\n"
