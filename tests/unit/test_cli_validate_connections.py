"""``ml-connector validate CONFIG --connections``: each Airflow connection an enabled integration
names exists and has the type the integration declares, looked up the way tasks look it up
(here: ``AIRFLOW_CONN_*`` environment variables; the metadata database in tests/dags)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_connector_provider.cli import main

DEMO = Path(__file__).resolve().parents[2] / "ml_connector_provider" / "config" / "tenants.demo.yaml"
SECRET = "sk_test_never-printed-0123456789"
ALL_DEMO_CONNECTIONS = {
    "acme_fusion": "oracle_fusion",
    "acme_stripe": "stripe",
    "acme_stampli_sftp": "sftp",
    "acme_netsuite": "netsuite",
    "globex_fusion": "oracle_fusion",
    "globex_stripe": "stripe",
    "globex_stampli_sftp": "sftp",
}


def export(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_type: str) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": conn_type, "host": "example.invalid", "login": "u", "password": SECRET}),
    )


@pytest.fixture(autouse=True)
def no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    for conn_id in ALL_DEMO_CONNECTIONS:
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)


def test_every_connection_present_with_its_type(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for conn_id, conn_type in ALL_DEMO_CONNECTIONS.items():
        export(monkeypatch, conn_id, conn_type)
    assert main(["validate", str(DEMO), "--connections", "--json"]) == 0
    captured = capsys.readouterr()
    checks = json.loads(captured.out)["connections"]
    assert {(c["conn_id"], c["status"]) for c in checks} == {(c, "ok") for c in ALL_DEMO_CONNECTIONS}
    # Only enabled integrations: initech's (disabled) are not looked up.
    assert {c["tenant"] for c in checks} == {"acme", "globex"}
    assert SECRET not in captured.out + captured.err


def test_missing_and_wrong_type_are_named_with_how_to_create_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for conn_id, conn_type in ALL_DEMO_CONNECTIONS.items():
        if conn_id == "acme_stampli_sftp":
            continue  # missing
        export(monkeypatch, conn_id, "http" if conn_id == "acme_stripe" else conn_type)
    assert main(["validate", str(DEMO), "--connections", "--tenant", "acme"]) == 1
    captured = capsys.readouterr()
    table = captured.out.split("Airflow connections of the enabled integrations\n", 1)[1]
    rows = {tuple(line.split()[:6]) for line in table.splitlines()[2:]}
    assert rows == {
        ("acme", "fusion_stripe", "fusion", "acme_fusion", "oracle_fusion", "ok"),
        ("acme", "fusion_stripe", "stripe", "acme_stripe", "stripe", "wrong"),
        ("acme", "stampli_fusion", "fusion", "acme_fusion", "oracle_fusion", "ok"),
        ("acme", "stampli_fusion", "stampli", "acme_stampli_sftp", "sftp", "missing"),
        ("acme", "stripe_netsuite", "stripe", "acme_stripe", "stripe", "wrong"),
        ("acme", "stripe_netsuite", "netsuite", "acme_netsuite", "netsuite", "ok"),
    }
    assert captured.err.splitlines() == [
        "acme/fusion_stripe: connection 'acme_stripe' (stripe) has type 'http', the integration needs "
        "'stripe'; delete it and create it again: airflow connections add acme_stripe --conn-type stripe "
        "... (or set AIRFLOW_CONN_ACME_STRIPE; see docs/connections.md)",
        "acme/stampli_fusion: connection 'acme_stampli_sftp' (stampli) does not exist; create it: "
        "airflow connections add acme_stampli_sftp --conn-type sftp ... (or set "
        "AIRFLOW_CONN_ACME_STAMPLI_SFTP; see docs/connections.md)",
        "acme/stripe_netsuite: connection 'acme_stripe' (stripe) has type 'http', the integration needs "
        "'stripe'; delete it and create it again: airflow connections add acme_stripe --conn-type stripe "
        "... (or set AIRFLOW_CONN_ACME_STRIPE; see docs/connections.md)",
    ]
    assert SECRET not in captured.out + captured.err


def test_json_lists_each_problem(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DEMO), "--connections", "--tenant", "globex", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is True
    assert {(c["conn_id"], c["status"], c["found"]) for c in document["connections"]} == {
        ("globex_fusion", "missing", ""),
        ("globex_stripe", "missing", ""),
        ("globex_stampli_sftp", "missing", ""),
    }
    assert all("airflow connections add" in c["fix"] for c in document["connections"])


def test_without_the_option_nothing_is_looked_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DEMO), "--json"]) == 0
    assert "connections" not in json.loads(capsys.readouterr().out)


def test_unknown_tenant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DEMO), "--connections", "--tenant", "umbrella"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"ml-connector validate: not found: tenant 'umbrella' in {DEMO} (its tenants: acme, globex, initech)\n"
    )
