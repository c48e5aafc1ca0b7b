"""``ml-connector`` reads connections from Airflow's metadata database, where ``airflow connections
add`` and the UI put them (Airflow's SDK skips the database outside tasks and servers): the
connections ``validate --connections`` checks, and the ledger connection of the ledger commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.dags.conftest import REPO_ROOT, airflow_env, run_airflow

DEMO = REPO_ROOT / "ml_connector_provider" / "config" / "tenants.demo.yaml"
SECRET = "pw-never-printed-4711"


def ml_connector(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(airflow_env(home, config=None))
    return subprocess.run(
        [str(Path(sys.executable).with_name("ml-connector")), *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_connections_in_the_metadata_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ledger_file = tmp_path / "shared-ledger.db"
    for args in (
        ["db", "migrate"],
        [
            "connections",
            "add",
            "acme_fusion",
            "--conn-type",
            "oracle_fusion",
            "--conn-host",
            "https://x.invalid",
        ],
        # A type some installed provider registers (the sftp extra is installed for the tests; an
        # unregistered one such as http would be stored as generic).
        ["connections", "add", "acme_stripe", "--conn-type", "sftp", "--conn-password", SECRET],
        # (`--conn-type sqlite` would be stored as 'generic': no installed provider registers 'sqlite'.)
        [
            "connections",
            "add",
            "ml_connector_ledger",
            "--conn-type",
            "generic",
            "--conn-extra",
            json.dumps({"sqlalchemy_url": f"sqlite:///{ledger_file}"}),
        ],
    ):
        result = run_airflow(args, home=home, config=None, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]

    result = ml_connector(["validate", str(DEMO), "--connections", "--tenant", "acme", "--json"], home)
    assert result.returncode == 1, result.stderr
    checks = json.loads(result.stdout)["connections"]
    assert {(c["integration"], c["conn_id"], c["status"], c["found"]) for c in checks} == {
        ("fusion_stripe", "acme_fusion", "ok", "oracle_fusion"),
        ("fusion_stripe", "acme_stripe", "wrong type", "sftp"),
        ("stampli_fusion", "acme_fusion", "ok", "oracle_fusion"),
        ("stampli_fusion", "acme_stampli_sftp", "missing", ""),
        ("stripe_netsuite", "acme_stripe", "wrong type", "sftp"),
        ("stripe_netsuite", "acme_netsuite", "missing", ""),
    }
    assert "connection 'acme_stripe' (stripe) has type 'sftp'" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr

    # The ledger commands use the ledger connection of the database, not the SQLite fallback.
    result = ml_connector(["runs", "--json"], home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert f"Ledger: Airflow connection 'ml_connector_ledger', sqlite:///{ledger_file}" in result.stderr
    assert "no ledger connection is named" not in result.stderr
    assert ledger_file.exists()
    assert not (home / "ml_connector_ledger.db").exists()
