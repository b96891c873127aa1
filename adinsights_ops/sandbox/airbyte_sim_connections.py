"""The sandbox Airbyte's connections: seeded from the manifests (with one deliberate drift), patched
as Airbyte's `ConnectionPatchRequest` allows, and the client secret read from the sandbox's Secrets
Manager. Used by `airbyte_sim.AirbyteSimulator`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from adinsights_ops.config import Environment

CONNECTION_STATUSES = ("active", "inactive", "deprecated")
SYNC_MODES = (
    "full_refresh_overwrite",
    "full_refresh_append",
    "incremental_append",
    "incremental_deduped_history",
)
PATCHABLE = (
    "name",
    "status",
    "schedule",
    "configurations",
    "dataResidency",
    "namespaceDefinition",
    "namespaceFormat",
    "prefix",
    "nonBreakingSchemaUpdatesBehavior",
)
SEEDED_DRIFT: Mapping[str, Mapping[str, Any]] = {
    # So that `inv airbyte.diff --env sandbox` has something to show: every 2 hours, not hourly.
    "google_ads": {"schedule": {"scheduleType": "cron", "cronExpression": "0 0 */2 * * ?"}},
}


def check_patch(data: Mapping[str, Any]) -> None:
    unknown = sorted(set(data) - set(PATCHABLE))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]}")
    if "name" in data and not isinstance(data["name"], str):
        raise ValueError("name must be a string")
    if "status" in data and data["status"] not in CONNECTION_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CONNECTION_STATUSES)}")
    if "schedule" in data:
        schedule = data["schedule"]
        if not isinstance(schedule, dict) or schedule.get("scheduleType") not in ("manual", "cron"):
            raise ValueError("schedule.scheduleType must be manual or cron")
        cron = schedule.get("cronExpression")
        if schedule["scheduleType"] == "cron" and not (
            isinstance(cron, str) and len(cron.split()) in (6, 7)
        ):
            raise ValueError("schedule.cronExpression must be a Quartz cron")
    if "configurations" in data:
        streams = (data["configurations"] or {}).get("streams", [])
        if not isinstance(streams, list):
            raise ValueError("configurations.streams must be a list")
        for stream in streams:
            if not isinstance(stream, dict) or not isinstance(stream.get("name"), str):
                raise ValueError("every stream needs a name")
            if stream.get("syncMode", "full_refresh_overwrite") not in SYNC_MODES:
                raise ValueError(f"stream {stream['name']}: unknown syncMode")


def seed_connections(env: Environment) -> dict[str, dict[str, Any]]:
    """The environment's connections as Airbyte would report them: as the manifests declare them,
    except for `SEEDED_DRIFT`. A connection without a (readable) manifest is manual and streamless."""
    from adinsights_ops.airbyte._manifests import load_manifests, manifests_dir
    from adinsights_ops.errors import OpsError

    assert env.airbyte is not None
    try:
        manifests = {m.connection: m for m in load_manifests(manifests_dir(env))}
    except OpsError:
        manifests = {}
    workspace = str(uuid.uuid5(uuid.NAMESPACE_URL, f"adinsights-sandbox:{env.name}:workspace"))
    connections: dict[str, dict[str, Any]] = {}
    for name, connection_id in env.airbyte.connections.items():
        manifest = manifests.get(name)
        schedule: dict[str, Any] = {"scheduleType": "manual"}
        streams: list[dict[str, Any]] = []
        if manifest is not None and manifest.schedule_type is not None:
            schedule = {"scheduleType": manifest.schedule_type}
            if manifest.cron_expression is not None:
                schedule["cronExpression"] = manifest.cron_expression
        if manifest is not None and manifest.streams is not None:
            streams = [s.to_api() for s in manifest.streams]
        connection = {
            "connectionId": connection_id,
            "name": (manifest.name if manifest and manifest.name else name),
            "sourceId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{connection_id}:source")),
            "destinationId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{env.name}:warehouse")),
            "workspaceId": workspace,
            "status": (manifest.status if manifest and manifest.status else "active"),
            "schedule": schedule,
            "dataResidency": "auto",
            "namespaceDefinition": "destination",
            "nonBreakingSchemaUpdatesBehavior": "ignore",
            "configurations": {"streams": streams},
        }
        connection.update(json.loads(json.dumps(SEEDED_DRIFT.get(name, {}))))
        connections[connection_id] = connection
    return connections


def moto_secret(env: Environment) -> Callable[[], str | None]:
    """Reads the client secret from the sandbox's Secrets Manager (moto's backend, in this process)
    at each token request, so a rotated secret takes effect as it would on a real Airbyte."""
    assert env.airbyte is not None
    secret_id = env.airbyte.client_secret

    def read() -> str | None:
        from moto.secretsmanager.models import secretsmanager_backends

        try:
            backend = secretsmanager_backends[env.account][env.region]
            value = backend.get_secret_value(secret_id, None, None).get("SecretString")  # type: ignore[arg-type]
        except Exception:  # not seeded (yet), deleted, or no current version: refuse every secret
            return None
        return value if isinstance(value, str) else None

    return read
