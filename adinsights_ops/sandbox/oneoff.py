"""Simulated output of the sandbox's one-off ECS tasks (what their containers would have logged).

moto never runs a container, so a one-off task started in the sandbox (`manage.py migrate`,
`seed_roles`, `enable_rls`, `rotate_deks`, a Celery job) has no output of its own. The simulated
ECS scheduler (`sandbox.scheduler`) writes the lines below to the task's awslogs stream when the
task stops, so that an operator reading CloudWatch Logs sees what the real command would print.
The lines are canned and plainly fictional (migration names, counts); only their shape matters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

_MIGRATE_HEADER = [
    "Operations to perform:",
    "  Apply all migrations: accounts, admin, analytics, auth, contenttypes, integrations, "
    "sessions, tenants",
    "Running migrations:",
]

_MIGRATE_OK = [
    *_MIGRATE_HEADER,
    "  Applying analytics.0042_campaign_daily_budget... OK",
    "  Applying integrations.0017_meta_token_expiry... OK",
]

_MIGRATE_FAILED = [
    *_MIGRATE_HEADER,
    "  Applying analytics.0042_campaign_daily_budget...Traceback (most recent call last):",
    '  File "/usr/local/lib/python3.11/site-packages/django/db/backends/utils.py", line 87, '
    "in _execute",
    "    return self.cursor.execute(sql)",
    'psycopg2.errors.DuplicateTable: relation "analytics_campaign" already exists',
    "",
    "The above exception was the direct cause of the following exception:",
    "",
    "Traceback (most recent call last):",
    '  File "/app/manage.py", line 22, in <module>',
    "    main()",
    '  File "/usr/local/lib/python3.11/site-packages/django/core/management/commands/migrate.py", '
    "line 356, in handle",
    "    post_migrate_state = executor.migrate(",
    '  File "/usr/local/lib/python3.11/site-packages/django/db/backends/utils.py", line 87, '
    "in _execute",
    "    return self.cursor.execute(sql)",
    'django.db.utils.ProgrammingError: relation "analytics_campaign" already exists',
]

_SEED_ROLES_OK = [
    "Seeding tenant roles...",
    "  role admin: up to date",
    "  role analyst: up to date",
    "  role viewer: created",
    "Seeded 3 roles for 2 tenants.",
]

_ENABLE_RLS_OK = [
    "Enabling row-level security...",
    "  analytics_campaign: policy tenant_isolation enabled",
    "  analytics_adset: policy tenant_isolation enabled",
    "  analytics_metric_daily: policy tenant_isolation enabled",
    "Row-level security enabled on 3 tables.",
]

_ROTATE_DEKS_OK = [
    "Rotating tenant data-encryption keys...",
    "  tenant acme: DEK re-wrapped under the current KMS key",
    "  tenant globex: DEK re-wrapped under the current KMS key",
    "Rotated 2 tenant DEKs.",
]


def _django_failure(command: str, exit_code: int) -> list[str]:
    return [
        "Traceback (most recent call last):",
        '  File "/app/manage.py", line 22, in <module>',
        "    main()",
        '  File "/usr/local/lib/python3.11/site-packages/django/core/management/base.py", '
        "line 458, in execute",
        "    output = self.handle(*args, **options)",
        f"django.core.management.base.CommandError: {command} failed (exit code {exit_code})",
    ]


def _generic(command: str, exit_code: int) -> list[str]:
    if exit_code:
        return [f"running {command}", f"error: {command} exited with code {exit_code}"]
    return [f"running {command}", "done"]


def _table(ok: list[str]) -> Callable[[str, int], list[str]]:
    def render(command: str, exit_code: int) -> list[str]:
        return list(ok) if exit_code == 0 else _django_failure(command, exit_code)

    return render


def _migrate(command: str, exit_code: int) -> list[str]:
    return list(_MIGRATE_OK if exit_code == 0 else _MIGRATE_FAILED)


# The sandbox app's migration history (analytics): 0041 backfilled tenant ids with raw SQL and cannot
# be undone, so a rollback to 0040 or earlier is one that `migrate --plan` shows as IRREVERSIBLE.
_ANALYTICS = {
    41: ("0041_backfill_tenant_ids", "Raw SQL operation -> IRREVERSIBLE"),
    42: ("0042_campaign_daily_budget", "Undo Add field daily_budget to campaign"),
    43: (
        "0043_snapshot_index",
        "Undo Create index snapshot_tenant_day_idx on field(s) tenant, day",
    ),
}


def _migrate_plan(command: str, exit_code: int) -> list[str]:
    """`manage.py migrate analytics 00NN --plan`: what unapplying down to 00NN would do."""
    words = command.split()
    target = next((w for w in words if w.isdigit() or w == "zero"), None)
    if target is None or exit_code:
        return _generic(command, exit_code)
    floor = 0 if target == "zero" else int(target)
    lines = ["Planned operations:"]
    for number in sorted(_ANALYTICS, reverse=True):
        if number > floor:
            name, operation = _ANALYTICS[number]
            lines += [f"analytics.{name}", f"    {operation}"]
    if len(lines) == 1:
        lines.append("  No planned migration operations.")
    return lines


# Matched in order against the command joined by spaces; the first substring found wins.
_OUTPUTS: tuple[tuple[str, Callable[[str, int], list[str]]], ...] = (
    ("--plan", _migrate_plan),
    ("manage.py migrate", _migrate),
    ("seed_roles", _table(_SEED_ROLES_OK)),
    ("enable_rls", _table(_ENABLE_RLS_OK)),
    ("rotate_deks", _table(_ROTATE_DEKS_OK)),
)


def output_for(command: Sequence[str], exit_code: int) -> list[str]:
    """Return the log lines a one-off task running `command` prints before exiting `exit_code`."""
    joined = " ".join(command) or "(task definition command)"
    for needle, render in _OUTPUTS:
        if needle in joined:
            return render(joined, exit_code)
    return _generic(joined, exit_code)
