"""Runbook section 6: database and data rollbacks, and the incident log every rollback writes.

App rollback (the services back on the previously deployed revisions) is `pipeline.rollback`.
Here: `migrate app NNNN` as a one-off task (refused when Django's own plan marks a step
IRREVERSIBLE), a snapshot restore (rds.restore, swap by rename), and a data rollback (Airbyte
manifests and the dbt build as of a release tag).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

from adinsights_ops import ecs
from adinsights_ops.dbt._git import repository_root, tag_ref
from adinsights_ops.ecs import _oneoff as oneoff
from adinsights_ops.errors import OpsError, UsageError
from adinsights_ops.journal import RunRecord, who
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.waiting import check_timeout

# ASCII only, matched whole: full-width digits or a trailing newline are not a migration.
MIGRATION = re.compile(r"(?P<app>[a-z_][a-z0-9_]*):(?P<target>[0-9]{4}|zero)", re.ASCII)


class IrreversibleMigration(OpsError):
    """Unapplying down to the target would run an operation Django cannot undo."""

    def __init__(self, target: str, steps: Sequence[str]) -> None:
        super().__init__(
            f"migrating back to {target} is not reversible ({'; '.join(steps)}): restore a snapshot "
            "instead (inv rollback.db --restore-snapshot ID)"
        )
        self.steps = list(steps)


@attrs.frozen
class MigrationPlan:
    app: str
    target: str
    operations: tuple[str, ...]
    irreversible: tuple[str, ...]
    log_stream: str | None


@attrs.frozen
class MigrationRollback:
    plan: MigrationPlan
    task: ecs.TaskResult


def parse_migration(text: str) -> tuple[str, str]:
    """`app:0042` -> ("app", "0042"); anything else is a usage error."""
    found = MIGRATION.fullmatch(text) if isinstance(text, str) else None
    if not found:
        raise UsageError(f"--to-migration expects app:NNNN (e.g. analytics:0042), got {text!r}")
    return found["app"], found["target"]


def _run(ops: OpsEnv, command: str, on_event: ecs.OnEvent | None) -> ecs.TaskResult:
    return oneoff.run(ops, command, on_event=on_event)


def plan_migration(
    ops: OpsEnv, *, app: str, target: str, on_event: ecs.OnEvent | None = None
) -> MigrationPlan:
    """Ask Django (`migrate app NNNN --plan`, a one-off task) what unapplying would do. Changes nothing."""
    parse_migration(f"{app}:{target}")  # the command is built from them: check before running
    result = _run(ops, f"python manage.py migrate {app} {target} --plan", on_event)
    operations = tuple(
        line.strip() for line in result.log_tail if line.strip() and line != "Planned operations:"
    )
    irreversible, current = [], ""
    for line in result.log_tail:
        if not line.startswith(" "):
            current = line.strip()
        elif "IRREVERSIBLE" in line:
            irreversible.append(f"{current}: {line.strip()}")
    return MigrationPlan(app, target, operations, tuple(irreversible), result.log_stream)


def migrate_back(
    ops: OpsEnv, *, app: str, target: str, on_event: ecs.OnEvent | None = None
) -> MigrationRollback:
    """Unapply migrations down to `target`, refusing when the plan shows an irreversible step."""
    parse_migration(f"{app}:{target}")
    plan = plan_migration(ops, app=app, target=target, on_event=on_event)
    if plan.irreversible:
        raise IrreversibleMigration(f"{app}:{target}", plan.irreversible)
    task = _run(ops, f"python manage.py migrate {app} {target} --noinput", on_event)
    return MigrationRollback(plan, task)


def data_loss_window(snapshot_created: datetime, now: datetime | None = None) -> timedelta:
    return (now or datetime.now(UTC)) - snapshot_created


@attrs.frozen
class DataRollback:
    tag: str
    airbyte: tuple[str, ...]
    dbt: str


def manifests_at(repo: Path, tag: str, folder: str) -> Path:
    """The Airbyte manifests as they were at `tag`, copied out of git into a temp folder."""
    listing = _git(repo, "ls-tree", "--name-only", f"{tag}:{folder}")
    out = Path(tempfile.mkdtemp(prefix=f"airbyte-{tag}-"))
    for name in listing.splitlines():
        if name.endswith((".yaml", ".yml")):
            (out / name).write_text(_git(repo, "show", f"{tag}:{folder}/{name}"))
    return out


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise UsageError(f"git cannot be run ({exc.strerror or exc})") from exc
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise UsageError(
            f"git {' '.join(args)} failed in {repo}: {lines[-1] if lines else done.returncode}"
        )
    return done.stdout


def _inside(path: Path, root: Path, what: str) -> str:
    """`path` relative to the repository `root` (POSIX), or UsageError saying it is elsewhere."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise UsageError(
            f"--repo {root}: {what} {resolved} is not inside this repository; give the "
            "repository that holds the project"
        )
    return resolved.relative_to(root).as_posix()


@attrs.frozen
class DataSource:
    """Where a data rollback reads the release from, checked: the repository, the tag, and the
    manifests folder and dbt project inside it (POSIX paths relative to the root; "" if none)."""

    root: Path
    tag: str
    manifests: str
    project: str
    timeout: float | None


def data_source(ops: OpsEnv, *, tag: str, repo: Path, timeout: float | None = None) -> DataSource:
    """Everything about the repository and the tag, checked before anything is changed (UsageError)."""
    from adinsights_ops import airbyte

    env = ops.env
    if timeout is not None:
        timeout = check_timeout(timeout)
    root = repository_root(repo)
    tag_ref(root, tag)
    folder = project = ""
    if env.airbyte is not None:
        folder = _inside(Path(airbyte.manifests_dir(env)), root, "the Airbyte manifests folder")
    if env.dbt is not None:
        project = _inside(env.path(env.dbt.project_dir), root, "the dbt project")
    return DataSource(root, tag, folder, project, timeout)


def data_back_to(
    ops: OpsEnv, *, tag: str, repo: Path, timeout: float | None = None
) -> DataRollback:
    """Airbyte connections as the manifests at `tag` say, and dbt rebuilt at `tag`."""
    return apply_data(ops, data_source(ops, tag=tag, repo=repo, timeout=timeout))


def apply_data(ops: OpsEnv, source: DataSource) -> DataRollback:
    """The data as of `source`: Airbyte connections made to match, then the dbt build."""
    from adinsights_ops import airbyte, dbt

    env, root, tag = ops.env, source.root, source.tag
    fixed: tuple[str, ...] = ()
    if env.airbyte is not None:
        client = airbyte.client_for(ops)
        drifts = airbyte.diff(
            client,
            airbyte.load_manifests(manifests_at(root, tag, source.manifests)),
            env.airbyte.connections,
        )
        if drifts:
            airbyte.apply(client, drifts)
        fixed = tuple(f"{d.connection}: {d.field}" for d in drifts)
    summary = "no dbt project configured"
    if env.dbt is not None:
        result = dbt.build_at(
            tag,
            repo_dir=root,
            project_subdir=source.project,
            target=env.dbt.target,
            profiles_dir=env.path(env.dbt.profiles_dir),
            timeout=source.timeout or env.dbt.build_timeout,
        )
        summary = result.summary()
    return DataRollback(tag, fixed, summary)


def incident_entry(
    ops: OpsEnv, record: RunRecord, *, what: str, source: str, target: str, outcome: str
) -> Path | None:
    """Append the rollback to the environment's operations (incident) log; the path, or None."""
    from adinsights_ops import notify

    path = ops.env.notifications.incident_log
    if not path:
        return None
    line = (
        f"rollback {record.run_id} on {ops.name} by {who()}: {what}; from {source} to {target}; "
        f"outcome {outcome}"
    )
    entry = notify.append_activity_log(
        ops.env.path(path),
        line=line,
        run_id=record.run_id,
        heading="# Operations and incident log\n\n",
    )
    return Path(entry.path)
