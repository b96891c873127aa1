"""The sandbox server's fault injection, side-effect counts and failure scenarios, through boto3.

One sandbox server for the module (seeding takes seconds). It starts under the failing-rollout
scenario, as `inv deploy --env sandbox --scenario failing-rollout` starts an embedded one.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from adinsights_ops import config, loader, sandbox
from adinsights_ops.aws import Aws
from adinsights_ops.config import Environment
from adinsights_ops.ecs._taskdefs import RevisionPlan
from adinsights_ops.errors import UsageError
from adinsights_ops.sandbox.faults import (
    AFTER,
    BEFORE,
    KINDS,
    RESET,
    THROTTLE,
    TIMEOUT,
    FaultInjector,
    FaultPlan,
    Rule,
    parse_spec,
)
from adinsights_ops.sandbox.scenarios import check_exercised
from adinsights_ops.sandbox.server import SandboxServer
from tests.unit.test_sandbox_transport import NOWHERE

ENVIRONMENTS = Path(__file__).parents[2] / "environments.yaml"


@pytest.fixture(scope="module")
def env() -> Environment:
    return config.load("sandbox", ENVIRONMENTS)


@pytest.fixture(scope="module")
def server(env: Environment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("ADINSIGHTS_OPS_HOME", str(tmp_path_factory.mktemp("home")))
        monkeypatch.delenv("ADINSIGHTS_SANDBOX_FAULTS", raising=False)
        started = sandbox.start(env, scenario="failing-rollout")
        try:
            yield started
        finally:
            started.stop()


@pytest.fixture
def clean(server: SandboxServer) -> Iterator[SandboxServer]:
    server.set_faults(None)
    server.set_scenario("none")
    server.reset_effects()
    yield server
    server.set_faults(None)


def client(server: SandboxServer, service: str, *, attempts: int = 1, read: float = 10.0) -> Any:
    """A client of the server's; `read` is its read timeout, short only where a test waits for one
    (a loaded machine can take over a second to answer anything)."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name="eu-west-1",
        endpoint_url=server.endpoint,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            read_timeout=read,
            connect_timeout=2,
        ),
    )


def test_a_scenario_never_fails_the_seeded_release(server: SandboxServer, env: Environment) -> None:
    """Started under failing-rollout (module fixture; runs first): the seeded revisions are good.

    The scenario used to hold while seeding, so backend:1 itself failed and a rollback to it could
    never settle on a fresh sandbox.
    """
    assert server.scenario_name == "failing-rollout"
    ecs = client(server, "ecs", attempts=3)
    backend = env.ecs.services["backend"].name
    current = ecs.describe_services(cluster=env.ecs.cluster, services=[backend])["services"][0]
    assert [d["rolloutState"] for d in current["deployments"]] == ["COMPLETED"]
    seeded = current["taskDefinition"]
    definition = ecs.describe_task_definition(taskDefinition=seeded)["taskDefinition"]
    keys: tuple[str, ...] = ("family", "containerDefinitions", "executionRoleArn", "taskRoleArn")
    keys += ("networkMode", "requiresCompatibilities", "cpu", "memory")
    new = ecs.register_task_definition(**{k: definition[k] for k in keys if k in definition})
    ecs.update_service(
        cluster=env.ecs.cluster,
        service=backend,
        taskDefinition=new["taskDefinition"]["taskDefinitionArn"],
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described = ecs.describe_services(cluster=env.ecs.cluster, services=[backend])
        deployments = described["services"][0]["deployments"]
        if deployments[0]["rolloutState"] == "COMPLETED":
            break
        time.sleep(0.3)
    assert deployments[0]["taskDefinition"] == seeded  # the circuit breaker moved it back ...
    assert deployments[0]["rolloutState"] == "COMPLETED"  # ... and the rollback settled
    assert described["services"][0]["runningCount"] == described["services"][0]["desiredCount"]


# -- the spec ------------------------------------------------------------------------------------


def test_a_spec_is_a_preset_or_json() -> None:
    assert parse_spec("throttled").kinds == (THROTTLE,)
    assert parse_spec("chaos").rate == 0.3 and set(parse_spec("chaos").kinds) == set(KINDS)
    plan = parse_spec(
        '{"rate": 0.1, "kinds": ["reset"], "seed": 4, "rules": '
        '[{"operation": "UpdateService", "nth": 3, "times": 9},'
        ' {"operation": "PutObject", "key_prefix": "journal/", "times": 9, "kind": "5xx-after"}]}'
    )
    assert (plan.rate, plan.kinds, plan.seed) == (0.1, (RESET,), 4)
    assert plan.rules == (
        Rule("UpdateService", nth=3, times=9),
        Rule("PutObject", kind=AFTER, times=9, key_prefix="journal/"),
    )
    assert parse_spec(json.dumps(plan.spec())) == plan  # GET /_sandbox/faults shows a valid spec


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("nosuch", "unknown preset 'nosuch'"),
        ('{"rate": 2}', "rate 2.0: expected a share from 0 to 1"),
        ('{"rate": "x"}', "rate 'x': expected a number"),
        ('{"kinds": ["flood"]}', "kinds: unknown flood"),
        ('{"rules": [{"kind": "reset"}]}', "operation is required"),
        (
            '{"rules": [{"operation": "RunTask", "nth": 0}]}',
            "nth must be a whole number, 1 or more",
        ),
        ('{"rate": 0.1, "sede": 4}', "unknown field(s) sede"),
        ("{", "fault spec '{'"),
    ],
)
def test_a_bad_spec_is_a_usage_error_naming_it(spec: str, says: str) -> None:
    with pytest.raises(UsageError, match="fault spec") as raised:
        parse_spec(spec)
    assert says in str(raised.value)
    assert raised.value.exit_code == 2


def test_rules_target_the_nth_call_and_count_attempts() -> None:
    injector = FaultInjector(
        FaultPlan(
            rules=(
                Rule("UpdateService", nth=3, times=9),
                Rule("PutObject", key_prefix="journal/", times=2, kind=THROTTLE),
                Rule("CreateDBSnapshot"),
            )
        )
    )
    for call in ("a", "b"):  # the 1st and 2nd calls pass
        assert injector.decide("UpdateService", invocation=call) is None
    assert [injector.decide("UpdateService", invocation="c") for _ in range(10)] == [BEFORE] * 9 + [
        None
    ]
    assert injector.decide("UpdateService", invocation="d") is None
    assert injector.decide("PutObject", key="locks/sandbox.json", invocation="e") is None
    assert injector.decide("PutObject", key="journal/r1.json", invocation="f") == THROTTLE
    assert injector.decide("PutObject", key="journal/r2.json", invocation="g") == THROTTLE
    assert injector.decide("PutObject", key="journal/r2.json", invocation="g") is None
    assert all(injector.decide("CreateDBSnapshot", invocation=str(n)) == BEFORE for n in range(20))
    assert injector.report()["counts"] == {BEFORE: 29, THROTTLE: 2}


def test_random_faults_are_reproducible_and_retries_absorb_them() -> None:
    def run(seed: int) -> list[str | None]:
        injector = FaultInjector(FaultPlan(rate=0.5, seed=seed, max_per_call=3))
        return [
            injector.decide(op, invocation=f"{op}-{n}")
            for n in range(40)
            for op in ("DescribeServices", "RunTask")
            for _ in range(5)
        ]

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    assert set(first) == {None, *KINDS}
    # never more than max_per_call faults on one call's attempts: its retries get through
    per_call = [sum(k is not None for k in first[i : i + 5]) for i in range(0, len(first), 5)]
    assert max(per_call) == 3


def test_faults_only_on_the_operations_named() -> None:
    injector = FaultInjector(FaultPlan(rate=1.0, operations=("RunTask",)))
    assert injector.decide("DescribeServices", invocation="a") is None
    assert injector.decide("RunTask", invocation="b") is not None


# -- the server -----------------------------------------------------------------------------------


# protocol -> (service, one call of it on a client)
CALLS: dict[str, tuple[str, Callable[[Any], object]]] = {
    "json": ("ecs", lambda c: c.list_clusters()),
    "query": ("rds", lambda c: c.describe_db_instances()),
    "rest": ("s3", lambda c: c.list_objects_v2(Bucket="adinsights-sandbox-ops-state")),
}
OPERATIONS = {"json": "ListClusters", "query": "DescribeDBInstances", "rest": "ListObjectsV2"}


# (kind, protocol) -> (error code, HTTP status) as AWS answers it; reset and timeout have neither
ANSWERS = {
    (THROTTLE, "json"): ("ThrottlingException", 400),
    (THROTTLE, "query"): ("Throttling", 400),
    (THROTTLE, "rest"): ("SlowDown", 503),
    (BEFORE, "json"): ("ServiceUnavailableException", 503),
    (BEFORE, "query"): ("ServiceUnavailable", 503),
    (BEFORE, "rest"): ("ServiceUnavailable", 503),
    (AFTER, "json"): ("InternalFailure", 500),
    (AFTER, "query"): ("InternalError", 500),
    (AFTER, "rest"): ("InternalError", 500),
}
ERRORS = {RESET: ConnectionClosedError, TIMEOUT: ReadTimeoutError}


@pytest.mark.parametrize("protocol", list(CALLS))
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_in_each_protocol_and_a_retry_gets_through(
    clean: SandboxServer, protocol: str, kind: str
) -> None:
    service, call = CALLS[protocol]
    operation = OPERATIONS[protocol]
    clean.set_faults(FaultPlan(read_timeout=0.5, rules=(Rule(operation, kind, times=1),)))
    started = time.monotonic()
    # The server holds a timed-out call for the plan's read timeout plus a second: a client that
    # waits 0.5 s sees it time out, and its retry (waiting 1.2 s) does not.
    timeouts = kind == TIMEOUT
    with pytest.raises(ERRORS.get(kind, ClientError)) as raised:
        call(client(clean, service, read=0.5 if timeouts else 10.0))
    if kind == TIMEOUT:
        assert time.monotonic() - started >= 0.5
    if isinstance(raised.value, ClientError):
        answer = raised.value.response
        code, status = ANSWERS[kind, protocol]
        assert (answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]) == (
            code,
            status,
        )
    call(
        client(clean, service, attempts=2, read=1.2 if timeouts else 10.0)
    )  # the retry gets through
    injected = clean.injector.report()["injected"] if clean.injector else []
    assert [(f["operation"], f["kind"]) for f in injected] == [(operation, kind)]


def test_put_object_on_journal_keys_fails_and_others_pass(clean: SandboxServer) -> None:
    clean.set_faults(
        parse_spec('{"rules": [{"operation": "PutObject", "key_prefix": "journal/"}]}')
    )
    s3 = client(clean, "s3", attempts=3)
    s3.put_object(Bucket="adinsights-sandbox-ops-state", Key="locks/x.json", Body=b"{}")
    with pytest.raises(ClientError, match="reached max retries: 2"):
        s3.put_object(Bucket="adinsights-sandbox-ops-state", Key="journal/x.json", Body=b"{}")


def test_control_api_and_stand_ins_are_never_faulted(clean: SandboxServer) -> None:
    body = sandbox.control(
        clean.endpoint, "/faults", method="PUT", body={"rate": 1.0, "max_per_call": 100}
    )
    assert body["plan"]["rate"] == 1.0
    assert sandbox.control(clean.endpoint)["faults"]["rate"] == 1.0
    assert sandbox.control(clean.endpoint, "/calls")["calls"] is not None
    import urllib.request

    with urllib.request.urlopen(f"{clean.endpoint}/_sandbox/app/api/health/", timeout=5) as answer:
        assert answer.status == 200
    with pytest.raises(ClientError):
        client(clean, "ecs", attempts=2).list_clusters()
    report = sandbox.control(clean.endpoint, "/faults")
    assert report["counts"] and all(f["operation"] == "ListClusters" for f in report["injected"])
    assert sandbox.control(clean.endpoint, "/faults", method="DELETE")["plan"] is None
    client(clean, "ecs").list_clusters()


def test_a_bad_spec_through_the_control_api_is_refused(clean: SandboxServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        sandbox.control(clean.endpoint, "/faults", method="PUT", body={"rate": 5})
    assert raised.value.code == 400
    assert clean.injector is None


def test_the_throttled_scenario_is_a_fault_preset(clean: SandboxServer) -> None:
    clean.set_scenario("throttled")
    try:
        ecs = client(clean, "ecs", attempts=8)
        for _ in range(20):
            ecs.list_clusters()
        counts = clean.injector.report()["counts"] if clean.injector else {}
        assert counts.get(THROTTLE, 0) > 0 and set(counts) == {THROTTLE}
    finally:
        clean.set_scenario("none")
    assert clean.injector is None


def test_loader_clients_use_the_plans_read_timeout(
    clean: SandboxServer, env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The live sandbox.up is this server: its status is read when the command connects.
    monkeypatch.setattr(
        sandbox, "_live", lambda name: (clean.endpoint, sandbox.control(clean.endpoint))
    )
    clean.set_faults(FaultPlan(rate=0.1, read_timeout=0.7))
    with loader.open_environment(env) as ops:
        assert ops.aws.read_timeout == 0.7
    clean.set_faults(FaultPlan(rules=(Rule("RunTask", TIMEOUT),), read_timeout=0.8))
    with loader.open_environment(env) as ops:
        assert ops.aws.read_timeout == 0.8
    for plan in (None, FaultPlan(rate=0.5, kinds=(THROTTLE, RESET), read_timeout=0.7)):
        clean.set_faults(plan)  # nothing held: the usual read timeout
        with loader.open_environment(env) as ops:
            assert ops.aws.read_timeout == 60.0


def test_the_environment_variable_sets_an_embedded_sandboxs_faults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADINSIGHTS_SANDBOX_FAULTS", '{"rate": 0.2, "kinds": ["throttle"]}')
    assert sandbox.faults_from_environment() == FaultPlan(rate=0.2, kinds=(THROTTLE,))
    monkeypatch.setenv("ADINSIGHTS_SANDBOX_FAULTS", "storm")
    with pytest.raises(UsageError, match="unknown preset 'storm'"):
        sandbox.faults_from_environment()


# -- side effects ---------------------------------------------------------------------------------


def _snapshot(server: SandboxServer, name: str, attempts: int = 1) -> None:
    rds = client(server, "rds", attempts=attempts)
    instance = rds.describe_db_instances()["DBInstances"][0]["DBInstanceIdentifier"]
    rds.create_db_snapshot(DBSnapshotIdentifier=name, DBInstanceIdentifier=instance)


def test_effects_count_what_the_server_carried_out(clean: SandboxServer) -> None:
    _snapshot(clean, "effects-1")
    clean.set_faults(FaultPlan(rules=(Rule("CreateDBSnapshot", BEFORE, times=1),)))
    with pytest.raises(ClientError):
        _snapshot(clean, "effects-2")  # faulted before acting: no snapshot
    clean.set_faults(FaultPlan(rules=(Rule("CreateDBSnapshot", AFTER, times=1),)))
    with pytest.raises(ClientError, match="InternalError"):
        _snapshot(clean, "effects-3")  # faulted after acting: the snapshot exists
    report = sandbox.control(clean.endpoint, "/effects")
    assert report["effects"]["db_snapshots"] == 2
    assert report["faulted_after_acting"]["db_snapshots"] == 1
    with pytest.raises(ClientError, match="DBSnapshotAlreadyExists"):
        _snapshot(clean, "effects-3")  # as on AWS, the retry of a call that happened
    assert (
        sandbox.control(clean.endpoint, "/effects", method="DELETE")["effects"]["db_snapshots"] == 0
    )


def test_run_task_is_counted_per_command(clean: SandboxServer, env: Environment) -> None:
    ecs = client(clean, "ecs")
    backend = env.ecs.services["backend"].name
    service = ecs.describe_services(cluster=env.ecs.cluster, services=[backend])["services"][0]
    for command in (["python", "manage.py", "migrate", "--noinput"], ["echo", "hi"]):
        ecs.run_task(
            cluster=env.ecs.cluster,
            taskDefinition=service["taskDefinition"],
            launchType="FARGATE",
            networkConfiguration=service["networkConfiguration"],
            overrides={"containerOverrides": [{"name": "backend", "command": command}]},
        )
    effects = sandbox.control(clean.endpoint, "/effects")["effects"]
    assert effects["run_task"] == {"migrate": 1, "echo hi": 1}


# -- scenarios ------------------------------------------------------------------------------------


def _plan(env: Environment, service: str, image: str, changed: bool) -> RevisionPlan:
    from adinsights_ops.ecs._taskdefs import Change

    changes = (
        (Change("containerDefinitions[backend].image", image, image + "x"),) if changed else ()
    )
    return RevisionPlan(
        service=service,
        current=f"arn:aws:ecs:eu-west-1:1:task-definition/{service}:1",
        family=service,
        changes=changes,
        register_input={"containerDefinitions": [{"name": "backend", "image": image}]},
    )


def test_failing_rollout_is_refused_when_the_backend_would_not_change(env: Environment) -> None:
    image = f"{env.registry}/{env.repositories['backend']}:release-1.3.0"
    backend = env.ecs.services["backend"].name
    unchanged = [_plan(env, backend, image, False), _plan(env, "celery-worker", image, True)]
    with pytest.raises(UsageError) as raised:
        check_exercised("failing-rollout", env, unchanged)
    message = str(raised.value)
    assert "backend-service already runs release-1.3.0" in message
    assert (
        "`inv deploy --env sandbox --scenario failing-rollout --image-tag main-a1b2c3d`" in message
    )
    assert "inv sandbox.reset" in message
    with pytest.raises(UsageError):
        loader.check_scenario(env, "failing-rollout", unchanged)
    # what would exercise it passes, and the other scenarios always happen
    check_exercised("failing-rollout", env, [_plan(env, backend, image, True)])
    for name in ("failing-migration", "failing-smoke", "throttled", "none"):
        check_exercised(name, env, unchanged)
    loader.check_scenario(env, None, unchanged)


def test_check_scenario_is_a_no_op_outside_the_sandbox(env: Environment) -> None:
    import attrs

    loader.check_scenario(attrs.evolve(env, sandbox=False), "failing-rollout", [])
    with pytest.raises(UsageError):
        loader.check_scenario(env, "failing-rollout", [])


def test_run_task_with_a_seen_client_token_answers_the_first_tasks(
    clean: SandboxServer, env: Environment
) -> None:
    """As ECS does: the retry of a RunTask whose answer was lost does not start a second task."""
    ecs = client(clean, "ecs", attempts=3)
    backend = env.ecs.services["backend"].name
    service = ecs.describe_services(cluster=env.ecs.cluster, services=[backend])["services"][0]
    clean.set_faults(FaultPlan(rules=(Rule("RunTask", AFTER, times=1),)))

    def run(token: str) -> str:
        answer = ecs.run_task(
            cluster=env.ecs.cluster,
            taskDefinition=service["taskDefinition"],
            launchType="FARGATE",
            networkConfiguration=service["networkConfiguration"],
            overrides={"containerOverrides": [{"name": "backend", "command": ["echo", "once"]}]},
            clientToken=token,
        )
        return str(answer["tasks"][0]["taskArn"])

    first = run("run-1-one-off")  # carried out, answer replaced by a 500, retried by botocore
    assert run("run-1-one-off") == first
    assert run("run-2-one-off") != first
    report = sandbox.control(clean.endpoint, "/effects")
    assert report["effects"]["run_task"] == {"echo once": 2}
    assert report["faulted_after_acting"]["run_task"] == {}  # AWS would not have run it twice


# -- calls in the server's own process skip HTTP (sandbox/transport.py) -------------------------


def hooked(server: SandboxServer) -> Aws:
    return Aws(
        region="eu-west-1",
        endpoint_url=NOWHERE,
        credentials=sandbox.CREDENTIALS,
        max_attempts=1,
        connect_timeout=1.0,
        hooks=(server.in_process_hook(),),
    )


def test_calls_in_the_server_s_process_are_answered_without_http_as_http_answers_them(
    clean: SandboxServer, env: Environment
) -> None:
    aws = hooked(clean)
    over_http = client(clean, "ecs")
    names = [ref.name for ref in env.ecs.services.values()]
    clean.calls.clear()
    got = aws.ecs().describe_services(cluster=env.ecs.cluster, services=names)
    want = over_http.describe_services(cluster=env.ecs.cluster, services=names)
    assert got["services"] == want["services"] and len(got["services"]) == 4
    assert [c["operation"] for c in clean.calls] == ["DescribeServices", "DescribeServices"]
    # a key to percent-encode, a binary body, and a streamed answer read back in parts
    key = "transport/a key+with %signs.bin"
    body = bytes(range(256)) * 40
    aws.s3().put_object(Bucket=env.state_bucket, Key=key, Body=body)
    s3 = client(clean, "s3")
    assert s3.get_object(Bucket=env.state_bucket, Key=key)["Body"].read() == body
    streamed = aws.s3().get_object(Bucket=env.state_bucket, Key=key)["Body"]
    assert streamed.read(1000) + streamed.read() == body
    # AWS's errors parse as they do over HTTP
    with pytest.raises(ClientError) as refused:
        aws.ecs().describe_task_definition(taskDefinition="no-such-family:1")
    with pytest.raises(ClientError) as refused_over_http:
        over_http.describe_task_definition(taskDefinition="no-such-family:1")
    assert refused.value.response["Error"] == refused_over_http.value.response["Error"]


def test_calls_go_over_http_under_faults_and_from_another_process(
    clean: SandboxServer, env: Environment
) -> None:
    aws = hooked(clean)
    aws.ecs().list_clusters()  # in process: NOWHERE is never dialled
    clean.set_faults(FaultPlan(rate=0.0))
    with pytest.raises(EndpointConnectionError):
        aws.ecs().list_clusters()
    clean.set_faults(None)

    def child() -> None:  # a forked child holds a copy of moto's state: it must not answer itself
        try:
            hooked(clean).ecs().list_clusters()
        except EndpointConnectionError:
            os._exit(0)
        os._exit(1)

    forked = multiprocessing.get_context("fork").Process(target=child)
    forked.start()
    forked.join(30)
    assert forked.exitcode == 0


def test_a_command_s_own_sandbox_answers_it_in_process_and_a_shared_one_over_http(
    clean: SandboxServer, env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "_live", lambda name: None)  # no sandbox.up: an embedded one
    monkeypatch.setattr(sandbox, "start", lambda env, scenario: clean)
    monkeypatch.setattr(clean, "stop", lambda: None)  # the module's server outlives the command
    with loader.open_environment(env) as ops:
        assert clean.in_process_hook() in ops.aws.hooks
    monkeypatch.setattr(
        sandbox, "_live", lambda name: (clean.endpoint, sandbox.control(clean.endpoint))
    )
    with loader.open_environment(env) as ops:  # `inv sandbox.up` runs in another process
        assert clean.in_process_hook() not in ops.aws.hooks
