"""The KMS key that wraps tenant DEKs: status, on-demand rotation, re-wrapping DEKs (runbook 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection, Context, task

from runbooks import lazy, options, render
from runbooks.common import ENV_HELP, JSON_HELP, ops_task

if TYPE_CHECKING:  # the output modules load rich: imported when first used
    from runbooks.render import _kms as show
else:
    show = lazy.module("runbooks.render._kms")


@task(klass=options.OpsTask, help={"env": ENV_HELP, "json": JSON_HELP})
@ops_task
def status(c: Context, env: str = options.ENV_DEFAULT, json: bool = False) -> None:
    """The key: enabled, automatic rotation on, last rotations. Exit 1 when it is not healthy."""
    from adinsights_ops import kms
    from adinsights_ops.loader import open_environment

    with open_environment(env) as ops:
        result = kms.status(ops.aws.client("kms"), key=ops.env.kms_key)
    show.status(result, json)


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "yes": "approve without the typed confirmation (production)",
        "json": JSON_HELP,
    },
)
@ops_task
def rotate_key(
    c: Context, env: str = options.ENV_DEFAULT, yes: bool = False, json: bool = False
) -> None:
    """Rotate the key's material now (old material keeps decrypting); check automatic rotation."""
    from adinsights_ops import config, kms
    from adinsights_ops.loader import open_environment

    environment = config.load(env)
    render.check_approval(environment, yes, "rotate the KMS key")
    with open_environment(environment) as ops:
        client, key = ops.aws.client("kms"), ops.env.kms_key
        render.approve(
            environment,
            yes,
            "rotate the KMS key",
            lambda: show.rotate_key_plan(kms.status(client, key=key)),
        )
        result = kms.rotate_key(client, key=key)
    show.rotated(key, result, json)


@task(
    klass=options.OpsTask,
    help={
        "env": ENV_HELP,
        "to_key": "key id, ARN or alias to wrap the DEKs under (may be the same key, after rotation)",
        "deks_object": "S3 key, in the state bucket, of the wrapped DEKs (default <env>/tenant-deks.json)",
        "json": JSON_HELP,
    },
)
@ops_task
def rewrap(
    c: Context,
    to_key: str,
    env: str = options.ENV_DEFAULT,
    deks_object: str | None = None,
    json: bool = False,
) -> None:
    """Re-wrap every tenant's DEK under another key, resumably (a re-run continues where it stopped)."""
    from adinsights_ops import kms
    from adinsights_ops.loader import open_environment

    options.text(to_key, "--to-key", what="a KMS key id, ARN or alias")
    if deks_object is not None:  # given, it names the object (never '' = the default one)
        options.text(deks_object, "--deks-object", what="an S3 key in the state bucket")
    with open_environment(env) as ops:
        bucket = ops.env.state_bucket
        key = deks_object or f"{ops.name}/tenant-deks.json"
        render.say(f"re-wrapping the DEKs in s3://{bucket}/{key} under {to_key}")
        result = kms.rewrap_object(
            ops.aws.client("kms"),
            ops.aws.s3(),
            bucket=bucket,
            key=key,
            to_key=to_key,
            on_event=show.rewrap_progress,
        )
    show.rewrapped(result, f"s3://{bucket}/{key}", json)


ns = Collection("kms")
for t in (status, rotate_key, rewrap):
    ns.add_task(t)
