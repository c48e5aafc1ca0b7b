from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ml_connector_provider.ledger import Ledger


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def ledger_url_module(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh ledger database shared by the tests of one module, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        yield server.create_database(f"engine_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def shared_ledger(ledger_url_module: str) -> Iterator[Ledger]:
    """A migrated ledger on that database, for the tests of one module."""
    ledger = Ledger(ledger_url_module)
    ledger.migrate()
    yield ledger
    ledger.dispose()
