"""Fixtures: OpenSSH's sshd and the asyncssh sandbox server, and Airflow connections to them.

Connections come from ``AIRFLOW_CONN_<ID>`` variables (JSON). ``HOME`` points at an empty
directory in every test, so a developer's ``~/.ssh/known_hosts`` or ``~/.ssh/config`` can neither
make a host-key test pass nor fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ml_connector_sandbox import SandboxRunner
from ml_connector_sandbox.runner import airflow_conn_env_var
from ml_connector_sandbox.sftp import SftpSandbox

from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.hooks.stampli import StampliHook
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings
from ml_connector_provider.ledger import Ledger
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


# -- the invoices stream against the Fusion stand-in (see tests/integration/stampli/pipeline.py) --


@pytest.fixture(scope="module")
def fusion_runner() -> Iterator[SandboxRunner]:
    """The Fusion stand-in over HTTP, one per test module."""
    with SandboxRunner(["fusion"]) as runner:
        yield runner


@pytest.fixture
def fusion(fusion_runner: SandboxRunner, monkeypatch: pytest.MonkeyPatch) -> Iterator[OracleFusionHook]:
    """A hook on connection ``acme_fusion`` to the stand-in, reset to its seed."""
    fusion_runner.system("fusion").reset()
    connection = json.loads(
        fusion_runner.airflow_env({"fusion": "acme_fusion"})[airflow_conn_env_var("acme_fusion")]
    )
    export_connection(monkeypatch, "acme_fusion", connection)
    hook = OracleFusionHook("acme_fusion")
    yield hook
    hook.close()


@pytest.fixture
def ledger(sqlite_url: str) -> Iterator[Ledger]:
    """A migrated SQLite ledger."""
    led = Ledger(sqlite_url)
    led.migrate()
    yield led
    led.dispose()


@pytest.fixture
def settings(sshd: SshdServer) -> StampliFusionSettings:
    """The default settings on ``<data_dir>/outbound``, ``archive`` and ``error``."""
    from tests.integration.stampli.pipeline import make_settings

    return make_settings(sshd)
