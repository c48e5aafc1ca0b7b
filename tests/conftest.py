"""Shared fixtures: an isolated Airflow home, databases for the ledger (SQLite file, real PostgreSQL)."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Airflow reads AIRFLOW_HOME when it is first imported (importing the provider imports it) and
# writes airflow.cfg and its SQLite metadata DB there: never let a test run touch ~/airflow.
if "airflow" not in sys.modules:
    _HOME = Path(tempfile.mkdtemp(prefix="mlc-test-airflow-"))
    atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = str(_HOME)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ.pop("ML_CONNECTOR_CONFIG", None)

from tests.harness.postgres import PostgresServer, find_postgres_bindir


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, started from the installed binaries."""
    bindir = find_postgres_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries not found; run `make test` (it installs Debian's postgresql)"
        if os.environ.get("MLC_SKIP_POSTGRES") == "1":
            pytest.skip(message)
        pytest.fail(message)
    server = PostgresServer(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """URL of a fresh, empty PostgreSQL database."""
    return postgres_server.create_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a SQLite file in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def ledger_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each supported backend."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))
