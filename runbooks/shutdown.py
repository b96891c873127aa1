"""A command's process leaves without the interpreter's last garbage collection.

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


def skip_final_collection() -> None:
    """Freeze the heap at exit, so the final collection leaves it alone (registered once)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
