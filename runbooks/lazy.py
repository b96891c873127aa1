"""A module imported when it is first used, not when the task module naming it is imported.

`inv --list` and `--help` import every task module; what those modules print with (rich, click,
attrs through `runbooks.render`) is needed only once a task runs. A task module names its render
module this way, typed as the module itself:

    if TYPE_CHECKING:
        from runbooks.render import _ecs as show
    else:
        show = lazy.module("runbooks.render._ecs")

The module is found (so a wrong name fails at once) but executed on its first attribute access
(importlib.util.LazyLoader), exactly once; an ordinary import of it afterwards gets the same module.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def module(name: str) -> ModuleType:
    """`name` (a submodule of an imported package) as a module that loads when first used."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    found = importlib.util.module_from_spec(spec)
    sys.modules[name] = found
    spec.loader.exec_module(found)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, found)  # as an import would: `package.child`
    return found
