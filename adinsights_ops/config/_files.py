"""The environments file: one frozen `Environment` per name, loaded and validated once.

Every error names the file, the dotted key and what was expected, so a bad edit is one clear line;
a load reports every problem of an environment at once (one ConfigError whose `details` list them).
Which file is read: see `environments_file`.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adinsights_ops.config._parse import parse_environment
from adinsights_ops.config._reader import load_yaml
from adinsights_ops.config._settings import (
    DEFAULT_FILE,
    ENV_VARIABLE,
    PACKAGED_FILE,
    Environment,
)
from adinsights_ops.errors import ConfigError

_chosen: list[Path] = []
"""The file named on the command line (`--environments PATH`), while `chosen_file` is in effect."""


@contextmanager
def chosen_file(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within the block, `environments_file()` is `path` (when given): what `--environments`
    sets for one run, above $ADINSIGHTS_ENVIRONMENTS and the search from the working folder."""
    if path is None:
        yield
        return
    _chosen.append(Path(path))
    try:
        yield
    finally:
        _chosen.pop()


def find_upward(start: Path | None = None) -> Path | None:
    """`environments.yaml` in `start` (default: the working folder) or its nearest parent."""
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        file = candidate / DEFAULT_FILE
        if file.is_file():
            return file
    return None


def environments_file(path: str | os.PathLike[str] | None = None) -> Path:
    """The environments file, found the way `git` finds `.git`. In order:

    1. `path` (a caller's argument), then `--environments PATH` (see `chosen_file`);
    2. $ADINSIGHTS_ENVIRONMENTS;
    3. `environments.yaml` in the working folder or its nearest parent;
    4. the packaged sandbox-only file (`PACKAGED_FILE`), so the sandbox runs from anywhere.
    """
    if path:
        return Path(path)
    if _chosen:
        return _chosen[-1]
    variable = os.environ.get(ENV_VARIABLE)
    if variable:
        return Path(variable)
    return find_upward() or PACKAGED_FILE


def _how_chosen(path: str | os.PathLike[str] | None) -> str:
    if path:
        return ""
    if _chosen:
        return " (given by --environments)"
    if os.environ.get(ENV_VARIABLE):
        return f" (given by ${ENV_VARIABLE})"
    return ""


@functools.lru_cache(maxsize=8)
def _parsed(text: str, source: str) -> Any:
    """The file's text parsed, kept for the text it was: a process that loads several environments,
    or one environment many times (a test suite), reads the YAML once. An error is not kept."""
    return load_yaml(text, source)


def read_file(path: str | os.PathLike[str] | None = None) -> tuple[str, Mapping[str, Any]]:
    """Read and parse the environments file; returns (its name for messages, the top mapping)."""

    file = environments_file(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        tried = file if file.is_absolute() else Path.cwd() / file
        raise ConfigError(
            source, "", f"file not found (tried {tried}){_how_chosen(path)}"
        ) from None
    except IsADirectoryError:
        raise ConfigError(source, "", f"is a folder, not a file{_how_chosen(path)}") from None
    except OSError as exc:
        raise ConfigError(source, "", f"cannot be read ({exc.strerror})") from exc
    except ValueError as exc:  # not UTF-8
        raise ConfigError(source, "", f"cannot be read as UTF-8 text ({exc})") from exc
    data = copy.deepcopy(_parsed(text, source))  # the caller's own copy
    if not isinstance(data, Mapping):
        raise ConfigError(source, "", "expected a mapping of environment names")
    return source, data


def environment_names(path: str | os.PathLike[str] | None = None) -> list[str]:
    _, data = read_file(path)
    return [str(name) for name in data]


def load(name: str, path: str | os.PathLike[str] | None = None) -> Environment:
    """Load and validate the environment called `name`."""
    source, data = read_file(path)
    if name not in data:
        known = ", ".join(str(n) for n in data)
        hint = ""
        if Path(source) == PACKAGED_FILE:
            hint = (
                f"; no {DEFAULT_FILE} in this folder or any parent: name one with "
                f"--environments PATH or ${ENV_VARIABLE}"
            )
        raise ConfigError(source, name, f"unknown environment (known: {known}){hint}")
    return parse_environment(name, data[name], source)
