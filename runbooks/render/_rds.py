"""RDS results: a snapshot taken, the snapshots, a prune, a restore's plan and its result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runbooks.render._console import out
from runbooks.render._json import emit_json


def when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if value is not None else "-"


def span(seconds: float) -> str:
    """`1d 2h05m`: a duration as an operator reads it."""
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours}h{mins:02d}m"


def taken(snap: Any, as_json: bool) -> None:
    """`rds.snapshot`: the snapshot once available."""
    if as_json:
        emit_json(snap)
        return
    out(f"{snap.id}: {snap.status}, {snap.size_gb} GB, taken {when(snap.created)}")


def listed(found: Sequence[Any], instance: str, tags: tuple[str, ...], as_json: bool) -> None:
    """`rds.snapshots`: newest first, with the release/run that took each (`tags` to show)."""
    if as_json:
        emit_json(found)
        return
    out(f"{'snapshot':<52} {'kind':<9} {'status':<10} {'size':>6}  {'taken':<24} release/run")
    for s in found:
        origin = " ".join(v for k, v in s.tags.items() if k in tags)
        out(
            f"{s.id:<52} {s.kind:<9} {s.status:<10} {s.size_gb:>4}GB  {when(s.created):<24} "
            f"{origin or '-'}"
        )
    out(f"{len(found)} snapshots of {instance}")


def pruned(result: Any, dry_run: bool, as_json: bool) -> None:
    """`rds.prune`: deleted (or would be) and kept, each with why."""
    if as_json:
        emit_json(result)
        return
    verb = "would delete" if dry_run else "deleted"
    for s in result.deleted:
        out(f"{verb:<12} {s.id}  (taken {when(s.created)})")
    for k in result.kept:
        out(f"{'kept':<12} {k.snapshot.id}  ({k.reason})")
    out(f"{len(result.deleted)} {verb}, {len(result.kept)} kept")


def restore_plan(snap: Any, instance: str, lost_seconds: float) -> list[str]:
    """What `rds.restore` will do and what it loses: shown before it asks."""
    return [
        f"restore {snap.id} (taken {when(snap.created)}) as {instance}.",
        f"DATA LOSS: everything written to {instance} in the last {span(lost_seconds)} is not in it.",
        f"The current instance is kept, renamed {instance}-old-<time>.",
    ]


def restored(result: Any, instance: str, snap: Any, as_json: bool) -> None:
    """`rds.restore`: the instance swapped."""
    if as_json:
        emit_json(result)
        return
    out(f"{instance} now runs snapshot {snap.id}; the previous instance is {result.old_instance}")
    out(f"data-loss window: {span(result.data_loss_window.total_seconds())} before the restore")
