"""What the Airbyte host said (runbook 2.2 and 7): its data volume's disk use, and the findings.

Reading `df -P` and judging the result need no SSH; `_host` gets the output over SSH.
"""

from __future__ import annotations

import math
import re

import attrs

DEFAULT_DATA_VOLUME = "/var/lib/airbyte"
DEFAULT_STATUS_COMMAND = "abctl local status"
DEFAULT_THRESHOLD = 80.0
DEFAULT_TIMEOUT = 30.0
NO_EXIT_STATUS = -1  # paramiko's exit code when the channel closed without one (signal, cut)


@attrs.frozen
class DiskUsage:
    """One `df -P` row: the filesystem holding a path, in bytes, and df's own use percentage."""

    path: str  # the path that was asked about (the data volume)
    filesystem: str
    mount_point: str
    size_bytes: int
    used_bytes: int
    available_bytes: int
    used_percent: int  # df's Capacity column: used / (used + available), rounded up


@attrs.frozen
class HostCheck:
    """What the host said: its disk, the status command's output and exit code, and the findings.

    `status_exit_code` is None when the status command did not finish within the timeout.
    An empty `findings` means healthy.
    """

    host: str
    disk: DiskUsage
    status_output: str
    status_exit_code: int | None
    findings: tuple[str, ...]
    user: str = ""
    port: int = 22
    status_command: str = DEFAULT_STATUS_COMMAND
    threshold: float = DEFAULT_THRESHOLD

    @property
    def ok(self) -> bool:
        return not self.findings


def findings_for(
    disk: DiskUsage,
    *,
    status_command: str,
    status_exit_code: int | None,
    threshold: float = DEFAULT_THRESHOLD,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[str, ...]:
    """What an operator must look at: a full data volume, a failing or hanging status command."""
    findings: list[str] = []
    if disk.used_percent >= threshold:
        findings.append(
            f"data volume {disk.path} is {disk.used_percent}% full (threshold {threshold:g}%), "
            f"{disk.available_bytes / 2**30:.1f} GiB free on {disk.filesystem}"
        )
    if status_exit_code is None:
        findings.append(f"`{status_command}` did not finish within {timeout:g}s")
    elif status_exit_code == NO_EXIT_STATUS:
        findings.append(
            f"`{status_command}` ended without an exit status (killed by a signal, or cut off)"
        )
    elif status_exit_code == 127:
        findings.append(f"`{status_command}` exited 127: command not found on the host?")
    elif status_exit_code != 0:
        findings.append(f"`{status_command}` exited {status_exit_code}")
    return tuple(findings)


_DF_ROW = re.compile(
    r"^(?P<fs>\S.*?)\s+(?P<size>\d+)\s+(?P<used>\d+)\s+(?P<avail>\d+)\s+"
    r"(?P<capacity>\d+%|-)\s+(?P<mount>/.*?)\s*$"
)
_DF_UNIT = re.compile(r"\b(\d+)-blocks\b")


def parse_df(output: str, *, path: str) -> DiskUsage:
    """Read the row of `df -P` output for `path`; raises ValueError if there is no such row.

    Lines before the header (a chatty login shell) are ignored; the unit comes from the header
    (`1024-blocks`, `512-blocks`), 1024 if there is none.
    """
    unit = 1024
    rows: list[re.Match[str]] = []
    for line in output.splitlines():
        header = _DF_UNIT.search(line)
        if header and not rows:
            unit = int(header.group(1))
            continue
        match = _DF_ROW.match(line)
        if match:
            rows.append(match)
    if not rows:
        shown = output.strip().splitlines()[-1:] or ["nothing"]
        raise ValueError(f"no df row in its output (last line: {shown[0][:200]!r})")
    row = rows[-1]
    used, available = int(row["used"]) * unit, int(row["avail"]) * unit
    capacity = row["capacity"]
    if capacity == "-":
        total = used + available
        percent = math.ceil(used * 100 / total) if total else 0
    else:
        percent = int(capacity.rstrip("%"))
    return DiskUsage(
        path=path,
        filesystem=row["fs"],
        mount_point=row["mount"],
        size_bytes=int(row["size"]) * unit,
        used_bytes=used,
        available_bytes=available,
        used_percent=percent,
    )
