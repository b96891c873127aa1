"""The runbook's command line: `inv --list` shows every task.

The collection is composed in runbooks/collection.py; `adinsights-ops` (runbooks/program.py) runs
the same one with usage errors as exit 2.
"""

from runbooks.collection import ns

__all__ = ["ns"]
