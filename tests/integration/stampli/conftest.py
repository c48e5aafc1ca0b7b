"""Fixtures: OpenSSH's sshd and the asyncssh sandbox server, and Airflow connections to them.

Connections come from ``AIRFLOW_CONN_<ID>`` variables (JSON). ``HOME`` points at an empty
directory in every test, so a developer's ``~/.ssh/known_hosts`` or ``~/.ssh/config`` can neither
make a host-key test pass nor fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ml_connector_sandbox.sftp import SftpSandbox

from ml_connector_provider.hooks.stampli import StampliHook
from tests.harness.connections import export_connection
from tests.harness.sshd import SshdServer, sshd_server

__all__ = ["ConnectionFactory", "sshd_server"]

ConnectionFactory = Callable[..., str]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``HOME``: no known_hosts, no ssh config, no default keys."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def sshd(sshd_server: SshdServer) -> SshdServer:
    """The session's OpenSSH server with an empty data directory."""
    sshd_server.clear()
    return sshd_server


@pytest.fixture
def make_connection(sshd: SshdServer, monkeypatch: pytest.MonkeyPatch) -> ConnectionFactory:
    """Export ``AIRFLOW_CONN_<ID>`` for a connection to the sshd server.

    ``make_connection("x", host_key=None)``: keywords are those of
    :func:`~tests.harness.connections.export_connection` (``login``, ``password``, or extras, a
    ``None`` value removing one).
    """

    def make(conn_id: str, **overrides: Any) -> str:
        return export_connection(monkeypatch, conn_id, sshd.connection(), **overrides)

    return make


@pytest.fixture
def sftp_conn_id(make_connection: ConnectionFactory) -> str:
    """A key-authenticated connection with the server's host key pinned."""
    return make_connection("stampli_sftp")


@pytest.fixture
def hook(sftp_conn_id: str) -> StampliHook:
    """A :class:`StampliHook` on :func:`sftp_conn_id` that tries to connect once."""
    return StampliHook(sftp_conn_id, conn_retry_attempts=1)


@pytest.fixture
def outbound(sshd: SshdServer) -> str:
    """An existing, empty ``<data_dir>/outbound`` directory (absolute remote path)."""
    sshd.mkdir("outbound")
    return sshd.remote_path("outbound")


@pytest.fixture(scope="module")
def sftp_sandbox() -> Iterator[SftpSandbox]:
    """The in-process asyncssh server used by the demo."""
    with SftpSandbox() as server:
        yield server
