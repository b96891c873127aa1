"""Deploy preflight (runbook §1 and §5.1): checks that read only, so a refusal changes nothing.

Everything a deploy will need is checked here, before the lock is taken and before Airbyte, dbt
or AWS change anything: every file and folder the run reads or writes (`check_paths`), the
environment's account, the images, promotion, and that no revision the deploy would register
carries a plaintext secret in its environment (`check_no_plaintext_secrets`, the secrets audit's
own rule). `run` is what both the deploy and its `--dry-run` call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import attrs

from adinsights_ops.aws import caller_account
from adinsights_ops.config import Environment
from adinsights_ops.errors import AccountMismatch, ConfigError, UsageError
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


class PlaintextSecrets(UsageError):
    """A revision the deploy would register carries a secret in plaintext (names only, no values)."""

    def __init__(self, findings: list[str]) -> None:
        super().__init__(
            "refusing to register revisions with plaintext secrets in their environment: "
            + "; ".join(findings)
        )
        self.findings = findings


@attrs.frozen
class Preflight:
    """What preflight established: the tag, and the evidence for each rule."""

    tag: ImageTag
    account: str
    checks: tuple[str, ...]


def resolve_tag(env: Environment, image_tag: ImageTag | str | None) -> ImageTag:
    """The tag to deploy, checked against the environment's branch rule. Reads nothing remote.

    None means "the environment's default"; an empty string is not a tag (and never the default).
    A tag parsed already is only checked against the branch rule (it is parsed once).
    """
    if isinstance(image_tag, ImageTag):
        check_branch_rule(env.name, env.branch_rule, image_tag)
        return image_tag
    if image_tag is not None and not image_tag.strip():
        raise UsageError(
            f"--image-tag {image_tag!r} is empty: give vX.Y.Z (or main-<gitsha>), or leave the "
            "option out for the environment's default"
        )
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


def _writable_file(env: Environment, value: str, key: str) -> Path:
    """The file a run appends to: an existing writable file, or a path whose nearest existing
    ancestor is a writable folder (the folders are made when the first line is written)."""
    path = env.path(value)
    if path.exists():
        if not path.is_file():
            raise ConfigError(env.source, key, f"{path} exists and is not a file")
        if not os.access(path, os.W_OK):
            raise ConfigError(env.source, key, f"{path} is not writable")
        return path
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(env.source, key, f"{ancestor} is a file, so {path} cannot be made")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(env.source, key, f"{path} cannot be made: {ancestor} is not writable")
    return path


def check_paths(ops: OpsEnv) -> list[str]:
    """Every file and folder the deploy will read or write exists (or can be made), and what it
    reads locally parses: the infrastructure template (or Terraform folder), the Airbyte manifests,
    the dbt project and profiles, the activity and incident logs. Reads nothing remote."""
    from adinsights_ops import infra
    from adinsights_ops.airbyte._manifests import load_manifests

    env = ops.env
    checks: list[str] = []
    settings = infra.for_environment(env)
    if settings.engine == "cloudformation":
        template = env.existing_path(settings.template, key=f"{env.name}.infra.template")
        infra.cloudformation_parameters(ops, settings, template)  # parses it; names a bad key
        checks.append(f"template {template}")
    elif settings.engine == "terraform":
        folder = env.existing_path(
            settings.terraform_dir, key=f"{env.name}.infra.terraform_dir", kind="directory"
        )
        if settings.terraform_var_file:
            env.existing_path(
                settings.terraform_var_file, key=f"{env.name}.infra.terraform_var_file"
            )
        checks.append(f"terraform folder {folder}")
    if env.airbyte is not None:
        folder = env.existing_path(
            env.airbyte.manifests, key=f"{env.name}.airbyte.manifests", kind="directory"
        )
        manifests = load_manifests(folder)
        declared = {m.connection: m.source for m in manifests}
        for name, source in declared.items():
            if name not in env.airbyte.connections:
                raise ConfigError(
                    source,
                    "connection",
                    f"{name!r} is not in {env.name}.airbyte.connections of {env.source}",
                )
        missing = [n for n in env.airbyte.connections if n not in declared]
        if missing:
            raise ConfigError(
                str(folder), "", f"no manifest declares the connection(s) {', '.join(missing)}"
            )
        checks.append(f"{len(manifests)} Airbyte manifests in {folder}")
    if env.dbt is not None and env.release.validation_sync:
        project = env.existing_path(
            env.dbt.project_dir, key=f"{env.name}.dbt.project_dir", kind="directory"
        )
        if not (project / "dbt_project.yml").is_file():
            raise ConfigError(
                env.source, f"{env.name}.dbt.project_dir", f"{project} has no dbt_project.yml"
            )
        profiles = env.existing_path(
            env.dbt.profiles_dir, key=f"{env.name}.dbt.profiles_dir", kind="directory"
        )
        if not (profiles / "profiles.yml").is_file():
            raise ConfigError(
                env.source, f"{env.name}.dbt.profiles_dir", f"{profiles} has no profiles.yml"
            )
        checks.append(f"dbt project {project}")
    notes = env.notifications
    for key, value in (("activity_log", notes.activity_log), ("incident_log", notes.incident_log)):
        if value:
            path = _writable_file(env, value, f"{env.name}.notifications.{key}")
            checks.append(f"{key.replace('_', ' ')} {path}")
    return checks


def check_no_plaintext_secrets(ops: OpsEnv, tag: ImageTag) -> str:
    """The revisions the deploy would register (only the image tag changes) carry no plaintext
    secret in their environment, by the secrets audit's own rule. Reads only."""
    from adinsights_ops import ecs
    from adinsights_ops.secrets import plaintext_secrets

    plans = ecs.plan_rollout(
        ops.aws.ecs(),
        cluster=ops.env.ecs.cluster,
        services=ops.env.service_images(),
        image_tag=tag.ecr_tag,
    )
    findings = [
        f"{finding.subject}: {finding.detail}"
        for plan in plans
        for finding in plaintext_secrets(
            plan.register_input.get("containerDefinitions", []),
            where=f"{plan.service} (the {plan.family} revision for {tag.ecr_tag}",
        )
    ]
    if findings:
        raise PlaintextSecrets(findings)
    return f"no plaintext secrets in the {len(plans)} revisions to register"


def run(
    ops: OpsEnv,
    tag: ImageTag,
    *,
    open_source: Callable[[str], OpsEnv] | None = None,
) -> Preflight:
    """All of preflight's checks (read-only): local files first, then the remote ones."""
    paths = check_paths(ops)
    account = check_account(ops)
    images = check_images(ops, tag)
    promotion = check_promotion(ops, tag, open_source)
    secrets = check_no_plaintext_secrets(ops, tag)
    checks = (*paths, f"account {account}", *images, promotion, secrets)
    return Preflight(tag=tag, account=account, checks=checks)
