"""What ``ml-connector check`` probes cannot drift from what the streams query: the
``fusion_stripe`` and ``stampli_fusion`` DAGs run against the stand-ins, and every request the
Fusion stand-in received uses only resources, attributes, children and finders the integrations
declare (``fusion_needs``) — the declarations ``check`` probes a pod for."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ml_connector_sandbox.runner import SandboxRunner, airflow_conn_env_var
from ml_connector_sandbox.stampli import FIRST_BATCH, SECOND_BATCH, render

from ml_connector_provider.checks.fusion import FusionNeed, undeclared_requests
from ml_connector_provider.integrations.fusion_stripe.fusion_needs import STREAM_NEEDS
from ml_connector_provider.integrations.fusion_stripe.fusion_needs import fusion_needs as stripe_needs
from ml_connector_provider.integrations.stampli_fusion.fusion_needs import fusion_needs as stampli_needs
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings
from ml_connector_provider.ledger import Ledger
from tests.harness.airflow_dags import airflow_dag_env, open_ledger, run_dag, stream_summary
from tests.harness.sshd import SshdServer, sshd_server

__all__ = ["sshd_server"]

pytestmark = pytest.mark.airflow_db

GL = """\
          gl:
            ledger_id: "300000046975971"
            ledger_name: US Primary Ledger
            data_access_set_id: "300000046975980"
            journal_source: Stripe
            cash_clearing_account: 101-000-11250-000-000
            ar_suspense_account: 101-000-12990-000-000
            fee_account: 101-000-65110-000-000
            poll_interval: 0.05
"""
CONFIG = ""  # built once the SFTP server's directory is known
CONFIG_TEMPLATE = """\
version: 1
defaults:
  retries: 0
  sync: {{lag: 0, batch_size: 4}}
tenants:
  - id: acme
    integrations:
      fusion_stripe:
        schedule: null
        connections: {{fusion: acme_fusion, stripe: acme_stripe}}
        settings:
          business_units: ["US1 Business Unit"]
{gl}      stampli_fusion:
        schedule: null
        connections: {{fusion: acme_fusion, stampli: acme_stampli}}
        settings:
          business_unit: US1 Business Unit
          sftp:
            outbound_dir: {root}/outbound
            archive_dir: {root}/archive
            error_dir: {root}/error
            min_file_age: 30
          reference_data:
            inbound_dir: {root}/inbound
"""
OLD = time.time() - 600


@pytest.fixture(scope="module")
def root(sshd_server: SshdServer) -> Path:
    path = sshd_server.data_dir / "needs"
    for name in ("outbound", "archive", "error", "inbound"):
        sshd_server.mkdir(str(path / name))
    return path


@pytest.fixture(scope="module")
def ledger(
    tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxRunner, sshd_server: SshdServer, root: Path
) -> Iterator[Ledger]:
    base = tmp_path_factory.mktemp("fusion_needs")
    config = CONFIG_TEMPLATE.format(root=root, gl=GL)
    sftp_env = {airflow_conn_env_var("acme_stampli"): json.dumps(sshd_server.connection())}
    with (
        airflow_dag_env(
            base, sandbox, config, {"fusion": "acme_fusion", "stripe": "acme_stripe"}, sftp_env
        ) as path,
        open_ledger(path) as led,
    ):
        yield led


def fusion_requests(sandbox: SandboxRunner) -> list[dict[str, object]]:
    return sandbox.client("fusion").request_log(path="/fscmRestApi/")


def test_the_fusion_stripe_streams_use_only_what_they_declare(sandbox: SandboxRunner, ledger: Ledger) -> None:
    sandbox.client("fusion").clear_request_log()
    run_id = run_dag("mlc__acme__fusion_stripe")
    assert stream_summary(ledger, "acme", run_id, "customers")["created"] > 0
    assert stream_summary(ledger, "acme", run_id, "invoices")["created"] > 0
    seen = fusion_requests(sandbox)
    resources = {str(entry["path"]).split("/")[4] for entry in seen}
    assert {"receivablesCustomerAccountSiteActivities", "receivablesInvoices"} <= resources
    assert undeclared_requests(stripe_needs(STREAM_NEEDS), seen) == []


def test_the_stampli_fusion_streams_use_only_what_they_declare(
    sandbox: SandboxRunner, ledger: Ledger, sshd_server: SshdServer, root: Path
) -> None:
    today = datetime.now(UTC).date()
    sshd_server.put_file(
        str(root / "outbound" / "STAMPLI_needs_A.csv"), render(list(FIRST_BATCH), today), mtime=OLD
    )
    sshd_server.put_file(
        str(root / "outbound" / "STAMPLI_needs_B.csv"), render(list(SECOND_BATCH), today), mtime=OLD
    )
    sandbox.client("fusion").clear_request_log()
    run_id = run_dag("mlc__acme__stampli_fusion")
    assert stream_summary(ledger, "acme", run_id, "invoices")["created"] > 0
    seen = fusion_requests(sandbox)
    assert any(entry["method"] == "POST" for entry in seen)
    resources = {str(entry["path"]).split("/")[4] for entry in seen}
    assert {"suppliers", "accountCombinationsLOV", "invoices"} <= resources
    settings = StampliFusionSettings.model_validate(
        {
            "business_unit": "US1 Business Unit",
            "sftp": {"outbound_dir": "/o", "archive_dir": "/a", "error_dir": "/e"},
        }
    )
    assert undeclared_requests(stampli_needs(["invoices", "reference_data"], settings), seen) == []


def test_an_undeclared_attribute_child_finder_or_write_is_named() -> None:
    need = FusionNeed(
        "suppliers", "invoices", key="SupplierId", queryable=("SupplierNumber",), children=("sites",)
    )
    base = "/fscmRestApi/resources/11.13.18.05"
    seen = [
        {
            "method": "GET",
            "path": f"{base}/suppliers",
            "query": "q=SupplierNumber+in+%28%271001%27%29&expand=sites",
        },
        {
            "method": "GET",
            "path": f"{base}/suppliers",
            "query": "q=TaxOrganizationType+%3D+%27X%27&orderBy=Supplier",
        },
        {
            "method": "GET",
            "path": f"{base}/suppliers",
            "query": "expand=contacts&finder=SupplierFinder%3BX%3D1",
        },
        {"method": "GET", "path": f"{base}/suppliers/1/child/addresses", "query": ""},
        {"method": "POST", "path": f"{base}/suppliers", "query": ""},
        {"method": "GET", "path": f"{base}/payablesPayments", "query": ""},
    ]
    assert undeclared_requests([need], seen) == [
        "suppliers: q on TaxOrganizationType not declared",
        "suppliers: orderBy Supplier not declared",
        "suppliers: expand contacts not declared",
        "suppliers: finder SupplierFinder not declared",
        "suppliers: child addresses not declared",
        "POST suppliers: writes not declared",
        "GET payablesPayments: resource not declared",
    ]
