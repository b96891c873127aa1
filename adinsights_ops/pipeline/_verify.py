"""Deploy steps 9-10 (runbook §5, docs/runbooks/smoke-and-announce.md): warm the caches on the new
release, then the smoke checks. A failure here puts the services back on their previous revisions."""

from __future__ import annotations

from adinsights_ops.pipeline._release import run_once
from adinsights_ops.pipeline._state import DeployRun, Outputs, StepFailed


def warm(run: DeployRun) -> Outputs:
    """Aggregate snapshot for the sample tenant; `sync_meta_metrics` on the new worker revision."""
    from adinsights_ops import health

    env = run.ops.env
    base = run.ops.health_base_url or env.health_base_url
    warmed = health.warm_cache(None, base_url=base, tenant=env.sample_tenant, clock=run.ops.clock)
    if not warmed.ok:
        raise StepFailed(f"warming the aggregate snapshot failed: {warmed.detail}")
    ran = run_once(run, "warm", 0, env.release.warm_command, "worker")
    return {
        "aggregate_snapshot": f"{warmed.status} in {warmed.latency_ms:.0f} ms",
        "sync_meta_metrics": ran.rsplit(": ", 1)[-1].split(" in ", 1)[0],
    }


def smoke(run: DeployRun) -> Outputs:
    from adinsights_ops import health

    base = run.ops.health_base_url or run.ops.env.health_base_url
    report = health.smoke(
        None,
        base_url=base,
        expected_version=health.release_version(run.tag.ecr_tag),
        clock=run.ops.clock,
    )
    checks = {
        c.path: f"{c.status} {c.latency_ms:.0f} ms" + ("" if c.ok else f" FAILED: {c.detail}")
        for c in report.checks
    }
    if not report.ok:
        raise StepFailed("smoke checks failed", [f"{c.path}: {c.detail}" for c in report.failures])
    return {"checks": checks, "version": report.version}
