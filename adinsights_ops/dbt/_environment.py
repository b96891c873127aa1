"""dbt for one environment (runbook 4, 5.2, 6, 7): its project, build, artifacts and freshness.

What `inv dbt.build` and `inv dbt.freshness` do, from the environment's `dbt` settings: paths of
the environments file are relative to its folder, builds go to `<home>/dbt/<env>/target` (kept, so
they can be incremental), artifacts to `dbt.artifacts_bucket` or the blueprint's bucket.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import ConfigError, UsageError
from adinsights_ops.paths import home

if TYPE_CHECKING:
    from adinsights_ops.config import DbtSettings, Environment
    from adinsights_ops.dbt._build import UploadedArtifacts
    from adinsights_ops.dbt._results import BuildResult, Freshness
    from adinsights_ops.opsenv import OpsEnv

DEFAULT_MAX_AGE = "26h"  # the daily 05:00 build, plus two hours of grace
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([dhms]?)")
_UNIT = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def parse_duration(text: str, flag: str = "--max-age") -> float:
    """`26h`, `90m`, `1d`, `1h30m`, `3600` (seconds) -> seconds: above 0, at most a year."""
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
    """The environment's `dbt` section; without one, a `ConfigError` (exit 2)."""
    if environment.dbt is None:
        raise ConfigError(environment.source, f"{environment.name}.dbt", "missing: no dbt settings")
    return environment.dbt


def resolve(environment: Environment, path: str) -> Path:
    """A path of the environments file, relative to the folder of that file."""
    return (Path(environment.source).parent / path).resolve()


def default_target_path(environment: Environment) -> Path:
    """`<home>/dbt/<env>/target`: kept between builds, so they can be incremental."""
    return home() / "dbt" / environment.name / "target"


def artifacts_bucket(environment: Environment) -> str:
    """`dbt.artifacts_bucket` of the environment, else the blueprint's `adinsights-<env>-dbt-artifacts`."""
    settings = dbt_settings(environment)
    return settings.artifacts_bucket or f"adinsights-{environment.name}-dbt-artifacts"


@attrs.frozen
class BuildRequest:
    """One `dbt build` of an environment's project (at a git tag, or as checked out)."""

    environment: Environment
    project: Path
    target: str
    target_path: Path
    tag: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)


def build_request(
    environment: Environment,
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    full_refresh: bool = False,
    vars: Mapping[str, Any] | None = None,
    tag: str | None = None,
    target_path: str | Path | None = None,
) -> BuildRequest:
    """What `build_environment` will run: the project, target, selection and where artifacts go."""
    settings = dbt_settings(environment)
    target = Path(target_path) if target_path else default_target_path(environment)
    profiles: Path | None = resolve(environment, settings.profiles_dir)
    if tag and settings.profiles_dir == settings.project_dir:
        profiles = None  # the profiles as they are at the tag
    options = {
        "target": settings.target,
        "select": list(select) or None,
        "exclude": list(exclude) or None,
        "vars": vars,
        "profiles_dir": profiles,
        "target_path": target,
        "full_refresh": full_refresh,
        "timeout": settings.build_timeout,
    }
    project = resolve(environment, settings.project_dir)
    return BuildRequest(environment, project, settings.target, target, tag or None, options)


def build_environment(
    request: BuildRequest, *, on_output: Callable[[str], None] | None = None
) -> BuildResult:
    """Run the build; `BuildFailed` (carrying the result) when a node failed."""
    from adinsights_ops import dbt  # through the package: what a test or script replaced there

    if request.tag:
        return dbt.build_at(
            request.tag,
            repo_dir=request.project,
            project_subdir=".",
            on_output=on_output,
            **request.options,
        )
    return dbt.build(project_dir=request.project, on_output=on_output, **request.options)


def upload_result(ops: OpsEnv, result: BuildResult) -> UploadedArtifacts:
    """Put the build's run_results.json and manifest.json in the environment's artifacts bucket."""
    from adinsights_ops.dbt._build import upload_artifacts

    if result.target_path is None:
        raise UsageError("the build has no target path: nothing to upload")
    return upload_artifacts(
        ops.aws.s3(),
        bucket=artifacts_bucket(ops.env),
        prefix=dbt_settings(ops.env).artifacts_prefix,
        target_path=result.target_path,
    )


def freshness_of(
    environment: Environment,
    *,
    max_age: float,
    path: str | Path | None = None,
    ops: OpsEnv | None = None,
    bucket: str = "",
) -> Freshness:
    """The last build's freshness: from `path` (a run_results.json), else the artifacts bucket
    (`bucket`, else the environment's) through `ops`."""
    from adinsights_ops.dbt._build import artifact_key
    from adinsights_ops.dbt._results import freshness

    settings = dbt_settings(environment)
    if path:
        return freshness(run_results=Path(path), max_age=max_age)
    if ops is None:
        raise UsageError("dbt freshness: give a run_results.json path or an open environment")
    return freshness(
        s3=ops.aws.s3(),
        bucket=bucket or artifacts_bucket(environment),
        key=artifact_key(settings.artifacts_prefix, "run_results.json"),
        max_age=max_age,
    )
