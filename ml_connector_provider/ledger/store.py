"""The ledger: the provider's own record of cursors, runs, links, audit, dead letters and files.

Every method runs in its own transaction and is safe to call from several threads and processes at
once. Concurrency is handled by the database, not by read-modify-write in Python: cursors,
leases, control numbers, dead letters and links are single ``INSERT … ON CONFLICT DO UPDATE``
statements whose update clause carries the rule (only forward, only if expired, wrap at maximum,
attempts + 1). The only difference between SQLite and PostgreSQL is which dialect builds the insert.

:class:`Ledger` combines one class per concern: :mod:`~ml_connector_provider.ledger.runs` (cursors,
run windows, leases), :mod:`~ml_connector_provider.ledger.links` (links, write intents),
:mod:`~ml_connector_provider.ledger.dead_letters`, :mod:`~ml_connector_provider.ledger.audit`,
:mod:`~ml_connector_provider.ledger.files` and :mod:`~ml_connector_provider.ledger.control_numbers`.
Only :meth:`Ledger.commit_batch`, which writes links, audit rows and dead letters in one
transaction, spans them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ml_connector_provider.engine.types import Action, Outcome, RunRef, StreamKey, record_to_json, utcnow
from ml_connector_provider.ledger import schema
from ml_connector_provider.ledger.audit import AuditLedger
from ml_connector_provider.ledger.base import key_values
from ml_connector_provider.ledger.connection import ledger_url_from_airflow, make_engine, shared_engine
from ml_connector_provider.ledger.control_numbers import ControlNumberLedger
from ml_connector_provider.ledger.dead_letters import DeadLetterLedger, backoff_steps
from ml_connector_provider.ledger.files import FileLedger
from ml_connector_provider.ledger.links import LinkLedger
from ml_connector_provider.ledger.runs import RunLedger
from ml_connector_provider.ledger.schema import LedgerError, audit

_LINKED_ACTIONS = frozenset({Action.CREATED, Action.UPDATED, Action.SKIPPED})


class Ledger(RunLedger, LinkLedger, DeadLetterLedger, AuditLedger, FileLedger, ControlNumberLedger):
    """The provider's own store (SQLAlchemy Core; SQLite by default, PostgreSQL in production).

    Its methods come from one class per concern (:class:`~ml_connector_provider.ledger.runs.RunLedger`,
    :class:`~ml_connector_provider.ledger.links.LinkLedger`,
    :class:`~ml_connector_provider.ledger.dead_letters.DeadLetterLedger`,
    :class:`~ml_connector_provider.ledger.audit.AuditLedger`,
    :class:`~ml_connector_provider.ledger.files.FileLedger`,
    :class:`~ml_connector_provider.ledger.control_numbers.ControlNumberLedger`); this class builds
    the engine and commits batches.

    :param engine_or_url: an engine from :func:`~ml_connector_provider.ledger.connection.make_engine`
        or a SQLAlchemy URL (the ledger then owns its engine).
    :param dead_letter_base_delay: delay before the first automatic retry of a dead letter; it
        doubles with every failed attempt.
    :param dead_letter_max_delay: the longest delay between automatic retries.
    :param clock: returns the current aware UTC time (tests pin it).
    """

    def __init__(
        self,
        engine_or_url: Engine | str,
        *,
        dead_letter_base_delay: timedelta = timedelta(minutes=5),
        dead_letter_max_delay: timedelta = timedelta(hours=6),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if dead_letter_base_delay <= timedelta(0) or dead_letter_max_delay < dead_letter_base_delay:
            raise ValueError("dead-letter delays must satisfy 0 < base delay <= max delay")
        self._engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
        if self._engine.dialect.name not in ("sqlite", "postgresql"):
            raise LedgerError(f"the ledger supports SQLite and PostgreSQL, not {self._engine.dialect.name}")
        self._reader = self._engine.execution_options(mlc_read_only=True)
        self._insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        self._clock = clock
        self._max_delay = dead_letter_max_delay
        self._backoff = backoff_steps(dead_letter_base_delay, dead_letter_max_delay)

    @classmethod
    def from_airflow(
        cls, conn_id: str | None = None, *, named_by: str | None = None, **kwargs: Any
    ) -> Ledger:
        """The ledger named by an Airflow connection (see :mod:`~ml_connector_provider.ledger.connection`).

        Engines are shared per URL within a process, so calling this in every task is cheap.

        :param conn_id: Airflow connection id; ``None`` means the configured default
            (``[ml_connector] ledger_conn_id``, else ``ml_connector_ledger``).
        :param named_by: where ``conn_id`` came from, for the message when it does not exist.
        :param kwargs: passed on to :class:`Ledger`.
        """
        return cls(shared_engine(ledger_url_from_airflow(conn_id, named_by=named_by)), **kwargs)

    @property
    def url_for_display(self) -> str:
        """The database URL with the password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        """The underlying SQLAlchemy engine."""
        return self._engine

    def __repr__(self) -> str:
        return f"Ledger({self.url_for_display!r})"

    def migrate(self) -> int:
        """Create or upgrade the ledger tables; see :func:`~ml_connector_provider.ledger.schema.migrate`.

        :return: the schema version.
        """
        return schema.migrate(self._engine)

    def dispose(self) -> None:
        """Close the pooled connections of the engine."""
        self._engine.dispose()

    # -- batches -------------------------------------------------------------------------------

    def commit_batch(self, key: StreamKey, run: RunRef, outcomes: Sequence[Outcome]) -> None:
        """Record what happened to a batch of records, all or nothing, in one transaction.

        * created / updated / skipped with a target id: the link is upserted;
        * every action except ``unchanged``: an audit row;
        * dead-lettered: the dead letter is opened (or re-opened) with attempts + 1 and the next
          retry after an exponential backoff (``base * 2**(attempts-1)``, capped);
        * any other action resolves the record's open dead letter as ``synced``;
        * the pending intents of the records that have a target id are cleared; a record skipped or
          dead-lettered keeps its intent, since an earlier attempt may have created it in the
          target, and its next write must look there first.

        When a record appears more than once, its last outcome decides its dead-letter state and
        its last linked outcome its link.
        """
        if not outcomes:
            return
        now = self._clock()
        keyed = key_values(key)
        final = {o.record.id: o for o in outcomes}
        linked = {o.record.id: o for o in outcomes if Action(o.action) in _LINKED_ACTIONS and o.target_id}
        link_rows = [
            {
                **keyed,
                "source_system": o.source_system,
                "source_id": sid,
                "target_system": o.target_system,
                "target_id": o.target_id,
                "source_version": o.record.version,
                "payload_hash": o.payload_hash,
                "created_at": now,
                "updated_at": now,
            }
            for sid, o in sorted(linked.items())
        ]
        audit_rows = [
            {
                **keyed,
                "run_id": run.run_id,
                "try_number": run.try_number,
                "dag_id": run.dag_id,
                "task_id": run.task_id,
                "source_system": o.source_system,
                "source_id": o.record.id,
                "source_version": o.record.version,
                "source_label": o.record.label,
                "target_system": o.target_system,
                "target_id": o.target_id,
                "action": Action(o.action).value,
                "reason": o.reason,
                "idempotency_key": o.idempotency_key,
                "created_at": now,
            }
            for o in outcomes
            if Action(o.action) is not Action.UNCHANGED
        ]
        failed_rows = [
            {
                **keyed,
                "source_id": sid,
                "source_version": o.record.version,
                "reason": o.reason,
                "record": record_to_json(o.record),
                "attempts": 1,
                "next_retry_at": now + self._retry_delay(1),
                "status": "open",
                "created_at": now,
                "updated_at": now,
            }
            for sid, o in sorted(final.items())
            if Action(o.action) is Action.DEAD_LETTERED
        ]
        synced_ids = sorted(sid for sid, o in final.items() if Action(o.action) is not Action.DEAD_LETTERED)

        with self._write() as conn:
            if link_rows:
                conn.execute(self._link_upsert(), link_rows)
            if audit_rows:
                conn.execute(sa.insert(audit), audit_rows)
            if failed_rows:
                conn.execute(self._dead_letter_upsert(now), failed_rows)
            self._resolve_synced(conn, key, synced_ids, now)
            self._clear_pending(conn, key, sorted(sid for sid, o in final.items() if o.target_id))
