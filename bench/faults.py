"""Deploys under injected AWS faults: how many end in a documented state, and what they duplicated.

Runs one clean deploy, then `--runs` deploys at `--rate` faults of every kind (throttling, 5xx
before and after the server acts, connection resets, read timeouts), each against the same
in-process sandbox server, alternating image tags so that each one rolls out (see
tests/rehearsal/faulted.py for how a run is judged). With a bad-input corpus under tests/cli/, it
is run too. Prints each figure beside its target.

    .venv/bin/python bench/faults.py [--runs 6] [--rate 0.3] [--seed 1] [--no-corpus]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for key, value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_DEFAULT_REGION": "eu-west-1",
}.items():
    os.environ[key] = value
os.environ.pop("AWS_PROFILE", None)

from adinsights_ops.sandbox.faults import FaultPlan  # noqa: E402
from tests.rehearsal.faulted import Judged, Rehearsal  # noqa: E402

os.environ["ADINSIGHTS_OPS_CACHE"] = tempfile.mkdtemp()  # the developer's cache is not touched
CORPUS = ROOT / "tests" / "cli"
MIN_CORPUS = 300


def deploys(runs: int, rate: float, first_seed: int) -> tuple[Judged, list[Judged]]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-faults-") as home,
        Rehearsal.running(Path(home)) as rehearsal,
    ):
        clean = rehearsal.deploy(None)
        print(clean.summary(), flush=True)
        judged = []
        for seed in range(first_seed, first_seed + runs):
            plan = FaultPlan(rate=rate, seed=seed, read_timeout=1.0)
            judged.append(rehearsal.deploy(plan, seed=seed))
            print(judged[-1].summary(), flush=True)
    return clean, judged


def corpus() -> tuple[int, int] | None:
    """(passed, cases) of the bad-input corpus under tests/cli/, or None if there is none."""
    if not any(CORPUS.glob("test_*.py")):
        return None
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CORPUS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|error)", tail)}
    passed = counts.get("passed", 0)
    return passed, passed + counts.get("failed", 0) + counts.get("error", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="deploys under faults (default 6)")
    parser.add_argument("--rate", type=float, default=0.3, help="share of calls faulted (0.3)")
    parser.add_argument("--seed", type=int, default=1, help="first seed (each run: the next one)")
    parser.add_argument("--no-corpus", action="store_true", help="skip the bad-input corpus")
    args = parser.parse_args()
    started = time.monotonic()
    clean, judged = deploys(args.runs, args.rate, args.seed)
    converged = sum(j.converged for j in judged)
    duplicated = sum(len(j.duplicates) for j in judged) + len(clean.duplicates)
    faults = sum(sum(j.faults.values()) for j in judged)
    outcomes: dict[str, int] = {}
    for j in judged:
        outcomes[j.outcome] = outcomes.get(j.outcome, 0) + 1
    print()
    print(f"faults injected:          {faults} ({args.rate:.0%} of calls, every kind)")
    print(f"outcomes:                 {outcomes}")
    print(f"clean run converged:      {'yes' if clean.converged else 'NO':<10} target: yes")
    print(f"runs:                     {len(judged):<10} target: {args.runs}")
    print(
        f"converged:                {f'{converged}/{len(judged)}':<10} target: {len(judged)}/{len(judged)}"
    )
    print(f"duplicated side effects:  {duplicated:<10} target: 0")
    found = None if args.no_corpus else corpus()
    if found is not None:
        passed, cases = found
        print(
            f"bad inputs passed:        {f'{passed}/{cases}':<10} "
            f"target: {cases}/{cases}, at least {MIN_CORPUS} cases"
        )
    print(f"({time.monotonic() - started:.0f}s)")


if __name__ == "__main__":
    main()
