"""A seeded blueprint is captured once and restored: the same sandbox, made in milliseconds."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import moto
import pytest

from adinsights_ops import config
from adinsights_ops.aws import new_session
from adinsights_ops.sandbox import snapshot
from adinsights_ops.sandbox.blueprint import Blueprint, seed
from adinsights_ops.sandbox.scheduler import EcsScheduler
from tests.simulated import ENVIRONMENTS


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache folder of its own, and nothing kept in this process from other tests."""
    monkeypatch.setenv("ADINSIGHTS_OPS_CACHE", str(tmp_path / "cache"))
    kept = dict(snapshot._in_process)
    snapshot._in_process.clear()
    yield tmp_path / "cache"
    snapshot._in_process.clear()
    snapshot._in_process.update(kept)


@pytest.fixture(scope="module")
def seeded_once() -> snapshot.Seeded:
    """One seed of the blueprint for the module, captured: the tests below restore it."""
    env = _env()
    with moto.mock_aws():
        scheduler = EcsScheduler(env.account, env.region)
        scheduler.install()
        blueprint = _seeder(env, scheduler, [])()
        return snapshot.capture(blueprint, scheduler)


@pytest.fixture
def kept(cache: Path, seeded_once: snapshot.Seeded) -> snapshot.Seeded:
    """`seeded_once`, kept as "k" in this test's cache folder (not in this process)."""
    snapshot.keep("k", seeded_once)
    snapshot._in_process.clear()
    return seeded_once


def _env() -> config.Environment:
    return config.load("sandbox", ENVIRONMENTS)


def _clients(env: config.Environment) -> Callable[[str], Any]:
    session = new_session(region_name=env.region)
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service)  # type: ignore[call-overload]
        return made[service]

    return client


def _seeder(env: config.Environment, scheduler: EcsScheduler, seeds: list[int]) -> Any:
    def seeded() -> Blueprint:
        seeds.append(1)
        blueprint = seed(_clients(env), env)
        scheduler.settle()
        return blueprint

    return seeded


NOW = {"ResponseMetadata", "LatestRestorableTime"}  # about the call, not the state


@contextmanager
def _sandbox(key: str, seeds: list[int]) -> Iterator[Blueprint]:
    """mock_aws with the blueprint named `key` restored, or seeded (each seed counted in `seeds`)."""
    env = _env()
    with moto.mock_aws():
        scheduler = EcsScheduler(env.account, env.region)
        scheduler.install()
        yield snapshot.restore_or_seed(key, _seeder(env, scheduler, seeds), scheduler)


def _strip(answer: Any) -> Any:
    if isinstance(answer, dict):
        return {k: _strip(v) for k, v in answer.items() if k not in NOW}
    if isinstance(answer, list):
        return [_strip(v) for v in answer]
    return answer


def _what_a_client_sees(env: config.Environment, blueprint: Blueprint) -> dict[str, Any]:
    """Reads across the blueprint's services, the way the runbook's commands read them."""
    client = _clients(env)
    ecs, kms, s3 = client("ecs"), client("kms"), client("s3")
    services = ecs.describe_services(
        cluster=env.ecs.cluster, services=[ref.name for ref in env.ecs.services.values()]
    )
    deks = s3.get_object(Bucket=env.state_bucket, Key=blueprint.dek_object_key)["Body"].read()
    certificates = client("acm").list_certificates()["CertificateSummaryList"]
    seen: dict[str, Any] = _strip(
        {
            "services": services["services"],
            "task definitions": ecs.list_task_definitions()["taskDefinitionArns"],
            "tasks": ecs.list_tasks(cluster=env.ecs.cluster)["taskArns"],
            "vpcs": client("ec2").describe_vpcs()["Vpcs"],
            "database": client("rds").describe_db_instances()["DBInstances"],
            "secrets": client("secretsmanager").list_secrets()["SecretList"],
            "flags": client("ssm").get_parameter(Name=blueprint.feature_flags_parameter),
            "images": [
                client("ecr").describe_images(repositoryName=name)["imageDetails"]
                for name in sorted(blueprint.images)
            ],
            "keys": kms.list_aliases()["Aliases"],
            "deks": deks,
            "certificates": [
                client("acm").describe_certificate(CertificateArn=c["CertificateArn"])
                for c in certificates
            ],
            "objects": s3.list_objects_v2(Bucket=env.state_bucket).get("Contents", []),
        }
    )
    return seen


def test_a_restored_blueprint_reads_as_the_seeded_one(cache: Path) -> None:
    env = _env()
    seeds: list[int] = []
    key = snapshot.fingerprint(env, "test")
    with _sandbox(key, seeds) as blueprint:
        seen = _what_a_client_sees(env, blueprint)
    with _sandbox(key, seeds) as restored:
        assert _what_a_client_sees(env, restored) == seen
        assert restored == blueprint
        # The KMS key came back with its material: every tenant's DEK still unwraps.
        wrapped = json.loads(seen["deks"])
        kms = _clients(env)("kms")
        for tenant, blob in wrapped.items():
            plain = kms.decrypt(
                CiphertextBlob=base64.b64decode(blob), EncryptionContext={"tenant_id": tenant}
            )["Plaintext"]
            assert len(plain) == 32
    assert seeds == [1]  # seeded once, restored once


def test_the_scheduler_runs_a_rollout_on_a_restored_blueprint(kept: snapshot.Seeded) -> None:
    env = _env()
    seeds: list[int] = []
    with moto.mock_aws():
        clock = [0.0]
        scheduler = EcsScheduler(env.account, env.region, clock=lambda: clock[0])
        scheduler.install()
        snapshot.restore_or_seed("k", _seeder(env, scheduler, seeds), scheduler)
        assert seeds == []
        ecs = _clients(env)("ecs")
        name = next(iter(env.ecs.services.values())).name
        current = ecs.describe_services(cluster=env.ecs.cluster, services=[name])["services"][0]
        family = current["taskDefinition"].split("/")[-1].split(":")[0]
        definition = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        keys = ("family", "containerDefinitions", "networkMode", "requiresCompatibilities")
        new = ecs.register_task_definition(
            **{k: definition[k] for k in keys},
            cpu=definition["cpu"],
            memory=definition["memory"],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.update_service(cluster=env.ecs.cluster, service=name, taskDefinition=new)
        clock[0] += 600.0
        scheduler.tick()
        after = ecs.describe_services(cluster=env.ecs.cluster, services=[name])["services"][0]
    primary = next(d for d in after["deployments"] if d["status"] == "PRIMARY")
    assert primary["taskDefinition"] == new
    assert primary["rolloutState"] == "COMPLETED"
    assert len(after["deployments"]) == 1  # the old deployment drained


def test_each_restore_starts_from_the_snapshot_not_from_the_last_test(
    kept: snapshot.Seeded,
) -> None:
    env = _env()
    seeds: list[int] = []
    for _ in range(2):
        with _sandbox("k", seeds):
            s3 = _clients(env)("s3")
            listed = s3.list_objects_v2(Bucket=env.state_bucket).get("Contents", [])
            assert "left-behind" not in [o["Key"] for o in listed]
            s3.put_object(Bucket=env.state_bucket, Key="left-behind", Body=b"x")
    assert seeds == []


def test_another_process_restores_from_the_cache_folder(cache: Path) -> None:
    env = _env()
    seeds: list[int] = []
    with _sandbox("k", seeds):
        pass
    (kept,) = (cache / "sandbox-blueprints").iterdir()
    assert kept.name == "k.pickle"  # the seed's snapshot, saved
    snapshot._in_process.clear()  # as a new process would start
    with _sandbox("k", seeds) as blueprint:
        assert _clients(env)("ecs").describe_clusters(clusters=[env.ecs.cluster])["clusters"]
    assert seeds == [1]
    assert blueprint.cluster_arn.endswith(env.ecs.cluster)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "too old"])
def test_a_damaged_or_old_snapshot_is_seeded_again_and_replaced(
    cache: Path, kept: snapshot.Seeded, damage: str
) -> None:
    env = _env()
    seeds: list[int] = []
    path = cache / "sandbox-blueprints" / "k.pickle"
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a pickle")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    else:
        old = time.time() - snapshot.MAX_AGE - 60
        os.utime(path, (old, old))
    snapshot._in_process.clear()
    with _sandbox("k", seeds) as blueprint:
        services = _clients(env)("ecs").list_services(cluster=env.ecs.cluster)["serviceArns"]
    assert seeds == [1]
    assert len(services) == len(env.ecs.services)
    assert blueprint.cluster_arn.endswith(env.ecs.cluster)
    assert time.time() - path.stat().st_mtime < 60  # replaced by the new seed's snapshot


def test_an_unwritable_cache_folder_only_costs_the_next_seed(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder would go")
    monkeypatch.setenv("ADINSIGHTS_OPS_CACHE", str(blocked))
    env = _env()
    seeds: list[int] = []
    with moto.mock_aws():
        scheduler = EcsScheduler(env.account, env.region)
        scheduler.install()
        snapshot.restore_or_seed("k", _seeder(env, scheduler, seeds), scheduler)
        snapshot.restore_or_seed("k", _seeder(env, scheduler, seeds), scheduler)
    assert seeds == [1]  # the process still keeps it


def test_the_fingerprint_follows_what_the_blueprint_is_made_of() -> None:
    env = _env()
    same = snapshot.fingerprint(env)
    assert snapshot.fingerprint(attrs.evolve(env, source="/elsewhere.yaml")) == same
    assert snapshot.fingerprint(attrs.evolve(env, dbt=None)) == same
    renamed = attrs.evolve(env, ecs=attrs.evolve(env.ecs, cluster="another-cluster"))
    assert snapshot.fingerprint(renamed) != same
    assert snapshot.fingerprint(attrs.evolve(env, kms_key="alias/other")) != same
    assert snapshot.fingerprint(env, "server") != snapshot.fingerprint(env, "in-process")


def test_a_second_sandbox_server_restores_and_points_at_itself(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adinsights_ops.sandbox import blueprint as blueprint_module
    from adinsights_ops.sandbox.server import SandboxServer

    seeds: list[int] = []
    real_seed = blueprint_module.seed

    def counted(*args: Any, **kwargs: Any) -> Blueprint:
        seeds.append(1)
        return real_seed(*args, **kwargs)

    monkeypatch.setattr(blueprint_module, "seed", counted)
    env = _env()
    webhooks = []
    for _ in range(2):
        server = SandboxServer(env, remember=False)
        server.start()
        try:
            secrets = new_session(
                region_name=env.region,
                aws_access_key_id="sandbox",
                aws_secret_access_key="sandbox-not-a-secret",
            ).client("secretsmanager", endpoint_url=server.endpoint)
            arn = server.blueprint.secret_arns["slack-webhook-url"]
            url = secrets.get_secret_value(SecretId=arn)["SecretString"]
            webhooks.append((server.endpoint, url))
            alarms = server._client("cloudwatch").describe_alarms()["MetricAlarms"]
            points = server._client("cloudwatch").list_metrics(Namespace="AWS/ECS")["Metrics"]
        finally:
            server.stop()
        assert alarms and points  # the monitoring restored, the datapoints made for now
    assert seeds == [1]
    for endpoint, url in webhooks:
        assert url.startswith(endpoint)  # each server's own Slack stand-in, not the first one's


def test_a_reset_forgets_the_environments_blueprints_and_old_ones_are_pruned(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adinsights_ops.sandbox import _shared

    env = _env()
    seeded = snapshot.Seeded(b"a blueprint")
    mine, theirs = snapshot.fingerprint(env), snapshot.fingerprint(attrs.evolve(env, name="other"))
    assert mine.startswith("sandbox-") and theirs.startswith("other-")
    snapshot.keep(mine, seeded)
    snapshot.keep(theirs, seeded)
    folder = cache / "sandbox-blueprints"
    old = folder / "sandbox-0123456789abcdef01234567.pickle"  # an earlier code version's
    old.write_bytes(b"old")
    long_ago = time.time() - snapshot.MAX_AGE - 60
    os.utime(old, (long_ago, long_ago))
    snapshot.keep(mine, seeded)  # each keep prunes what is too old to restore
    assert not old.exists()
    assert _shared.reset("sandbox") is True
    assert snapshot.cached(mine) is None  # neither in the folder nor in this process
    assert snapshot.cached(theirs) == seeded  # another environment's stays
    assert sorted(p.name for p in folder.iterdir()) == [f"{theirs}.pickle"]
