"""The runbook's command line: `inv --list` shows every task.

The collection is composed in runbooks/collection.py; `adinsights-ops` (runbooks/program.py) runs
the same one with usage errors as exit 2.
"""

import sys

# Invoke turns bytecode caching off before it loads this file (its `--write-pyc`, meant for a loose
# tasks.py). The runbook's modules are an installed package: they keep their `__pycache__` as any
# package does, unless the interpreter itself was told not to write one (-B,
# PYTHONDONTWRITEBYTECODE). Without it every `inv` compiles them all again.
sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)

from runbooks.collection import ns  # noqa: E402 (after the bytecode setting it depends on)
from runbooks.shutdown import tune_collector  # noqa: E402

tune_collector()  # `inv` does not walk every AWS object it made, again and again (see shutdown)

__all__ = ["ns"]
