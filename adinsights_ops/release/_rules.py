"""Release rules (runbook sections 1 and 4): image tags, versions, and ECR promotion.

What may be deployed where (`parse_image_tag`, `check_branch_rule`), and how a tested main build
becomes a release: its `main-<sha>` image is retagged `release-X.Y.Z` in every repository with the
very same manifest (`promote`), never rebuilt. Building, pushing and git commands are in
`release_build`; the local compose smoke in `release_compose`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from adinsights_ops.errors import AwsCallFailed, OpsError, UsageError

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

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


# -- versions and git shas (runbook 4.2: "create Git tag vX.Y.Z") ---------------------------------

SHA = re.compile(r"^[0-9a-f]{7,40}$")


def parse_version(version: str) -> ImageTag:
    """A release version `vX.Y.Z` as the image tag it promotes to (`release-X.Y.Z`)."""
    text = version.strip()
    if not VERSION.match(text):
        raise UsageError(f"malformed version {version!r}: expected vX.Y.Z, e.g. v1.4.0")
    return parse_image_tag(text)


def validate_sha(sha: str) -> str:
    """A git commit sha of 7 to 40 hex digits, lower-cased; anything else is a usage error."""
    text = sha.strip().lower()
    if not SHA.match(text):
        raise UsageError(f"malformed git sha {sha!r}: expected 7 to 40 hex digits")
    return text


def main_tag(sha: str) -> str:
    """The ECR tag of the image CI built from main at `sha`: `main-<sha>`."""
    return f"main-{validate_sha(sha)}"


class TagExists(UsageError):
    """The git tag of a release already exists: a version is released once."""

    def __init__(self, version: str) -> None:
        super().__init__(
            f"git tag {version} already exists: release the next version; if an earlier "
            f"`inv release.tag {version}` made it but did not push it, run `git push origin {version}`"
        )
        self.version = version


# -- ECR promotion: retag the tested main-<sha> image as release-X.Y.Z, never rebuild ------------

# Every manifest type ECR stores; asking for all of them returns each manifest as it was pushed.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)

PROMOTED = "promoted"
ALREADY_PROMOTED = "already promoted"
WOULD_PROMOTE = "would promote"


class PromotionRefused(UsageError):
    """Promotion cannot go ahead; nothing was changed. Carries each problem found."""

    def __init__(self, version: str, problems: Sequence[str]) -> None:
        super().__init__(f"cannot promote {version}: " + "; ".join(problems))
        self.version = version
        self.problems = tuple(problems)


class ImageMissing(PromotionRefused):
    """The `main-<sha>` image to promote is not in every repository."""


class TagConflict(PromotionRefused):
    """`release-X.Y.Z` already names another image than `main-<sha>` in some repository."""


class PromotionIncomplete(OpsError):
    """ECR refused a retag part-way; the repositories in `done` carry the release tag already."""

    def __init__(self, version: str, repository: str, done: Sequence[str], cause: str) -> None:
        super().__init__(
            f"promotion of {version} stopped at {repository}: {cause}; "
            f"already tagged: {', '.join(done) or 'none'}; re-run the same command "
            "(promotion is idempotent)"
        )
        self.version = version
        self.repository = repository
        self.done = tuple(done)


@attrs.frozen
class PromotedImage:
    """One repository's image: the tested tag, its digest, the release tag, what was done."""

    repository: str
    source_tag: str  # main-<sha>
    digest: str  # sha256:...; the same image before and after
    new_tag: str  # release-X.Y.Z
    action: str  # promoted | already promoted | would promote


@attrs.frozen
class Promotion:
    """The release tag given to the tested image of every repository."""

    version: str  # vX.Y.Z
    sha: str
    images: tuple[PromotedImage, ...]
    dry_run: bool = False

    @property
    def changed(self) -> tuple[str, ...]:
        """Repositories whose release tag this promotion added."""
        return tuple(i.repository for i in self.images if i.action == PROMOTED)


@attrs.frozen
class _Found:
    """What ECR holds for one repository: the source image (with manifest) and the release tag."""

    repository: str
    digest: str
    manifest: str
    media_type: str | None
    release_digest: str | None
    no_repository: bool = False


def promote(
    ecr: ECRClient,
    *,
    repositories: Sequence[str],
    sha: str,
    version: str,
    dry_run: bool = False,
) -> Promotion:
    """Tag the `main-<sha>` image of every repository `release-X.Y.Z`, with the same manifest.

    Every repository is checked before anything changes: a missing `main-<sha>` image or a
    `release-X.Y.Z` tag on another digest refuses the whole promotion (`ImageMissing`,
    `TagConflict`, both exit 2). A release tag already on the same digest is "already promoted",
    so a re-run after a partial failure finishes the job.
    """
    release = parse_version(version)
    source = main_tag(sha)
    found = [_inspect(ecr, repo, source, release.ecr_tag) for repo in dict.fromkeys(repositories)]
    no_repo = [f.repository for f in found if f.no_repository]
    no_image = [f.repository for f in found if not f.digest and not f.no_repository]
    if no_repo or no_image:
        problems = [f"repository {r} does not exist in ECR" for r in no_repo]
        if no_image:
            problems.append(f"{source} is not in {', '.join(no_image)} (build and push it first)")
        raise ImageMissing(release.given, problems)
    conflicts = [
        f"{release.ecr_tag} in {f.repository} is {_short(f.release_digest)}, "
        f"not {source} ({_short(f.digest)})"
        for f in found
        if f.release_digest is not None and f.release_digest != f.digest
    ]
    if conflicts:
        raise TagConflict(release.given, conflicts)

    images: list[PromotedImage] = []
    for f in found:
        if f.release_digest == f.digest:
            action = ALREADY_PROMOTED
        elif dry_run:
            action = WOULD_PROMOTE
        else:
            action = _retag(ecr, f, release.ecr_tag, release.given, done=images)
        images.append(PromotedImage(f.repository, source, f.digest, release.ecr_tag, action))
    return Promotion(release.given, validate_sha(sha), tuple(images), dry_run)


def _short(digest: str | None) -> str:
    """`sha256:` and 12 hex digits, as docker shows image ids."""
    return (digest or "none")[:19]


def _inspect(ecr: ECRClient, repository: str, source: str, target: str) -> _Found:
    from botocore.exceptions import ClientError

    try:
        main = _image(ecr, repository, source)
        released = _image(ecr, repository, target)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "RepositoryNotFoundException":
            return _Found(repository, "", "", None, None, no_repository=True)
        raise AwsCallFailed("BatchGetImage", code, str(exc)) from exc
    return _Found(
        repository=repository,
        digest=main["imageId"].get("imageDigest", "") if main else "",
        manifest=main.get("imageManifest", "") if main else "",
        media_type=main.get("imageManifestMediaType") if main else None,
        release_digest=released["imageId"].get("imageDigest") if released else None,
    )


def _image(ecr: ECRClient, repository: str, tag: str) -> Any:
    """The image tagged `tag` with its manifest, or None.

    One tag per call: asked for two tags of one image, ECR may answer once, under either tag.
    """
    answer = ecr.batch_get_image(
        repositoryName=repository,
        imageIds=[{"imageTag": tag}],
        acceptedMediaTypes=list(MANIFEST_MEDIA_TYPES),
    )
    for failure in answer.get("failures", []):
        if failure.get("failureCode") != "ImageNotFound":
            raise AwsCallFailed(
                "BatchGetImage",
                str(failure.get("failureCode", "")),
                f"{repository}:{tag}: {failure.get('failureReason', '')}",
            )
    images = answer.get("images", [])
    return images[0] if images else None


def _retag(
    ecr: ECRClient, found: _Found, tag: str, version: str, *, done: Sequence[PromotedImage]
) -> str:
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {
        "repositoryName": found.repository,
        "imageManifest": found.manifest,
        "imageTag": tag,
        "imageDigest": found.digest,
    }
    if found.media_type:
        kwargs["imageManifestMediaType"] = found.media_type
    try:
        answer = ecr.put_image(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ImageAlreadyExistsException":  # tagged meanwhile, with this very manifest
            return ALREADY_PROMOTED
        tagged = [i.repository for i in done if i.action in (PROMOTED, ALREADY_PROMOTED)]
        raise PromotionIncomplete(version, found.repository, tagged, f"{code}") from exc
    digest = answer["image"].get("imageId", {}).get("imageDigest")
    if digest != found.digest:
        tagged = [i.repository for i in done]
        raise PromotionIncomplete(
            version, found.repository, tagged, f"ECR stored digest {digest}, not {found.digest}"
        )
    return PROMOTED


def image_digests(
    ecr: ECRClient, *, repositories: Sequence[str], tag: str
) -> dict[str, str | None]:
    """Repository -> digest of the image tagged `tag` there, or None when it is not there."""
    from botocore.exceptions import ClientError

    digests: dict[str, str | None] = {}
    for repository in dict.fromkeys(repositories):
        try:
            details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])[
                "imageDetails"
            ]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("ImageNotFoundException", "RepositoryNotFoundException"):
                raise AwsCallFailed("DescribeImages", code, str(exc)) from exc
            details = []
        digests[repository] = details[0].get("imageDigest") if details else None
    return digests
