"""The runbook-3 audit: passes on the sandbox, finds each planted problem, never shows a value."""

from __future__ import annotations

import secrets as random_secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from invoke import Context
from invoke.exceptions import Exit

from adinsights_ops import secrets
from adinsights_ops.errors import ConfigError
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.sandbox.blueprint import SENTINEL_PREFIX
from runbooks import secrets as secrets_tasks
from runbooks.common import to_json
from tests.simulated import ROOT, Simulated

ENV_SAMPLE = ROOT / ".env.sample"
ACCOUNT_REGION = "eu-west-1:123456789012"
GONE_SECRET = f"arn:aws:secretsmanager:{ACCOUNT_REGION}:secret:adinsights/sandbox/gone-AbCdEf"
GONE_PARAMETER = f"arn:aws:ssm:{ACCOUNT_REGION}:parameter/adinsights/sandbox/gone"


def run_audit(sim: Simulated, env_sample: Path = ENV_SAMPLE) -> secrets.Audit:
    return secrets.audit(
        sim.client("ecs"),
        sim.client("secretsmanager"),
        sim.client("ssm"),
        sim.client("kms"),
        cluster=sim.env.ecs.cluster,
        services=sim.service_names(),
        env_sample=env_sample,
        kms_key=sim.env.kms_key,
    )


def test_the_sandbox_passes_and_env_sample_lists_exactly_its_variables(sim: Simulated) -> None:
    result = run_audit(sim)
    assert result.findings == () and result.ok
    assert result.variables == tuple(sorted(secrets.read_env_sample(ENV_SAMPLE)))
    assert len(result.variables) == 13
    assert result.task_definitions == (
        "adinsights-sandbox-backend:1",
        "adinsights-sandbox-worker:1",
        "adinsights-sandbox-beat:1",
        "adinsights-sandbox-frontend:1",
    )
    # Resolving references only describes: no value is ever read.
    assert sim.calls["GetSecretValue"] == sim.calls["GetParameter"] == 0
    assert sim.calls["DescribeSecret"] == 4


def plant(sim: Simulated, role: str, environment: dict[str, str], secrets_: dict[str, str]) -> None:
    """Register a new revision of `role`'s task definition with extra variables; point the service
    at it (the audit reads each service's current task definition)."""
    ecs = sim.client("ecs")
    current = ecs.describe_task_definition(taskDefinition=sim.blueprint.task_definition_arns[role])[
        "taskDefinition"
    ]
    (container,) = current["containerDefinitions"]
    container["environment"] += [{"name": k, "value": v} for k, v in environment.items()]
    container["secrets"] += [{"name": k, "valueFrom": v} for k, v in secrets_.items()]
    keys = (
        "family",
        "taskRoleArn",
        "executionRoleArn",
        "networkMode",
        "requiresCompatibilities",
        "cpu",
        "memory",
    )
    arn = ecs.register_task_definition(
        **{k: current[k] for k in keys}, containerDefinitions=[container]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(
        cluster=sim.env.ecs.cluster, service=sim.env.ecs.services[role].name, taskDefinition=arn
    )


@pytest.fixture
def planted(sim: Simulated, tmp_path: Path) -> Path:
    """One problem of every kind; returns the .env.sample to audit against."""
    high_entropy = SENTINEL_PREFIX + random_secrets.token_urlsafe(32)
    plant(
        sim,
        "backend",
        environment={
            "NEW_FEATURE_FLAG": "on",  # not in .env.sample
            "DB_PASSWORD": f"{SENTINEL_PREFIX}planted-password",  # a secret by its name
            "ANALYTICS_SEED": high_entropy,  # a secret by its value
            "REPORTS_URL": f"https://reports:{SENTINEL_PREFIX}pw@reports.internal/",
        },
        secrets_={
            "OLD_API_SECRET": GONE_SECRET,
            "OLD_FLAGS": GONE_PARAMETER,
            "FEATURE_FLAGS": sim.blueprint.feature_flags_parameter,  # resolves: no finding
        },
    )
    sim.client("kms").disable_key_rotation(KeyId=sim.blueprint.kms_key_id)
    sample = tmp_path / ".env.sample"
    sample.write_text(
        ENV_SAMPLE.read_text()
        + "\n".join(
            [
                "export DB_PASSWORD=change-me",
                "ANALYTICS_SEED=",
                "REPORTS_URL='https://reports:change-me@localhost/'",
                "OLD_API_SECRET=",
                "OLD_FLAGS=",
                "FEATURE_FLAGS={}",
                "LEGACY_REDIS_URL=redis://localhost:6379/0",  # nothing sets it
                f"EXAMPLE_TOKEN={random_secrets.token_urlsafe(32)}",  # a real-looking example
            ]
        )
        + "\n"
    )
    return sample


def test_each_planted_problem_is_a_finding(sim: Simulated, planted: Path) -> None:
    result = run_audit(sim, planted)

    assert {(f.check, f.subject) for f in result.findings} == {
        ("env-sample-missing", "NEW_FEATURE_FLAG"),
        ("env-sample-unused", "LEGACY_REDIS_URL"),
        ("env-sample-unused", "EXAMPLE_TOKEN"),
        ("env-sample-value", "EXAMPLE_TOKEN"),
        ("plaintext-secret", "DB_PASSWORD"),
        ("plaintext-secret", "ANALYTICS_SEED"),
        ("plaintext-secret", "REPORTS_URL"),
        ("secret-reference", GONE_SECRET),
        ("secret-reference", GONE_PARAMETER),
        ("kms-key", sim.env.kms_key),
    }
    details = {(f.check, f.subject): f.detail for f in result.findings}
    assert "its name says PASSWORD" in details[("plaintext-secret", "DB_PASSWORD")]
    assert "bits/character" in details[("plaintext-secret", "ANALYTICS_SEED")]
    assert "adinsights-sandbox-backend:2" in details[("plaintext-secret", "ANALYTICS_SEED")]
    assert "no such secret" in details[("secret-reference", GONE_SECRET)]
    assert "no such parameter" in details[("secret-reference", GONE_PARAMETER)]
    assert details[("kms-key", sim.env.kms_key)] == "automatic key rotation is off"
    assert not result.ok
    assert sim.calls["GetSecretValue"] == sim.calls["GetParameter"] == 0


def test_no_value_appears_in_findings_or_output(
    sim: Simulated,
    planted: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_audit(sim, planted)
    assert SENTINEL_PREFIX not in repr(result) and SENTINEL_PREFIX not in to_json(result)
    secret_example = planted.read_text().rsplit("EXAMPLE_TOKEN=", 1)[1].strip()
    assert secret_example not in to_json(result)

    @contextmanager
    def this_sandbox(name: str, **_: Any) -> Iterator[OpsEnv]:
        assert name == "sandbox"
        yield sim.ops

    monkeypatch.setattr("adinsights_ops.loader.open_environment", this_sandbox)
    for as_json in (False, True):
        with pytest.raises(Exit) as raised:
            secrets_tasks.audit(Context(), env="sandbox", env_sample=str(planted), json=as_json)
        assert raised.value.code == 1
        out = capsys.readouterr()
        assert "DB_PASSWORD" in out.out and GONE_SECRET in out.out
        assert SENTINEL_PREFIX not in out.out + out.err + str(raised.value.message)


def test_the_task_passes_quietly_on_the_sandbox(
    sim: Simulated, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @contextmanager
    def this_sandbox(name: str, **_: Any) -> Iterator[OpsEnv]:
        yield sim.ops

    monkeypatch.setattr("adinsights_ops.loader.open_environment", this_sandbox)
    secrets_tasks.audit(Context(), env="sandbox", env_sample=str(ENV_SAMPLE))
    out = capsys.readouterr()
    assert out.out == "" and out.err.startswith("ok: 13 variables")


def test_a_scheduled_deletion_and_a_missing_key_are_findings(sim: Simulated) -> None:
    sim.client("secretsmanager").delete_secret(
        SecretId=sim.blueprint.secret_arns["slack-webhook-url"], RecoveryWindowInDays=7
    )
    result = secrets.audit(
        sim.client("ecs"),
        sim.client("secretsmanager"),
        sim.client("ssm"),
        sim.client("kms"),
        cluster=sim.env.ecs.cluster,
        services=sim.service_names(),
        env_sample=ENV_SAMPLE,
        kms_key="alias/adinsights-gone",
    )
    found = {(f.check, f.subject): f.detail for f in result.findings}
    webhook = sim.blueprint.secret_arns["slack-webhook-url"]
    assert found[("secret-reference", webhook)].startswith("SLACK_WEBHOOK_URL in backend-service")
    assert "; SLACK_WEBHOOK_URL in celery-worker (" in found[("secret-reference", webhook)]
    assert "scheduled for deletion" in found[("secret-reference", webhook)]
    assert found[("kms-key", "alias/adinsights-gone")] == "the key does not exist"
    assert len(result.findings) == 2  # one finding per reference, however many use it


@pytest.mark.parametrize(
    ("name", "value", "flagged"),
    [
        ("KMS_KEY_ID", "alias/adinsights-prod", False),
        ("KMS_KEY_ID", "arn:aws:kms:eu-west-1:123456789012:key/13d91522-6955-45c9", False),
        ("DJANGO_SETTINGS_MODULE", "adinsights.settings", False),
        ("STATIC_BUCKET", "adinsights-production-dbt-artifacts-eu-west-1", False),
        ("MONKEY_COUNT", "3", False),
        ("UPLOAD_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:x", False),
        ("API_KEY", "x", True),
        ("SENTRY_DSN", "https://o1.ingest.example/1", True),
        ("GITHUB_TOKEN", "", True),
        ("SIGNING_PRIVATE", "x", True),
        ("BUILD_ID", "f4348bc031995bdc41be8078ce8c65934ee9d843ac5aad72830d3a2e9e8ec6b9", True),
        ("BROKER", "redis://user:hunter2@redis:6379/0", True),
        ("BROKER", "redis://redis:6379/0", False),
    ],
)
def test_looks_secret(name: str, value: str, flagged: bool) -> None:
    why = secrets.looks_secret(name, value)
    assert (why is not None) == flagged
    if why is not None and value:
        assert value not in why


def test_env_sample_parsing(tmp_path: Path) -> None:
    sample = tmp_path / ".env.sample"
    sample.write_text("# comment\n\nexport A=1\nB = 'two'\nC=\n")
    assert secrets.read_env_sample(sample) == {"A": "1", "B": "two", "C": ""}
    sample.write_text("A=1\nnot a variable\n")
    with pytest.raises(ConfigError, match="line 2: expected NAME=value"):
        secrets.read_env_sample(sample)
    with pytest.raises(ConfigError, match="file not found"):
        secrets.read_env_sample(tmp_path / "missing")


def test_shannon_entropy() -> None:
    assert secrets.shannon_entropy("") == 0.0
    assert secrets.shannon_entropy("aaaa") == 0.0
    assert secrets.shannon_entropy("abcd") == 2.0
