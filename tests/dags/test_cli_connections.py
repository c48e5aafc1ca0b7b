"""``ml-connector validate --connections`` reads connections from Airflow's metadata database, as
tasks do: created with ``airflow connections add`` in a fresh installation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.dags.conftest import REPO_ROOT, airflow_env, run_airflow

DEMO = REPO_ROOT / "ml_connector_provider" / "config" / "tenants.demo.yaml"
SECRET = "pw-never-printed-4711"


def test_connections_in_the_metadata_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
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
        ["connections", "add", "acme_stripe", "--conn-type", "http", "--conn-password", SECRET],
    ):
        result = run_airflow(args, home=home, config=None, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(airflow_env(home, config=None))
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("ml-connector")),
            "validate",
            str(DEMO),
            "--connections",
            "--tenant",
            "acme",
            "--json",
        ],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    checks = json.loads(result.stdout)["connections"]
    assert {(c["integration"], c["conn_id"], c["status"], c["found"]) for c in checks} == {
        ("fusion_stripe", "acme_fusion", "ok", "oracle_fusion"),
        ("fusion_stripe", "acme_stripe", "wrong type", "http"),
        ("stampli_fusion", "acme_fusion", "ok", "oracle_fusion"),
        ("stampli_fusion", "acme_stampli_sftp", "missing", ""),
    }
    assert "connection 'acme_stripe' (stripe) has type 'http'" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
