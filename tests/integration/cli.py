"""Run the command line against a shared `inv sandbox.up`: in this process, or as a real `inv`.

`run_inprocess` runs the task program (the collection `inv` runs) in this process on an argv, with
the environment and working directory the subprocess would have had and its output captured: a
command costs its own work, not a second of imports and exit. `inv` runs the real process, for what
only a process shows: its exit code as the shell sees it, signals, kill -9, stdin prompts.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.cli.runner import Result as Result  # re-exported: the integration tests' one result type

ROOT = Path(__file__).resolve().parents[2]
INV = str(Path(sys.executable).with_name("inv"))


def base_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "ADINSIGHTS_")) or k == "ADINSIGHTS_OPS_CACHE"
    }
    env.update(
        ADINSIGHTS_OPS_HOME=str(home),
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
    )
    env.update(extra)
    return env


def inv(*args: str, env: dict[str, str], timeout: float = 120, stdin: str | None = None) -> Result:
    done = subprocess.run(
        [INV, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin if stdin is not None else "",
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def run_inprocess(
    *args: str, env: dict[str, str], timeout: float = 120, stdin: str | None = None
) -> Result:
    """What `inv(*args, env=env)` gives, from a run of the task program in this process.

    For the run, os.environ is exactly `env` and the working directory is the checkout, as for the
    subprocess; both are put back afterwards. A run longer than `timeout` fails the test.
    With TESTS_THROUGH_INV=1 in the environment every run is a real `inv` instead, to compare.
    """
    if os.environ.get("TESTS_THROUGH_INV") == "1":
        return inv(*args, env=env, timeout=timeout, stdin=stdin)
    from tests.cli.runner import run

    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(ROOT)
    try:
        with _deadline(timeout, args):
            done = run(*args, stdin=stdin or "")
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Result(done.code, done.stdout, done.stderr)


@contextlib.contextmanager
def _deadline(seconds: float, args: tuple[str, ...]) -> Iterator[None]:
    """Raise TimeoutError in the main thread after `seconds` (as subprocess.run's timeout would)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(*_: object) -> None:
        raise TimeoutError(f"{' '.join(args)} took more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def production_environments(path: Path, *, state_bucket: str, staging: str = "template") -> Path:
    """environments.yaml with production filled in to point at the sandbox's account and region.

    Every check but the command's own can then pass, so a refusal is the command's doing. With
    staging="sandbox-copy" the promotion source is a sandbox whose journal is empty.
    """
    import yaml

    text = (
        (ROOT / "environments.yaml").read_text().replace("<PRODUCTION_ACCOUNT_ID>", "123456789012")
    )
    data = yaml.safe_load(text)
    prod = data["production"]
    prod.update(region="eu-west-1", profile=None, state_bucket=state_bucket)
    prod["images"]["registry"] = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    prod["ecs"]["run_task_network"] = {"subnets": ["subnet-1"], "security_groups": ["sg-1"]}
    prod["health"] = {"base_url": "https://api.example.test", "sample_tenant": "pilot"}
    prod["notifications"]["email_to"] = ["ops@example.test"]
    prod["notifications"]["status_page"].update(page_id="prodpage01", component="prodapi00001")
    prod["dbt"]["artifacts_bucket"] = "adinsights-prod-dbt-artifacts"
    prod["cost"]["monthly_budget"] = 5000
    prod.pop("airbyte")
    if staging == "sandbox-copy":
        data["staging"] = {**data["sandbox"]}
    path.write_text(yaml.safe_dump(data))
    return path


class SandboxProcess:
    """`inv sandbox.up` in the background, and its control API."""

    def __init__(self, home: Path, scenario: str = "none") -> None:
        self.home = home
        self.env = base_env(home)
        self.log = (home / "sandbox-up.log").open("w")
        self.proc = subprocess.Popen(
            [INV, "sandbox.up", "--scenario", scenario],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.endpoint = self._wait_ready(timeout=90)

    def _wait_ready(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                if " ready at " in line:
                    return line.split(" ready at ", 1)[1].split()[0]
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(
            f"sandbox.up did not start: {(self.home / 'sandbox-up.log').read_text()}"
        )

    def control(self, path: str = "", method: str = "GET") -> dict[str, Any]:
        request = urllib.request.Request(f"{self.endpoint}/_sandbox{path}", method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read() or b"{}")
            return data

    def forget_calls(self) -> None:
        self.control("/calls", method="DELETE")

    def mutating_calls(self) -> list[str]:
        """Mutating operations, S3 object writes with their key (`PutObject locks/sandbox.json`)."""
        return [
            f"{c['operation']} {c['key']}" if c.get("key") else c["operation"]
            for c in self.control("/calls")["calls"]
            if c["mutating"]
        ]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
