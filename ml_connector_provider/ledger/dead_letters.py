"""Dead letters: records a run could not sync, retried with an exponential backoff until resolved.

:meth:`~ml_connector_provider.ledger.Ledger.commit_batch` opens (or re-opens) a dead letter for
every dead-lettered record and resolves it as ``synced`` when the record goes through; operators
list them, make them due at once, or resolve them by hand with a note.

A stream may also reject a unit bigger than a record as a whole (a file moved to an error
directory): :meth:`DeadLetterLedger.dead_letter_units` opens a dead letter of that ``kind``
(``source_id`` ``"<kind>:<name>"``) with an audit row. Such a dead letter is never retried
automatically (the same content would be rejected again): an operator makes it due
(:meth:`DeadLetterLedger.retry_dead_letters_now`) and the next run of its stream hands it to the
stream to take the unit again (:meth:`DeadLetterLedger.due_unit_dead_letters`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ml_connector_provider.engine.types import (
    RECORD_KIND,
    Action,
    DeadLetterRow,
    RejectedUnit,
    RunRef,
    StreamKey,
)
from ml_connector_provider.ledger.base import LedgerBase, chunks, key_values, matching, of_stream, stream_of
from ml_connector_provider.ledger.schema import UTCDateTime, audit, dead_letters

# Backoff steps are precomputed into a CASE expression; past this many doublings the cap applies.
_MAX_BACKOFF_STEPS = 32


def backoff_steps(base_delay: timedelta, max_delay: timedelta) -> list[timedelta]:
    """The delays before retries 1, 2, … that fall below ``max_delay``: ``base_delay * 2**(n-1)``.

    Retries past the last step wait ``max_delay``.
    """
    steps: list[timedelta] = []
    while len(steps) < _MAX_BACKOFF_STEPS:
        delay = base_delay * 2 ** len(steps)
        if delay >= max_delay:
            break
        steps.append(delay)
    return steps


def _dead_letter(row: Row[Any]) -> DeadLetterRow:
    return DeadLetterRow(
        id=row.id,
        key=stream_of(row),
        source_id=row.source_id,
        source_version=row.source_version,
        reason=row.reason,
        record=row.record,
        attempts=row.attempts,
        next_retry_at=row.next_retry_at,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        kind=row.kind,
    )


_OF_RECORDS = dead_letters.c.kind == RECORD_KIND


class DeadLetterLedger(LedgerBase):
    """Dead letters and their retry schedule (a part of :class:`~ml_connector_provider.ledger.Ledger`)."""

    _backoff: list[timedelta]
    _max_delay: timedelta

    def due_dead_letters(
        self, key: StreamKey, *, now: datetime | None = None, limit: int = 500
    ) -> list[DeadLetterRow]:
        """Open dead letters of a stream whose next retry is due, the longest-waiting first."""
        stmt = (
            sa.select(dead_letters)
            .where(
                *of_stream(dead_letters, key),
                _OF_RECORDS,
                dead_letters.c.status == "open",
                dead_letters.c.next_retry_at <= (now or self._clock()),
            )
            .order_by(dead_letters.c.next_retry_at, dead_letters.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_dead_letter(row) for row in conn.execute(stmt)]

    def dead_letters_for(self, key: StreamKey, source_ids: Sequence[str]) -> dict[str, DeadLetterRow]:
        """The dead letters (open or resolved) of these source records of a stream, by source id
        (dead letters of whole units are not records: they are left out)."""
        found: dict[str, DeadLetterRow] = {}
        with self._read() as conn:
            for chunk in chunks(sorted(set(source_ids))):
                stmt = sa.select(dead_letters).where(
                    *of_stream(dead_letters, key), _OF_RECORDS, dead_letters.c.source_id.in_(chunk)
                )
                found.update((row.source_id, row) for row in map(_dead_letter, conn.execute(stmt)))
        return found

    def open_attempts(self, key: StreamKey, source_ids: Sequence[str]) -> dict[str, int]:
        """How often each of these records has been dead-lettered, for those with an open dead letter."""
        found: dict[str, int] = {}
        with self._read() as conn:
            for chunk in chunks(sorted(set(source_ids))):
                stmt = sa.select(dead_letters.c.source_id, dead_letters.c.attempts).where(
                    *of_stream(dead_letters, key),
                    _OF_RECORDS,
                    dead_letters.c.source_id.in_(chunk),
                    dead_letters.c.status == "open",
                )
                found.update((row.source_id, int(row.attempts)) for row in conn.execute(stmt))
        return found

    def list_dead_letters(
        self,
        *,
        tenant: str | None = None,
        integration: str | None = None,
        stream: str | None = None,
        status: str | None = "open",
        limit: int = 1000,
        kind: str | None = None,
    ) -> list[DeadLetterRow]:
        """Dead letters of records and of rejected units (files), oldest first.

        :param status: ``open``, ``resolved``, or ``None`` for both.
        :param kind: only this kind (``record``, ``file``); ``None`` for every kind.
        """
        stmt = (
            sa.select(dead_letters)
            .where(
                *matching(
                    dead_letters,
                    tenant=tenant,
                    integration=integration,
                    stream=stream,
                    status=status,
                    kind=kind,
                )
            )
            .order_by(dead_letters.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_dead_letter(row) for row in conn.execute(stmt)]

    def list_dead_letter_details(
        self,
        *,
        tenant: str | None = None,
        integration: str | None = None,
        stream: str | None = None,
        status: str | None = "open",
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
        with_record: bool = False,
    ) -> list[dict[str, Any]]:
        """Dead letters with every stored column, oldest first: what an operator lists (the
        resolution note and time of resolved ones included).

        :param status: ``open``, ``resolved``, or ``None`` for both.
        :param since: only dead letters last updated at or after this instant.
        :param until: only dead letters last updated before this instant.
        :param with_record: include the copy of the record kept for its retry (``record``).
        """
        conditions = matching(
            dead_letters, tenant=tenant, integration=integration, stream=stream, status=status
        )
        if since is not None:
            conditions.append(dead_letters.c.updated_at >= since)
        if until is not None:
            conditions.append(dead_letters.c.updated_at < until)
        columns = [c for c in dead_letters.c if with_record or c.name != "record"]
        stmt = sa.select(*columns).where(*conditions).order_by(dead_letters.c.id).limit(limit)
        with self._read() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    def get_dead_letters(self, ids: Sequence[int]) -> list[DeadLetterRow]:
        """The dead letters with these ids (unknown ids are ignored), ordered by id."""
        found: list[DeadLetterRow] = []
        with self._read() as conn:
            for chunk in chunks(sorted(set(ids))):
                stmt = sa.select(dead_letters).where(dead_letters.c.id.in_(chunk)).order_by(dead_letters.c.id)
                found.extend(_dead_letter(row) for row in conn.execute(stmt))
        return found

    def retry_dead_letters_now(
        self,
        ids: Sequence[int] | None = None,
        *,
        tenant: str | None = None,
        integration: str | None = None,
        stream: str | None = None,
    ) -> int:
        """Make open dead letters due immediately, so the next run retries them.

        A dead letter of a rejected unit (a file) is handed to its stream at the start of the next
        run, which takes the unit again (see :meth:`due_unit_dead_letters`).

        :param ids: the dead letters to retry; ``None`` selects every open one matching the filters.
        :return: how many were made due.
        """
        now = self._clock()
        conditions = [
            dead_letters.c.status == "open",
            *matching(dead_letters, tenant=tenant, integration=integration, stream=stream),
        ]
        stmt = sa.update(dead_letters).values(next_retry_at=now, updated_at=now)
        with self._write() as conn:
            if ids is None:
                return conn.execute(stmt.where(*conditions)).rowcount
            return sum(
                conn.execute(stmt.where(*conditions, dead_letters.c.id.in_(chunk))).rowcount
                for chunk in chunks(sorted(set(ids)))
            )

    def resolve_dead_letters(self, ids: Sequence[int], *, note: str) -> int:
        """Close open dead letters by hand (the record was fixed or is not to be synced).

        :param note: why, for the record; required.
        :return: how many were resolved (already resolved ones are left as they are).
        """
        if not note.strip():
            raise ValueError("a note is required to resolve dead letters by hand")
        now = self._clock()
        stmt = sa.update(dead_letters).values(
            status="resolved", resolution=note, resolved_at=now, updated_at=now, next_retry_at=None
        )
        with self._write() as conn:
            return sum(
                conn.execute(
                    stmt.where(dead_letters.c.status == "open", dead_letters.c.id.in_(chunk))
                ).rowcount
                for chunk in chunks(sorted(set(ids)))
            )

    # -- whole units (files) ---------------------------------------------------------------------

    def dead_letter_units(
        self,
        key: StreamKey,
        run: RunRef,
        units: Sequence[RejectedUnit],
        *,
        source_system: str,
        target_system: str,
    ) -> list[DeadLetterRow]:
        """Open a dead letter for each unit a stream rejected as a whole, with an audit row
        (``action=dead_lettered``, the unit's name as label), in one transaction.

        The same unit rejected again (same kind and name) re-opens its dead letter with one more
        attempt and the new reason and details. These dead letters are not retried on a backoff:
        they stay open, not due, until :meth:`retry_dead_letters_now` or
        :meth:`resolve_dead_letters`.

        :return: the dead letters as stored now.
        """
        if not units:
            return []
        now = self._clock()
        keyed = key_values(key)
        latest = {unit.source_id: unit for unit in units}
        stmt = self._upsert(dead_letters)
        upsert = stmt.on_conflict_do_update(
            index_elements=[
                dead_letters.c.tenant,
                dead_letters.c.integration,
                dead_letters.c.stream,
                dead_letters.c.source_id,
            ],
            set_={
                "kind": stmt.excluded.kind,
                "source_version": stmt.excluded.source_version,
                "reason": stmt.excluded.reason,
                "record": stmt.excluded.record,
                "attempts": dead_letters.c.attempts + 1,
                "next_retry_at": None,
                "status": "open",
                "resolution": None,
                "resolved_at": None,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        with self._write() as conn:
            conn.execute(
                upsert,
                [
                    {
                        **keyed,
                        "kind": unit.kind,
                        "source_id": source_id,
                        "source_version": _version_of(unit),
                        "reason": unit.reason,
                        "record": {"kind": unit.kind, "name": unit.name, **dict(unit.details)},
                        "attempts": 1,
                        "next_retry_at": None,
                        "status": "open",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for source_id, unit in sorted(latest.items())
                ],
            )
            conn.execute(
                sa.insert(audit),
                [
                    {
                        **keyed,
                        "run_id": run.run_id,
                        "try_number": run.try_number,
                        "dag_id": run.dag_id,
                        "task_id": run.task_id,
                        "source_system": source_system,
                        "source_id": unit.source_id,
                        "source_version": _version_of(unit),
                        "source_label": unit.name,
                        "target_system": target_system,
                        "target_id": None,
                        "action": Action.DEAD_LETTERED.value,
                        "reason": unit.reason,
                        "idempotency_key": None,
                        "created_at": now,
                    }
                    for unit in units
                ],
            )
            rows = conn.execute(
                sa.select(dead_letters)
                .where(*of_stream(dead_letters, key), dead_letters.c.source_id.in_(sorted(latest)))
                .order_by(dead_letters.c.id)
            )
            return [_dead_letter(row) for row in rows]

    def due_unit_dead_letters(
        self, key: StreamKey, *, now: datetime | None = None, limit: int = 500
    ) -> list[DeadLetterRow]:
        """Open dead letters of rejected units (not records) of a stream that an operator made due,
        oldest first: the units the stream's next run is to take again."""
        stmt = (
            sa.select(dead_letters)
            .where(
                *of_stream(dead_letters, key),
                dead_letters.c.kind != RECORD_KIND,
                dead_letters.c.status == "open",
                dead_letters.c.next_retry_at <= (now or self._clock()),
            )
            .order_by(dead_letters.c.next_retry_at, dead_letters.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_dead_letter(row) for row in conn.execute(stmt)]

    def resolve_taken_again(self, taken: Mapping[int, str]) -> int:
        """Resolve dead letters of units their stream has taken again, each with its note (what
        was done: ``"moved back to …"``). A unit rejected again gets its dead letter re-opened.

        :return: how many were resolved.
        """
        now = self._clock()
        count = 0
        with self._write() as conn:
            for dead_letter_id, note in sorted(taken.items()):
                count += conn.execute(
                    sa.update(dead_letters)
                    .where(
                        dead_letters.c.id == dead_letter_id,
                        dead_letters.c.status == "open",
                        dead_letters.c.kind != RECORD_KIND,
                    )
                    .values(
                        status="resolved",
                        resolution=note,
                        resolved_at=now,
                        updated_at=now,
                        next_retry_at=None,
                    )
                ).rowcount
        return count

    def _retry_delay(self, attempts: int) -> timedelta:
        """How long after its ``attempts``-th failure a dead letter is retried."""
        return self._backoff[attempts - 1] if attempts <= len(self._backoff) else self._max_delay

    def _dead_letter_upsert(self, now: datetime) -> sa.Insert:
        """Open a dead letter, or count one more attempt on it (attempt 1 again if it was resolved)."""
        stmt = self._upsert(dead_letters)
        attempts = sa.case((dead_letters.c.status == "open", dead_letters.c.attempts + 1), else_=1)
        retry_at = sa.case(
            *(
                (attempts == n, sa.literal(now + delay, UTCDateTime()))
                for n, delay in enumerate(self._backoff, 1)
            ),
            else_=sa.literal(now + self._max_delay, UTCDateTime()),
        )
        return stmt.on_conflict_do_update(
            index_elements=[
                dead_letters.c.tenant,
                dead_letters.c.integration,
                dead_letters.c.stream,
                dead_letters.c.source_id,
            ],
            set_={
                "kind": RECORD_KIND,
                "source_version": stmt.excluded.source_version,
                "reason": stmt.excluded.reason,
                "record": stmt.excluded.record,
                "attempts": attempts,
                "next_retry_at": retry_at,
                "status": "open",
                "resolution": None,
                "resolved_at": None,
                "updated_at": stmt.excluded.updated_at,
            },
        )

    def _resolve_synced(
        self, conn: Connection, key: StreamKey, source_ids: Sequence[str], now: datetime
    ) -> None:
        """Resolve the open dead letters of these records as ``synced``, inside the caller's transaction."""
        for chunk in chunks(source_ids):
            conn.execute(
                sa.update(dead_letters)
                .where(
                    *of_stream(dead_letters, key),
                    _OF_RECORDS,
                    dead_letters.c.status == "open",
                    dead_letters.c.source_id.in_(chunk),
                )
                .values(
                    status="resolved",
                    resolution="synced",
                    resolved_at=now,
                    updated_at=now,
                    next_retry_at=None,
                )
            )


def _version_of(unit: RejectedUnit) -> str | None:
    """The version of a rejected unit: its content checksum when it has one."""
    checksum = unit.details.get("checksum")
    return str(checksum)[:255] if checksum else None
