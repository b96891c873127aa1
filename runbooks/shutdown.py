"""The cyclic garbage collector in a command's process: run less often, and not at exit.

Nearly everything a task makes lives as long as the task: AWS clients, botocore's service models,
and with an embedded sandbox all of moto's backends. At Python's default thresholds (700, 10, 10)
the collector walked them some 900 times during `inv deploy --env sandbox`, a second of its time;
at THRESHOLDS, 0.2 s. Reference counting frees what it frees either way.

A command's process leaves without the interpreter's last garbage collection, too.

By the end of a task the process holds every AWS client it made (botocore's service models,
endpoint rules and their caches) and, with an embedded sandbox, all of moto's backends and models:
hundreds of thousands of objects. At exit the interpreter's final collection walks them all (a
fifth of a second after a read-only task against `sandbox.up`, a second or more with an embedded
sandbox, several under load) only to free memory the operating system takes back anyway.
Freezing the heap from the first atexit handler on leaves those objects out of it; what
reference counting frees is freed as before, atexit handlers (the log's flush and close,
temporary folders' clean-up) run as before, and stdout is flushed as before.
"""

from __future__ import annotations

import atexit
import gc

_registered = False

THRESHOLDS = (100_000, 50, 100)
"""gc.set_threshold's: allocations before a young collection, and the two ratios after it."""


def tune_collector() -> None:
    """The command's collector settings: THRESHOLDS, and no collection at exit."""
    gc.set_threshold(*THRESHOLDS)
    skip_final_collection()


def skip_final_collection() -> None:
    """Freeze the heap at exit, so the final collection leaves it alone (registered once)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
