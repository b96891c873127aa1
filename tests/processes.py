"""Test helper: whether a process has gone, waited for without polling."""

from __future__ import annotations

import os
import select


def gone(pid: int, within: float) -> bool:
    """True once process `pid` has exited (waits on a pidfd, at most `within` seconds)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], within)
        return bool(readable)
    finally:
        os.close(fd)
