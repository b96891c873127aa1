"""dbt: build a project in a subprocess, read what it did, publish its artifacts, rebuild a tag.

    result = dbt.build(project_dir="dbt", target="prod", timeout=3600)   # raises dbt.BuildFailed
    dbt.upload_artifacts(s3, bucket=..., prefix="dbt/", target_path=result.target_path)
    dbt.freshness(s3=s3, bucket=..., key="dbt/run_results.json", max_age=26 * 3600)
    dbt.build_at("v1.2.0", repo_dir=".", project_subdir="dbt", target="prod")   # rollback (§6)

Each build is a fresh `dbt build` process (dbt's in-process runner keeps global state between
invocations); `dbt.prepare` (`_prepared`) starts such a process early, parses there and builds on
that parse when told. A build's artifacts, logs and (in the sandbox) its DuckDB file go to
`target_path`, a caller-given or temporary folder: never into the project, which may be read-only.

dbt's exit codes: 0 all nodes passed; 1 some nodes failed or errored (`BuildFailed`, carrying
them); 2 dbt could not run the build at all: bad project, profile or flags (`DbtCrashed`).
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.dbt import _parsecache
from adinsights_ops.dbt._git import (
    locate,
    schema_changes,
    tag_ref,
    worktree,
)
from adinsights_ops.dbt._process import OnLine, ProcessOutcome, Runner, run_process
from adinsights_ops.dbt._results import (
    BuildFailed,
    BuildResult,
    BuildTimedOut,
    DbtCrashed,
    parse_run_results,
)
from adinsights_ops.errors import UsageError
from adinsights_ops.waiting import check_timeout

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


DEFAULT_TIMEOUT = 3600.0
KEPT_OUTPUT = 40  # lines of dbt's output kept on a BuildResult

Selection = str | Sequence[str] | None


@attrs.frozen
class UploadedArtifacts:
    """Where a build's artifacts were put for the freshness check and the dashboards (§7)."""

    bucket: str
    keys: tuple[str, ...]
    invocation_id: str | None


# What the `dbt` script does. (`python -m dbt.cli.main` works too, but runpy warns on every run.)
_DBT_MAIN = "import sys; from dbt.cli.main import cli; sys.exit(cli())"


def dbt_command() -> list[str]:
    """The dbt of this Python: the `dbt` script beside the interpreter, else dbt's entry point."""
    script = Path(sys.executable).parent / "dbt"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", _DBT_MAIN]


def _selection(flag: str, value: Selection) -> list[str]:
    """`--select a b`: a string is split on spaces, as dbt reads a union of selectors."""
    items = value.split() if isinstance(value, str) else list(value or ())
    return [flag, *items] if items else []


def build(
    *,
    project_dir: str | os.PathLike[str],
    target: str,
    select: Selection = None,
    exclude: Selection = None,
    selector: str | None = None,
    vars: Mapping[str, Any] | None = None,
    profiles_dir: str | os.PathLike[str] | None = None,
    target_path: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    full_refresh: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None,
    runner: Runner | None = None,
    on_output: OnLine | None = None,
) -> BuildResult:
    """Run `dbt build` and return its results; raise `BuildFailed` when a node failed.

    `target_path` (default: a new temporary folder) receives run_results.json, manifest.json and
    the logs (`log_path`, default `<target_path>/logs`); the result's `target_path` says where.
    `env` is added to this process's environment; `on_output` gets each line dbt prints (from a
    reader thread). At `timeout` seconds the dbt process group is killed: `BuildTimedOut`.
    `dbt.prepare` takes the same options and parses ahead of time, in a process of its own.
    """
    timeout = check_timeout(timeout)
    invocation = invocation_of(
        project_dir=project_dir,
        target=target,
        select=select,
        exclude=exclude,
        selector=selector,
        vars=vars,
        profiles_dir=profiles_dir,
        target_path=target_path,
        log_path=log_path,
        full_refresh=full_refresh,
        env=env,
    )
    argv = [*dbt_command(), "build", *invocation.parse_flags, *invocation.build_flags]
    run = runner or functools.partial(run_process, on_line=on_output)
    # In the target folder: a profile's relative paths (the sandbox's DuckDB file) land there.
    outcome = run(argv, invocation.env, str(invocation.target_dir), timeout)
    return result_of(invocation, outcome, timeout)


@attrs.frozen
class Invocation:
    """One build's resolved folders, its dbt flags and the environment dbt runs with."""

    project: Path
    profiles: Path
    target: str
    target_dir: Path
    parse_flags: tuple[str, ...]  # what `dbt parse` takes as well: folders, target, vars
    build_flags: tuple[str, ...]  # what only `dbt build` takes: selection, --full-refresh
    env: Mapping[str, str] = attrs.field(repr=False)
    vars_json: str = ""  # the --vars dbt parses with (part of what its parse depends on)

    @property
    def run_results(self) -> Path:
        return self.target_dir / "run_results.json"

    @property
    def parse_kept(self) -> Path:
        """Where this project's partial-parse file is kept between target folders."""
        return _parsecache.kept_for(self.project, self.profiles, self.target, self.vars_json)

    def describe(self) -> str:
        return f"dbt build of {self.project.name} (target {self.target})"


def invocation_of(
    *,
    project_dir: str | os.PathLike[str],
    target: str,
    select: Selection = None,
    exclude: Selection = None,
    selector: str | None = None,
    vars: Mapping[str, Any] | None = None,
    profiles_dir: str | os.PathLike[str] | None = None,
    target_path: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    full_refresh: bool = False,
    env: Mapping[str, str] | None = None,
) -> Invocation:
    """Check the project, make the target folder and remove its previous run_results.json."""
    project = Path(project_dir).resolve()
    if not (project / "dbt_project.yml").is_file():
        raise UsageError(f"{project} is not a dbt project (no dbt_project.yml)")
    profiles = Path(profiles_dir).resolve() if profiles_dir else project
    if target_path:
        target_dir = Path(target_path).resolve()
        target_dir.mkdir(parents=True, exist_ok=True)
    else:
        target_dir = Path(tempfile.mkdtemp(prefix="adinsights-dbt-"))
    logs = Path(log_path).resolve() if log_path else target_dir / "logs"
    # A build that dies early writes none: never read the previous build's file as this one's.
    (target_dir / "run_results.json").unlink(missing_ok=True)
    vars_json = json.dumps(dict(vars)) if vars else ""
    parse_flags = (
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(profiles),
        "--target",
        target,
        "--target-path",
        str(target_dir),
        "--log-path",
        str(logs),
        "--no-use-colors",
        *(["--vars", vars_json] if vars_json else []),
    )
    build_flags = (
        *_selection("--select", select),
        *_selection("--exclude", exclude),
        *(["--selector", selector] if selector else []),
        *(["--full-refresh"] if full_refresh else []),
    )
    child_env = {
        **os.environ,
        **(env or {}),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # profiles may place files under the target path (the sandbox's DuckDB file does)
        "DBT_TARGET_PATH": str(target_dir),
    }
    invocation = Invocation(
        project, profiles, target, target_dir, parse_flags, build_flags, child_env, vars_json
    )
    _parsecache.bring(invocation.parse_kept, target_dir)
    return invocation


def result_of(invocation: Invocation, outcome: ProcessOutcome, timeout: float) -> BuildResult:
    """The build's result from how its process ended; raise what a failed build raises."""
    _parsecache.keep(invocation.parse_kept, invocation.target_dir)
    if outcome.timed_out:
        raise BuildTimedOut(invocation.describe(), timeout, outcome.output_tail)
    result = None
    if invocation.run_results.is_file():
        result = attrs.evolve(
            parse_run_results(invocation.run_results, target_path=str(invocation.target_dir)),
            output_tail=outcome.output_tail[-KEPT_OUTPUT:],
        )
    if result is not None and result.failed:
        raise BuildFailed(result)
    if outcome.returncode == 0 and result is not None:
        return result
    raise DbtCrashed(outcome.returncode, outcome.output_tail, _crash_reason(outcome, result))


_CLOCK = re.compile(r"^\d\d:\d\d:\d\d\s+")


def _error_text(tail: Sequence[str]) -> str:
    """What dbt said went wrong: the lines after its last `Encountered an error:`, else the last."""
    lines = [_CLOCK.sub("", line).strip() for line in tail]
    lines = [line for line in lines if line]
    if not lines:
        return "no output"
    marks = [i for i, line in enumerate(lines) if line == "Encountered an error:"]
    said = lines[marks[-1] + 1 :] if marks and marks[-1] + 1 < len(lines) else lines[-1:]
    text = " ".join(said[:4])
    return text if len(text) <= 300 else text[:297] + "..."


def _crash_reason(outcome: ProcessOutcome, result: BuildResult | None) -> str:
    said = _error_text(outcome.output_tail)
    if outcome.returncode is not None and outcome.returncode < 0:
        return f"killed by signal {-outcome.returncode}: {said}"
    if result is None:
        return f"the build did not run: {said}"
    return f"no node failed, yet dbt reported an error: {said}"


def artifact_key(prefix: str, name: str) -> str:
    """`dbt/` + `run_results.json` -> `dbt/run_results.json` (a missing slash is added)."""
    prefix = prefix.strip("/")
    return f"{prefix}/{name}" if prefix else name


def upload_artifacts(
    s3: S3Client, *, bucket: str, prefix: str, target_path: str | os.PathLike[str]
) -> UploadedArtifacts:
    """Put a build's manifest.json and run_results.json at `<prefix>` in the artifacts bucket.

    run_results.json goes last: whoever sees a new one (the freshness check) also finds its
    manifest. It is parsed first, so a damaged file is refused rather than published.
    """
    target = Path(target_path)
    run_results = target / "run_results.json"
    if not run_results.is_file():
        raise UsageError(f"{target}: no run_results.json to upload (has the build run there?)")
    result = parse_run_results(run_results)
    metadata = {"dbt-invocation-id": result.invocation_id or "unknown"}
    keys = []
    for name in ("manifest.json", "run_results.json"):
        path = target / name
        if not path.is_file():
            continue
        key = artifact_key(prefix, name)
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType="application/json",
            Metadata=metadata,
        )
        keys.append(key)
    return UploadedArtifacts(bucket=bucket, keys=tuple(keys), invocation_id=result.invocation_id)


def build_at(
    tag: str,
    *,
    repo_dir: str | os.PathLike[str],
    project_subdir: str | os.PathLike[str],
    target: str,
    profiles_dir: str | os.PathLike[str] | None = None,
    select: Selection = None,
    exclude: Selection = None,
    vars: Mapping[str, Any] | None = None,
    target_path: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    full_refresh: bool = False,
    full_refresh_if_schema_changed: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None,
    runner: Runner | None = None,
    on_output: OnLine | None = None,
) -> BuildResult:
    """Build the dbt project as it is at git tag `tag` (a prior release) and return the result.

    `repo_dir` is a folder of the git repository and `project_subdir` the project's folder
    relative to it (`repo_dir=project, project_subdir="."` works).

    The tag is checked out with `git worktree add --detach` into a temporary folder that is
    removed afterwards, so the repository's own checkout is never touched. With
    `full_refresh_if_schema_changed`, the build runs with --full-refresh when `schema_changes`
    finds any (the result's `full_refresh` says whether it did). `profiles_dir` defaults to the
    project folder as it is at the tag.
    """
    timeout = check_timeout(timeout)
    repo, subdir = locate(repo_dir, project_subdir)
    ref = tag_ref(repo, tag)
    changed = (
        schema_changes(repo_dir=repo, tag=tag, project_subdir=subdir)
        if full_refresh_if_schema_changed
        else ()
    )
    with worktree(repo, ref) as tree:
        project = tree / subdir
        if not (project / "dbt_project.yml").is_file():
            raise UsageError(f"at tag {tag}, {subdir} is not a dbt project")
        return build(
            project_dir=project,
            target=target,
            select=select,
            exclude=exclude,
            vars=vars,
            profiles_dir=profiles_dir or project,
            target_path=target_path,
            log_path=log_path,
            full_refresh=full_refresh or bool(changed),
            timeout=timeout,
            env=env,
            runner=runner,
            on_output=on_output,
        )
