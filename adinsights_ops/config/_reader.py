"""Typed reads from the environments file's YAML, each error naming the file and dotted key."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from adinsights_ops.config._settings import ACCOUNT, MAX_TIMEOUT, PLACEHOLDER
from adinsights_ops.errors import ConfigError


class Reader:
    """Typed reads from a YAML mapping, each error naming file, dotted key and expectation.

    A wrong value is recorded (in `errors`, shared by every reader of one environment) and the
    read goes on with a stand-in, so that one load reports every problem at once.
    """

    def __init__(
        self,
        source: str,
        data: object,
        path: str,
        errors: list[ConfigError] | None = None,
        *,
        absent: bool = False,
    ) -> None:
        self.source = source
        self.path = path
        self.errors: list[ConfigError] = [] if errors is None else errors
        self.absent = absent  # a section already reported missing: its keys are not reported
        self.seen: set[str] = set()
        if not isinstance(data, Mapping):
            self.fail(path, f"expected a mapping, got {_kind(data)}")
            self.absent = True
            data = {}
        self.data: Mapping[str, Any] = data

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, key: str, expected: str) -> None:
        """Record one problem; the load goes on and reports them all at the end."""
        self.errors.append(ConfigError(self.source, key, expected))

    def _get(self, name: str, *, required: bool) -> Any:
        """The value, or None when it is missing or a placeholder (a problem recorded)."""
        self.seen.add(name)
        if name not in self.data or self.data[name] is None:
            if required and not self.absent:
                self.fail(self.key(name), "missing (required)")
            return None
        value = self.data[name]
        if isinstance(value, str) and PLACEHOLDER.search(value):
            self.fail(self.key(name), f"still the placeholder {value}: fill it in")
            return None
        return value

    def text(self, name: str, *, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
        value = self._get(name, required=True)
        if value is None:
            return ""
        if isinstance(value, int) and not isinstance(value, bool) and pattern is ACCOUNT:
            value = f"{value:012d}"
        if not isinstance(value, str) or not value:
            self.fail(self.key(name), f"expected a string, got {_kind(value)}")
            return ""
        if pattern is not None and not pattern.match(value):
            self.fail(self.key(name), f"expected {hint}, got {value!r}")
        return value

    def opt_text(self, name: str) -> str | None:
        if self.data.get(name) is None:
            self.seen.add(name)
            return None
        return self.text(name) or None

    def flag(self, name: str, default: bool | None = None) -> bool:
        value = self._get(name, required=default is None)
        if value is None:
            return bool(default)
        if not isinstance(value, bool):
            self.fail(self.key(name), f"expected true or false, got {_kind(value)}")
            return bool(default)
        return value

    def number(self, name: str, default: float, *, maximum: float = math.inf) -> float:
        value = self._get(name, required=False)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 < value <= maximum
        ):
            limit = f" of at most {maximum:g}" if math.isfinite(maximum) else ""
            self.fail(self.key(name), f"expected a positive number{limit}, got {_kind(value)}")
            return default
        return float(value)

    def seconds(self, name: str, default: float) -> float:
        """A timeout: a positive number of seconds, at most a week."""
        return self.number(name, default, maximum=MAX_TIMEOUT)

    def whole(self, name: str, default: int, *, maximum: int) -> int:
        value = self._get(name, required=False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
            self.fail(
                self.key(name),
                f"expected a whole number from 1 to {maximum}, got {_kind(value)}",
            )
            return default
        return int(value)

    def choice(self, name: str, choices: Sequence[str]) -> str:
        value = self.text(name)
        if value and value not in choices:
            self.fail(self.key(name), f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self._get(name, required=False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(self.key(name), "expected a list of strings")
            return ()
        placeholders = [v for v in value if PLACEHOLDER.search(v)]
        for v in placeholders:
            self.fail(self.key(name), f"still the placeholder {v}: fill it in")
        return () if placeholders else tuple(value)

    def section(self, name: str, *, required: bool = True) -> Reader | None:
        value = self._get(name, required=required)
        if value is None:
            return None
        return Reader(self.source, value, self.key(name), self.errors)

    def need(self, name: str) -> Reader:
        """A required section; when it is missing (reported), an empty one that reports nothing."""
        reader = self.section(name)
        if reader is None:
            return Reader(self.source, {}, self.key(name), self.errors, absent=True)
        return reader

    def done(self) -> None:
        """Refuse keys nobody reads: a typo must not be silently ignored."""
        if self.absent:
            return
        known = ", ".join(sorted(self.seen))
        for name in sorted(set(self.data) - self.seen, key=str):
            self.fail(self.key(str(name)), f"unknown key (known: {known})")


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def combined(errors: Sequence[ConfigError]) -> ConfigError:
    """One ConfigError for several: the first's source, key and expectation, its message saying
    how many there are, and `details` naming every one by its dotted key."""
    if len(errors) == 1:
        return errors[0]
    first = errors[0]
    error = ConfigError(first.source, first.key, first.expected)
    error.message = f"{error.message} (1 of {len(errors)} problems, each below)"
    error.details = [f"{e.key}: {e.expected}" if e.key else str(e) for e in errors]
    return error


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML safely, refusing what YAML itself lets pass silently: a key given twice in one
    mapping (the last would win without a word). Errors name the file, the dotted key and line."""
    import yaml

    # libyaml's parser when PyYAML has it (the same safe constructor, ten times faster to read)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader)
        if node is not None:
            _check_unique_keys(node, source, "")
        return yaml.load(text, Loader=loader)  # a safe loader either way
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise ConfigError(source, "", f"is not valid YAML ({where})") from exc


def _check_unique_keys(node: Any, source: str, path: str) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            dotted = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                raise ConfigError(
                    source,
                    dotted,
                    f"given twice (lines {seen[key]} and {line}); YAML would silently keep "
                    "the last: remove one",
                )
            seen[key] = line
            _check_unique_keys(value_node, source, dotted)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_unique_keys(item, source, f"{path}[{index}]")
