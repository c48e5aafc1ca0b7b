"""Where the ledger lives: Airflow connections, the default connection id, shared engines."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ml_connector_provider.ledger import Ledger, LedgerError
from ml_connector_provider.ledger.connection import (
    default_sqlite_path,
    ledger_url_from_airflow,
    resolve_ledger,
    shared_engine,
)
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
        "'sqlite' connection, or an extra 'sqlalchemy_url' (a connection added with --conn-type postgres "
        "where no provider registers that type is stored as 'generic': add it with --conn-uri "
        "'postgresql://…' instead)"
    )
    assert "s3cret-value" not in str(error.value)


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


# -- The ledger is never a surprise ------------------------------------------------------------

LOGGER = "ml_connector_provider.ledger.connection"


@pytest.fixture
def nothing_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ledger connection anywhere, Airflow's default executor, AIRFLOW_HOME in a temporary
    directory; returns the SQLite file the fallback would use."""
    monkeypatch.delenv("AIRFLOW_CONN_ML_CONNECTOR_LEDGER", raising=False)
    monkeypatch.delenv("AIRFLOW__ML_CONNECTOR__LEDGER_CONN_ID", raising=False)
    monkeypatch.delenv("AIRFLOW__CORE__EXECUTOR", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    return tmp_path / "ml_connector_ledger.db"


def test_a_connection_named_by_the_tenant_file_must_exist(nothing_named: Path) -> None:
    # What a task passes when the tenant file says ledger_conn_id: acme_ledger.
    with pytest.raises(LedgerError) as error:
        Ledger.from_airflow("acme_ledger")

    message = str(error.value)
    assert message.startswith(
        "the ledger connection 'acme_ledger' does not exist; it is named by the tenant file "
        "(ledger_conn_id of the tenant or of its defaults). Create it "
    )
    assert "`airflow connections add acme_ledger --conn-uri 'postgresql://" in message
    assert "AIRFLOW_CONN_ACME_LEDGER='postgresql://<user>:<password>@<host>:5432/<database>'" in message
    assert "docs/connections.md" in message
    assert not nothing_named.exists()


def test_a_connection_named_by_the_airflow_option_must_exist(
    nothing_named: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__ML_CONNECTOR__LEDGER_CONN_ID", "finance.ledger")

    # The DAG factory copies the option into the DAG when the tenant file names none; commands
    # pass nothing.
    for conn_id in ("finance.ledger", None):
        with pytest.raises(LedgerError) as error:
            ledger_url_from_airflow(conn_id)
        assert str(error.value).startswith(
            "the ledger connection 'finance.ledger' does not exist; it is named by the Airflow option "
            "[ml_connector] ledger_conn_id (AIRFLOW__ML_CONNECTOR__LEDGER_CONN_ID). Create it "
        )
        assert "`airflow connections add finance.ledger --conn-uri 'postgresql://" in str(error.value)
        # An id with a '.' cannot be an environment variable: none is suggested.
        assert "AIRFLOW_CONN_" not in str(error.value)
    assert not nothing_named.exists()


def test_sqlite_fallback_only_when_nothing_is_named_and_logged_at_every_start(
    nothing_named: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)

    first = Ledger.from_airflow()
    try:
        assert first.migrate() == LATEST_VERSION
        second = Ledger.from_airflow("ml_connector_ledger")
        assert second.engine is first.engine
    finally:
        first.dispose()

    assert nothing_named.is_file()
    assert resolve_ledger().fallback is True
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 3  # once per start, not once per process
    assert warnings[0] == (
        "Ledger: no ledger connection is named and the Airflow connection 'ml_connector_ledger' does "
        f"not exist; using the SQLite file {nothing_named} on this machine. Create the connection "
        "'ml_connector_ledger' (type 'postgres') for a ledger every Airflow component shares (see "
        "docs/connections.md#the-ledger-connection)."
    )


@pytest.mark.parametrize(
    ("executor", "named"),
    [
        ("CeleryExecutor", "CeleryExecutor"),
        ("KubernetesExecutor", "KubernetesExecutor"),
        ("airflow.providers.edge3.executors.EdgeExecutor", "EdgeExecutor"),
        ("LocalExecutor,CeleryExecutor", "CeleryExecutor"),
        ("LocalExecutor, remote:my_company.executors.BatchExecutor", "BatchExecutor"),
    ],
)
def test_sqlite_fallback_refused_under_a_distributed_executor(
    nothing_named: Path, monkeypatch: pytest.MonkeyPatch, executor: str, named: str
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)

    with pytest.raises(LedgerError) as error:
        Ledger.from_airflow()

    message = str(error.value)
    assert message.startswith(
        "no ledger connection is named and the Airflow connection 'ml_connector_ledger' does not "
        f"exist, so the ledger would be the SQLite file {nothing_named} on this machine; the executor "
        f"{named} ([core] executor) may run tasks on several machines, each of which would keep a "
        "ledger of its own and could post the same records again. Create it "
    )
    assert "`airflow connections add ml_connector_ledger --conn-uri 'postgresql://" in message
    assert not nothing_named.exists()


@pytest.mark.parametrize(
    "executor", ["LocalExecutor", "airflow.executors.local_executor.LocalExecutor", "mine:LocalExecutor", ""]
)
def test_sqlite_fallback_allowed_when_every_task_runs_here(
    nothing_named: Path, monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)

    assert ledger_url_from_airflow() == f"sqlite:///{nothing_named}"
    assert default_sqlite_path() == nothing_named


def test_a_connection_is_used_under_a_distributed_executor_and_logged_without_its_password(
    nothing_named: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    _connection(
        monkeypatch, conn_type="postgres", host="db.internal", login="mlc", password="s3cret", schema="l"
    )
    caplog.set_level(logging.INFO, logger=LOGGER)

    location = resolve_ledger()

    assert (location.conn_id, location.fallback) == ("ml_connector_ledger", False)
    assert location.url == "postgresql+psycopg2://mlc:s3cret@db.internal/l"
    logged = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert logged == [
        "Ledger: Airflow connection 'ml_connector_ledger', postgresql+psycopg2://mlc:***@db.internal/l"
    ]
    assert "s3cret" not in caplog.text


def test_a_connection_named_on_the_command_line_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)
    with pytest.raises(LedgerError) as error:
        resolve_ledger("nope", named_by="the --ledger-conn-id option")
    message = str(error.value)
    assert (
        "the ledger connection 'nope' does not exist; it is named by the --ledger-conn-id option." in message
    )
    assert "tenant file" not in message
