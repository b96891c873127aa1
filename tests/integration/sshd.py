"""A real OpenSSH server on 127.0.0.1 for tests: generated keys, its own config, stopped after use.

Who logs in: as root (CI), a dedicated unprivileged account `adops-test` with /bin/sh, created on
first use. Not root itself: root's login shell here is bash, which sources ~/.bashrc even for
`ssh host command` (Debian builds bash that way) and that .bashrc initialises pyenv and cargo:
slow, and free to print into the output we parse. /bin/sh -c reads no startup file at all.
Not as root, sshd runs unprivileged and can only log in the user running the tests.

The files live in a mkdtemp() folder opened to that account (pytest's own tmp folders are 0700
and owned by root, so another user could not read its authorized_keys or run the scripts); the
host key stays in a 0700 subfolder.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import attrs

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
TEST_USER = "adops-test"
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 10.0


@attrs.frozen
class KeyPair:
    private: Path
    public_line: str  # "ssh-ed25519 AAAA... comment"

    @property
    def fingerprint(self) -> str:
        """SHA256 fingerprint computed here, independently of paramiko (as `ssh-keygen -l`)."""
        blob = base64.b64decode(self.public_line.split()[1])
        digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        return f"SHA256:{digest}"

    @property
    def key_type(self) -> str:
        return self.public_line.split()[0]


def keygen(path: Path, comment: str = "adops-test") -> KeyPair:
    """An ed25519 key pair without passphrase (ssh-keygen, as an operator would make one)."""
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return KeyPair(private=path, public_line=path.with_suffix(".pub").read_text().strip())


@attrs.define
class SshServer:
    """A running sshd: where it listens, who may log in with which key, and its log so far."""

    host: str
    port: int
    user: str
    host_key: KeyPair
    client_key: KeyPair
    workdir: Path
    process: subprocess.Popen[str]
    log_lines: list[str]

    @property
    def known_hosts_name(self) -> str:
        return f"[{self.host}]:{self.port}"

    def known_hosts_line(self, key: KeyPair | None = None) -> str:
        """A known_hosts entry for this server (with another key, to simulate a changed host)."""
        line = (key or self.host_key).public_line.split()
        return f"{self.known_hosts_name} {line[0]} {line[1]}\n"

    def log(self) -> str:
        return "\n".join(self.log_lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def login_user() -> str:
    """The account tests log in as: `adops-test` when root (created if missing), else oneself."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    if not _exists(TEST_USER):
        # '*' is no usable password but, unlike useradd's default '!', not a *locked* account,
        # which sshd refuses outright when it runs without PAM.
        command = ["useradd", "--system", "--create-home", "--shell", "/bin/sh", "--password", "*"]
        result = subprocess.run(
            [*command, "--comment", "adinsights-ops test sshd login", TEST_USER],
            capture_output=True,
            text=True,
        )
        if result.returncode not in (0, 9):  # 9: created meanwhile by a parallel run
            raise RuntimeError(f"useradd {TEST_USER} failed: {result.stderr.strip()}")
    _unlock(TEST_USER)
    return TEST_USER


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _unlock(user: str) -> None:
    """An account whose password field starts with '!' is locked for sshd without PAM."""
    shadow = Path("/etc/shadow")
    for line in shadow.read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == user and rest.startswith("!"):
            subprocess.run(["usermod", "--password", "*", user], check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(workdir: Path, keys: Path, port: int, user: str) -> Path:
    cfg = workdir / "sshd_config"
    cfg.write_text(
        f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {keys / "ssh_host_ed25519_key"}
PidFile {workdir / "sshd.pid"}
AuthorizedKeysFile {workdir / "authorized_keys"}
AllowUsers {user}
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowAgentForwarding no
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
UseDNS no
LogLevel VERBOSE
"""
    )
    return cfg


def start(attempts: int = 3) -> SshServer:
    """Generate keys and a config in a fresh folder and start sshd on a free port of 127.0.0.1."""
    user = login_user()
    if os.geteuid() == 0:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)  # what the ssh service would create
    workdir = Path(tempfile.mkdtemp(prefix="adops-sshd-"))
    workdir.chmod(0o755)
    keys = workdir / "keys"
    keys.mkdir(mode=0o700)
    host_key = keygen(keys / "ssh_host_ed25519_key", comment="adops-test-host")
    client_key = keygen(keys / "client_ed25519", comment="adops-test-client")
    (workdir / "authorized_keys").write_text(client_key.public_line + "\n")
    (workdir / "authorized_keys").chmod(0o644)
    last_log = ""
    for _ in range(attempts):
        port = _free_port()
        cfg = _config(workdir, keys, port, user)
        server = _launch(cfg, port, user, host_key, client_key, workdir)
        if server is not None:
            return server
        last_log = (workdir / "sshd.log").read_text() if (workdir / "sshd.log").exists() else ""
    shutil.rmtree(workdir, ignore_errors=True)
    raise RuntimeError(f"sshd did not start after {attempts} attempts:\n{last_log}")


def _launch(
    cfg: Path, port: int, user: str, host_key: KeyPair, client_key: KeyPair, workdir: Path
) -> SshServer | None:
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(cfg)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    listening = threading.Event()

    def drain() -> None:  # keeps the pipe from filling up, and tells when sshd listens
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
            if "Server listening on" in line:
                listening.set()
        listening.set()  # sshd exited: stop waiting

    threading.Thread(target=drain, name=f"sshd-{port}-log", daemon=True).start()
    listening.wait(START_TIMEOUT)
    server = SshServer("127.0.0.1", port, user, host_key, client_key, workdir, process, lines)
    if process.poll() is None and any("Server listening on" in x for x in lines):
        return server
    server.stop()
    (workdir / "sshd.log").write_text(server.log())
    return None


def stop(server: SshServer) -> None:
    """Stop sshd and remove its folder."""
    server.stop()
    shutil.rmtree(server.workdir, ignore_errors=True)


def script(server: SshServer, name: str, body: str) -> Path:
    """An executable shell script in the server's folder, runnable by the login user."""
    path = server.workdir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def folder(server: SshServer, name: str) -> Path:
    """A folder the login user can reach, e.g. to stand for Airbyte's data volume."""
    path = server.workdir / name
    path.mkdir(mode=0o755, exist_ok=True)
    return path
