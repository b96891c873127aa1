"""Deploy preflight (runbook §1 and §5.1): checks that read only, so a refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from adinsights_ops.aws import caller_account
from adinsights_ops.config import Environment
from adinsights_ops.errors import AccountMismatch, UsageError
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.release import ImageTag, check_branch_rule, parse_image_tag


class ImagesMissing(UsageError):
    def __init__(self, tag: str, missing: list[str]) -> None:
        super().__init__(f"image tag {tag} is not in ECR for: {', '.join(missing)}")
        self.missing = missing


class NotPromoted(UsageError):
    def __init__(self, environment: str, tag: str, source: str) -> None:
        super().__init__(
            f"{environment} deploys only releases that succeeded in {source} first (promotion): "
            f"the {source} journal has no successful deploy of {tag}"
        )


@attrs.frozen
class Preflight:
    """What preflight established: the tag, and the evidence for each rule."""

    tag: ImageTag
    account: str
    checks: tuple[str, ...]


def resolve_tag(env: Environment, image_tag: str | None) -> ImageTag:
    """The tag to deploy, checked against the environment's branch rule. Reads nothing remote."""
    given = image_tag or env.default_image_tag
    if not given:
        raise UsageError(
            f"{env.name} needs an image tag: --image-tag vX.Y.Z"
            + (" (or main-<gitsha>)" if env.branch_rule != "tags" else "")
        )
    tag = parse_image_tag(given)
    check_branch_rule(env.name, env.branch_rule, tag)
    return tag


def check_account(ops: OpsEnv) -> str:
    actual = caller_account(ops.aws)
    if actual != ops.env.account:
        raise AccountMismatch(ops.name, ops.env.account, actual)
    return actual


def check_images(ops: OpsEnv, tag: ImageTag) -> list[str]:
    """Every repository the services run has an image with this tag; returns the digests seen."""
    ecr = ops.aws.client("ecr")
    missing, seen = [], []
    for repository in sorted(set(ops.env.repositories.values())):
        try:
            found = ecr.describe_images(
                repositoryName=repository, imageIds=[{"imageTag": tag.ecr_tag}]
            )
            seen.append(
                f"{repository}:{tag.ecr_tag} {found['imageDetails'][0]['imageDigest'][:19]}"
            )
        except (ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException):
            missing.append(repository)
    if missing:
        raise ImagesMissing(tag.ecr_tag, missing)
    return seen


def check_promotion(ops: OpsEnv, tag: ImageTag, open_source: Callable[[str], OpsEnv] | None) -> str:
    """Production: the same tag deployed successfully to the promotion source (from its journal)."""
    source = ops.env.release.promotion_from
    if source is None:
        return "no promotion rule"
    if open_source is None:
        raise UsageError(f"{ops.name} needs the {source} journal to check promotion")
    source_ops = open_source(source)
    for record in source_ops.journal().runs(kind="deploy", limit=100):
        if record.image_tag == tag.ecr_tag and record.outcome == "succeeded":
            return f"{tag.ecr_tag} succeeded in {source} (run {record.run_id})"
    raise NotPromoted(ops.name, tag.ecr_tag, source)


def run(
    ops: OpsEnv,
    tag: ImageTag,
    *,
    open_source: Callable[[str], OpsEnv] | None = None,
) -> Preflight:
    """All of preflight's remote checks (read-only)."""
    account = check_account(ops)
    images = check_images(ops, tag)
    promotion = check_promotion(ops, tag, open_source)
    checks = (f"account {account}", *images, promotion)
    return Preflight(tag=tag, account=account, checks=checks)
