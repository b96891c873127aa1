"""The runbook's command line as one Invoke collection: every runbook section's tasks.

Each runbook section is its own module under runbooks/; this module only composes them, for both
`inv` (through tasks.py) and the `adinsights-ops` program (runbooks.program). Top-level `deploy`,
`rollback` and `golive` are the default tasks of their collections.
"""

from invoke import Collection

from runbooks import (
    airbyte,
    airbyte_host,
    checks,
    compose,
    cost,
    dbt,
    deploy,
    ecs,
    environments,
    golive,
    infrastructure,
    kms,
    rds,
    release,
    rollback,
    sandbox,
    secrets,
)

ns = Collection()
ns.add_collection(environments.ns, name="env")
ns.add_collection(infrastructure.ns, name="infra")
ns.add_collection(deploy.ns, name="deploy")
ns.add_collection(rollback.ns, name="rollback")
ns.add_collection(ecs.ns, name="ecs")
ns.add_collection(sandbox.ns, name="sandbox")
airbyte.ns.add_task(airbyte_host.host_check)
ns.add_collection(airbyte.ns, name="airbyte")
ns.add_collection(dbt.ns, name="dbt")
ns.add_collection(rds.ns, name="rds")
ns.add_collection(kms.ns, name="kms")
ns.add_collection(secrets.ns, name="secrets")
ns.add_collection(release.ns, name="release")
ns.add_collection(compose.ns, name="compose")
ns.add_collection(cost.ns, name="cost")
ns.add_collection(checks.ns, name="checks")
ns.add_collection(golive.ns, name="golive")
