"""The runbook's command line: `inv --list` shows every task.

Each runbook section is its own module under runbooks/; this file only composes them. Top-level
`inv deploy` and `inv rollback` are the default tasks of their collections.
"""

from invoke import Collection

from runbooks import deploy, ecs, environments, rollback, sandbox

ns = Collection()
ns.add_collection(environments.ns, name="env")
ns.add_collection(deploy.ns, name="deploy")
ns.add_collection(rollback.ns, name="rollback")
ns.add_collection(ecs.ns, name="ecs")
ns.add_collection(sandbox.ns, name="sandbox")
