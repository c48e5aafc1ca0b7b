"""Fixtures of the ``ml-connector check`` command tests: every system a tenant's integrations use,
at once. The Fusion and Stripe stand-ins over real HTTP (one server each per test module, reset to
their seed for every test), OpenSSH's sshd for the Stampli SFTP server (one per session, its data
directory emptied and the ``outbound``/``archive``/``error`` directories created for every test),
and an Airflow connection to each (``AIRFLOW_CONN_<ID>`` variables): ``acme_fusion``,
``acme_stripe`` and ``acme_sftp``, the host key pinned.

:func:`tenant_file` writes a tenant file on those connections; :class:`Systems` changes a
connection or switches a stand-in to answer the way a differing system would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from ml_connector_sandbox import SandboxRunner
from ml_connector_sandbox.runner import airflow_conn_env_var
from ml_connector_sandbox.systems.fusion import FusionSandbox
from ml_connector_sandbox.systems.stripe import StripeSandbox

from tests.harness.connections import export_connection
from tests.harness.sshd import SshdServer, sshd_server

__all__ = ["FUSION_CONN", "SFTP_CONN", "STRIPE_CONN", "Systems", "sshd_server", "tenant_file"]

FUSION_CONN = "acme_fusion"
STRIPE_CONN = "acme_stripe"
SFTP_CONN = "acme_sftp"
#: Retries fast enough for tests, still exercising the transport's backoff.
FAST_RETRY = {"retry_attempts": 4, "retry_base_delay": 0.01, "retry_max_delay": 0.05}
#: The general-ledger block of a ``fusion_stripe`` tenant that posts journals (the stand-in's ledger).
GL_SETTINGS = """\
          gl:
            ledger_id: "300000046975971"
            ledger_name: US Primary Ledger
            data_access_set_id: "300000046975980"
            journal_source: Stripe
            cash_clearing_account: 101-000-11250-000-000
            ar_suspense_account: 101-000-12990-000-000
            fee_account: 101-000-65110-000-000
"""


@dataclass
class Systems:
    """The running stand-ins and sshd of one test, and the connections to them."""

    runner: SandboxRunner
    fusion: FusionSandbox
    stripe: StripeSandbox
    sshd: SshdServer
    monkeypatch: pytest.MonkeyPatch

    def fusion_connection(self, conn_id: str = FUSION_CONN, **overrides: Any) -> str:
        """Export a connection to the Fusion stand-in (OAuth 2.0, as it hands it out, fast retries);
        keywords as :func:`~tests.harness.connections.export_connection` takes them."""
        connection = json.loads(self.runner.airflow_env({"fusion": conn_id})[airflow_conn_env_var(conn_id)])
        connection["extra"].update(FAST_RETRY)
        return export_connection(self.monkeypatch, conn_id, connection, **overrides)

    def stripe_connection(self, conn_id: str = STRIPE_CONN, **overrides: Any) -> str:
        """Export a connection to the Stripe stand-in (its secret key unless ``password`` is given)."""
        connection = json.loads(self.runner.airflow_env({"stripe": conn_id})[airflow_conn_env_var(conn_id)])
        return export_connection(self.monkeypatch, conn_id, connection, **overrides)

    def sftp_connection(self, conn_id: str = SFTP_CONN, **overrides: Any) -> str:
        """Export a key-authenticated connection to sshd, its host key pinned unless overridden."""
        return export_connection(self.monkeypatch, conn_id, self.sshd.connection(), **overrides)

    def switch_fusion(self, **settings: Any) -> dict[str, Any]:
        """Change the Fusion pod's settings through the stand-in's admin API (``refused_operators``,
        ``forbidden_resources``, ``removed_finders``, …); returns the settings now in force."""
        response = requests.post(
            f"{self.runner.url('fusion')}/__sandbox__/fusion/settings", json=settings, timeout=10
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module")
def runner() -> Iterator[SandboxRunner]:
    """The Fusion and Stripe stand-ins, one server each per test module."""
    with SandboxRunner(["fusion", "stripe"]) as running:
        yield running


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``HOME``: no ``known_hosts`` or ssh config of the developer's can pass or fail a
    host-key check."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def systems(runner: SandboxRunner, sshd_server: SshdServer, monkeypatch: pytest.MonkeyPatch) -> Systems:
    """Every system reset to its seed, the SFTP directories created, and the three connections
    (:data:`FUSION_CONN`, :data:`STRIPE_CONN`, :data:`SFTP_CONN`) exported."""
    fusion = runner.system("fusion")
    stripe = runner.system("stripe")
    assert isinstance(fusion, FusionSandbox)
    assert isinstance(stripe, StripeSandbox)
    fusion.reset()
    stripe.reset()
    sshd_server.clear()
    for name in ("outbound", "archive", "error"):
        sshd_server.mkdir(name)
    found = Systems(runner, fusion, stripe, sshd_server, monkeypatch)
    found.fusion_connection()
    found.stripe_connection()
    found.sftp_connection()
    return found


def tenant_file(
    path: Path,
    sshd: SshdServer,
    *,
    fusion: str = FUSION_CONN,
    stripe: str = STRIPE_CONN,
    sftp: str = SFTP_CONN,
    gl: bool = False,
    invoices: bool = True,
    extra_tenants: str = "",
) -> Path:
    """Write a tenant file: ``acme`` with ``fusion_stripe`` and ``stampli_fusion`` on the given
    connections, and ``globex`` whose ``stampli_fusion`` is disabled (never probed).

    :param gl: give ``fusion_stripe`` a general-ledger block (the journal writer's probes run).
    :param invoices: leave ``fusion_stripe``'s invoices stream enabled.
    :param extra_tenants: YAML list items appended to ``tenants``.
    """
    directories = (
        f"{{outbound_dir: {sshd.remote_path('outbound')}, archive_dir: {sshd.remote_path('archive')}, "
        f"error_dir: {sshd.remote_path('error')}}}"
    )
    streams = "" if invoices else "        streams:\n          invoices: {enabled: false}\n"
    settings = f"        settings:\n{GL_SETTINGS}" if gl else ""
    path.write_text(
        f"""\
version: 1
tenants:
  - id: acme
    integrations:
      fusion_stripe:
        connections: {{fusion: {fusion}, stripe: {stripe}}}
{streams}{settings}      stampli_fusion:
        connections: {{fusion: {fusion}, stampli: {sftp}}}
        settings:
          business_unit: US1 Business Unit
          sftp: {directories}
  - id: globex
    integrations:
      stampli_fusion:
        enabled: false
        connections: {{fusion: globex_fusion, stampli: globex_sftp}}
        settings:
          business_unit: US1 Business Unit
          sftp: {directories}
{extra_tenants}"""
    )
    return path
