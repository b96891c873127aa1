"""The KMS key and the tenant DEKs (runbook 3 and 10): status, rotations, re-wrap, rotate_deks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runbooks.render._console import out, say
from runbooks.render._json import emit_json
from runbooks.render._progress import short_arn


def rotation_lines(rotations: Sequence[Any], limit: int = 5) -> list[str]:
    if not rotations:
        return ["  no rotations yet"]
    return [
        f"  {r.date.strftime('%Y-%m-%d %H:%M:%S %Z') if r.date else '?'}  {r.kind}"
        for r in rotations[:limit]
    ]


def status_lines(result: Any) -> list[str]:
    period = f" every {result.rotation_period_days} days" if result.rotation_period_days else ""
    rotating = "on" + period if result.rotation_enabled else "OFF"
    return [
        f"{result.key} -> {result.arn}",
        f"  state {result.state}; automatic rotation {rotating}",
        *rotation_lines(result.rotations),
    ]


def status(result: Any, as_json: bool) -> None:
    """`kms.status`: the key, its state and automatic rotation, its last rotations; exit 1 when
    it is not enabled with automatic rotation."""
    from invoke.exceptions import Exit

    if as_json:
        emit_json(result)
    else:
        for line in status_lines(result):
            out(line)
    if not (result.enabled and result.rotation_enabled):
        raise Exit("error: the key is not enabled with automatic rotation (runbook 3)", 1)


def rotate_key_plan(result: Any) -> list[str]:
    """What `kms.rotate-key` will do, from the key's status: shown before it asks."""
    return [
        f"plan: rotate the material of {result.key} now (the old material keeps decrypting)",
        *("  " + line for line in status_lines(result)),
    ]


def rotated(key: str, result: Any, as_json: bool) -> None:
    """`kms.rotate-key`: the rotations, newest first; exit 1 when automatic rotation is off."""
    from invoke.exceptions import Exit

    if as_json:
        emit_json(result)
    else:
        out(f"rotated {key} ({result.key_id}) on demand; rotations, newest first:")
        for line in rotation_lines(result.rotations):
            out(line)
    if not result.automatic_rotation:
        raise Exit(
            f"error: automatic rotation of {key} is OFF: turn it on "
            f"(aws kms enable-key-rotation --key-id {result.key_id})",
            1,
        )


def rewrap_progress(p: Any) -> None:
    say(f"  [{p.done}/{p.total}] {p.tenant}: {'already done' if p.skipped else 're-wrapped'}")


def rewrapped(result: Any, where: str, as_json: bool) -> None:
    """`kms.rewrap`: how many DEKs were re-wrapped, and whether the object was written."""
    if as_json:
        emit_json(
            {
                "to_key": result.to_key,
                "rewrapped": list(result.rewrapped),
                "already_done": list(result.already_done),
                "written": result.written,
            }
        )
        return
    out(
        f"{len(result.rewrapped)} re-wrapped, {len(result.already_done)} already done, under "
        f"{result.to_key}; "
        + (f"written back to {where}" if result.written else "nothing to write back")
    )


def rotate_deks_plan(
    environment: str, beat: Any, backend: Any, command: Sequence[str]
) -> list[str]:
    """What `secrets.rotate-deks` will do (runbook 10), from the services as they run now."""
    return [
        f"plan: rotate tenant DEKs in {environment} (holding the environment's lock)",
        f"  pause {beat.name}: {beat.desired} -> 0 tasks",
        f"  run `{' '.join(command)}` as a one-off task on {short_arn(backend.task_definition)}",
        f"  restore {beat.name} to {beat.desired} tasks (also when the command fails)",
    ]


def task_log(lines: Sequence[str]) -> None:
    for line in lines:
        out(f"  | {line}")


def deks_rotated(result: Any, as_json: bool) -> None:
    """`secrets.rotate-deks`: the command's exit, its log tail, beat restored."""
    if as_json:
        emit_json(result)
        return
    for note in result.recovered:
        out(f"recovered: {note}")
    task = result.task
    out(
        f"rotate_deks ({short_arn(task.task_arn)}) exited {task.exit_code} "
        f"after {task.elapsed:.0f}s; run {result.run_id}"
    )
    task_log(task.log_tail)
    out(f"{result.beat_service} restored to {result.beat_restored} tasks")
