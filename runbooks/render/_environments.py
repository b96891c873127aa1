"""Output of `inv env.*`: the environments and whether each is ready, one environment in full."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbooks.render._console import out
from runbooks.render._json import emit_json

if TYPE_CHECKING:
    from adinsights_ops.config import Environment
    from adinsights_ops.config._listing import EnvironmentEntry, EnvironmentList


def listing(found: EnvironmentList, as_json: bool) -> None:
    """One line per environment (ready, its account or the sandbox; else its problem), or JSON."""
    if as_json:
        emit_json(
            {"source": found.source, "environments": [entry_dict(e) for e in found.environments]}
        )
        return
    for e in found.environments:
        if e.ready:
            kind = "sandbox (embedded)" if e.sandbox else f"account {e.account} {e.region}"
            out(f"{e.name:<12} ready     {kind}, branch rule {e.branch_rule}")
        else:
            out(f"{e.name:<12} not ready {e.problem}")


def entry_dict(entry: EnvironmentEntry) -> dict[str, Any]:
    if not entry.ready:
        return {"name": entry.name, "ready": False, "problem": entry.problem}
    return {
        "name": entry.name,
        "ready": True,
        "sandbox": entry.sandbox,
        "account": entry.account,
        "region": entry.region,
        "branch_rule": entry.branch_rule,
    }


def environment(e: Environment, as_json: bool) -> None:
    """The environment as the tool sees it after validation (or all of it as JSON)."""
    if as_json:
        emit_json(e)
        return
    out(f"{e.name}  ({e.source})")
    out(f"  account {e.account}  region {e.region}  profile {e.profile or '-'}")
    out(f"  branch rule {e.branch_rule}  approval {'required' if e.approval_required else 'no'}")
    out(f"  cluster {e.ecs.cluster}")
    for role, ref in e.ecs.services.items():
        out(f"    {role:<9} {ref.name:<18} image {e.repositories[ref.image]}")
    out(f"  one-off tasks: family {e.ecs.one_off_family}, container {e.ecs.one_off_container}")
    out(f"  rds {e.rds_instance}  kms {e.kms_key}  state bucket {e.state_bucket}")
    out(f"  health {e.health_base_url}  sample tenant {e.sample_tenant}")
