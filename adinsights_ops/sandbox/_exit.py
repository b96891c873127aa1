"""An embedded sandbox's process leaves without a last garbage collection of moto's objects.

A sandbox in the process fills it with moto's objects: every backend, service model and answer.
At exit the interpreter's final collection walks them all (a second on an idle machine, several
under load) only to free memory that the operating system takes back anyway. Freezing the heap
from the first atexit handler on leaves those objects out of that collection; what is freed by
reference counting is freed as before, and atexit handlers (logging's flush, temporary folders'
clean-up) run as before.
"""

from __future__ import annotations

import atexit
import gc
import threading

_lock = threading.Lock()
_registered = False


def skip_final_collection() -> None:
    """Freeze the heap at exit, so the interpreter's final collection leaves it alone (once)."""
    global _registered
    with _lock:
        if not _registered:
            atexit.register(gc.freeze)
            _registered = True
