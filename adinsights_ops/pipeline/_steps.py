"""The deploy's steps in their order (runbook §5), and what a resumed run reads back from them.

Each step body returns the outputs the journal keeps; `_run` runs them in order, journals them and
handles failure. The bodies live by runbook section: `_prepare` (steps 1-5: preflight, lock, data
state, infrastructure, snapshot), `_release` (6-8: register, one-off, rollout), `_verify` (9-10:
warm, smoke) and `_announce` (11).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adinsights_ops.pipeline._announce import announce
from adinsights_ops.pipeline._prepare import (
    data_state,
    infrastructure,
    preflight,
    snapshot,
    take_lock,
)
from adinsights_ops.pipeline._release import one_off, register, rollout
from adinsights_ops.pipeline._state import DeployRun, Outputs
from adinsights_ops.pipeline._verify import smoke, warm

STEPS: tuple[tuple[str, Callable[[DeployRun], Outputs]], ...] = (
    ("preflight", preflight),
    ("lock", take_lock),
    ("data-state", data_state),
    ("infrastructure", infrastructure),
    ("snapshot", snapshot),
    ("register", register),
    ("one-off", one_off),
    ("rollout", rollout),
    ("warm", warm),
    ("smoke", smoke),
    ("announce", announce),
)


def restore(run: DeployRun, name: str, outputs: Mapping[str, Any]) -> None:
    """Bring back what a finished step of a resumed run established."""
    if name == "snapshot":
        run.snapshot_id = outputs.get("snapshot")
    elif name == "register":
        run.targets = dict(run.record.deployed_revisions)
