"""A throw-away OpenSSH SFTP server for tests: the real ``sshd``, a private config, no system changes.

The daemon is Debian's ``/usr/sbin/sshd`` (``scripts/install-system-deps.sh`` installs
``openssh-server`` when it is missing). It never runs as root: the test process starts it as the
``nobody`` user (through ``setpriv``) when it is root, or as itself otherwise, with a private
``sshd_config`` on a free loopback port. Clients log in as that same unprivileged user with an
Ed25519 key; the SFTP subsystem is ``internal-sftp -d <data_dir>``.

Remote paths. ``-d`` only sets the directory an SFTP session starts in; nothing is chrooted. A
remote path is therefore either an absolute filesystem path (``f"{server.data_dir}/outbound"``,
the form tenant settings such as ``outbound_dir`` use) or a path relative to :attr:`data_dir`
(``"outbound"``). :meth:`SshdServer.remote_path` gives the absolute form.

Files the tests put there (:meth:`SshdServer.put_file`, :meth:`SshdServer.mkdir`) are handed to
the daemon's user, as on a real server where the export files belong to the SFTP account, so the
daemon can read, rename and create files next to them; after writing below :attr:`data_dir` by
other means, call :meth:`SshdServer.hand_over_tree`.

Use the session-scoped fixture :func:`sshd_server` (import it into a ``conftest.py``), or
``with SshdServer() as server:``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.harness.ports import free_port

SKIP_ENV = "MLC_SKIP_SSHD"
"""Set to ``1`` to skip the tests that need OpenSSH when ``sshd`` is not installed."""
SSHD_CANDIDATES = (Path("/usr/sbin/sshd"),)
DAEMON_USER = "nobody"
_START_ATTEMPTS = 3
_BANNER = b"SSH-2.0-OpenSSH"


def find_sshd() -> Path | None:
    """The OpenSSH server binary (an absolute path: sshd re-executes itself), or ``None``."""
    for candidate in SSHD_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("sshd")
    return Path(found).resolve() if found else None


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from ``/proc``)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, children first."""
    result: list[int] = []
    pending = [pid]
    while pending:
        for child in _children(pending.pop()):
            result.append(child)
            pending.append(child)
    return result


@dataclass(frozen=True)
class _Account:
    name: str
    uid: int
    gid: int


def _daemon_account() -> _Account:
    """Who runs the daemon (and who clients log in as): ``nobody`` for root, else the current user."""
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam(DAEMON_USER)
        except KeyError:
            raise RuntimeError(
                f"running as root, and there is no {DAEMON_USER!r} user to run sshd as"
            ) from None
    else:
        entry = pwd.getpwuid(os.geteuid())
    return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _write_key(key: asyncssh.SSHKey, path: Path) -> str:
    """Write an OpenSSH private key (mode 0600) and return its public line without a comment."""
    path.write_bytes(key.export_private_key("openssh"))
    path.chmod(0o600)
    public = key.export_public_key("openssh").decode().split()
    line = f"{public[0]} {public[1]}"
    path.with_name(path.name + ".pub").write_text(line + "\n")
    return line


class SshdServer:
    """One private OpenSSH ``sshd`` serving SFTP on 127.0.0.1.

    :param sshd: the daemon binary (default: :func:`find_sshd`).
    """

    host = "127.0.0.1"

    def __init__(self, sshd: Path | None = None) -> None:
        found = sshd or find_sshd()
        if found is None:
            raise FileNotFoundError("OpenSSH's sshd is not installed (Debian package openssh-server)")
        self.sshd = found
        self.account = _daemon_account()
        self.port = 0
        self.host_key_line = ""
        self._base: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # -- where things are ------------------------------------------------------------------------

    @property
    def base(self) -> Path:
        """The server's private directory (config, keys, log, data)."""
        if self._base is None:
            raise RuntimeError("the SSH server is not started")
        return self._base

    @property
    def data_dir(self) -> Path:
        """The SFTP start directory, as seen locally (remote paths may be absolute or relative to it)."""
        return self.base / "data"

    @property
    def login(self) -> str:
        """The user clients log in as (the daemon's own user)."""
        return self.account.name

    @property
    def key_file(self) -> Path:
        """The client's private key (authorized on the server)."""
        return self.base / "client_ed25519"

    def remote_path(self, relative: str = "") -> str:
        """The absolute remote path of ``relative`` (a path below :attr:`data_dir`)."""
        return str(self.data_dir / relative) if relative else str(self.data_dir)

    def local_path(self, remote: str) -> Path:
        """The local file behind a remote path (absolute, or relative to :attr:`data_dir`)."""
        path = Path(remote)
        return path if path.is_absolute() else self.data_dir / path

    def connection(self) -> dict[str, Any]:
        """An Airflow connection (JSON form, for ``AIRFLOW_CONN_<ID>``) to this server.

        Key authentication with :attr:`key_file`, the host key pinned in ``host_key``; change it
        with :func:`tests.harness.connections.export_connection`.
        """
        return {
            "conn_type": "sftp",
            "host": self.host,
            "port": self.port,
            "login": self.login,
            "extra": {"key_file": str(self.key_file), "host_key": self.host_key_line, "conn_timeout": 10},
        }

    # -- files -----------------------------------------------------------------------------------

    def _hand_over(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.account.uid, self.account.gid)

    def mkdir(self, remote: str) -> Path:
        """Create a directory (and its parents) owned by the daemon's user; return the local path."""
        target = self.local_path(remote)
        missing: list[Path] = []
        probe = target
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for directory in reversed(missing):
            directory.mkdir(mode=0o755)
            self._hand_over(directory)
        return target

    def put_file(self, remote: str, content: bytes | str, *, mtime: float | None = None) -> str:
        """Write a file the way an exporter would, owned by the daemon's user.

        :param remote: absolute remote path, or a path relative to :attr:`data_dir`.
        :param content: the bytes (a ``str`` is written as UTF-8).
        :param mtime: modification time to set (POSIX seconds); default: now.
        :return: the absolute remote path.
        """
        path = self.local_path(remote)
        self.mkdir(str(path.parent))
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(0o644)
        self._hand_over(path)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return str(path)

    def hand_over_tree(self) -> None:
        """Give everything below :attr:`data_dir` to the daemon's user.

        Call it after writing files or directories there by other means than :meth:`put_file`
        and :meth:`mkdir` (as root, a directory the test made is not writable by the daemon).
        """
        self._hand_over(self.data_dir)
        for path in self.data_dir.rglob("*"):
            if not path.is_symlink():
                self._hand_over(path)

    def set_mtime(self, remote: str, mtime: float) -> None:
        """Set a file's modification (and access) time."""
        os.utime(self.local_path(remote), (mtime, mtime))

    def clear(self) -> None:
        """Empty the data directory (the start directory itself stays)."""
        for child in self.data_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def log(self) -> str:
        """What the daemon logged so far."""
        path = self.base / "sshd.log" if self._base else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    # -- life cycle ------------------------------------------------------------------------------

    def _prepare(self) -> None:
        base = Path(tempfile.mkdtemp(prefix="mlc-sshd-"))
        self._base = base
        for ancestor in base.parents:
            if ancestor.stat().st_mode & 0o001 == 0 and os.geteuid() == 0:
                raise RuntimeError(
                    f"{ancestor} is not searchable by {self.account.name!r}, who runs sshd; "
                    "point TMPDIR at a directory such as /tmp"
                )
        base.chmod(0o755)
        self.host_key_line = _write_key(asyncssh.generate_private_key("ssh-ed25519"), base / "host_ed25519")
        client_public = _write_key(asyncssh.generate_private_key("ssh-ed25519"), self.key_file)
        (base / "authorized_keys").write_text(client_public + "\n")
        (base / "authorized_keys").chmod(0o644)
        self.data_dir.mkdir(mode=0o755)
        for owned in (base, base / "host_ed25519", self.data_dir):
            self._hand_over(owned)

    def _write_config(self) -> Path:
        config = self.base / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    f"ListenAddress {self.host}",
                    f"HostKey {self.base / 'host_ed25519'}",
                    f"PidFile {self.base / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.base / 'authorized_keys'}",
                    f"AllowUsers {self.login}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    # Without PAM, sshd refuses an account whose shadow password is locked ("*").
                    "UsePAM yes",
                    "StrictModes no",
                    # Clients refused for a bad host key leave their half-open connection behind until
                    # garbage collection; keep many pending logins from throttling later tests.
                    "MaxStartups 200:30:400",
                    "LoginGraceTime 30",
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "PermitTTY no",
                    f"Subsystem sftp internal-sftp -d {self.data_dir}",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        config.chmod(0o644)
        return config

    def _command(self, config: Path) -> list[str]:
        command = [str(self.sshd), "-D", "-e", "-f", str(config)]
        if os.geteuid() == 0:
            # setpriv execs sshd itself, so the PID we hold is the daemon's.
            command = [
                "setpriv",
                f"--reuid={self.account.uid}",
                f"--regid={self.account.gid}",
                "--clear-groups",
                "--",
                *command,
            ]
        return command

    def _wait_for_banner(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 1) as sock:
                sock.settimeout(2)
                if sock.recv(256).startswith(_BANNER):
                    return True
            time.sleep(0.05)
        return False

    def start(self, timeout: float = 15.0) -> None:
        """Create keys, config and data directory, start sshd and wait for its banner."""
        self._prepare()
        for attempt in range(_START_ATTEMPTS):
            self.port = free_port()
            config = self._write_config()
            self._log_file = (self.base / "sshd.log").open("ab")
            self._process = subprocess.Popen(
                self._command(config),
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                cwd=self.base,
            )
            if self._wait_for_banner(timeout):
                return
            self._terminate()
            if attempt == _START_ATTEMPTS - 1:
                log = self.log()
                self.stop()
                raise RuntimeError(f"sshd did not start:\n{log}")

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            # Connection handlers are children of the listener, in sessions of their own: end them
            # first (deepest first) and let their parents reap them, then the listener.
            handlers = list(reversed(descendants(process.pid)))
            for pid in handlers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in handlers):
                time.sleep(0.02)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self) -> None:
        """Stop the daemon (and any session it still serves) and delete its files."""
        try:
            self._terminate()
        finally:
            if self._base is not None:
                shutil.rmtree(self._base, ignore_errors=True)
                self._base = None

    def __enter__(self) -> SshdServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshdServer]:
    """An OpenSSH SFTP server for the whole session.

    A missing ``sshd`` fails the tests that use it (``make test`` installs it); with
    ``MLC_SKIP_SSHD=1`` they are skipped instead, with the reason.
    """
    if find_sshd() is None:
        message = (
            "OpenSSH's sshd is not installed; run `make test` (scripts/install-system-deps.sh installs "
            f"Debian's openssh-server), or set {SKIP_ENV}=1 to skip the SFTP tests"
        )
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"{SKIP_ENV}=1 and sshd is not installed: the OpenSSH SFTP tests are skipped")
        pytest.fail(message)
    server = SshdServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
