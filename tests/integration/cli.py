"""Run the real command line (`inv ...`) in subprocesses against a shared `inv sandbox.up`."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parents[2]
INV = str(Path(sys.executable).with_name("inv"))


@attrs.frozen
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def base_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ADINSIGHTS_"))}
    env.update(
        ADINSIGHTS_OPS_HOME=str(home),
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        PYTHONDONTWRITEBYTECODE="1",
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
        return [c["operation"] for c in self.control("/calls")["calls"] if c["mutating"]]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
