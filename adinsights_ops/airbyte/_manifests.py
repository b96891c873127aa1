"""Airbyte connections as declared in `infrastructure/airbyte/*.yaml` (runbook 2.2), and their drift.

A manifest names a connection by its key in `environments.yaml` (`airbyte.connections`), and
declares the fields that are managed: name, status, schedule and streams (with sync modes). Fields it
leaves out are not managed. The field names are the Airbyte public API's, so a manifest reads like
the API's `ConnectionResponse`.

    drifts = diff(client, load_manifests(folder), env.airbyte.connections)   # reads only
    apply(client, drifts)                                                     # PATCHes what drifted

`diff` is the dry run: it reads each live connection (`GET /connections/{id}`) and returns one
`Drift(field, live, desired)` per difference. `apply` sends one `PATCH /connections/{id}` per
connection that drifted, built from the desired values the drifts carry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import ConfigError

if TYPE_CHECKING:
    from adinsights_ops.airbyte._client import AirbyteClient
    from adinsights_ops.config import Environment

STATUSES = ("active", "inactive")
SCHEDULE_TYPES = ("manual", "cron")
SYNC_MODES = (
    "full_refresh_overwrite",
    "full_refresh_append",
    "incremental_append",
    "incremental_deduped_history",
)
_KEYS = ("connection", "name", "status", "schedule", "streams")
_STREAM_KEYS = ("name", "syncMode", "cursorField", "primaryKey")


@attrs.frozen
class StreamSpec:
    """One stream to sync and how."""

    name: str
    sync_mode: str
    cursor_field: tuple[str, ...] | None = None
    primary_key: tuple[tuple[str, ...], ...] | None = None

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "syncMode": self.sync_mode}
        if self.cursor_field is not None:
            body["cursorField"] = list(self.cursor_field)
        if self.primary_key is not None:
            body["primaryKey"] = [list(path) for path in self.primary_key]
        return body


@attrs.frozen
class Manifest:
    """The desired state of one connection; None means "not managed"."""

    source: str
    connection: str
    name: str | None = None
    status: str | None = None
    schedule_type: str | None = None
    cron_expression: str | None = None
    streams: tuple[StreamSpec, ...] | None = None


@attrs.frozen
class Drift:
    """One field of a live connection that differs from its manifest."""

    connection: str
    """The connection's key in environments.yaml (e.g. meta_ads)."""
    connection_id: str
    field: str
    """Dotted: name, status, schedule.scheduleType, schedule.cronExpression, streams.<stream>[.syncMode]."""
    live: Any
    desired: Any
    patch: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)
    """The `PATCH /connections/{id}` body fragment that sets the desired value."""


@attrs.frozen
class Applied:
    """One connection patched by `apply`."""

    connection: str
    connection_id: str
    fields: tuple[str, ...]


def manifests_dir(env: Environment) -> Path:
    """The manifests' folder: `airbyte.manifests`, relative to the environments file's folder
    (or, when it exists only there, to the project root: see `Environment.path`)."""
    folder = env.airbyte.manifests if env.airbyte else "infrastructure/airbyte"
    return env.path(folder)


def load_manifests(folder: str | Path) -> list[Manifest]:
    """Every `*.yaml` manifest in `folder`, sorted by file name; errors name the file and key."""
    directory = Path(folder)
    if not directory.is_dir():
        raise ConfigError(str(directory), "", "the Airbyte manifests folder does not exist")
    manifests = [load_manifest(path) for path in sorted(directory.glob("*.yaml"))]
    seen: dict[str, str] = {}
    for manifest in manifests:
        if manifest.connection in seen:
            raise ConfigError(
                manifest.source,
                "connection",
                f"{manifest.connection!r} is already declared in {seen[manifest.connection]}",
            )
        seen[manifest.connection] = manifest.source
    return manifests


def load_manifest(path: str | Path) -> Manifest:
    from adinsights_ops.config import load_yaml

    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, "", f"cannot be read ({exc.strerror})") from exc
    except ValueError as exc:
        raise ConfigError(source, "", "cannot be read as UTF-8 text") from exc
    return parse_manifest(load_yaml(text, source), source)


def parse_manifest(data: object, source: str) -> Manifest:
    """Validate one manifest's mapping."""
    top = _mapping(data, source, "")
    _only(top, _KEYS, source, "")
    connection = _text(top, "connection", source, required=True)
    assert connection is not None
    status = _text(top, "status", source)
    if status is not None and status not in STATUSES:
        raise ConfigError(
            source, "status", f"expected one of {', '.join(STATUSES)}, got {status!r}"
        )
    schedule_type = cron = None
    if top.get("schedule") is not None:
        schedule = _mapping(top["schedule"], source, "schedule")
        _only(schedule, ("scheduleType", "cronExpression"), source, "schedule")
        schedule_type = _text(schedule, "scheduleType", source, required=True, prefix="schedule")
        if schedule_type not in SCHEDULE_TYPES:
            raise ConfigError(
                source, "schedule.scheduleType", f"expected one of {', '.join(SCHEDULE_TYPES)}"
            )
        cron = _text(schedule, "cronExpression", source, prefix="schedule")
        if (schedule_type == "cron") != (cron is not None):
            raise ConfigError(
                source, "schedule.cronExpression", "needed with scheduleType cron, and only then"
            )
        if cron is not None and len(cron.split()) not in (6, 7):
            raise ConfigError(
                source,
                "schedule.cronExpression",
                f"expected a Quartz cron of 6 or 7 fields (e.g. '0 0 * * * ?'), got {cron!r}",
            )
    streams = None
    if top.get("streams") is not None:
        if not isinstance(top["streams"], list):
            raise ConfigError(source, "streams", "expected a list of streams")
        if not top["streams"]:
            # Applying it would deselect every stream of the connection: never what is meant.
            raise ConfigError(
                source,
                "streams",
                "is empty, which would stop syncing every stream: list the streams to sync, "
                "or leave `streams` out to leave them unmanaged",
            )
        streams = tuple(
            _stream(item, source, f"streams[{i}]") for i, item in enumerate(top["streams"])
        )
        names = [s.name for s in streams]
        if len(set(names)) != len(names):
            raise ConfigError(source, "streams", "a stream is listed twice")
    return Manifest(
        source=source,
        connection=connection,
        name=_text(top, "name", source),
        status=status,
        schedule_type=schedule_type,
        cron_expression=_normal_cron(cron) if cron is not None else None,
        streams=streams,
    )


def _stream(item: object, source: str, key: str) -> StreamSpec:
    data = _mapping(item, source, key)
    _only(data, _STREAM_KEYS, source, key)
    name = _text(data, "name", source, required=True, prefix=key)
    mode = _text(data, "syncMode", source, required=True, prefix=key)
    assert name is not None and mode is not None
    if mode not in SYNC_MODES:
        raise ConfigError(source, f"{key}.syncMode", f"expected one of {', '.join(SYNC_MODES)}")
    cursor = data.get("cursorField")
    if cursor is not None and not _strings(cursor):
        raise ConfigError(source, f"{key}.cursorField", "expected a list of field names")
    pk = data.get("primaryKey")
    if pk is not None and not (isinstance(pk, list) and pk and all(_strings(p) for p in pk)):
        raise ConfigError(source, f"{key}.primaryKey", "expected a list of field paths (lists)")
    return StreamSpec(
        name=name,
        sync_mode=mode,
        cursor_field=tuple(cursor) if cursor is not None else None,
        primary_key=tuple(tuple(p) for p in pk) if pk is not None else None,
    )


def _mapping(data: object, source: str, key: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(source, key, "expected a mapping")
    return data


def _only(data: Mapping[str, Any], known: Sequence[str], source: str, key: str) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        where = f"{key}.{unknown[0]}" if key else unknown[0]
        raise ConfigError(source, where, f"unknown key (known: {', '.join(known)})")


def _text(
    data: Mapping[str, Any], name: str, source: str, *, required: bool = False, prefix: str = ""
) -> str | None:
    key = f"{prefix}.{name}" if prefix else name
    value = data.get(name)
    if value is None:
        if required:
            raise ConfigError(source, key, "missing (required)")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(source, key, "expected a non-empty string")
    return value


def _strings(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def _normal_cron(text: str) -> str:
    return " ".join(text.split())


# -- drift -------------------------------------------------------------------------------------


def diff(
    client: AirbyteClient, manifests: Sequence[Manifest], connections: Mapping[str, str]
) -> list[Drift]:
    """Every difference between the live connections and their manifests (reads only).

    `connections` maps names to ids (environments.yaml `airbyte.connections`). A manifest for a name
    that is not there, or a connection without a manifest, is a `ConfigError`.
    """
    by_name = {m.connection: m for m in manifests}
    for manifest in manifests:
        if manifest.connection not in connections:
            raise ConfigError(
                manifest.source,
                "connection",
                f"{manifest.connection!r} is not in the environment's airbyte.connections "
                f"({', '.join(connections)})",
            )
    missing = [name for name in connections if name not in by_name]
    if missing:
        raise ConfigError(
            "airbyte manifests", "", f"no manifest declares the connection(s) {', '.join(missing)}"
        )
    drifts: list[Drift] = []
    for name, connection_id in connections.items():
        live = client.get_connection(connection_id)
        drifts.extend(diff_connection(by_name[name], live, connection_id=connection_id))
    return drifts


def diff_connection(
    manifest: Manifest, live: Mapping[str, Any], *, connection_id: str
) -> list[Drift]:
    """The drifts of one live connection (a `ConnectionResponse`) from its manifest."""
    name = manifest.connection
    drifts: list[Drift] = []

    def drift(field: str, now: Any, want: Any, patch: Mapping[str, Any]) -> None:
        drifts.append(Drift(name, connection_id, field, now, want, patch))

    if manifest.name is not None and live.get("name") != manifest.name:
        drift("name", live.get("name"), manifest.name, {"name": manifest.name})
    if manifest.status is not None and live.get("status") != manifest.status:
        drift("status", live.get("status"), manifest.status, {"status": manifest.status})
    if manifest.schedule_type is not None:
        schedule = live.get("schedule") or {}
        desired_schedule: dict[str, Any] = {"scheduleType": manifest.schedule_type}
        if manifest.cron_expression is not None:
            desired_schedule["cronExpression"] = manifest.cron_expression
        patch = {"schedule": desired_schedule}
        if schedule.get("scheduleType") != manifest.schedule_type:
            drift(
                "schedule.scheduleType", schedule.get("scheduleType"), manifest.schedule_type, patch
            )
        live_cron = schedule.get("cronExpression")
        live_cron = _normal_cron(live_cron) if isinstance(live_cron, str) else live_cron
        if manifest.cron_expression is not None and live_cron != manifest.cron_expression:
            drift("schedule.cronExpression", live_cron, manifest.cron_expression, patch)
    if manifest.streams is not None:
        drifts.extend(_stream_drifts(manifest, live, connection_id))
    return drifts


def _stream_drifts(manifest: Manifest, live: Mapping[str, Any], connection_id: str) -> list[Drift]:
    assert manifest.streams is not None
    configurations = live.get("configurations") or {}
    live_streams = {
        str(s.get("name")): s for s in configurations.get("streams") or [] if isinstance(s, Mapping)
    }
    # Patching configurations replaces the selected streams: always send the whole desired list.
    patch = {"configurations": {"streams": [s.to_api() for s in manifest.streams]}}
    drifts: list[Drift] = []

    def drift(field: str, now: Any, want: Any) -> None:
        drifts.append(Drift(manifest.connection, connection_id, field, now, want, patch))

    for stream in manifest.streams:
        current = live_streams.get(stream.name)
        key = f"streams.{stream.name}"
        if current is None:
            drift(key, None, stream.sync_mode)
            continue
        if current.get("syncMode") != stream.sync_mode:
            drift(f"{key}.syncMode", current.get("syncMode"), stream.sync_mode)
        if stream.cursor_field is not None:
            now = _tuple(current.get("cursorField"))
            if now != stream.cursor_field:
                drift(f"{key}.cursorField", now, stream.cursor_field)
        if stream.primary_key is not None:
            now_pk = tuple(_tuple(p) for p in current.get("primaryKey") or [])
            if now_pk != stream.primary_key:
                drift(f"{key}.primaryKey", now_pk, stream.primary_key)
    declared = {s.name for s in manifest.streams}
    for extra in sorted(set(live_streams) - declared):
        drift(f"streams.{extra}", live_streams[extra].get("syncMode"), None)
    return drifts


def _tuple(value: Any) -> tuple[Any, ...] | None:
    return tuple(value) if isinstance(value, list | tuple) else None


def apply(client: AirbyteClient, drifts: Sequence[Drift]) -> list[Applied]:
    """Fix the drifts: one `PATCH /connections/{id}` per connection, with the desired values."""
    bodies: dict[str, dict[str, Any]] = {}
    fields: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for drift in drifts:
        configurations = drift.patch.get("configurations")
        if isinstance(configurations, Mapping) and configurations.get("streams") == []:
            raise ConfigError(
                "airbyte manifests",
                f"{drift.connection}.streams",
                "is empty: refusing to deselect every stream of the connection",
            )
        bodies.setdefault(drift.connection_id, {}).update(drift.patch)
        fields.setdefault(drift.connection_id, []).append(drift.field)
        names[drift.connection_id] = drift.connection
    applied: list[Applied] = []
    for connection_id, body in bodies.items():
        client.patch_connection(connection_id, body)
        applied.append(Applied(names[connection_id], connection_id, tuple(fields[connection_id])))
    return applied
