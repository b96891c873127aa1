"""dbt (runbook §4, §5.2, §6, §7): build, rebuild a prior release, check freshness."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoke import Collection, Context, task

from runbooks import lazy
from runbooks import options as opts
from runbooks.common import ENV_HELP, JSON_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _dbt as render
else:
    render = lazy.module("runbooks.render._dbt")

if TYPE_CHECKING:
    from adinsights_ops.config import DbtSettings, Environment
    from adinsights_ops.dbt import BuildRequest, BuildResult

DEFAULT_MAX_AGE = "26h"  # the daily 05:00 build, plus two hours of grace (dbt._environment's)


def parse_duration(text: str, flag: str = "--max-age") -> float:
    """`26h`, `90m`, `1d`, `1h30m`, `3600` (seconds) -> seconds: above 0, at most a year."""
    from adinsights_ops.dbt import parse_duration as parse

    return parse(text, flag)


def artifacts_bucket(environment: Environment) -> str:
    """`dbt.artifacts_bucket` of the environment, else the blueprint's `adinsights-<env>-dbt-artifacts`."""
    from adinsights_ops.dbt import artifacts_bucket as bucket

    return bucket(environment)


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

    from adinsights_ops import dbt
    from adinsights_ops.dbt import build_environment

    request = _request(env, select, exclude, full_refresh, vars, tag, target_path)
    render.build_start(request)
    try:
        result = build_environment(request, on_output=None if quiet else render.dbt_line)
    except dbt.BuildFailed as exc:
        # The failed nodes are printed once, on stdout, with the summary; stderr gets one line.
        _finish(request, exc.result, upload=upload, as_json=json)
        raise Exit(f"error: {exc}", exc.exit_code) from None
    _finish(request, result, upload=upload, as_json=json)


def _request(
    env: str,
    select: str,
    exclude: str,
    full_refresh: bool,
    vars: str,
    tag: str | None,
    target_path: str,
) -> BuildRequest:
    """The build asked for, every option checked before dbt runs."""
    from adinsights_ops import config
    from adinsights_ops.dbt import build_request

    dbt_vars = _vars(vars)
    if tag is not None:  # given, it names a tag (never '' = the current checkout)
        opts.text(tag, "--tag", what="a git tag, e.g. v1.4.0")
    if target_path:
        opts.output_folder(target_path, "--target-path")
    return build_request(
        config.load(env),
        select=select.split(),
        exclude=exclude.split(),
        full_refresh=full_refresh,
        vars=dbt_vars,
        tag=tag,
        target_path=target_path or None,
    )


def _finish(request: BuildRequest, result: BuildResult, *, upload: bool, as_json: bool) -> None:
    from adinsights_ops.dbt._environment import dbt_settings

    render.build_result(result, as_json)
    if upload:  # the bucket shows the latest build, failed or not: freshness must see it
        _upload(request.environment, dbt_settings(request.environment), result)


def _upload(environment: Environment, settings: DbtSettings, result: BuildResult) -> None:
    from adinsights_ops.dbt import upload_result
    from adinsights_ops.loader import open_environment

    with open_environment(environment) as ops:
        render.uploaded(upload_result(ops, result))


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
    from contextlib import nullcontext

    from invoke.exceptions import Exit

    from adinsights_ops import config
    from adinsights_ops.dbt._environment import dbt_settings, freshness_of
    from adinsights_ops.errors import EXIT_FAILED
    from adinsights_ops.loader import open_environment

    limit = parse_duration(max_age)
    if path:
        opts.readable_file(path, "--path", what="a run_results.json file")
    environment = config.load(env)
    dbt_settings(environment)
    with nullcontext() if path else open_environment(environment) as ops:
        check = freshness_of(environment, max_age=limit, path=path, ops=ops, bucket=bucket)
    render.freshness(check, json)
    if not check.ok:
        raise Exit(code=EXIT_FAILED)


ns = Collection("dbt")
for t in (build, freshness):
    ns.add_task(t)
