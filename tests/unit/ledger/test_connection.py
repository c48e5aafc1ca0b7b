"""Where the ledger lives: Airflow connections, the default connection id, shared engines."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ml_connector_provider.ledger import Ledger, LedgerError
from ml_connector_provider.ledger.connection import ledger_url_from_airflow, shared_engine
from ml_connector_provider.ledger.schema import LATEST_VERSION


def _connection(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ML_CONNECTOR_LEDGER", json.dumps(fields))


def test_postgres_connection_becomes_a_psycopg2_url(monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(
        monkeypatch,
        conn_type="postgres",
        host="db.internal",
        port=5433,
        login="mlc",
        password="p@ss/w:rd",
        schema="ledger",
    )
    url = ledger_url_from_airflow()
    assert url == "postgresql+psycopg2://mlc:p%40ss%2Fw%3Ard@db.internal:5433/ledger"
    assert sa.engine.make_url(url).password == "p@ss/w:rd"
    store = Ledger(url)
    assert store.url_for_display == "postgresql+psycopg2://mlc:***@db.internal:5433/ledger"
    assert "p@ss" not in repr(store)
    store.dispose()


def test_sqlalchemy_url_extra_and_sqlite_connections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _connection(
        monkeypatch, conn_type="postgres", host="ignored", extra={"sqlalchemy_url": "sqlite:////tmp/x.db"}
    )
    assert ledger_url_from_airflow() == "sqlite:////tmp/x.db"
    _connection(monkeypatch, conn_type="sqlite", host=str(tmp_path / "l.db"))
    assert ledger_url_from_airflow() == f"sqlite:///{tmp_path / 'l.db'}"
    first = Ledger.from_airflow()
    second = Ledger.from_airflow(dead_letter_base_delay=timedelta(minutes=1))
    try:
        assert first.engine is second.engine
        assert first.engine is shared_engine(f"sqlite:///{tmp_path / 'l.db'}")
        assert first.migrate() == LATEST_VERSION
        assert (tmp_path / "l.db").is_file()
    finally:
        first.dispose()


def test_unknown_connection_type_is_refused_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(monkeypatch, conn_type="mysql", host="db", login="u", password="s3cret-value")
    with pytest.raises(LedgerError) as error:
        ledger_url_from_airflow()
    assert str(error.value) == (
        "Airflow connection 'ml_connector_ledger' has type 'mysql'; the ledger needs a 'postgres' or "
        "'sqlite' connection, or an extra 'sqlalchemy_url'"
    )


def test_missing_connection_falls_back_to_sqlite_under_airflow_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_ML_CONNECTOR_LEDGER", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert (
        ledger_url_from_airflow("mlc_ledger_not_defined")
        == f"sqlite:///{tmp_path / 'ml_connector_ledger.db'}"
    )


def test_default_connection_follows_the_airflow_option(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW__ML_CONNECTOR__LEDGER_CONN_ID", "finance_ledger")
    monkeypatch.setenv(
        "AIRFLOW_CONN_FINANCE_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "f.db")})
    )
    assert ledger_url_from_airflow() == f"sqlite:///{tmp_path / 'f.db'}"
    _connection(monkeypatch, conn_type="mysql", host="db")
    monkeypatch.delenv("AIRFLOW__ML_CONNECTOR__LEDGER_CONN_ID")
    with pytest.raises(LedgerError, match="Airflow connection 'ml_connector_ledger' has type 'mysql'"):
        ledger_url_from_airflow()
