"""Tables of the ledger and the migration runner that creates and upgrades them.

Every table is prefixed ``mlc_`` and lives in the ledger database only; nothing here touches
Airflow's metadata tables. Timestamps are timezone-aware UTC in and out (:class:`UTCDateTime`),
JSON values are stored as canonical JSON text so that SQLite and PostgreSQL behave the same.

Schema changes are numbered steps in :data:`MIGRATIONS`. Step 1 creates every table in its
current shape, so an empty database runs step 1 and records the later steps as applied; an
existing database runs the steps it has not seen yet. A change to a table is therefore made twice:
in the table definition below (for new databases) and as a new step (for existing ones).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine

from ml_connector_provider.engine.types import canonical_json, utcnow


class LedgerError(Exception):
    """The ledger cannot do what was asked (bad configuration, unknown row, newer schema)."""


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no timestamp type, so values are stored as naive
    UTC text of a fixed width (which sorts and compares chronologically) and read back as aware UTC.
    Naive datetimes are refused rather than guessed at.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given to the ledger; use an aware UTC value"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONText(sa.types.TypeDecorator[Any]):
    """A JSON value stored as canonical text (sorted keys, no whitespace)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else canonical_json(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


# SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets a BIGINT identity.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()


def _stream_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("integration", sa.String(128), nullable=False),
        sa.Column("stream", sa.String(128), nullable=False),
    ]


def _stream_key_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("integration", sa.String(128), primary_key=True),
        sa.Column("stream", sa.String(128), primary_key=True),
    ]


schema_version = sa.Table(
    "mlc_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

cursors = sa.Table(
    "mlc_cursors",
    metadata,
    *_stream_key_columns(),
    sa.Column("position", UTCDateTime, nullable=False),
    sa.Column("state", JSONText, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

runs = sa.Table(
    "mlc_runs",
    metadata,
    *_stream_key_columns(),
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("dag_id", sa.String(250)),
    sa.Column("task_id", sa.String(250)),
    sa.Column("mode", sa.String(32), nullable=False),
    sa.Column("window_start", UTCDateTime, nullable=False),
    sa.Column("window_end", UTCDateTime, nullable=False),
    sa.Column("params", JSONText, nullable=False),
    sa.Column("try_number", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("summary", JSONText),
    sa.Index("ix_mlc_runs_started_at", "started_at"),
)

links = sa.Table(
    "mlc_links",
    metadata,
    *_stream_key_columns(),
    sa.Column("source_system", sa.String(64), primary_key=True),
    sa.Column("source_id", sa.String(255), primary_key=True),
    sa.Column("target_system", sa.String(64), nullable=False),
    sa.Column("target_id", sa.String(255), nullable=False),
    sa.Column("source_version", sa.String(255)),
    sa.Column("payload_hash", sa.String(64)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_mlc_links_target", "target_system", "target_id"),
)

pending = sa.Table(
    "mlc_pending",
    metadata,
    *_stream_key_columns(),
    sa.Column("source_id", sa.String(255), primary_key=True),
    sa.Column("idempotency_key", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

audit = sa.Table(
    "mlc_audit",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    *_stream_columns(),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("try_number", sa.Integer, nullable=False),
    sa.Column("dag_id", sa.String(250)),
    sa.Column("task_id", sa.String(250)),
    sa.Column("source_system", sa.String(64), nullable=False),
    sa.Column("source_id", sa.String(255), nullable=False),
    sa.Column("source_version", sa.String(255)),
    sa.Column("source_label", sa.String(500)),
    sa.Column("target_system", sa.String(64), nullable=False),
    sa.Column("target_id", sa.String(255)),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("idempotency_key", sa.String(255)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_mlc_audit_stream_created", "tenant", "integration", "stream", "created_at"),
    sa.Index("ix_mlc_audit_source_id", "source_id"),
    sa.Index("ix_mlc_audit_target_id", "target_id"),
    sa.Index("ix_mlc_audit_run_id", "run_id"),
)

dead_letters = sa.Table(
    "mlc_dead_letters",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    *_stream_columns(),
    sa.Column("source_id", sa.String(255), nullable=False),
    sa.Column("source_version", sa.String(255)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("record", JSONText, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_retry_at", UTCDateTime),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("resolution", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    # ``record``: one source record; otherwise a unit a stream rejected as a whole (``file``),
    # whose ``source_id`` is ``"<kind>:<name>"`` and which is retried only when asked to.
    sa.Column("kind", sa.String(16), nullable=False, server_default=sa.text("'record'")),
    sa.UniqueConstraint("tenant", "integration", "stream", "source_id", name="uq_mlc_dead_letters_source"),
    sa.Index("ix_mlc_dead_letters_due", "tenant", "integration", "stream", "status", "next_retry_at"),
)

files = sa.Table(
    "mlc_files",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(128), nullable=False),
    sa.Column("integration", sa.String(128), nullable=False),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("checksum", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("state", JSONText),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("processed_at", UTCDateTime),
    sa.UniqueConstraint("tenant", "integration", "checksum", name="uq_mlc_files_checksum"),
    sa.Index("ix_mlc_files_path", "path"),
)

control_numbers = sa.Table(
    "mlc_control_numbers",
    metadata,
    sa.Column("tenant", sa.String(128), primary_key=True),
    sa.Column("partner", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("last_value", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

leases = sa.Table(
    "mlc_leases",
    metadata,
    *_stream_key_columns(),
    sa.Column("owner", sa.String(250), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    # The fencing token: +1 on every acquisition. The row outlives its holder (a release only sets
    # ``released_at``), so the token of a stream never goes back.
    sa.Column("token", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("try_number", sa.Integer),
    sa.Column("released_at", UTCDateTime),
)


@dataclass(frozen=True)
class Migration:
    """One numbered schema change, run inside the migration transaction."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _create_tables(conn: Connection) -> None:
    metadata.create_all(conn)


def _add_file_state(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE mlc_files ADD COLUMN state TEXT"))


def _add_lease_fencing(conn: Connection) -> None:
    timestamp = UTCDateTime().compile(dialect=conn.dialect)
    conn.execute(sa.text("ALTER TABLE mlc_leases ADD COLUMN token BIGINT NOT NULL DEFAULT 0"))
    conn.execute(sa.text("ALTER TABLE mlc_leases ADD COLUMN try_number INTEGER"))
    conn.execute(sa.text(f"ALTER TABLE mlc_leases ADD COLUMN released_at {timestamp}"))


def _add_dead_letter_kind(conn: Connection) -> None:
    conn.execute(
        sa.text("ALTER TABLE mlc_dead_letters ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'record'")
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create the ledger tables", _create_tables),
    Migration(2, "mlc_files.state: structured progress of a file (e.g. an import attempt)", _add_file_state),
    Migration(
        3, "mlc_leases.token, try_number, released_at: fencing tokens and lease takeover", _add_lease_fencing
    ),
    Migration(
        4,
        "mlc_dead_letters.kind: dead letters of whole files next to those of records",
        _add_dead_letter_kind,
    ),
)
LATEST_VERSION = MIGRATIONS[-1].version

# Key of the PostgreSQL advisory lock that serialises concurrent migrations ("mlc-ledger").
_PG_MIGRATION_LOCK = 0x6D6C632D6C6564


def current_version(conn: Connection) -> int:
    """The highest applied migration, ``0`` for a database the ledger has never touched."""
    if not sa.inspect(conn).has_table(schema_version.name):
        return 0
    return int(conn.scalar(sa.select(sa.func.max(schema_version.c.version))) or 0)


def migrate(engine: Engine) -> int:
    """Bring the ledger schema up to date and return its version.

    Idempotent and safe to run from several processes at once: on PostgreSQL the whole migration
    holds a transaction-scoped advisory lock; on SQLite the transaction starts with
    ``BEGIN IMMEDIATE`` (see :func:`ml_connector_provider.ledger.connection.make_engine`), so a
    second migrator waits for the first to commit and then finds nothing left to do.

    :raises LedgerError: if the database was migrated by a newer version of the provider.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        version = current_version(conn)
        if version > LATEST_VERSION:
            raise LedgerError(
                f"the ledger schema is at version {version}, newer than this provider supports "
                f"({LATEST_VERSION}); upgrade ml-connector-provider"
            )
        if version == LATEST_VERSION:
            return version
        fresh = version == 0
        for step in MIGRATIONS:
            if step.version <= version:
                continue
            if not fresh or step.version == 1:
                step.apply(conn)
            conn.execute(
                schema_version.insert().values(
                    version=step.version, description=step.description, applied_at=utcnow()
                )
            )
        return LATEST_VERSION
