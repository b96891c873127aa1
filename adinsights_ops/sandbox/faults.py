"""Fault injection in the sandbox server: AWS as it behaves on a bad night.

A `FaultPlan` says which AWS requests the sandbox server answers badly, and how. It acts in the
server, below every client's retry layer, so it holds for any client (this process, a subprocess,
`aws` on the command line) and botocore's standard retry mode really has to cope:

    throttle     400 Throttling / ThrottlingException (S3: 503 SlowDown), before the server acts
    5xx-before   503 ServiceUnavailable, before the server acts (moto is not called)
    5xx-after    the server acts (moto is called), then its answer is replaced by 500 InternalError:
                 the client retries a call that already happened, as on real AWS
    reset        the connection is closed without an answer, before the server acts
    timeout      the server acts, then holds the answer longer than the client's read timeout

Random faults hit `rate` of the requests (of `operations`, or of all), at most `max_per_call`
attempts of one call in a row, so that retries absorb them. Rules target calls by operation:
"the 3rd UpdateService fails 9 times", "CreateDBSnapshot fails always", "PutObject on journal/
keys fails 9 times". A call is what botocore retries as one (its `amz-sdk-invocation-id` header);
each retry is one attempt. The decisions are drawn from `seed`, the operation, the call's ordinal
and the attempt, so a run's faults are reproducible whatever the interleaving of other calls.

A spec is JSON (an object with the fields below, `rules` a list of objects) or a preset name:
`throttled` (a quarter of the calls throttled) or `chaos` (30 % of every kind).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from adinsights_ops.errors import UsageError

THROTTLE, BEFORE, AFTER, RESET, TIMEOUT = "throttle", "5xx-before", "5xx-after", "reset", "timeout"
KINDS = (THROTTLE, BEFORE, AFTER, RESET, TIMEOUT)
ACTS_FIRST = (AFTER, TIMEOUT)
"""Kinds whose request the server carries out before the client is let down."""

ENV_VAR = "ADINSIGHTS_SANDBOX_FAULTS"
MESSAGE = "sandbox fault injection"


def _kinds(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not value:
        raise ValueError(f"kinds: expected a list of {', '.join(KINDS)}")
    kinds = tuple(str(kind) for kind in value)
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise ValueError(f"kinds: unknown {', '.join(unknown)} (known: {', '.join(KINDS)})")
    return kinds


def _operations(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence):
        raise ValueError("operations: expected a list of AWS operation names")
    return tuple(str(op) for op in value)


@attrs.frozen
class Rule:
    """Fail the calls of one operation (optionally only the `nth` call), `times` attempts."""

    operation: str
    kind: str = BEFORE
    nth: int | None = None
    """Only the nth call (1-based) of this operation; None: every call."""
    times: int | None = None
    """How many attempts fail in all (of the nth call, or of every matching call); None: always."""
    key_prefix: str = ""
    """For S3 object operations: only keys starting with this (e.g. `journal/`)."""

    def __attrs_post_init__(self) -> None:
        if not self.operation:
            raise ValueError("rule: operation is required (e.g. UpdateService)")
        _kinds([self.kind])
        for name in ("nth", "times"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"rule {self.operation}: {name} must be a whole number, 1 or more")

    def matches(self, operation: str, key: str) -> bool:
        return operation == self.operation and key.startswith(self.key_prefix)

    def spec(self) -> dict[str, Any]:
        return {k: v for k, v in attrs.asdict(self).items() if v not in (None, "")}


@attrs.frozen
class FaultPlan:
    """What the sandbox server does wrong, and how often."""

    rate: float = 0.0
    kinds: tuple[str, ...] = attrs.field(default=KINDS, converter=_kinds)
    seed: int = 0
    operations: tuple[str, ...] = attrs.field(default=(), converter=_operations)
    """Random faults only on these operations (empty: every AWS operation)."""
    max_per_call: int = 3
    """Random faults on one call's attempts at most (botocore's retries absorb them)."""
    read_timeout: float = 2.0
    """The read timeout sandbox clients use while this plan may inject `timeout`, which outlasts it."""
    rules: tuple[Rule, ...] = ()

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate {self.rate}: expected a share from 0 to 1 (0.3 is 30 %)")
        if self.max_per_call < 0:
            raise ValueError(f"max_per_call {self.max_per_call}: expected 0 or more")
        if not 0.1 <= self.read_timeout <= 300:
            raise ValueError(f"read_timeout {self.read_timeout}: expected 0.1 to 300 seconds")

    @property
    def client_read_timeout(self) -> float | None:
        """The read timeout clients need: this plan's when it may hold answers, else None."""
        timeouts = (self.rate > 0 and TIMEOUT in self.kinds) or any(
            rule.kind == TIMEOUT for rule in self.rules
        )
        return self.read_timeout if timeouts else None

    @property
    def hold_seconds(self) -> float:
        """How long a `timeout` fault holds its answer: past the clients' read timeout."""
        return self.read_timeout + 1.0

    def spec(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "kinds": list(self.kinds),
            "seed": self.seed,
            "operations": list(self.operations),
            "max_per_call": self.max_per_call,
            "read_timeout": self.read_timeout,
            "rules": [rule.spec() for rule in self.rules],
        }


PRESETS: dict[str, FaultPlan] = {
    "throttled": FaultPlan(rate=0.25, kinds=(THROTTLE,)),
    "chaos": FaultPlan(rate=0.3, read_timeout=1.0),
}

_PLAN_FIELDS = {"rate", "kinds", "seed", "operations", "max_per_call", "read_timeout", "rules"}
_RULE_FIELDS = {"operation", "kind", "nth", "times", "key_prefix"}


def _number(data: Mapping[str, Any], key: str, kind: type, default: Any) -> Any:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise ValueError(
            f"{key} {value!r}: expected a {'number' if kind is float else 'whole number'}"
        )
    return kind(value)


def plan_from(data: Any) -> FaultPlan:
    """A FaultPlan from a spec's parsed JSON; ValueError says what is wrong."""
    if isinstance(data, str):
        if data in PRESETS:
            return PRESETS[data]
        raise ValueError(f"unknown preset {data!r} (known: {', '.join(PRESETS)})")
    if not isinstance(data, Mapping):
        raise ValueError("expected a JSON object or a preset name")
    unknown = set(data) - _PLAN_FIELDS - {"preset"}
    if unknown:
        known = ", ".join(sorted(_PLAN_FIELDS))
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))} (known: {known})")
    base = plan_from(data["preset"]) if "preset" in data else FaultPlan()
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise ValueError("rules: expected a list of objects")
    parsed: list[Rule] = []
    for item in rules:
        if not isinstance(item, Mapping):
            raise ValueError("rules: expected a list of objects")
        extra = set(item) - _RULE_FIELDS
        if extra:
            raise ValueError(f"rule: unknown field(s) {', '.join(sorted(extra))}")
        parsed.append(
            Rule(
                operation=str(item.get("operation", "")),
                kind=str(item.get("kind", BEFORE)),
                nth=None if item.get("nth") is None else _number(item, "nth", int, None),
                times=None if item.get("times") is None else _number(item, "times", int, None),
                key_prefix=str(item.get("key_prefix", "")),
            )
        )
    return FaultPlan(
        rate=_number(data, "rate", float, base.rate),
        kinds=data.get("kinds", base.kinds),
        seed=_number(data, "seed", int, base.seed),
        operations=data.get("operations", base.operations),
        max_per_call=_number(data, "max_per_call", int, base.max_per_call),
        read_timeout=_number(data, "read_timeout", float, base.read_timeout),
        rules=tuple(parsed) or base.rules,
    )


def parse_spec(text: str) -> FaultPlan:
    """A FaultPlan from a spec: a preset name or JSON. A bad spec is a UsageError (exit 2)."""
    text = text.strip()
    try:
        return plan_from(json.loads(text) if text[:1] in '{["' else text)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"fault spec {text!r}: {exc}") from None


@attrs.frozen
class Injected:
    """One fault the server injected."""

    operation: str
    kind: str
    attempt: int
    rule: int | None
    at: float

    def body(self) -> dict[str, Any]:
        return attrs.asdict(self)


class FaultInjector:
    """Decides, request by request, whether a FaultPlan faults it; remembers what it injected."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.injected: list[Injected] = []
        self._calls: dict[str, dict[str, int]] = {}  # operation -> invocation id -> ordinal
        self._attempts: Counter[str] = Counter()  # invocation id -> attempts seen
        self._random_in_a_row: Counter[str] = Counter()  # invocation id -> random faults
        self._rule_calls: list[dict[str, int]] = [{} for _ in plan.rules]
        self._rule_failed = [0] * len(plan.rules)
        self._lock = threading.Lock()

    def decide(self, operation: str, *, key: str = "", invocation: str = "") -> str | None:
        """The fault kind for this request, or None to answer it well."""
        with self._lock:
            calls = self._calls.setdefault(operation, {})
            invocation = invocation or f"request-{sum(self._attempts.values())}"
            ordinal = calls.setdefault(invocation, len(calls) + 1)
            self._attempts[invocation] += 1
            attempt = self._attempts[invocation]
            by_rule = self._by_rule(operation, key, invocation)
            kind: str | None
            rule: int | None
            if by_rule is not None:
                kind, rule = by_rule
            else:
                kind, rule = self._by_chance(operation, invocation, ordinal, attempt), None
            if kind is not None:
                self.injected.append(Injected(operation, kind, attempt, rule, time.time()))
            return kind

    def _by_rule(self, operation: str, key: str, invocation: str) -> tuple[str, int] | None:
        for index, rule in enumerate(self.plan.rules):
            if not rule.matches(operation, key):
                continue
            seen = self._rule_calls[index]
            ordinal = seen.setdefault(invocation, len(seen) + 1)
            if rule.nth is not None and ordinal != rule.nth:
                continue
            if rule.times is not None and self._rule_failed[index] >= rule.times:
                continue
            self._rule_failed[index] += 1
            return rule.kind, index
        return None

    def _by_chance(self, operation: str, invocation: str, ordinal: int, attempt: int) -> str | None:
        plan = self.plan
        if plan.rate <= 0 or (plan.operations and operation not in plan.operations):
            return None
        if self._random_in_a_row[invocation] >= plan.max_per_call:
            return None
        draw = random.Random(f"{plan.seed}/{operation}/{ordinal}/{attempt}")
        if draw.random() >= plan.rate:
            return None
        self._random_in_a_row[invocation] += 1
        return draw.choice(plan.kinds)

    def report(self) -> dict[str, Any]:
        with self._lock:
            injected = list(self.injected)
        return {
            "plan": self.plan.spec(),
            "injected": [fault.body() for fault in injected],
            "counts": dict(Counter(fault.kind for fault in injected)),
        }


# -- answers in each protocol's shape ---------------------------------------------------------------

_CODES = {
    # kind -> (status, JSON __type, query/XML code)
    THROTTLE: ("400 Bad Request", "ThrottlingException", "Throttling"),
    BEFORE: ("503 Service Unavailable", "ServiceUnavailableException", "ServiceUnavailable"),
    AFTER: ("500 Internal Server Error", "InternalFailure", "InternalError"),
}


def error_answer(kind: str, protocol: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status, headers, body) of an error answer in the protocol's shape: json, query or rest."""
    status, json_type, code = _CODES[kind]
    message = f"{MESSAGE}: {kind}"
    if protocol == "json":
        body = json.dumps({"__type": json_type, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", json_type)]
    elif protocol == "query":
        kind_of = "Sender" if kind == THROTTLE else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{kind_of}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>sandbox-fault</RequestId>"
            "</ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    else:  # REST (S3): S3 throttles with 503 SlowDown
        if kind == THROTTLE:
            status, code = "503 Slow Down", "SlowDown"
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>{message}</Message><RequestId>sandbox-fault</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amzn-ErrorType", code)]
    return status, [*headers, ("Content-Length", str(len(body)))], body
