"""Side effects the sandbox server carried out, counted so that runs can be compared.

A deploy that is retried, resumed or re-run must not do twice what a clean run does once: one RDS
snapshot, one registration per changed service, one `migrate`, one UpdateService per service and
rollback, one Slack message and one email. The server counts what it ACTED on, that is requests
that reached moto and that moto answered with success, whatever the client then received: a call
faulted before the server acted is no effect, one faulted after it acted is (the client will retry
a call that already happened, exactly as on AWS).
"""

from __future__ import annotations

import json
import shlex
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

SIMPLE = {
    "CreateDBSnapshot": "db_snapshots",
    "CreateDBClusterSnapshot": "db_snapshots",
    "RegisterTaskDefinition": "task_definitions",
    "SendEmail": "emails",
    "SendRawEmail": "emails",
    "ExecuteChangeSet": "stacks_executed",
    "CreateStack": "stacks_executed",
    "UpdateStack": "stacks_executed",
}
PER_ITEM = ("run_task", "update_service")
NAMES = (*dict.fromkeys(SIMPLE.values()), *PER_ITEM, "slack_messages")


def command_label(command: Any) -> str:
    """`migrate` for `python manage.py migrate --noinput`; other commands as given."""
    words = [str(w) for w in command] if isinstance(command, list) else shlex.split(str(command))
    if "manage.py" in words and words.index("manage.py") + 1 < len(words):
        return words[words.index("manage.py") + 1]
    return " ".join(words) or "(task definition command)"


def request_params(body: bytes, protocol: str, query: str = "") -> Mapping[str, Any]:
    """A request's parameters: its JSON body, or its query-protocol form (body and query string)."""
    if protocol == "json":
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    if protocol == "query":
        form = parse_qs(query) | parse_qs(body.decode("utf-8", "replace"))
        return {k: v[0] for k, v in form.items()}
    return {}


def effect_of(operation: str, body: bytes, protocol: str) -> str | None:
    """The effect key of a request the server carried out, or None (reads, other writes)."""
    if operation in SIMPLE:
        return SIMPLE[operation]
    if operation == "RunTask":
        params = request_params(body, protocol)
        overrides = (params.get("overrides") or {}).get("containerOverrides") or []
        command: Any = next((o["command"] for o in overrides if o.get("command")), [])
        return f"run_task/{command_label(command)}"
    if operation == "UpdateService":
        service = str(request_params(body, protocol).get("service", "?")).rsplit("/", 1)[-1]
        return f"update_service/{service}"
    return None


class Effects:
    """Counts effects; `faulted` counts those whose answer a fault then took from the client."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.faulted: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, key: str, *, faulted: bool = False) -> None:
        with self._lock:
            self.counts[key] += 1
            if faulted:
                self.faulted[key] += 1

    def clear(self) -> None:
        with self._lock:
            self.counts.clear()
            self.faulted.clear()

    def report(self, *, slack_messages: int = 0) -> dict[str, Any]:
        with self._lock:
            counts, faulted = Counter(self.counts), Counter(self.faulted)
        counts["slack_messages"] = slack_messages
        return {"effects": _nested(counts), "faulted_after_acting": _nested(faulted)}


def _nested(counts: Counter[str]) -> dict[str, Any]:
    out: dict[str, Any] = {name: {} if name in PER_ITEM else 0 for name in NAMES}
    for key, value in counts.items():
        name, _, item = key.partition("/")
        if item:
            out.setdefault(name, {})[item] = value
        else:
            out[name] = value
    return out
