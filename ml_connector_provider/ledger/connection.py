"""Where the ledger lives: an Airflow connection names the database, this module builds the engine.

The connection (``ml_connector_ledger`` by default) may be of type ``postgres`` or ``sqlite``, or
carry an extra ``sqlalchemy_url`` that overrides everything else. The ledger is never a surprise:

- a connection *named* (``ledger_conn_id`` in the tenant file, or Airflow's
  ``[ml_connector] ledger_conn_id`` option) that does not exist is an error saying which
  connection, where it was named and how to create it;
- only when nothing names one and the default connection ``ml_connector_ledger`` does not exist
  is the ledger a SQLite file under ``AIRFLOW_HOME``, logged as a WARNING (with the file's path)
  every time a task opens it, and refused when ``[core] executor`` may run tasks on more than one
  machine (each would keep a ledger of its own and could post the same records again).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from ml_connector_provider.ledger.schema import LedgerError
from ml_connector_provider.options import (
    DEFAULT_LEDGER_CONN_ID,
    default_ledger_conn_id,
    distributed_executors,
)

SQLITE_BUSY_TIMEOUT_SECONDS = 30

# Engines shared by every Ledger of a process, keyed by (process id, URL): a forked worker
# must not reuse its parent's pooled connections.
_engines: dict[tuple[int, str], Engine] = {}
_engines_lock = threading.Lock()

log = logging.getLogger(__name__)

DOCS = "docs/connections.md#the-ledger-connection"


def default_sqlite_path() -> Path:
    """``<AIRFLOW_HOME>/ml_connector_ledger.db`` (``AIRFLOW_HOME`` defaults to ``~/airflow``)."""
    home = Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()
    return home / "ml_connector_ledger.db"


def default_sqlite_url() -> str:
    """``sqlite:///<AIRFLOW_HOME>/ml_connector_ledger.db`` (``AIRFLOW_HOME`` defaults to ``~/airflow``)."""
    return f"sqlite:///{default_sqlite_path()}"


@dataclass(frozen=True)
class LedgerLocation:
    """Which database the ledger uses, and why.

    :param url: the SQLAlchemy URL (it contains the password, if any: never log it).
    :param conn_id: the Airflow connection that was looked up.
    :param fallback: ``True`` when no connection is named, the default one does not exist and the
        ledger is the SQLite file under ``AIRFLOW_HOME``.
    """

    url: str
    conn_id: str
    fallback: bool = False


def _how_to_create(conn_id: str) -> str:
    # A URI keeps the connection type whether or not a provider registers it; ``--conn-type
    # postgres`` without the Postgres provider installed is stored as 'generic'.
    how = (
        f"Create it (a PostgreSQL database; SQLite only when every task runs on one machine) with "
        f"`airflow connections add {conn_id} --conn-uri 'postgresql://<user>:<password>@<host>:5432/<database>'` "
        "or in the Airflow UI (Admin > Connections)"
    )
    if conn_id.replace("_", "").isalnum() and conn_id.isascii():
        # Ids with '.' or '-' cannot be environment variables.
        how += (
            f", or as the environment variable AIRFLOW_CONN_{conn_id.upper()}="
            "'postgresql://<user>:<password>@<host>:5432/<database>' of every Airflow component"
        )
    return f"{how}; see {DOCS}"


def _where_named(conn_id: str, configured: str, named_by: str | None) -> str:
    if named_by:
        return f"named by {named_by}"
    if conn_id == configured:
        return (
            "named by the Airflow option [ml_connector] ledger_conn_id "
            "(AIRFLOW__ML_CONNECTOR__LEDGER_CONN_ID)"
        )
    return "named by the tenant file (ledger_conn_id of the tenant or of its defaults)"


def resolve_ledger(conn_id: str | None = None, *, named_by: str | None = None) -> LedgerLocation:
    """Find the ledger database of a task or a command, following the rules of this module.

    Logs which ledger is used: at INFO for a connection (its URL with the password masked), at
    WARNING for the SQLite fallback (the file's path).

    :param conn_id: the Airflow connection id the DAG or the command names; ``None`` means the
        configured default (:func:`~ml_connector_provider.options.default_ledger_conn_id`). The
        built-in default ``ml_connector_ledger`` counts as *not named*.
    :param named_by: where ``conn_id`` came from, for the message when it does not exist (e.g.
        ``"the --ledger-conn-id option"``); by default the tenant file or the Airflow option.
    :raises LedgerError: when a named connection does not exist, when the fallback would be used
        under a distributed executor, or for a connection type the ledger cannot use.
    """
    from airflow.providers.common.compat.sdk import AirflowNotFoundException
    from airflow.sdk import BaseHook

    configured = default_ledger_conn_id()
    conn_id = conn_id or configured
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        conn = None

    if conn is None:
        if conn_id != DEFAULT_LEDGER_CONN_ID:
            raise LedgerError(
                f"the ledger connection {conn_id!r} does not exist; it is {_where_named(conn_id, configured, named_by)}. "
                f"{_how_to_create(conn_id)}. Or remove the name to use the default connection "
                f"{DEFAULT_LEDGER_CONN_ID!r}."
            )
        path = default_sqlite_path()
        distributed = distributed_executors()
        if distributed:
            raise LedgerError(
                f"no ledger connection is named and the Airflow connection {DEFAULT_LEDGER_CONN_ID!r} does "
                f"not exist, so the ledger would be the SQLite file {path} on this machine; the "
                f"executor {', '.join(distributed)} ([core] executor) may run tasks on several machines, "
                "each of which would keep a ledger of its own and could post the same records again. "
                f"{_how_to_create(DEFAULT_LEDGER_CONN_ID)}."
            )
        log.warning(
            "Ledger: no ledger connection is named and the Airflow connection %r does not exist; using "
            "the SQLite file %s on this machine. Create the connection %r (type 'postgres') for a "
            "ledger every Airflow component shares (see %s).",
            DEFAULT_LEDGER_CONN_ID,
            path,
            DEFAULT_LEDGER_CONN_ID,
            DOCS,
        )
        return LedgerLocation(url=f"sqlite:///{path}", conn_id=conn_id, fallback=True)

    url = _url_of(conn_id, conn)
    log.info(
        "Ledger: Airflow connection %r, %s",
        conn_id,
        sa.engine.make_url(url).render_as_string(hide_password=True),
    )
    return LedgerLocation(url=url, conn_id=conn_id)


def ledger_url_from_airflow(conn_id: str | None = None, *, named_by: str | None = None) -> str:
    """The SQLAlchemy URL of the ledger (see :func:`resolve_ledger` for the rules and the log).

    :param conn_id: the Airflow connection id; ``None`` means the configured default
        (:func:`~ml_connector_provider.options.default_ledger_conn_id`).
    :param named_by: where ``conn_id`` came from (see :func:`resolve_ledger`).
    :return: a URL string (it contains the password, if any: never log it; use
        :attr:`Ledger.url_for_display <ml_connector_provider.ledger.Ledger.url_for_display>`).
    :raises LedgerError: when a named connection does not exist, when the SQLite fallback would be
        used under a distributed executor, or for a connection type the ledger cannot use.
    """
    return resolve_ledger(conn_id, named_by=named_by).url


def _url_of(conn_id: str, conn: Any) -> str:
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
        "'sqlite' connection, or an extra 'sqlalchemy_url' (a connection added with --conn-type postgres "
        "where no provider registers that type is stored as 'generic': add it with --conn-uri "
        "'postgresql://…' instead)"
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
