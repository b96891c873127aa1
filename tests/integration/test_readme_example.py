"""The README's primitive-script example runs as written, against the sandbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using a primitive from another script", 1)[1].split("\n## ", 1)[0]
    blocks: list[str] = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section has one Python example"
    return blocks[0]


def test_the_readme_example_rolls_the_sandbox_out(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ADINSIGHTS_"))}
    env["ADINSIGHTS_OPS_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", example()],
        cwd=tmp_path,  # an empty folder: the packaged sandbox environment is found
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    services = {"backend-service", "celery-worker", "celery-beat", "frontend-service"}
    assert {line.split()[0] for line in lines} == services, done.stdout
    assert all(line.split()[-1].endswith(":2") for line in lines), done.stdout
