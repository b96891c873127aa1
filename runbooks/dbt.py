"""dbt (runbook §4, §5.2, §6, §7): build, rebuild a prior release, check freshness."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Collection, Context, task

from runbooks import options as opts
from runbooks.common import ENV_HELP, JSON_HELP, ops_task, say, to_json

if TYPE_CHECKING:
    from adinsights_ops.config import DbtSettings, Environment
    from adinsights_ops.dbt import BuildResult

DEFAULT_MAX_AGE = "26h"  # the daily 05:00 build, plus two hours of grace
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([dhms]?)")
_UNIT = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def parse_duration(text: str, flag: str = "--max-age") -> float:
    """`26h`, `90m`, `1d`, `1h30m`, `3600` (seconds) -> seconds: above 0, at most a year."""
    from adinsights_ops.errors import UsageError

    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    ok = cleaned.isascii() and "".join(n + u for n, u in parts) == cleaned
    seconds = sum(float(n) * _UNIT[u] for n, u in parts) if ok else 0.0
    if not cleaned or not ok or not 0 < seconds <= 365 * 86400:
        raise UsageError(
            f"{flag} {text!r} is not a duration: expected one above 0 and at most 365d "
            "(examples: 26h, 90m, 1d, 3600)"
        )
    return seconds


def dbt_settings(environment: Environment) -> DbtSettings:
    from adinsights_ops.errors import ConfigError

    if environment.dbt is None:
        raise ConfigError(environment.source, f"{environment.name}.dbt", "missing: no dbt settings")
    return environment.dbt


def resolve(environment: Environment, path: str) -> Path:
    """A path of the environments file, relative to the folder of that file."""
    return (Path(environment.source).parent / path).resolve()


def default_target_path(environment: Environment) -> Path:
    """`$ADINSIGHTS_OPS_HOME/dbt/<env>/target`: kept between builds, so they can be incremental."""
    home = os.environ.get("ADINSIGHTS_OPS_HOME") or Path.home() / ".adinsights-ops"
    return Path(home) / "dbt" / environment.name / "target"


def artifacts_bucket(environment: Environment) -> str:
    """`dbt.artifacts_bucket` of the environment, else the blueprint's `adinsights-<env>-dbt-artifacts`."""
    settings = dbt_settings(environment)
    return settings.artifacts_bucket or f"adinsights-{environment.name}-dbt-artifacts"


def _print_result(result: BuildResult, as_json: bool) -> None:
    if as_json:
        print(to_json(result))
        return
    for node in result.failed:
        print(f"FAILED {node.describe()}")
    where = f" -> {result.target_path}" if result.target_path else ""
    mode = " (full refresh)" if result.full_refresh else ""
    print(f"dbt build{mode}: {result.summary()} in {result.elapsed:.1f}s{where}")


def _vars(text: str) -> dict[str, Any] | None:
    import json

    if not text:
        return None
    expected = 'a JSON object, e.g. {"inject_failure": "test"}'
    try:
        value = json.loads(text)
    except ValueError as exc:
        opts.refuse("--vars", text, f"{expected} (not JSON: {exc})")
    if not isinstance(value, dict):
        opts.refuse("--vars", text, expected)
    return value


@task(
    klass=opts.OpsTask,
    help={
        "env": ENV_HELP,
        "select": 'dbt selection, e.g. "fct_campaign_daily+" (space-separated for several)',
        "exclude": "dbt exclusion (space-separated for several)",
        "full_refresh": "rebuild incremental models from scratch",
        "vars": 'dbt vars as JSON; sandbox rehearsal: {"inject_failure": "test"} or "model"',
        "tag": "build the project as it is at this git tag (rollback, runbook §6)",
        "target_path": "where artifacts go (default: $ADINSIGHTS_OPS_HOME/dbt/<env>/target)",
        "upload": "put run_results.json and manifest.json in the artifacts bucket (failed too)",
        "quiet": "do not echo dbt's output (stderr)",
        "json": JSON_HELP,
    },
)
@ops_task
def build(
    c: Context,
    env: str = opts.ENV_DEFAULT,
    select: str = "",
    exclude: str = "",
    full_refresh: bool = False,
    vars: str = "",
    tag: str | None = None,
    target_path: str = "",
    upload: bool = False,
    quiet: bool = False,
    json: bool = False,
) -> None:
    """Run `dbt build` for an environment; one line per failed node, then a summary."""
    from invoke.exceptions import Exit

    from adinsights_ops import config, dbt

    dbt_vars = _vars(vars)
    if tag is not None:  # given, it names a tag (never '' = the current checkout)
        opts.text(tag, "--tag", what="a git tag, e.g. v1.4.0")
    if target_path:
        opts.output_folder(target_path, "--target-path")
    environment = config.load(env)
    settings = dbt_settings(environment)
    project = resolve(environment, settings.project_dir)
    target = Path(target_path) if target_path else default_target_path(environment)
    options: dict[str, Any] = {
        "target": settings.target,
        "select": select.split() or None,
        "exclude": exclude.split() or None,
        "vars": dbt_vars,
        "profiles_dir": resolve(environment, settings.profiles_dir),
        "target_path": target,
        "full_refresh": full_refresh,
        "timeout": settings.build_timeout,
        "on_output": None if quiet else say,
    }
    say(f"dbt build of {project} (target {settings.target}){f' at {tag}' if tag else ''}")
    try:
        if tag:
            if settings.profiles_dir == settings.project_dir:
                options["profiles_dir"] = None  # the profiles as they are at the tag
            result = dbt.build_at(tag, repo_dir=project, project_subdir=".", **options)
        else:
            result = dbt.build(project_dir=project, **options)
    except dbt.BuildFailed as exc:
        # The failed nodes are printed once, on stdout, with the summary; stderr gets one line.
        _print_result(exc.result, json)
        if upload:  # the bucket shows the latest build, failed or not: freshness must see it
            _upload(environment, settings, exc.result)
        raise Exit(f"error: {exc}", exc.exit_code) from None
    _print_result(result, json)
    if upload:
        _upload(environment, settings, result)


def _upload(environment: Environment, settings: DbtSettings, result: BuildResult) -> None:
    from adinsights_ops import dbt
    from adinsights_ops.loader import open_environment

    assert result.target_path is not None
    with open_environment(environment) as ops:
        done = dbt.upload_artifacts(
            ops.aws.s3(),
            bucket=artifacts_bucket(environment),
            prefix=settings.artifacts_prefix,
            target_path=result.target_path,
        )
    say(f"uploaded {', '.join(f's3://{done.bucket}/{k}' for k in done.keys)}")


@task(
    klass=opts.OpsTask,
    help={
        "env": ENV_HELP,
        "max_age": f"how old the last build may be (default {DEFAULT_MAX_AGE}; 90m, 1d, 3600)",
        "path": "read this run_results.json instead of the one in the artifacts bucket",
        "bucket": "artifacts bucket (default: dbt.artifacts_bucket of the environment)",
        "json": JSON_HELP,
    },
)
@ops_task
def freshness(
    c: Context,
    env: str = opts.ENV_DEFAULT,
    max_age: str = DEFAULT_MAX_AGE,
    path: str = "",
    bucket: str = "",
    json: bool = False,
) -> None:
    """Check that the last dbt build is recent and clean (runbook §7); exit 1 when it is not."""
    from invoke.exceptions import Exit

    from adinsights_ops import config, dbt
    from adinsights_ops.errors import EXIT_FAILED
    from adinsights_ops.loader import open_environment

    limit = parse_duration(max_age)
    if path:
        opts.readable_file(path, "--path", what="a run_results.json file")
    environment = config.load(env)
    settings = dbt_settings(environment)
    if path:
        check = dbt.freshness(run_results=Path(path), max_age=limit)
    else:
        with open_environment(environment) as ops:
            check = dbt.freshness(
                s3=ops.aws.s3(),
                bucket=bucket or artifacts_bucket(environment),
                key=dbt.artifact_key(settings.artifacts_prefix, "run_results.json"),
                max_age=limit,
            )
    if json:
        print(to_json(check))
    else:
        for node in check.failing:
            print(f"FAILED {node.describe()}")
        print(f"{'fresh' if check.ok else 'NOT FRESH'}: {check.reason}")
        print(f"  read {check.evidence}")
    if not check.ok:
        raise Exit(code=EXIT_FAILED)


ns = Collection("dbt")
for t in (build, freshness):
    ns.add_task(t)
