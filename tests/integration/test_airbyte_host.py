"""The Airbyte host check against a real sshd on 127.0.0.1 (see tests/integration/sshd.py)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke import Context
from invoke.exceptions import Exit

from adinsights_ops.airbyte import _host as airbyte_host
from adinsights_ops.airbyte._host import (
    DiskCheckFailed,
    HostAuthFailed,
    HostKeyRejected,
    HostUnreachable,
    SshFileMissing,
)
from adinsights_ops.airbyte._host_report import (
    NO_EXIT_STATUS,
    DiskUsage,
    HostCheck,
    findings_for,
    parse_df,
)
from adinsights_ops.errors import EXIT_USAGE, UsageError
from runbooks.airbyte_host import fabric_connection, host_check
from tests.integration import sshd
from tests.integration.sshd import KeyPair, SshServer

ROOT = Path(__file__).resolve().parents[2]

STATUS_OK = "echo \"Existing cluster 'airbyte-abctl' found\"\necho 'Status: deployed'\nexit 0\n"
STATUS_FAILING = "echo 'Status: failed'\necho 'pod airbyte-server CrashLoopBackOff' >&2\nexit 3\n"


@pytest.fixture(scope="module")
def server() -> Iterator[SshServer]:
    if not sshd.SSHD.exists():
        pytest.skip(f"{sshd.SSHD} is not installed (apt-get install openssh-server; CI does)")
    running = sshd.start()
    sshd.folder(running, "airbyte-data")
    yield running
    sshd.stop(running)


@pytest.fixture(scope="module")
def data_volume(server: SshServer) -> Path:
    return sshd.folder(server, "airbyte-data")


@pytest.fixture
def known_hosts(server: SshServer, tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(server.known_hosts_line())
    return path


def run_check(server: SshServer, known_hosts: Path | str, **options: Any) -> HostCheck:
    settings: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "known_hosts": str(known_hosts),
        "key_file": str(server.client_key.private),
        "data_volume": str(server.workdir / "airbyte-data"),
        "status_command": str(sshd.script(server, "status-ok.sh", STATUS_OK)),
        "timeout": 10.0,
        "threshold": 100.0,
        "connection_factory": fabric_connection,
    }
    settings.update(options)
    return airbyte_host.check(**settings)


def mount_point_of(path: Path) -> str:
    path = path.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return str(path)


# -- against sshd: what the host says ------------------------------------------------------------


def test_reads_disk_from_real_df_and_captures_the_status_output(
    server: SshServer, known_hosts: Path, data_volume: Path
) -> None:
    result = run_check(server, known_hosts)

    assert result.host == server.host and result.user == server.user == sshd.login_user()
    assert result.status_exit_code == 0
    assert result.status_output == "Existing cluster 'airbyte-abctl' found\nStatus: deployed"
    assert result.findings == () and result.ok
    disk = result.disk
    assert disk.path == str(data_volume)
    assert disk.mount_point == mount_point_of(data_volume)
    # sshd is on this machine: df's figures must agree with what the kernel tells us directly.
    fs = os.statvfs(data_volume)
    assert abs(disk.size_bytes - fs.f_blocks * fs.f_frsize) < 1024
    assert abs(disk.available_bytes - fs.f_bavail * fs.f_frsize) < 256 * 2**20
    assert disk.used_bytes + disk.available_bytes <= disk.size_bytes
    assert disk.used_percent == math.ceil(
        disk.used_bytes * 100 / (disk.used_bytes + disk.available_bytes)
    )
    assert known_hosts.read_text() == server.known_hosts_line()


def test_disk_use_at_the_threshold_is_a_finding(server: SshServer, known_hosts: Path) -> None:
    result = run_check(server, known_hosts, threshold=0)

    assert result.status_exit_code == 0
    assert len(result.findings) == 1
    assert str(server.workdir / "airbyte-data") in result.findings[0]
    assert f"is {result.disk.used_percent}% full (threshold 0%)" in result.findings[0]


def test_a_failing_status_command_is_a_finding_with_its_output(
    server: SshServer, known_hosts: Path
) -> None:
    failing = sshd.script(server, "status-failing.sh", STATUS_FAILING)

    result = run_check(server, known_hosts, status_command=str(failing))

    assert result.status_exit_code == 3
    assert result.status_output == "Status: failed\npod airbyte-server CrashLoopBackOff"
    assert result.findings == (f"`{failing}` exited 3",)
    assert result.disk.size_bytes > 0


def test_a_status_command_missing_on_the_host_is_a_finding(
    server: SshServer, known_hosts: Path
) -> None:
    result = run_check(server, known_hosts, status_command="adops-no-such-command local status")

    assert result.status_exit_code == 127
    assert result.findings == (
        "`adops-no-such-command local status` exited 127: command not found on the host?",
    )


def test_a_hanging_status_command_is_cut_at_the_timeout(
    server: SshServer, known_hosts: Path
) -> None:
    # Closing the channel does not stop the command on the host: keep it short-lived anyway.
    command = "echo 'waiting for the cluster'; exec sleep 3"
    result = run_check(server, known_hosts, status_command=command, timeout=1.0)

    assert result.status_exit_code is None
    assert result.status_output == "waiting for the cluster"
    assert result.findings == (f"`{command}` did not finish within 1s",)


def test_a_missing_data_volume_fails_the_disk_check(server: SshServer, known_hosts: Path) -> None:
    missing = server.workdir / "no-such-volume"

    with pytest.raises(DiskCheckFailed) as caught:
        run_check(server, known_hosts, data_volume=str(missing))

    assert caught.value.command == f"df -P -k {missing}"
    assert "No such file or directory" in caught.value.detail
    assert caught.value.exit_code == 1


# -- against sshd: host keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "contents",
    [
        pytest.param("", id="empty"),
        pytest.param("other-host", id="other-hosts-only"),
    ],
)
def test_an_unknown_host_key_is_refused_and_nothing_is_recorded(
    server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, contents: str
) -> None:
    other = sshd.keygen(tmp_path / "other_host_key")
    if contents:
        contents = f"airbyte.example.com {other.key_type} {other.public_line.split()[1]}\n"
        contents += (
            f"[{server.host}]:{server.port + 1} {other.key_type} {other.public_line.split()[1]}\n"
        )
    known = tmp_path / "known_hosts"
    known.write_text(contents)
    # The operator's own ~/.ssh/known_hosts trusts this server: it must not count.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(server.known_hosts_line())
    monkeypatch.setenv("HOME", str(home))

    with pytest.raises(HostKeyRejected) as caught:
        run_check(server, known)

    error = caught.value
    assert error.host == server.known_hosts_name
    assert (error.key_type, error.fingerprint) == ("ssh-ed25519", server.host_key.fingerprint)
    assert error.expected is None
    assert server.host_key.fingerprint in str(error) and str(known) in str(error)
    assert known.read_text() == contents  # never AutoAdd
    assert (home / ".ssh" / "known_hosts").read_text() == server.known_hosts_line()


def test_a_changed_host_key_is_refused(server: SshServer, tmp_path: Path) -> None:
    impostor: KeyPair = sshd.keygen(tmp_path / "impostor")
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts_line(impostor))

    with pytest.raises(HostKeyRejected) as caught:
        run_check(server, known)

    error = caught.value
    assert error.fingerprint == server.host_key.fingerprint
    assert error.expected == f"ssh-ed25519 {impostor.fingerprint}"
    assert "CHANGED" in str(error)
    assert known.read_text() == server.known_hosts_line(impostor)


def test_known_hosts_path_expands_the_home_folder(
    server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "airbyte_known_hosts").write_text(server.known_hosts_line())

    result = run_check(server, "~/.ssh/airbyte_known_hosts")

    assert result.status_exit_code == 0


def test_a_connection_factory_cannot_loosen_host_key_checking(
    server: SshServer, tmp_path: Path
) -> None:
    import paramiko  # type: ignore[import-untyped]
    from fabric import Config, Connection

    built: list[Any] = []

    def lax_factory(**kwargs: Any) -> Any:
        conn = Connection(config=Config(lazy=True), **kwargs)
        conn.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        built.append(conn)
        return conn

    empty = tmp_path / "known_hosts"
    empty.write_text("")

    with pytest.raises(HostKeyRejected):
        run_check(server, empty, connection_factory=lax_factory)

    assert len(built) == 1 and empty.read_text() == ""


# -- against sshd: who we are and whether we get there --------------------------------------------


def test_a_key_the_host_does_not_know_is_refused(
    server: SshServer, known_hosts: Path, tmp_path: Path
) -> None:
    stranger = sshd.keygen(tmp_path / "stranger")

    with pytest.raises(HostAuthFailed) as caught:
        run_check(server, known_hosts, key_file=str(stranger.private))

    message = str(caught.value)
    assert f"{server.user}@{server.known_hosts_name}" in message
    assert str(stranger.private) in message
    assert stranger.private.read_text().splitlines()[1] not in message


def test_a_port_nobody_listens_on_is_unreachable(server: SshServer, tmp_path: Path) -> None:
    port = sshd._free_port()
    known = tmp_path / "known_hosts"
    known.write_text(f"[{server.host}]:{port} {server.host_key.public_line}\n")

    with pytest.raises(HostUnreachable) as caught:
        run_check(server, known, port=port)

    assert "connection refused" in str(caught.value)
    assert caught.value.host == f"[{server.host}]:{port}"


def test_a_missing_known_hosts_file_stops_before_connecting(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def factory(**kw: Any) -> airbyte_host.SshConnection:
        calls.append(kw)
        raise AssertionError("a connection was asked for")

    with pytest.raises(SshFileMissing) as caught:
        airbyte_host.check(
            host="airbyte.example.com",
            user="airbyte",
            known_hosts=str(tmp_path / "absent"),
            connection_factory=factory,
        )

    assert caught.value.exit_code == EXIT_USAGE
    assert caught.value.path == str(tmp_path / "absent")
    assert calls == []


@pytest.mark.parametrize(
    "options", [{"threshold": 101}, {"threshold": -1}, {"timeout": 0}, {"status_command": " "}]
)
def test_nonsense_options_are_usage_errors(tmp_path: Path, options: dict[str, Any]) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    with pytest.raises(UsageError):
        airbyte_host.check(
            host="airbyte.example.com",
            user="airbyte",
            known_hosts=str(known),
            connection_factory=lambda **kw: pytest.fail("must not connect"),
            **options,
        )


# -- df output and findings (no sshd) -------------------------------------------------------------

GNU_DF = """\
Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/nvme1n1      51290592 21485000  27167768      45% /var/lib/airbyte
"""

BUSYBOX_DF = """\
Filesystem           1024-blocks    Used Available Capacity Mounted on
overlay                 61202244  9913568  48150396  18% /
"""


def test_parse_df_reads_a_gnu_row() -> None:
    assert parse_df(GNU_DF, path="/var/lib/airbyte") == DiskUsage(
        path="/var/lib/airbyte",
        filesystem="/dev/nvme1n1",
        mount_point="/var/lib/airbyte",
        size_bytes=51290592 * 1024,
        used_bytes=21485000 * 1024,
        available_bytes=27167768 * 1024,
        used_percent=45,
    )


def test_parse_df_reads_busybox_and_ignores_a_chatty_login_shell() -> None:
    noisy = "Welcome to the Airbyte host\nLast login: yesterday\n" + BUSYBOX_DF
    disk = parse_df(noisy, path="/data")
    assert (disk.filesystem, disk.mount_point, disk.used_percent) == ("overlay", "/", 18)


def test_parse_df_keeps_spaces_in_mount_points_and_uses_the_header_unit() -> None:
    output = (
        "Filesystem 512-blocks Used Available Capacity Mounted on\n"
        "//nas/airbyte data 2000 500 1500 25% /mnt/airbyte data\n"
    )
    disk = parse_df(output, path="/mnt/airbyte data/x")
    assert disk.filesystem == "//nas/airbyte data"
    assert disk.mount_point == "/mnt/airbyte data"
    assert (disk.size_bytes, disk.used_bytes, disk.available_bytes) == (
        2000 * 512,
        500 * 512,
        1500 * 512,
    )


def test_parse_df_computes_the_percentage_when_df_prints_a_dash() -> None:
    output = "Filesystem 1024-blocks Used Available Capacity Mounted on\nfs 300 100 199 - /x\n"
    assert parse_df(output, path="/x").used_percent == 34  # ceil(100 / 299 * 100), as df does


def test_parse_df_refuses_output_without_a_row() -> None:
    with pytest.raises(ValueError, match="no df row"):
        parse_df("df: /var/lib/airbyte: Permission denied\n", path="/var/lib/airbyte")


def _disk(percent: int) -> DiskUsage:
    return DiskUsage(
        "/var/lib/airbyte", "/dev/x", "/", 100 * 2**20, percent * 2**20, 2**20, percent
    )


@pytest.mark.parametrize(("percent", "expected"), [(79, 0), (80, 1), (97, 1)])
def test_default_threshold_is_eighty_percent(percent: int, expected: int) -> None:
    found = findings_for(_disk(percent), status_command="abctl local status", status_exit_code=0)
    assert len(found) == expected


# -- the task ------------------------------------------------------------------------------------


def test_task_says_the_sandbox_has_no_airbyte_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(ROOT / "environments.yaml"))

    with pytest.raises(Exit) as caught:
        host_check(Context(), env="sandbox")

    assert caught.value.code == EXIT_USAGE
    assert "not configured for sandbox" in str(caught.value.message)


@pytest.mark.cli
def test_cli_exits_2_with_one_line_for_the_sandbox() -> None:
    program = (
        "from invoke import Program; from runbooks.airbyte_host import ns; "
        "Program(namespace=ns, version='test').run()"
    )
    env = {**os.environ, "ADINSIGHTS_ENVIRONMENTS": str(ROOT / "environments.yaml")}
    done = subprocess.run(
        [sys.executable, "-c", program, "host-check", "--env", "sandbox"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_USAGE
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "not configured for sandbox" in lines[0]


def _environments_with_ssh(server: SshServer, folder: Path) -> Path:
    """The sandbox environment plus an `airbyte.ssh` section for the test sshd, as `hostcheck`."""
    environments = yaml.safe_load((ROOT / "environments.yaml").read_text())
    env = environments["sandbox"]
    env["airbyte"]["ssh"] = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "known_hosts": "airbyte_known_hosts",  # relative: to the environments file's folder
        "key_file": str(server.client_key.private),
        "data_volume": str(server.workdir / "airbyte-data"),
    }
    (folder / "airbyte_known_hosts").write_text(server.known_hosts_line())
    path = folder / "environments.yaml"
    path.write_text(yaml.safe_dump({"hostcheck": env}))
    return path


def test_task_prints_the_host_table(
    server: SshServer,
    data_volume: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(_environments_with_ssh(server, tmp_path)))
    ok = sshd.script(server, "status-ok.sh", STATUS_OK)

    host_check(Context(), env="hostcheck", threshold=100, status_command=str(ok))

    out = capsys.readouterr().out
    assert f"{server.user}@{server.host}:{server.port}" in out
    assert f"data volume  {data_volume} (" in out
    assert f"status       `{ok}` exit 0" in out
    assert "| Status: deployed" in out
    assert "findings     none" in out


def test_task_exits_1_on_findings_and_prints_json(
    server: SshServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ADINSIGHTS_ENVIRONMENTS", str(_environments_with_ssh(server, tmp_path)))
    failing = sshd.script(server, "status-failing.sh", STATUS_FAILING)

    with pytest.raises(Exit) as caught:
        host_check(
            Context(), env="hostcheck", json=True, threshold=100, status_command=str(failing)
        )

    assert caught.value.code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["status_exit_code"] == 3
    assert report["findings"] == [f"`{failing}` exited 3"]
    assert report["disk"]["path"] == str(server.workdir / "airbyte-data")


def test_a_status_command_killed_by_a_signal_is_a_finding(
    server: SshServer, known_hosts: Path
) -> None:
    result = run_check(server, known_hosts, status_command="kill -9 $$")

    assert result.status_exit_code == NO_EXIT_STATUS
    assert result.findings == (
        "`kill -9 $$` ended without an exit status (killed by a signal, or cut off)",
    )


class _ScriptedConnection:
    """Stands in for an opened Fabric connection: each run() answers from `replies` in turn."""

    def __init__(self, replies: list[Any]) -> None:
        self.client: Any = None
        self.replies = replies
        self.commands: list[str] = []
        self.closed = False

    def open(self) -> None:
        assert self.client is not None  # check() installed its strict client first

    def run(self, command: str, **options: Any) -> Any:
        self.commands.append(command)
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def close(self) -> None:
        self.closed = True


def _check_with(tmp_path: Path, conn: _ScriptedConnection) -> HostCheck:
    known = tmp_path / "known_hosts"
    known.write_text("")
    return airbyte_host.check(
        host="airbyte.example.com",
        user="airbyte",
        known_hosts=str(known),
        timeout=5,
        connection_factory=lambda **kw: conn,
    )


def test_a_hanging_df_is_a_timeout_error(tmp_path: Path) -> None:
    from invoke.exceptions import CommandTimedOut
    from invoke.runners import Result

    conn = _ScriptedConnection([CommandTimedOut(Result(command="df"), timeout=5)])

    with pytest.raises(airbyte_host.RemoteCommandTimedOut) as caught:
        _check_with(tmp_path, conn)

    assert caught.value.timeout == 5
    assert caught.value.what == "`df -P -k /var/lib/airbyte` on airbyte.example.com"
    assert conn.closed


def test_a_connection_lost_mid_command_is_unreachable(tmp_path: Path) -> None:
    import paramiko
    from invoke.runners import Result

    df = Result(stdout=GNU_DF, exited=0)
    conn = _ScriptedConnection([df, paramiko.SSHException("Socket is closed")])

    with pytest.raises(HostUnreachable, match="connection lost while running `abctl local status`"):
        _check_with(tmp_path, conn)

    assert conn.commands == ["df -P -k /var/lib/airbyte", "abctl local status"]
    assert conn.closed


def test_invokes_thread_exception_is_a_lost_connection(tmp_path: Path) -> None:
    """Invoke wraps an error in its I/O threads in ThreadException; the library knows it by name."""
    from invoke.exceptions import ThreadException
    from invoke.runners import Result

    conn = _ScriptedConnection([Result(stdout=GNU_DF, exited=0), ThreadException([])])

    with pytest.raises(HostUnreachable, match="connection lost while running `abctl local status`"):
        _check_with(tmp_path, conn)

    assert conn.closed


def test_a_hanging_status_command_is_a_finding_that_keeps_what_it_printed(tmp_path: Path) -> None:
    from invoke.exceptions import CommandTimedOut
    from invoke.runners import Result

    cut = Result(command="abctl local status", stdout="waiting for pods\n", exited=-1)
    conn = _ScriptedConnection([Result(stdout=GNU_DF, exited=0), CommandTimedOut(cut, timeout=5)])

    result = _check_with(tmp_path, conn)

    assert result.status_exit_code is None
    assert result.status_output == "waiting for pods"
    assert result.findings == ("`abctl local status` did not finish within 5s",)


def test_an_error_that_is_neither_timeout_nor_lost_connection_is_not_hidden(
    tmp_path: Path,
) -> None:
    conn = _ScriptedConnection([ValueError("a bug in the runner")])

    with pytest.raises(ValueError, match="a bug in the runner"):
        _check_with(tmp_path, conn)

    assert conn.closed
