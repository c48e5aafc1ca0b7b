"""Ledger tables and migrations, timestamps, and SQLite files opened concurrently."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from ml_connector_provider.ledger import Ledger, LedgerError
from ml_connector_provider.ledger.schema import LATEST_VERSION, metadata, schema_version
from tests.unit.ledger.helpers import KEY, T0, in_threads, rows


def test_migrate_creates_every_table_and_is_idempotent(ledger_url: str) -> None:
    store = Ledger(ledger_url)
    try:
        assert store.migrate() == LATEST_VERSION == 4
        assert store.migrate() == 4
        names = set(sa.inspect(store.engine).get_table_names())
        assert names == set(metadata.tables)
        assert all(name.startswith("mlc_") for name in names)
        assert [r["version"] for r in rows(store, schema_version)] == [1, 2, 3, 4]
    finally:
        store.dispose()


def test_concurrent_migrations_apply_once(ledger_url: str) -> None:
    stores = [Ledger(ledger_url) for _ in range(4)]
    try:
        assert in_threads(4, lambda i: stores[i].migrate()) == [4, 4, 4, 4]
        assert [r["version"] for r in rows(stores[0], schema_version)] == [1, 2, 3, 4]
    finally:
        for store in stores:
            store.dispose()


def test_migrate_refuses_a_newer_schema(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(schema_version.insert().values(version=99, description="future", applied_at=T0))
    with pytest.raises(LedgerError, match="version 99, newer than this provider supports"):
        ledger.migrate()


def test_timestamps_come_back_aware_utc_and_naive_ones_are_refused(ledger: Ledger) -> None:
    plus_two = timezone(timedelta(hours=2))
    ledger.set_cursor(KEY, datetime(2025, 3, 1, 14, 30, 0, 123456, tzinfo=plus_two))
    cursor = ledger.get_cursor(KEY)
    assert cursor is not None
    assert cursor.position == datetime(2025, 3, 1, 12, 30, 0, 123456, tzinfo=UTC)
    assert cursor.position.utcoffset() == timedelta(0)
    assert cursor.updated_at == T0
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        ledger.set_cursor(KEY, datetime(2025, 3, 1))


def test_a_new_sqlite_file_opened_by_many_connections_at_once(tmp_path: Path) -> None:
    # Switching a new file to WAL races between connections; none of them may fail.
    def journal_mode(url: str, _: int) -> str:
        store = Ledger(url)
        try:
            with store.engine.connect() as conn:
                return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar())
        finally:
            store.dispose()

    for attempt in range(60):
        url = f"sqlite:///{tmp_path / f'new-{attempt}.db'}"
        assert in_threads(8, functools.partial(journal_mode, url)) == ["wal"] * 8


def test_in_memory_sqlite_keeps_one_database() -> None:
    store = Ledger("sqlite://")
    try:
        store.migrate()
        assert store.advance_cursor(KEY, T0) is True
        cursor = store.get_cursor(KEY)
        assert cursor is not None
        assert cursor.position == T0
    finally:
        store.dispose()
