"""``ml-connector check`` end to end on a tenant file whose connections point at the Fusion
stand-in: the report groups findings by tenant and integration, ``--json`` is pure JSON on
standard output, a failure exits 1, and bad input ends in a message, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from ml_connector_provider.cli import main
from tests.integration.fusion.conftest import ConnectionFactory

STRIPE_CONN = "acme_stripe"


def tenant_file(tmp_path: Path, fusion_conn: str) -> Path:
    config = tmp_path / "tenants.yaml"
    config.write_text(
        f"""\
version: 1
tenants:
  - id: acme
    integrations:
      fusion_stripe:
        connections: {{fusion: {fusion_conn}, stripe: {STRIPE_CONN}}}
        streams:
          invoices: {{enabled: false}}
      stampli_fusion:
        connections: {{fusion: {fusion_conn}, stampli: acme_sftp}}
        settings:
          business_unit: US1 Business Unit
          sftp: {{outbound_dir: /outbound, archive_dir: /archive, error_dir: /error}}
  - id: globex
    integrations:
      stampli_fusion:
        enabled: false
        connections: {{fusion: {fusion_conn}, stampli: globex_sftp}}
        settings:
          business_unit: US1 Business Unit
          sftp: {{outbound_dir: /outbound, archive_dir: /archive, error_dir: /error}}
"""
    )
    return config


def test_json_report_of_a_pod_that_fits(
    make_connection: ConnectionFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tenant_file(tmp_path, make_connection("acme_fusion"))
    assert main(["check", str(config), "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)["checks"]  # nothing but the document on standard output
    assert {r["status"] for r in rows} == {"ok"}
    assert {(r["tenant"], r["integration"]) for r in rows} == {
        ("acme", "fusion_stripe"),
        ("acme", "stampli_fusion"),
    }
    stripe_checks = {r["check"] for r in rows if r["integration"] == "fusion_stripe"}
    # Only the enabled streams' needs: customers (the invoices stream is off, no GL settings).
    assert "fusion.changes.receivablesCustomerAccountSiteActivities" in stripe_checks
    assert "fusion.resource.receivablesInvoices" not in stripe_checks
    assert "fusion.ess_job_status" not in stripe_checks
    stampli_checks = {r["check"] for r in rows if r["integration"] == "stampli_fusion"}
    assert {
        "fusion.resource.invoices",
        "fusion.in_filter.suppliers",
        "fusion.describe.accountCombinationsLOV",
    } <= (stampli_checks)


def test_table_report_names_each_difference_and_exits_1(
    make_connection: ConnectionFactory,
    base_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tenant_file(tmp_path, make_connection("acme_fusion"))
    response = requests.post(
        f"{base_url}/__sandbox__/fusion/settings",
        json={"refused_operators": ["in"], "forbidden_resources": ["accountCombinationsLOV"]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert main(["check", str(config), "--tenant", "acme", "--integration", "stampli_fusion"]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "tenant acme · stampli_fusion"
    assert not any("fusion_stripe" in line for line in lines)
    fail_lines = [line for line in lines if line.lstrip().startswith("FAIL")]
    assert any("fusion.resource.accountCombinationsLOV" in line for line in fail_lines)
    assert any("fusion.in_filter.suppliers" in line for line in fail_lines)
    assert any("fix: set the connection extra rest_framework_version to 1" in line for line in lines)
    assert any(
        "fix: grant the integration user a role with the view privileges of accountCombinationsLOV" in line
        for line in lines
    )
    assert lines[-1].endswith("failure(s)")
    assert " 0 failure(s)" not in lines[-1]


def test_an_unknown_tenant_or_a_bad_file_is_a_message_not_a_traceback(
    make_connection: ConnectionFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tenant_file(tmp_path, make_connection("acme_fusion"))
    assert main(["check", str(config), "--tenant", "initech"]) == 1
    captured = capsys.readouterr()
    assert "tenant 'initech' not found" in captured.err
    assert "Traceback" not in captured.err + captured.out
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ntenants: [{id: acme, integrations: {fusion_stripe: {}}}]\n")
    assert main(["check", str(broken)]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip()
    assert "Traceback" not in captured.err + captured.out


def test_a_missing_connection_is_one_failure_of_that_integration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tenant_file(tmp_path, "no_such_fusion_connection")
    assert main(["check", str(config), "--json", "--integration", "fusion_stripe"]) == 1
    [row] = json.loads(capsys.readouterr().out)["checks"]
    assert (row["tenant"], row["integration"], row["check"], row["status"]) == (
        "acme",
        "fusion_stripe",
        "fusion_stripe.connect",
        "fail",
    )
    assert "no_such_fusion_connection" in row["found"]


def test_json_on_standard_output_is_the_document_alone_in_a_fresh_process(
    make_connection: ConnectionFactory, tmp_path: Path
) -> None:
    """As a user pipes it into a JSON tool: a fresh interpreter, Airflow's logging configured as
    it is at the command line; logs and warnings go to standard error."""
    import os
    import subprocess
    import sys

    config = tenant_file(tmp_path, make_connection("acme_fusion"))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom ml_connector_provider.cli import main\nsys.exit(main(sys.argv[1:]))\n",
            "check",
            str(config),
            "--json",
            "--integration",
            "stampli_fusion",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert {row["integration"] for row in document["checks"]} == {"stampli_fusion"}
    assert "Oracle Fusion connection acme_fusion" in proc.stderr  # the hook's log line, not on stdout
