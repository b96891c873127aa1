"""The client side of the sandbox loads no moto: a command that talks to a running `sandbox.up`
(finding it, checking its scenario) must not pay for the server's imports."""

from __future__ import annotations

import subprocess
import sys

from tests.simulated import ROOT

CLIENT_SIDE = """
import sys
from adinsights_ops import config, loader, sandbox
from adinsights_ops.sandbox import scenarios
env = config.load("sandbox")
for name in scenarios.names():
    scenarios.scenario_for(name, env)
sandbox.running("sandbox")
print(sorted(m for m in sys.modules if m.split(".")[0] == "moto"))
"""


def test_finding_a_sandbox_and_checking_a_scenario_import_no_moto() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_SIDE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stdout
