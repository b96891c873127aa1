"""Every botocore session in a sandbox's process reads AWS's data files through one loader.

moto makes a new boto3 session for each service's backends as its modules are imported (to list
the regions), and each new session parses the endpoint and service data again: most of the cost of
importing moto. `adinsights_ops.aws.shared_loader` already serves the sessions the tool makes; from
`share_data_loader()` on it serves every session the process makes, moto's included, so each file is
parsed once. A loader only reads files and caches what it parsed; moto's own model loader (with its
extras) is a different one and is left alone.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_shared = False


def share_data_loader() -> None:
    """From now on a new botocore session uses the process's shared loader for its data path."""
    global _shared
    with _lock:
        if _shared:
            return
        import botocore.session

        from adinsights_ops.aws import shared_loader

        # A drop-in (search path string -> loader) whose loaders are one per path, not per session.
        botocore.session.create_loader = shared_loader  # type: ignore[assignment]
        _shared = True
