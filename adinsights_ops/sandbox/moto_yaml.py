"""moto's CloudFormation reads templates with libyaml, when PyYAML has it.

moto parses a template with PyYAML's pure-Python loader, several times per call: a CreateChangeSet
of the ADinsights template (6 KB) parsed it three times at 25 ms each, a fifth of the sandbox
server's work in an infrastructure step. `use_libyaml()` points moto's CloudFormation modules at a
`yaml` whose `Loader` is libyaml's CLoader: the same constructor and resolver behind a C parser, so
the same documents, the same errors (ScannerError, ParserError) and about ten times the speed.
Everything else in the process keeps the `yaml` it had. Without libyaml nothing changes.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

_lock = threading.Lock()
_done = False
MODULES = ("moto.cloudformation.models", "moto.cloudformation.responses")


def use_libyaml(*, loaded_only: bool = False) -> bool:
    """Make moto's CloudFormation parse with CLoader (idempotent); False without libyaml.

    `loaded_only`: only once moto's CloudFormation is imported (never import it: that is half a
    second, and most sandboxes never see a CloudFormation call). The sandbox server asks this way
    after each request's backend is loaded; returns whether the patch is in place."""
    global _done
    if _done:
        return True
    if loaded_only and not all(name in sys.modules for name in MODULES):
        return False
    import importlib

    import yaml

    cloader = getattr(yaml, "CLoader", None)
    if cloader is None:
        return False
    with _lock:
        if not _done:  # another thread may have got here first
            shim = _shim(yaml, cloader)
            for name in MODULES:
                module = importlib.import_module(name)
                module.yaml = shim  # type: ignore[attr-defined]
            _done = True
    return True


def _shim(yaml: Any, cloader: type) -> types.ModuleType:
    """`yaml` as moto's CloudFormation uses it (load, Loader, add_multi_constructor, node types),
    with CLoader as its Loader."""
    shim = types.ModuleType("yaml", "PyYAML, with libyaml's CLoader as Loader (moto_yaml.py)")
    shim.__dict__.update({k: v for k, v in vars(yaml).items() if not k.startswith("__")})
    shim.Loader = cloader  # type: ignore[attr-defined]

    def add_multi_constructor(prefix: str, constructor: Any, Loader: Any = None) -> None:
        yaml.add_multi_constructor(prefix, constructor, Loader=Loader or cloader)

    shim.add_multi_constructor = add_multi_constructor  # type: ignore[attr-defined]
    return shim
