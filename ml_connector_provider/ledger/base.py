"""What every part of the ledger shares: the engine, the clock, transactions and query helpers.

Each concern of the ledger (runs, links, dead letters, audit, files, control numbers) is a class
deriving from :class:`LedgerBase`; :class:`~ml_connector_provider.ledger.Ledger` combines them and
sets the attributes declared here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from ml_connector_provider.engine.types import StreamKey

#: Longest ``IN (…)`` list sent in one statement; longer id lists are queried in chunks.
IN_LIST_CHUNK = 500

T = TypeVar("T")


class LedgerBase:
    """The engine, clock and transaction helpers the parts of the ledger work with.

    Every public method runs in its own transaction: writes in :meth:`_write` (on SQLite a
    ``BEGIN IMMEDIATE`` transaction), reads in :meth:`_read` (a deferred one, which never waits for
    writers).
    """

    _engine: Engine
    _reader: Engine
    _insert: Callable[[sa.Table], postgresql.Insert | sqlite.Insert]
    _clock: Callable[[], datetime]

    def _write(self) -> AbstractContextManager[Connection]:
        return self._engine.begin()

    def _read(self) -> AbstractContextManager[Connection]:
        return self._reader.connect()

    def _upsert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        return self._insert(table)


def chunks(items: Sequence[T], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def key_values(key: StreamKey) -> dict[str, str]:
    """The ``tenant``, ``integration`` and ``stream`` column values of a stream."""
    return {"tenant": key.tenant, "integration": key.integration, "stream": key.stream}


def of_stream(table: sa.Table, key: StreamKey) -> list[sa.ColumnElement[bool]]:
    """Conditions selecting the rows of one stream."""
    return [
        table.c.tenant == key.tenant,
        table.c.integration == key.integration,
        table.c.stream == key.stream,
    ]


def matching(table: sa.Table, **values: Any) -> list[sa.ColumnElement[bool]]:
    """Equality conditions for the given column values that are not ``None``."""
    return [table.c[name] == value for name, value in values.items() if value is not None]


def stream_of(row: Row[Any]) -> StreamKey:
    """The stream a row belongs to."""
    return StreamKey(row.tenant, row.integration, row.stream)
