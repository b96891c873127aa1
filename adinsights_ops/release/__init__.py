"""Release rules (runbook sections 1 and 4): image tags, versions, and ECR promotion."""

from __future__ import annotations

from adinsights_ops.errors import (
    AwsCallFailed,
    OpsError,
    UsageError,
)
from adinsights_ops.release._rules import (
    ALREADY_PROMOTED,
    MAIN_TAG,
    MANIFEST_MEDIA_TYPES,
    PROMOTED,
    RELEASE_TAG,
    SHA,
    VERSION,
    WOULD_PROMOTE,
    ImageMissing,
    ImageTag,
    PromotedImage,
    Promotion,
    PromotionIncomplete,
    PromotionRefused,
    TagConflict,
    TagExists,
    check_branch_rule,
    image_digests,
    main_tag,
    parse_image_tag,
    parse_version,
    promote,
    validate_sha,
)

# isort: split
# After the rules: _build (used by these) imports them from the package.
from adinsights_ops.release._publish import (
    BuiltImages,
    CiRun,
    PushedImages,
    TagResult,
    build_images,
    push_images,
    run_ci,
    tag_release,
)
from adinsights_ops.release._smoke import smoke

__all__ = [
    "ALREADY_PROMOTED",
    "MAIN_TAG",
    "MANIFEST_MEDIA_TYPES",
    "PROMOTED",
    "RELEASE_TAG",
    "SHA",
    "VERSION",
    "WOULD_PROMOTE",
    "AwsCallFailed",
    "BuiltImages",
    "CiRun",
    "ImageMissing",
    "ImageTag",
    "OpsError",
    "PromotedImage",
    "Promotion",
    "PromotionIncomplete",
    "PromotionRefused",
    "PushedImages",
    "TagConflict",
    "TagExists",
    "TagResult",
    "UsageError",
    "build_images",
    "check_branch_rule",
    "image_digests",
    "main_tag",
    "parse_image_tag",
    "parse_version",
    "promote",
    "push_images",
    "run_ci",
    "smoke",
    "tag_release",
    "validate_sha",
]
