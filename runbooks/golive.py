"""Runbook section 9, the go-live checklist: `inv golive --env production [--out DIR] [--json]`.

Evaluates the eight items with their evidence, saves the report as Markdown and JSON under
golive/evidence/ (or --out), prints it, and exits 1 while any item fails (2 when the sign-off file
is missing).
"""

from __future__ import annotations

from invoke import Collection, Context, task

from runbooks import options, render
from runbooks.common import ENV_HELP, JSON_HELP, ops_task


@task(
    klass=options.OpsTask,
    default=True,
    help={
        "env": ENV_HELP,
        "out": (
            "folder for the evidence files (default: golive/evidence beside environments.yaml; "
            "in the tool's home for the packaged sandbox file)"
        ),
        "signoff": "the sign-off file (default: golive/signoff.yaml beside environments.yaml)",
        "root": "the repository whose runbooks and SLO document are checked (default: that folder)",
        "json": JSON_HELP,
    },
)
@ops_task
def golive(
    c: Context,
    env: str = options.ENV_DEFAULT,
    out: str = "",
    signoff: str = "",
    root: str = "",
    json: bool = False,
) -> None:
    """Evaluate the go-live checklist (runbook section 9) and save the evidence."""
    from pathlib import Path

    from adinsights_ops import config, golive
    from adinsights_ops.loader import open_environment

    if root:
        options.folder(root, "--root", what="the repository to check")
    if signoff and Path(signoff).exists():  # a missing one: read_signoff says where to copy it from
        options.readable_file(signoff, "--signoff", what="a sign-off YAML file")
    if out:
        options.output_folder(out, "--out")
    environment = config.load(env)
    base = Path(root) if root else Path(environment.source).resolve().parent
    sign_off = Path(signoff) if signoff else base / golive.settings_for(environment).signoff_file
    golive.read_signoff(sign_off)  # a missing or broken file stops here, before anything opens
    with open_environment(environment) as ops:
        report = golive.evaluate(ops, root=base, signoff=sign_off)
    beside = Path(root) if root else environment.output_folder()
    folder = Path(out) if out else beside / "golive" / "evidence"
    markdown, data = golive.save_evidence(report, folder)
    render.say(f"evidence: {markdown} and {data}")
    render.checks(report, json)


ns = Collection("golive")
ns.add_task(golive, default=True)
