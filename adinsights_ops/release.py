"""Release and image-tag rules of runbook section 1: what may be deployed where."""

from __future__ import annotations

import re

import attrs

from adinsights_ops.errors import UsageError

VERSION = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
RELEASE_TAG = re.compile(r"^release-(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
MAIN_TAG = re.compile(r"^main-([0-9a-f]{7,40})$")


@attrs.frozen
class ImageTag:
    """An image tag as given and as it stands in ECR (`v1.4.0` is `release-1.4.0`)."""

    given: str
    ecr_tag: str
    kind: str  # release | main

    @property
    def version(self) -> str | None:
        return "v" + self.ecr_tag.removeprefix("release-") if self.kind == "release" else None


def parse_image_tag(tag: str) -> ImageTag:
    """Parse `vX.Y.Z`, `release-X.Y.Z` or `main-<gitsha>`; anything else is a usage error."""
    tag = tag.strip()
    if VERSION.match(tag):
        return ImageTag(tag, "release-" + tag[1:], "release")
    if RELEASE_TAG.match(tag):
        return ImageTag(tag, tag, "release")
    if MAIN_TAG.match(tag):
        return ImageTag(tag, tag, "main")
    raise UsageError(
        f"malformed image tag {tag!r}: expected vX.Y.Z (a release) or main-<gitsha> (a main build)"
    )


def check_branch_rule(environment: str, rule: str, tag: ImageTag) -> None:
    """Refuse a tag the environment's branch rule does not allow, naming the rule."""
    if rule == "tags" and tag.kind != "release":
        raise UsageError(
            f"{environment} deploys tagged releases only (branch rule 'tags'): "
            f"{tag.given!r} is a main build; tag it with `inv release.tag vX.Y.Z` first"
        )
    if rule == "main" and tag.kind != "main":
        raise UsageError(
            f"{environment} deploys images built from main only (branch rule 'main'): "
            f"expected main-<gitsha>, got {tag.given!r}"
        )
