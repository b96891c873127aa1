"""Deploys under injected AWS faults, each checked against the documented end states.

`Rehearsal` keeps one sandbox server in this process (found by every command through the state
file `inv sandbox.up` writes) and runs `inv deploy` in this process on an argv, alternating image
tags so that every deploy rolls something out. Each run gets a fault plan; afterwards, with the
faults off, the sandbox is read and the run judged:

- a documented outcome: succeeded (exit 0, every service on the new revision), rolled back (exit 1,
  every service back on the revision it ran before), resumable (exit 1, nothing rolled out, a
  `--resume` next command) or needs a human (exit 4); every service settled on one revision, the
  lock released (unless a human is needed) and the journal record closed;
- no side effect done more often than a clean run does it, beyond what AWS itself would also
  duplicate: a call that the server carried out and whose answer a fault then took (5xx after
  acting, read timeout) may be retried and happen again, so each such fault allows one more.

Shared by tests/rehearsal/test_faults.py and bench/faults.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from adinsights_ops import config, sandbox
from adinsights_ops.sandbox.faults import FaultPlan
from adinsights_ops.sandbox.server import SandboxServer
from tests.cli.runner import Result, run
from tests.simulated import fast_environments

ROOT = Path(__file__).resolve().parents[2]
TAGS = (("main-a1b2c3d", "main-a1b2c3d"), ("v1.3.0", "release-1.3.0"))
"""(as given, as in ECR): deploys alternate between them, so each one changes every service."""


@attrs.frozen
class Judged:
    """One deploy under faults, and what was wrong with how it ended."""

    seed: int
    tag: str
    code: int
    outcome: str
    seconds: float
    faults: Mapping[str, int]
    effects: Mapping[str, Any]
    problems: tuple[str, ...]
    """How the run missed every documented end state."""
    duplicates: tuple[str, ...]
    """Side effects done more often than a clean run plus what AWS would duplicate."""
    output: str = attrs.field(repr=False)

    @property
    def converged(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        lines = [
            f"seed {self.seed} -> {self.tag}: exit {self.code}, {self.outcome}, "
            f"{self.seconds:.0f}s, faults {dict(self.faults)}"
        ]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  duplicated: {d}" for d in self.duplicates]
        if self.problems:
            lines += [
                "  output (last lines):",
                *[f"    {x}" for x in self.output.splitlines()[-25:]],
            ]
        return "\n".join(lines)


class Rehearsal:
    """One in-process sandbox server and the commands run against it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.server: SandboxServer | None = None
        self._saved: dict[str, str | None] = {}

    # -- set-up ----------------------------------------------------------------------------------

    def environments(self) -> Path:
        """environments.yaml with a sandbox that skips the validation sync (quick deploys)."""
        return fast_environments(self.home)

    def variables(self) -> dict[str, str]:
        return {
            "ADINSIGHTS_OPS_HOME": str(self.home),
            "ADINSIGHTS_ENVIRONMENTS": str(self.home / "environments-fast.yaml"),
        }

    def start(self) -> SandboxServer:
        self.environments()
        for key, value in self.variables().items():
            self._saved[key] = os.environ.get(key)
            os.environ[key] = value
        self._saved.setdefault(
            "ADINSIGHTS_SANDBOX_FAULTS", os.environ.pop("ADINSIGHTS_SANDBOX_FAULTS", None)
        )
        self.env = config.load("sandbox")
        self.server = sandbox.start(self.env)
        state = sandbox.state_file(self.env.name)
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps(self.server.describe()))
        return self.server

    def stop(self) -> None:
        sandbox.state_file("sandbox").unlink(missing_ok=True)
        if self.server is not None:
            self.server.stop()
            self.server = None
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    @classmethod
    @contextlib.contextmanager
    def running(cls, home: Path) -> Iterator[Rehearsal]:
        rehearsal = cls(home)
        rehearsal.start()
        try:
            yield rehearsal
        finally:
            rehearsal.stop()

    # -- reading the sandbox (faults off) ----------------------------------------------------------

    def client(self, service: str) -> Any:
        assert self.server is not None
        return self.server._client(service)

    def services(self) -> dict[str, list[dict[str, Any]]]:
        """service name -> its deployments (primary first)."""
        names = [ref.name for ref in self.env.ecs.services.values()]
        described = self.client("ecs").describe_services(
            cluster=self.env.ecs.cluster, services=names
        )
        return {s["serviceName"]: s["deployments"] for s in described["services"]}

    def settle(self, timeout: float = 60) -> dict[str, list[dict[str, Any]]]:
        """Wait for every service to end its deployments (the scheduler's real-time pace)."""
        deadline = time.monotonic() + timeout
        while True:
            services = self.services()
            busy = [n for n, d in services.items() if d[0]["rolloutState"] == "IN_PROGRESS"]
            if not busy or time.monotonic() > deadline:
                return services
            time.sleep(0.5)

    def image_tag(self) -> str:
        backend = self.env.ecs.services["backend"].name
        arn = self.services()[backend][0]["taskDefinition"]
        definition = self.client("ecs").describe_task_definition(taskDefinition=arn)
        image = definition["taskDefinition"]["containerDefinitions"][0]["image"]
        return str(image.rsplit(":", 1)[-1])

    def lock_held(self) -> bool:
        from adinsights_ops.lock import lock_key

        try:
            self.client("s3").head_object(Bucket=self.env.state_bucket, Key=lock_key(self.env.name))
        except self.client("s3").exceptions.ClientError:
            return False
        return True

    def release_lock(self) -> None:
        """What the operator does after checking a needs-human run: remove its lock."""
        from adinsights_ops.lock import lock_key

        self.client("s3").delete_object(Bucket=self.env.state_bucket, Key=lock_key(self.env.name))

    def journal_outcome(self, run_id: str) -> str | None:
        key = f"journal/{self.env.name}/{run_id}.json"
        try:
            body = self.client("s3").get_object(Bucket=self.env.state_bucket, Key=key)["Body"]
        except self.client("s3").exceptions.NoSuchKey:
            return None
        outcome = json.loads(body.read()).get("outcome")
        return str(outcome) if outcome is not None else None

    # -- one deploy ----------------------------------------------------------------------------------

    def next_tag(self) -> str:
        current = self.image_tag()
        return next(given for given, ecr in TAGS if ecr != current)

    def deploy(self, plan: FaultPlan | None, *, seed: int = 0) -> Judged:
        """One `inv deploy` under `plan`, judged; a needs-human run's lock is removed after."""
        assert self.server is not None
        server = self.server
        tag = self.next_tag()
        before = {name: d[0]["taskDefinition"] for name, d in self.settle().items()}
        server.reset_effects()
        server.set_faults(plan)
        started = time.monotonic()
        try:
            result = run("deploy", "--env", self.env.name, "--image-tag", tag, "--json")
        finally:
            injector = server.faults
            server.set_faults(None)
        seconds = time.monotonic() - started
        faults = injector.report()["counts"] if injector is not None else {}
        report = _report(result.stdout)
        outcome = str(report.get("outcome", "refused"))
        services = self.settle()
        effects = server.effects_report()
        problems = self._problems(result, report, before, services)
        done = {k: v for k, v in effects["effects"].items() if v}
        if outcome == "refused" and done:
            problems.append(f"refused, yet it did {done}")
        duplicates = _duplicates(
            effects, outcome, changed=len(before), commands=self._one_off_labels()
        )
        if outcome == "needs-human" or (problems and self.lock_held()):
            self.release_lock()
        return Judged(
            seed=seed,
            tag=tag,
            code=result.code,
            outcome=outcome,
            seconds=seconds,
            faults=faults,
            effects=effects["effects"],
            problems=tuple(problems),
            duplicates=tuple(duplicates),
            output=result.stdout + result.stderr,
        )

    def _one_off_labels(self) -> list[str]:
        from adinsights_ops.sandbox.effects import command_label

        release = self.env.release
        return [command_label(c) for c in (*release.one_off_commands, release.warm_command)]

    def _problems(
        self,
        result: Result,
        report: Mapping[str, Any],
        before: Mapping[str, str],
        services: Mapping[str, list[dict[str, Any]]],
    ) -> list[str]:
        problems: list[str] = []
        outcome, code = report.get("outcome"), result.code
        if "Traceback (most recent call last)" in result.stderr:
            problems.append("a traceback was printed")
        unsettled = {n: len(d) for n, d in services.items() if len(d) != 1}
        now = {n: d[0]["taskDefinition"] for n, d in services.items()}
        changed = sorted(n for n in now if now[n] != before[n])
        held = self.lock_held()
        expected = {"succeeded": 0, "rolled-back": 1, "failed": 1, "needs-human": 4}
        if outcome is None:  # refused before it changed anything: one error line, nothing done
            errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
            if code != 1 or len(errors) != 1:
                problems.append(f"exit {code} without a deploy report or one `error:` line")
            if changed or unsettled:
                problems.append(f"no report, yet services changed: {changed or unsettled}")
            if held:
                problems.append("no report, yet the deploy lock is still held")
            return problems
        if outcome not in expected:
            problems.append(f"exit {code} with an undocumented outcome {outcome!r}")
            return problems
        if code != expected[str(outcome)]:
            problems.append(f"{outcome} but exit {code} (documented: {expected[str(outcome)]})")
        if outcome == "needs-human":
            return problems  # a human checks: anything may be half-done, the lock is kept
        if unsettled:
            problems.append(f"services still on more than one revision: {unsettled}")
        if outcome == "succeeded" and len(changed) != len(now):
            problems.append(f"succeeded but only {changed} run a new revision")
        if outcome in ("rolled-back", "failed") and changed:
            problems.append(f"{outcome} but {changed} do not run their previous revision")
        if outcome == "failed" and "--resume" not in str(report.get("next_command", "")):
            problems.append(
                f"failed without a --resume next command: {report.get('next_command')!r}"
            )
        if held:
            problems.append(f"{outcome} but the deploy lock is still held")
        journal = self.journal_outcome(str(report.get("run_id", "")))
        if journal in (None, "running"):
            problems.append(f"the journal record of {report.get('run_id')} is {journal!r}")
        return problems


def _report(stdout: str) -> dict[str, Any]:
    start = stdout.find("{")
    if start < 0:
        return {}
    try:
        data = json.loads(stdout[start:])
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _duplicates(
    report: Mapping[str, Any], outcome: str, *, changed: int, commands: list[str]
) -> list[str]:
    """Effects beyond a clean run's, less those a fault after acting allows (AWS would repeat them).

    A clean run: one RDS snapshot, one registration per changed service, each one-off command
    once (and the warm task), one UpdateService per service (two when it was put back), at most
    one stack change, one Slack message and one email.
    """
    effects, faulted = report["effects"], report["faulted_after_acting"]
    rolled_back = outcome != "succeeded"
    most: dict[str, int] = {
        "db_snapshots": 1,
        "task_definitions": changed,
        "stacks_executed": 1,
        "slack_messages": 1,
        "emails": 1,
    }
    found = []
    for name, limit in most.items():
        allowed = limit + int(faulted.get(name, 0))
        if effects.get(name, 0) > allowed:
            found.append(f"{name}: {effects[name]} (a clean run: at most {limit})")
    for label, count in effects.get("run_task", {}).items():
        limit = 1 if label in commands else 0
        if count > limit + int(faulted.get("run_task", {}).get(label, 0)):
            found.append(f"RunTask {label}: {count} (a clean run: {limit})")
    for service, count in effects.get("update_service", {}).items():
        limit = 2 if rolled_back else 1
        if count > limit + int(faulted.get("update_service", {}).get(service, 0)):
            found.append(f"UpdateService {service}: {count} (a clean run: at most {limit})")
    return found
