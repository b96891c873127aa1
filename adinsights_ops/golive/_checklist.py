"""The go-live checklist (runbook section 9), evaluated with evidence, wherever an API can tell.

    report = golive.evaluate(ops, root=Path("."))        # a CheckReport, one or more items each:
    golive.save_evidence(report, Path("golive/evidence"))  # <env>-<utc time>.md and .json

1. the aggregate snapshot of the pilot tenant is fresh (the app's aggregate-snapshot endpoint);
2. the frontend's task definition points at the environment's API, and every feature flag is off;
3. the Airbyte connections sync hourly and a CloudWatch alarm with actions watches their failures;
4. an EventBridge Scheduler schedule builds dbt at 05:00 local time, and a rule notifies its end;
5. a credential-rotation reminder schedule is enabled and celery-beat runs;
6. the operations, alerts and tenant on/offboarding runbooks exist, say something, are recent;
7. docs/ops/slo-sli.md is published and the CloudWatch alarms it names exist with actions;
8. the penetration test and the security review are signed off in `golive/signoff.yaml`.

Everything here only reads, except the aggregate-snapshot request (the app builds a snapshot, as
the deploy's warm step does). The names of the schedules, rules, topics and alarms are below, so the
sandbox seeds exactly what this looks for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.checks_report import CheckItem, CheckReport, failed, passed, report
from adinsights_ops.errors import UsageError
from adinsights_ops.golive import _docs as gd
from adinsights_ops.golive import _items as gi
from adinsights_ops.golive import _schedules as gs
from adinsights_ops.golive._settings import GoLiveSettings, settings_for

if TYPE_CHECKING:
    from adinsights_ops.opsenv import OpsEnv


TITLE = "Go-live checklist"
SIGNOFF_ITEMS = {
    "penetration-test": "Penetration test findings addressed",
    "security-review": "Security review sign-off",
}


@attrs.frozen
class SignOff:
    """One sign-off of the file: signed when who, when and reference are all there."""

    key: str
    title: str
    who: str
    when: str
    reference: str
    problem: str = ""  # why it does not count (empty when signed)

    @property
    def signed(self) -> bool:
        return not self.problem


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _signoff(key: str, entry: Mapping[str, Any], today: date) -> SignOff:
    who, when, reference = (_text(entry.get(k)) for k in ("who", "when", "reference"))
    title = _text(entry.get("title")) or SIGNOFF_ITEMS.get(key, key)
    missing = [k for k, v in (("who", who), ("when", when), ("reference", reference)) if not v]
    problem = f"not signed: {', '.join(missing)} missing" if missing else ""
    if not problem:
        try:
            day = datetime.fromisoformat(when.replace("Z", "+00:00")).date()
        except ValueError:
            day = None
        if day is None:
            problem = f"when {when!r} is not a date (YYYY-MM-DD)"
        elif day > today:
            problem = f"when {when} is in the future"
    return SignOff(key, title, who, when, reference, problem)


def read_signoff(path: Path, *, today: date | None = None) -> tuple[SignOff, ...]:
    """The sign-offs of the file; a missing or malformed file is a UsageError (exit 2)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"sign-off file {path} not found (copy golive/signoff.yaml from the repository)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise UsageError(f"sign-off file {path} is not valid YAML ({where})") from exc
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, dict) or not all(isinstance(v, dict) for v in items.values()):
        raise UsageError(
            f"sign-off file {path}: expected `items:` mapping names to who/when/reference"
        )
    unknown = sorted(set(SIGNOFF_ITEMS) - set(items))
    if unknown:
        raise UsageError(f"sign-off file {path}: item {unknown[0]} is missing")
    day = today or datetime.now(UTC).date()
    return tuple(_signoff(str(k), v, day) for k, v in items.items())


def signoff_items(entries: tuple[SignOff, ...], path: Path) -> tuple[CheckItem, ...]:
    items = []
    for entry in entries:
        name = f"8. sign-off: {entry.key}"
        if entry.signed:
            items.append(
                passed(
                    name, f"{entry.title}: signed by {entry.who} on {entry.when}", entry.reference
                )
            )
        else:
            items.append(failed(name, f"{entry.title}: {entry.problem} in {path}"))
    return tuple(items)


def evaluate(
    ops: OpsEnv,
    *,
    root: Path,
    signoff: Path | None = None,
    settings: GoLiveSettings | None = None,
    now: datetime | None = None,
) -> CheckReport:
    """Every checklist item with its evidence. The sign-off file is read first: a missing one is a
    UsageError before anything is asked of the environment."""

    chosen = settings or settings_for(ops.env)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    signoff_path = signoff or root / chosen.signoff_file
    entries = read_signoff(signoff_path, today=moment.date())
    items: list[CheckItem] = []
    items += gi.guarded("1. aggregate snapshot", lambda: gi.snapshot(ops, chosen, moment))
    items += gi.guarded("2. frontend", lambda: gi.frontend(ops, chosen))
    items += gi.guarded("3. airbyte", lambda: gi.airbyte(ops))
    items += gi.guarded("4. dbt schedule", lambda: gs.dbt_schedule_items(ops, chosen))
    items += gi.guarded("5. rotation reminders", lambda: gs.rotation(ops))
    items += gd.runbooks(root, chosen, moment)
    items += gi.guarded("7. SLO/SLI", lambda: gd.slo(ops, root, chosen))
    items += signoff_items(entries, signoff_path)
    return report(TITLE, ops.name, items)


def save_evidence(rep: CheckReport, out: Path, *, now: datetime | None = None) -> tuple[Path, Path]:
    """Write the report as `<out>/<env>-<UTC time>.md` and `.json`; their paths."""
    from adinsights_ops.checks_report import to_markdown

    moment = (now or datetime.now(UTC)).astimezone(UTC)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{rep.environment}-{moment:%Y%m%dT%H%M%SZ}"
    markdown, data = stem.with_suffix(".md"), stem.with_suffix(".json")
    markdown.write_text(to_markdown(rep), encoding="utf-8")
    payload = attrs.asdict(rep)
    payload["counts"] = rep.counts()
    payload["ok"] = rep.ok
    data.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return markdown, data
