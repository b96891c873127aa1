"""Names and tags of the sandbox blueprint's resources, shared by the `blueprint_*` seeders.

Every resource is named `adinsights-<env>-<what>` unless the environment file names it, and every
resource carries the `adinsights:environment` tag, so that an operator (or a test) can find all of
one environment's resources by tag.
"""

from __future__ import annotations

from collections.abc import Mapping

from adinsights_ops.config import Environment

ENV_TAG = "adinsights:environment"
ROLE_TAG = "adinsights:role"
SENTINEL_PREFIX = "SENTINEL-"


def prefix(env: Environment) -> str:
    """`adinsights-<env>`: the stem of every name the environment file does not give."""
    return f"adinsights-{env.name}"


def tag_map(env: Environment, name: str | None = None, **extra: str) -> dict[str, str]:
    """The tags of one resource as a mapping: Name (when given), the environment, and `extra`."""
    tags = {"Name": name} if name else {}
    tags[ENV_TAG] = env.name
    tags.update(extra)
    return tags


def tag_list(
    tags: Mapping[str, str], key: str = "Key", value: str = "Value"
) -> list[dict[str, str]]:
    """Tags as the list most AWS APIs take (`Key`/`Value`; ECS `key`/`value`; KMS `TagKey`...)."""
    return [{key: k, value: v} for k, v in tags.items()]
