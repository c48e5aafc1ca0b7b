"""An in-process SFTP server standing in for Stampli's SFTP server (demo and fast tests).

:class:`SftpSandbox` serves a local directory over SSH/SFTP with asyncssh on 127.0.0.1: a real
SSH transport and SFTP protocol, password authentication, an Ed25519 host key made at start,
and the directory as the client's root (``chroot``: the client sees ``/outbound`` for
``<root>/outbound`` and cannot leave the root). The server runs on an event loop in a background
thread of the process that starts it, so other processes (``airflow dags test`` subprocesses,
for instance) connect to it over the loopback like to any server::

    with SftpSandbox() as sftp:
        (sftp.root / "outbound").mkdir()
        env = {"AIRFLOW_CONN_ACME_STAMPLI": json.dumps(sftp.connection())}
        ...

For tests that need the reference server's exact behaviour, the test suite also runs OpenSSH's
``sshd`` (``tests/harness/sshd.py``). Known differences (asyncssh 2.24 vs OpenSSH 9.2):
``rename`` onto an existing file fails with "File already exists" (OpenSSH: "Failure"),
``normalize(".")`` is ``/``, and paths cannot escape the root.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import asyncssh

__all__ = ["DEMO_PASSWORD", "DEMO_USER", "SftpSandbox"]

DEMO_USER = "stampli"
"""Login of the sandbox SFTP server."""
DEMO_PASSWORD = "stampli-sandbox-password"
"""Password of :data:`DEMO_USER` (a throw-away value for a loopback-only server)."""

_START_TIMEOUT = 15.0


class _PasswordServer(asyncssh.SSHServer):
    """Accepts one user with one password; no other authentication method."""

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password

    def begin_auth(self, username: str) -> bool:
        return True  # every user must authenticate

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        user_ok = secrets.compare_digest(username.encode(), self._username.encode())
        password_ok = secrets.compare_digest(password.encode(), self._password.encode())
        return user_ok and password_ok


class SftpSandbox:
    """An SFTP server on a free port of 127.0.0.1 serving ``root``, run on a background event-loop thread.

    Clients log in as :data:`DEMO_USER` with :data:`DEMO_PASSWORD`.

    :param root: the directory served as ``/``; default: a new temporary directory, deleted by
        :meth:`stop`.
    :param port: the port to listen on (default: a free one).
    :param password: the password of :data:`DEMO_USER` (default: :data:`DEMO_PASSWORD`).
    :param host: the interface to listen on.
    """

    username = DEMO_USER

    def __init__(
        self,
        root: Path | str | None = None,
        *,
        port: int = 0,
        password: str = DEMO_PASSWORD,
        host: str = "127.0.0.1",
    ) -> None:
        self._given_root = Path(root) if root is not None else None
        self._root: Path | None = None
        self._requested_port = port
        self.password = password
        self.host = host
        self.port = 0
        self.host_key_line = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None

    @property
    def root(self) -> Path:
        """The local directory the server serves as ``/``."""
        if self._root is None:
            raise RuntimeError("the SFTP sandbox is not started")
        return self._root

    @property
    def running(self) -> bool:
        """Whether the server accepts connections."""
        return self._acceptor is not None

    def connection(self) -> dict[str, Any]:
        """The Airflow connection (JSON form, for ``AIRFLOW_CONN_<ID>``) of this server.

        Password login; the host key is pinned in the ``host_key`` extra.
        """
        if not self.running:
            raise RuntimeError("the SFTP sandbox is not started")
        return {
            "conn_type": "sftp",
            "host": self.host,
            "port": self.port,
            "login": self.username,
            "password": self.password,
            "extra": {"host_key": self.host_key_line, "conn_timeout": 10},
        }

    def start(self) -> SftpSandbox:
        """Create the host key, start the event-loop thread and the server; returns ``self``."""
        if self.running:
            return self
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        if self._given_root is not None:
            self._given_root.mkdir(parents=True, exist_ok=True)
            self._root = self._given_root.resolve()
        else:
            self._root = Path(tempfile.mkdtemp(prefix="mlc-sftp-"))
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        key_type, key_data = host_key.export_public_key("openssh").decode().split()[:2]
        self.host_key_line = f"{key_type} {key_data}"
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="mlc-sftp-sandbox", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        root = str(self._root)
        username, password = self.username, self.password

        async def serve() -> asyncssh.SSHAcceptor:
            return await asyncssh.create_server(
                lambda: _PasswordServer(username, password),
                self.host,
                self._requested_port,
                server_host_keys=[host_key],
                sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=root.encode()),
                allow_scp=False,
            )

        try:
            acceptor = asyncio.run_coroutine_threadsafe(serve(), loop).result(_START_TIMEOUT)
        except BaseException:
            self._shutdown_loop()
            self._drop_root()
            raise
        self._acceptor = acceptor
        self.port = acceptor.get_port()
        return self

    def stop(self) -> None:
        """Close the server and its sessions, end the thread, delete a root it created."""
        acceptor, self._acceptor = self._acceptor, None
        loop = self._loop
        if acceptor is not None and loop is not None and loop.is_running():

            async def close() -> None:
                acceptor.close()
                await acceptor.wait_closed()
                # Sessions still open end with the server.
                current = asyncio.current_task()
                pending = [task for task in asyncio.all_tasks() if task is not current]
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

            with contextlib.suppress(TimeoutError, RuntimeError):
                asyncio.run_coroutine_threadsafe(close(), loop).result(_START_TIMEOUT)
        self._shutdown_loop()
        self._drop_root()
        self.port = 0

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop, self._thread = None, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(_START_TIMEOUT)
        loop.close()

    def _drop_root(self) -> None:
        if self._root is not None and self._given_root is None:
            shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

    def __enter__(self) -> SftpSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
