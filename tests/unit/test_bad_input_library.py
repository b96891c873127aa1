"""Bad input changes nothing: the library refuses nonsense (UsageError/ConfigError, exit 2) before any
AWS or Airbyte call that would change something.

Each test counts the calls the simulated sandbox saw (or the simulated Airbyte's requests) so that a
refusal which still did something fails.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from adinsights_ops import airbyte, config, ecs, rds
from adinsights_ops.aws import is_mutating
from adinsights_ops.errors import EXIT_USAGE, ConfigError, OpsError, UsageError
from adinsights_ops.waiting import MAX_TIMEOUT, check_timeout, wait_until
from tests.simulated import ENVIRONMENTS, ROOT, FakeClock, Simulated, simulated_sandbox
from tests.unit.test_airbyte_contract import META, Harness, airbyte_harness

BAD_TIMEOUTS = [
    -1,
    0,
    0.0,
    -0.5,
    math.nan,
    math.inf,
    -math.inf,
    1e20,
    MAX_TIMEOUT + 1,
    "abc",
    "",
    " 60",
    "60\n",
    "\uff16\uff10",  # full-width digits: float() would take them
    "nan",
    "inf",
    True,
    None,
]


@pytest.fixture(scope="module")
def shared() -> Iterator[Simulated]:
    """One seeded sandbox for the tests that must change nothing (each starts with calls cleared)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(name, "testing")
        mp.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        mp.delenv("AWS_PROFILE", raising=False)
        with simulated_sandbox() as sandbox:
            yield sandbox


def mutating(sim: Simulated) -> dict[str, int]:
    return {op: n for op, n in sim.calls.items() if is_mutating(op) and n}


# -- 7. timeouts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_TIMEOUTS, ids=repr)
def test_check_timeout_refuses_nonsense(value: object) -> None:
    with pytest.raises(UsageError, match="timeout must be a number of seconds") as raised:
        check_timeout(value)
    assert raised.value.exit_code == EXIT_USAGE
    assert repr(value) in str(raised.value)


@pytest.mark.parametrize("value", [1, 0.5, 60, "60", "1.5", "1e3", MAX_TIMEOUT])
def test_check_timeout_takes_real_timeouts(value: object) -> None:
    assert check_timeout(value) == float(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [-1, 0, math.nan, math.inf, 1e20])
def test_wait_until_never_polls_with_a_bad_timeout(value: float) -> None:
    polled: list[int] = []
    with pytest.raises(UsageError):
        wait_until(
            lambda: polled.append(1),
            what="x",
            success=lambda _: True,
            timeout=value,
            clock=FakeClock(),
        )
    assert polled == []


@pytest.mark.parametrize("value", [-1, 0, math.nan, math.inf, 1e20])
def test_aws_primitives_refuse_a_bad_timeout_before_any_call(
    shared: Simulated, value: float
) -> None:
    sim = shared
    client, env = sim.client("ecs"), sim.env
    backend = env.ecs.services["backend"]
    running = sim.primary_task_definitions()
    sim.calls.clear()
    with pytest.raises(UsageError):
        ecs.run_task(
            client,
            cluster=env.ecs.cluster,
            task_definition=running[backend.name],
            command=["python", "manage.py", "migrate"],
            network={},
            timeout=value,
            clock=sim.clock,
        )
    with pytest.raises(UsageError):
        ecs.rollout(
            client,
            cluster=env.ecs.cluster,
            services={backend.name: "adinsights/backend"},
            image_tag="v9.9.9",
            timeout=value,
            clock=sim.clock,
        )
    with pytest.raises(UsageError):
        ecs.deploy_revisions(
            client,
            cluster=env.ecs.cluster,
            targets={backend.name: running[backend.name]},
            timeout=60,
            rollback_timeout=value,
            clock=sim.clock,
        )
    with pytest.raises(UsageError):
        ecs.rollback_to(
            client, cluster=env.ecs.cluster, targets=running, timeout=value, clock=sim.clock
        )
    with pytest.raises(UsageError):
        ecs.scale(
            client,
            cluster=env.ecs.cluster,
            service=env.ecs.services["worker"].name,
            desired=2,
            timeout=value,
            clock=sim.clock,
        )
    with pytest.raises(UsageError):
        rds.snapshot(
            sim.client("rds"),
            instance=env.rds_instance,
            label="pre-deploy",
            timeout=value,
            clock=sim.clock,
        )
    assert sum(sim.calls.values()) == 0, dict(sim.calls)


# -- 1. ecs.scale ----------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [-1, "x", "", "3.0", "\uff13", " 3", "3\n", 1.5, True, 10**6])
def test_scale_refuses_a_count_that_is_not_a_whole_number(shared: Simulated, count: object) -> None:
    sim = shared
    sim.calls.clear()
    with pytest.raises(UsageError, match="--count must be a whole number"):
        ecs.scale(
            sim.client("ecs"),
            cluster=sim.env.ecs.cluster,
            service=sim.env.ecs.services["worker"].name,
            desired=count,  # type: ignore[arg-type]
            clock=sim.clock,
        )
    assert sum(sim.calls.values()) == 0


def test_scale_takes_a_count_given_as_digits(shared: Simulated) -> None:
    sim = shared
    worker = sim.env.ecs.services["worker"].name
    state = ecs.scale(
        sim.client("ecs"),
        cluster=sim.env.ecs.cluster,
        service=worker,
        desired="3",  # type: ignore[arg-type]  # as a command line gives it
        timeout=300,
        clock=sim.clock,
    )
    assert (state.desired, state.running) == (3, 3)
    ecs.scale(
        sim.client("ecs"),
        cluster=sim.env.ecs.cluster,
        service=worker,
        desired=2,
        timeout=300,
        clock=sim.clock,
    )


def test_scale_refuses_a_second_copy_of_a_singleton_unless_forced(shared: Simulated) -> None:
    sim = shared
    beat = sim.env.ecs.services["beat"].name
    sim.calls.clear()
    with pytest.raises(UsageError, match=r"celery-beat is a singleton.*--force"):
        ecs.scale(
            sim.client("ecs"),
            cluster=sim.env.ecs.cluster,
            service=beat,
            desired=2,
            singletons=sim.env.ecs.singletons,
            clock=sim.clock,
        )
    assert mutating(sim) == {}
    # 0 and 1 are what a singleton runs; forcing is the operator's explicit choice.
    for count in (0, 1):
        state = ecs.scale(
            sim.client("ecs"),
            cluster=sim.env.ecs.cluster,
            service=beat,
            desired=count,
            singletons=sim.env.ecs.singletons,
            timeout=300,
            clock=sim.clock,
        )
        assert state.desired == count
    forced = ecs.scale(
        sim.client("ecs"),
        cluster=sim.env.ecs.cluster,
        service=beat,
        desired=2,
        singletons=sim.env.ecs.singletons,
        force=True,
        timeout=300,
        clock=sim.clock,
    )
    assert forced.desired == 2
    ecs.scale(
        sim.client("ecs"),
        cluster=sim.env.ecs.cluster,
        service=beat,
        desired=1,
        timeout=300,
        clock=sim.clock,
    )


# -- 6. Airbyte sync entry -------------------------------------------------------------------------


@pytest.fixture
def h() -> Iterator[Harness]:
    with airbyte_harness(pending_seconds=1, job_seconds=20) as harness:
        yield harness


@pytest.mark.parametrize("connection_id", ["", " ", "a b", "../jobs", "x?connectionId="])
def test_sync_refuses_an_empty_or_malformed_connection_id(h: Harness, connection_id: str) -> None:
    before = len(h.sim.calls)
    with pytest.raises(UsageError, match="connection"):
        airbyte.sync(h.client, connection_id=connection_id, timeout=600, clock=h.clock)
    with pytest.raises(UsageError, match="connection 'meta_ads'"):
        airbyte.sync_all(
            h.client,
            connections={"google_ads": META, "meta_ads": connection_id},
            timeout=600,
            clock=h.clock,
        )
    assert len(h.sim.calls) == before  # not one request, not even a lookup


@pytest.mark.parametrize("value", [-1, 0, math.nan, math.inf, 1e20])
def test_sync_refuses_a_bad_timeout_before_any_request(h: Harness, value: float) -> None:
    before = len(h.sim.calls)
    with pytest.raises(UsageError, match="timeout"):
        airbyte.sync(h.client, connection_id=META, timeout=value, clock=h.clock)
    with pytest.raises(UsageError, match="timeout"):
        airbyte.sync_all(h.client, connections={"meta_ads": META}, timeout=value, clock=h.clock)
    assert len(h.sim.calls) == before


def test_usage_errors_are_ops_errors_with_exit_2() -> None:
    assert issubclass(UsageError, OpsError) and UsageError("x").exit_code == 2


# -- 5. infrastructure identifiers -----------------------------------------------------------------

BAD_STACKS = ["bad stack name!", "", "1stack", "-x", "a" * 129, "stack\n", "arn:aws:x", "st_ack"]


@pytest.mark.parametrize("stack", BAD_STACKS, ids=repr)
def test_an_invalid_stack_name_is_refused_before_any_call(shared: Simulated, stack: str) -> None:
    from adinsights_ops import infra
    from adinsights_ops.infra._settings import defaults

    sim = shared
    sim.calls.clear()
    with pytest.raises(UsageError, match="--stack: expected a CloudFormation stack name"):
        infra.for_environment(sim.env, stack_name=stack)
    # However the settings were made, the engine refuses the name before plan or apply.
    forged = attrs.evolve(defaults(sim.env), stack_name=stack)
    with pytest.raises(UsageError, match="CloudFormation stack name"):
        infra.plan_and_apply(sim.ops, approve=lambda _: True, settings=forged)
    with pytest.raises(UsageError):
        infra.engine_for(sim.ops, forged)
    assert sum(sim.calls.values()) == 0, dict(sim.calls)


def test_a_valid_stack_name_of_128_characters_is_taken(shared: Simulated) -> None:
    from adinsights_ops import infra

    name = "a" + "-b1" * 42 + "c"
    assert len(name) == 128
    assert infra.for_environment(shared.env, stack_name=name).stack_name == name


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("stack_name", "bad stack name!"),
        ("capabilities", ["CAPABILITY_EVERYTHING"]),
        ("parameters", {"Cost Centre": "x"}),
        ("buckets", {"logs": "Not_A_Bucket"}),
        ("security_groups", {"alb": "sg-0123"}),
        ("redis", "redis--x"),
        ("load_balancer", "internal-alb"),
        ("endpoint_services", ["Secrets Manager"]),
    ],
)
def test_an_invalid_identifier_in_the_environments_file_is_a_config_error(
    shared: Simulated, key: str, value: object
) -> None:
    from adinsights_ops import infra

    env = attrs.evolve(shared.env, infra={"engine": "cloudformation", key: value})
    with pytest.raises(ConfigError, match=rf"sandbox\.infra\.{key}: expected") as raised:
        infra.for_environment(env)
    assert raised.value.source == shared.env.source


# -- 6. Airbyte manifests --------------------------------------------------------------------------

MANIFEST = """\
connection: meta_ads
name: Meta Ads
status: active
schedule: {scheduleType: cron, cronExpression: "0 0 * * * ?"}
streams:
  - {name: ads_insights, syncMode: incremental_append, cursorField: [date_start]}
"""


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (MANIFEST.split("streams:")[0] + "streams: []\n", "streams", "is empty"),
        (MANIFEST + "status: inactive\n", "status", "given twice"),
        (MANIFEST.replace("name: Meta Ads", "name: Meta Ads\nname: Other"), "name", "given twice"),
        (MANIFEST.replace('"0 0 * * * ?"', '"0 0 * *"'), "schedule.cronExpression", "Quartz cron"),
        (
            MANIFEST.replace("cursorField: [date_start]", "primaryKey: []"),
            "streams[0].primaryKey",
            "field paths",
        ),
        (MANIFEST.split("streams:")[0] + "streams: ads_insights\n", "streams", "expected a list"),
        ("", "", "expected a mapping"),
    ],
)
def test_manifest_nonsense_is_a_config_error_naming_file_and_key(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    from adinsights_ops.airbyte._manifests import load_manifest

    path = tmp_path / "meta_ads.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(expected)) as raised:
        load_manifest(path)
    assert raised.value.source == str(path)
    assert raised.value.key == key


def test_a_manifest_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    from adinsights_ops.airbyte._manifests import load_manifest

    path = tmp_path / "meta_ads.yaml"
    path.write_bytes(b"connection: meta\xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_manifest(path)


def test_an_empty_stream_list_is_never_patched(h: Harness) -> None:
    from adinsights_ops.airbyte._manifests import Manifest, apply, diff

    live_before = h.client.get_connection(META)
    empty = Manifest(source="forged.yaml", connection="meta_ads", streams=())
    drifts = diff(h.client, [empty], {"meta_ads": META})
    assert drifts  # every live stream would go
    before = len(h.sim.calls)
    with pytest.raises(ConfigError, match="every stream"):
        apply(h.client, drifts)
    assert len(h.sim.calls) == before
    assert h.client.get_connection(META)["configurations"] == live_before["configurations"]


# -- 8. the environments file ----------------------------------------------------------------------


def test_a_duplicated_key_in_the_environments_file_is_a_config_error(tmp_path: Path) -> None:
    text = ENVIRONMENTS.read_text()
    doubled = text.replace(
        "    timeouts: {rollout: 120, task: 60}",
        "    timeouts: {rollout: 120, task: 60, rollout: 5}",
        1,
    )
    assert doubled != text
    path = tmp_path / "environments.yaml"
    path.write_text(doubled)
    with pytest.raises(ConfigError, match="given twice") as raised:
        config.load("sandbox", path)
    assert raised.value.key == "sandbox.ecs.timeouts.rollout"
    # A whole environment given twice is caught as well (YAML would keep the second silently).
    path.write_text(text + "\nsandbox:\n  account: '123456789012'\n")
    with pytest.raises(ConfigError, match="given twice") as raised:
        config.load("sandbox", path)
    assert raised.value.key == "sandbox"


@pytest.mark.parametrize("value", [".inf", ".nan", "-1", "0", "700000"])
def test_an_absurd_timeout_in_the_environments_file_is_a_config_error(
    tmp_path: Path, value: str
) -> None:
    text = ENVIRONMENTS.read_text().replace(
        "timeouts: {rollout: 120", f"timeouts: {{rollout: {value}", 1
    )
    path = tmp_path / "environments.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="expected a positive number") as raised:
        config.load("sandbox", path)
    assert raised.value.key == "sandbox.ecs.timeouts.rollout"


def test_a_copy_elsewhere_resolves_relative_paths_against_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "elsewhere" / "environments.yaml"
    copy.parent.mkdir()
    copy.write_text(ENVIRONMENTS.read_text())
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(copy))
    env = config.load("sandbox")
    assert env.source == str(copy)
    assert env.dbt is not None
    dbt_dir = env.existing_path(env.dbt.project_dir, key="dbt.project_dir", kind="directory")
    assert dbt_dir == ROOT / "adinsights_ops/sandbox/dbt_project"
    assert env.path("infrastructure/cloudformation/network-data.yaml").is_file()
    # A file next to the copy wins over the project's.
    (copy.parent / "infrastructure").mkdir()
    assert env.path("infrastructure") == copy.parent / "infrastructure"
    # Nowhere: the error says which paths were tried.
    with pytest.raises(ConfigError) as raised:
        env.existing_path("infrastructure/nosuch.yaml", key="sandbox.infra.template")
    message = str(raised.value)
    assert str(copy.parent / "infrastructure/nosuch.yaml") in message
    assert str(ROOT / "infrastructure/nosuch.yaml") in message
    assert raised.value.key == "sandbox.infra.template"


# -- 9. rollback.data --repo, rollback.db --to-migration --------------------------------------------


def _git(cwd: Path, *args: str) -> None:
    import subprocess

    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_rollback_data_refuses_what_is_not_the_project_repository(
    shared: Simulated, tmp_path: Path
) -> None:
    from adinsights_ops.pipeline import _rollback as rollback

    sim = shared
    not_a_repo = tmp_path / "plain"
    not_a_repo.mkdir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    other = tmp_path / "other"
    other.mkdir()
    _git(other, "init", "-q")
    (other / "README").write_text("x")
    _git(other, "add", "README")
    _git(other, "commit", "-qm", "x")
    _git(other, "tag", "v1.2.0")
    cases = [
        (not_a_repo, "not in a git repository"),
        (a_file, "not a folder"),
        (tmp_path / "missing", "no such folder"),
        (other, "is not inside this repository"),
    ]
    sim.calls.clear()
    for repo, expected in cases:
        with pytest.raises(UsageError, match=expected) as raised:
            rollback.data_back_to(sim.ops, tag="v1.2.0", repo=repo)
        assert raised.value.exit_code == EXIT_USAGE
    with pytest.raises(UsageError, match="no git tag 'v0\\.0\\.0-nosuch'"):
        rollback.data_back_to(sim.ops, tag="v0.0.0-nosuch", repo=other)
    with pytest.raises(UsageError, match="timeout"):
        rollback.data_back_to(sim.ops, tag="v1.2.0", repo=other, timeout=-1)
    assert sum(sim.calls.values()) == 0, dict(sim.calls)


@pytest.mark.parametrize(
    "text",
    [
        "analytics:0042\n",
        " analytics:0042",
        "analytics:\uff10\uff10\uff14\uff12",
        "analytics:42",
        "",
    ],
    ids=repr,
)
def test_a_migration_target_is_taken_only_exactly(shared: Simulated, text: str) -> None:
    from adinsights_ops.pipeline import _rollback as rollback

    with pytest.raises(UsageError, match="--to-migration expects app:NNNN"):
        rollback.parse_migration(text)
    app, _, target = text.partition(":")
    shared.calls.clear()
    with pytest.raises(UsageError):
        rollback.migrate_back(shared.ops, app=app, target=target)
    assert sum(shared.calls.values()) == 0
    assert rollback.parse_migration("analytics:0042") == ("analytics", "0042")


@pytest.mark.parametrize("value", [-1, math.nan, math.inf, 1e20])
def test_dbt_and_dek_rotation_refuse_a_bad_timeout_before_anything(
    shared: Simulated, tmp_path: Path, value: float
) -> None:
    from adinsights_ops import dbt
    from adinsights_ops.kms import _rotation as kms_rotation

    with pytest.raises(UsageError, match="timeout"):
        dbt.build(
            project_dir=ROOT / "adinsights_ops/sandbox/dbt_project", target="sandbox", timeout=value
        )
    with pytest.raises(UsageError, match="timeout"):
        dbt.build_at("v1.2.0", repo_dir=ROOT, project_subdir=".", target="sandbox", timeout=value)
    shared.calls.clear()
    with pytest.raises(UsageError, match="timeout"):
        kms_rotation.rotate_deks(shared.ops, timeout=value)
    assert sum(shared.calls.values()) == 0  # no lock taken, beat never paused


# -- empty values are never "the default" ----------------------------------------------------------


def test_empty_values_are_refused_not_taken_as_the_default(shared: Simulated) -> None:
    from adinsights_ops.pipeline import _preflight as preflight

    sim = shared
    assert preflight.resolve_tag(sim.env, None).given == sim.env.default_image_tag
    for empty in ("", " ", "\n"):
        with pytest.raises(UsageError, match=r"--image-tag .* is empty"):
            preflight.resolve_tag(sim.env, empty)
    sim.calls.clear()
    for label in ("", "  "):
        with pytest.raises(UsageError, match="snapshot label is empty"):
            rds.snapshot(sim.client("rds"), instance=sim.env.rds_instance, label=label)
    for snapshot in ("", " x"):
        with pytest.raises(UsageError, match="snapshot id"):
            rds.restore(sim.client("rds"), snapshot_id=snapshot, instance=sim.env.rds_instance)
    assert sum(sim.calls.values()) == 0


def test_terraform_variables_may_have_underscores_cloudformation_parameters_may_not(
    shared: Simulated,
) -> None:
    from adinsights_ops import infra

    terraform = attrs.evolve(
        shared.env, infra={"engine": "terraform", "parameters": {"cost_centre": "x"}}
    )
    assert infra.for_environment(terraform).parameters == {"cost_centre": "x"}
    cloudformation = attrs.evolve(
        shared.env, infra={"engine": "cloudformation", "parameters": {"cost_centre": "x"}}
    )
    with pytest.raises(ConfigError, match="CloudFormation parameter names"):
        infra.for_environment(cloudformation)
