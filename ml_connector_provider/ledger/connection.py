"""Where the ledger lives: an Airflow connection names the database, this module builds the engine.

The connection (``ml_connector_ledger`` by default) may be of type ``postgres`` or ``sqlite``, or
carry an extra ``sqlalchemy_url`` that overrides everything else. Without such a connection the
ledger is a SQLite file under ``AIRFLOW_HOME``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from ml_connector_provider.ledger.schema import LedgerError
from ml_connector_provider.options import default_ledger_conn_id

SQLITE_BUSY_TIMEOUT_SECONDS = 30

# Engines shared by every Ledger of a process, keyed by (process id, URL): a forked worker
# must not reuse its parent's pooled connections.
_engines: dict[tuple[int, str], Engine] = {}
_engines_lock = threading.Lock()


def default_sqlite_url() -> str:
    """``sqlite:///<AIRFLOW_HOME>/ml_connector_ledger.db`` (``AIRFLOW_HOME`` defaults to ``~/airflow``)."""
    home = Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()
    return f"sqlite:///{home / 'ml_connector_ledger.db'}"


def ledger_url_from_airflow(conn_id: str | None = None) -> str:
    """The SQLAlchemy URL of the ledger named by an Airflow connection.

    :param conn_id: the Airflow connection id; ``None`` means the configured default
        (:func:`~ml_connector_provider.options.default_ledger_conn_id`). When the connection is not
        defined, the default SQLite file under ``AIRFLOW_HOME`` is used.
    :return: a URL string (it contains the password, if any: never log it; use
        :attr:`Ledger.url_for_display <ml_connector_provider.ledger.Ledger.url_for_display>`).
    :raises LedgerError: for a connection type the ledger cannot use.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = conn_id or default_ledger_conn_id()
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return default_sqlite_url()

    override = conn.extra_dejson.get("sqlalchemy_url")
    if override:
        return str(override)
    conn_type = (conn.conn_type or "").lower()
    if conn_type in ("postgres", "postgresql"):
        url = sa.engine.URL.create(
            "postgresql+psycopg2",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
        )
        return url.render_as_string(hide_password=False)
    if conn_type == "sqlite":
        path = conn.host or conn.schema
        if not path:
            raise LedgerError(
                f"Airflow connection {conn_id!r} of type 'sqlite' names no database file (host)"
            )
        return f"sqlite:///{path}"
    raise LedgerError(
        f"Airflow connection {conn_id!r} has type {conn.conn_type!r}; the ledger needs a 'postgres' or "
        "'sqlite' connection, or an extra 'sqlalchemy_url'"
    )


def make_engine(url: str | sa.engine.URL) -> Engine:
    """Create an engine configured for the ledger.

    SQLite: WAL journal, a 30 s busy timeout, and write transactions opened with
    ``BEGIN IMMEDIATE`` so that concurrent writers queue for the lock instead of failing with
    "database is locked" half-way through. A connection whose execution options carry
    ``mlc_read_only=True`` opens a plain deferred transaction instead, so reads never wait for
    writers. PostgreSQL: psycopg2 with ``pool_pre_ping``.

    :raises LedgerError: for a database other than SQLite or PostgreSQL.
    """
    parsed = sa.engine.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if backend != "sqlite":
        raise LedgerError(
            f"the ledger supports SQLite and PostgreSQL, not {parsed.render_as_string(hide_password=True)}"
        )
    in_memory = parsed.database in (None, "", ":memory:")
    engine = sa.create_engine(
        parsed,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        **({"poolclass": StaticPool} if in_memory else {}),
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun by _on_begin below
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
            if not in_memory:
                _use_wal(cursor)
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("mlc_read_only", False)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    return engine


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the database file to WAL (a persistent setting) unless it already is.

    Switching needs an exclusive lock and SQLite answers "database is locked" at once, without
    waiting, when another connection is switching too (two processes opening a new file), so retry.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def shared_engine(url: str) -> Engine:
    """The process-wide engine for ``url``, created on first use."""
    key = (os.getpid(), url)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = make_engine(url)
        return engine
