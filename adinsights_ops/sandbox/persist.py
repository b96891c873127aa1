"""What a sandbox remembers between commands.

An embedded sandbox lives only as long as its command, yet an operator rehearses in steps:
`make sandbox` deploys, then `inv rollback --env sandbox` must find that deploy. So when a sandbox
stops it writes down the state that the runbook's steps depend on, and the next one seeded for the
same environment replays it: the state bucket's objects (journal, locks, checkpoints), every
task-definition revision in registration order (so ARNs come back identical), each service's
revision, desired count and deployment configuration, the ECR image tags, and the tool's own SSM
parameters (`/adinsights/<env>/ops/`). RDS snapshots, KMS rotations, the KMS key and what is
wrapped under it are not replayed: the key and the tenant DEKs are the seeded blueprint's (the same
while its snapshot is restored, see `snapshot`; new once it is seeded again). `inv sandbox.reset`
forgets everything, the cached blueprint included.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from adinsights_ops.config import Environment
from adinsights_ops.ecs._taskdefs import REGISTER_KEYS


def path_for(env: Environment) -> Path:
    from adinsights_ops.sandbox import home

    return home() / f"sandbox-{env.name}-state.json"


# Wrapped under this sandbox's KMS key, which the next sandbox will not have: never carried over.
NOT_CARRIED = ("sandbox/tenant-deks.json", "kms/")


def capture(client: Any, env: Environment) -> dict[str, Any]:
    """Read what is worth keeping through the sandbox's own API."""
    s3, ecs, ecr = client("s3"), client("ecs"), client("ecr")
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=env.state_bucket):
        for item in page.get("Contents", []):
            if item["Key"].startswith(NOT_CARRIED):
                continue
            body = s3.get_object(Bucket=env.state_bucket, Key=item["Key"])["Body"].read()
            objects[item["Key"]] = base64.b64encode(body).decode()
    revisions = []
    for status in ("ACTIVE", "INACTIVE"):
        for page in ecs.get_paginator("list_task_definitions").paginate(status=status):
            for arn in page["taskDefinitionArns"]:
                td = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
                definition = td["taskDefinition"]
                revisions.append(
                    {
                        "family": definition["family"],
                        "revision": definition["revision"],
                        "status": definition["status"],
                        "register": {k: definition[k] for k in REGISTER_KEYS if k in definition},
                        "tags": td.get("tags", []),
                    }
                )
    revisions.sort(key=lambda r: (r["family"], r["revision"]))
    names = [ref.name for ref in env.ecs.services.values()]
    services = {
        s["serviceName"]: {
            "taskDefinition": s["taskDefinition"],
            "desiredCount": s["desiredCount"],
            "deploymentConfiguration": s.get("deploymentConfiguration") or {},
        }
        for s in ecs.describe_services(cluster=env.ecs.cluster, services=names)["services"]
    }
    images: dict[str, dict[str, str]] = {}
    for repository in sorted(set(env.repositories.values())):
        for page in ecr.get_paginator("describe_images").paginate(repositoryName=repository):
            for image in page["imageDetails"]:
                for tag in image.get("imageTags", []):
                    images.setdefault(repository, {})[tag] = image["imageDigest"]
    parameters = {
        p["Name"]: {"Value": p["Value"], "Type": p["Type"]}
        for page in client("ssm")
        .get_paginator("get_parameters_by_path")
        .paginate(Path=f"/adinsights/{env.name}/ops/", Recursive=True)
        for p in page["Parameters"]
    }
    return {
        "objects": objects,
        "revisions": revisions,
        "services": services,
        "images": images,
        "parameters": parameters,
    }


def replay(client: Any, env: Environment, state: dict[str, Any]) -> None:
    """Bring a freshly seeded sandbox to the captured state."""
    s3, ecs, ecr = client("s3"), client("ecs"), client("ecr")
    for key, body in state.get("objects", {}).items():
        s3.put_object(Bucket=env.state_bucket, Key=key, Body=base64.b64decode(body))
    for item in state.get("revisions", []):
        arn = _arn(env, item["family"], item["revision"])
        existing = _describe(ecs, arn)
        if existing is None:
            while True:  # register until this revision number exists (the seed made revision 1)
                kwargs = dict(item["register"])
                if item["tags"]:
                    kwargs["tags"] = item["tags"]
                made = ecs.register_task_definition(**kwargs)["taskDefinition"]
                if made["revision"] >= item["revision"]:
                    break
        if item["status"] == "INACTIVE":
            ecs.deregister_task_definition(taskDefinition=arn)
    for name, service in state.get("services", {}).items():
        ecs.update_service(
            cluster=env.ecs.cluster,
            service=name,
            taskDefinition=service["taskDefinition"],
            desiredCount=service["desiredCount"],
            deploymentConfiguration=service["deploymentConfiguration"],
        )
    for name, parameter in state.get("parameters", {}).items():
        client("ssm").put_parameter(
            Name=name, Value=parameter["Value"], Type=parameter["Type"], Overwrite=True
        )
    for repository, tags in state.get("images", {}).items():
        known = {
            tag
            for page in ecr.get_paginator("describe_images").paginate(repositoryName=repository)
            for image in page["imageDetails"]
            for tag in image.get("imageTags", [])
        }
        for tag, digest in tags.items():
            if tag in known:
                continue
            found = ecr.batch_get_image(
                repositoryName=repository, imageIds=[{"imageDigest": digest}]
            )
            if found["images"]:
                ecr.put_image(
                    repositoryName=repository,
                    imageTag=tag,
                    imageManifest=found["images"][0]["imageManifest"],
                )


def _arn(env: Environment, family: str, revision: int) -> str:
    return f"arn:aws:ecs:{env.region}:{env.account}:task-definition/{family}:{revision}"


def _describe(ecs: Any, arn: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        return found
    except ecs.exceptions.ClientException:
        return None


def save(client: Any, env: Environment) -> Path:
    path = path_for(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(capture(client, env)))
    tmp.replace(path)
    return path


def load(env: Environment) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(path_for(env).read_text())
        return state
    except (OSError, ValueError):
        return None


def forget(env: Environment) -> bool:
    path = path_for(env)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed
