"""Run windows, cursors and leases: where each stream is, what each run claimed, who runs it now.

A cursor only moves forward unless an operator sets it; a run keeps the window of its first try;
a lease is taken or taken over in one statement whose condition (expired, or already the
owner's) is checked by the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from ml_connector_provider.engine.types import RunRef, StreamKey, Window
from ml_connector_provider.ledger.base import LedgerBase, key_values, matching, of_stream, stream_of
from ml_connector_provider.ledger.schema import LedgerError, cursors, leases, runs

RUN_MODES = frozenset({"incremental", "replay_range", "replay_ids"})


class LeaseHeld(LedgerError):
    """Another worker holds the lease of a stream.

    :param owner: who holds it.
    :param expires_at: when it lapses unless renewed.
    :param key: the stream.
    """

    def __init__(self, owner: str, expires_at: datetime, key: StreamKey | None = None) -> None:
        self.owner = owner
        self.expires_at = expires_at
        self.key = key
        where = f" on {key}" if key else ""
        super().__init__(f"the lease{where} is held by {owner!r} until {expires_at.isoformat()}")


@dataclass(frozen=True)
class Cursor:
    """How far a stream has been synced.

    :param position: every source change strictly before this instant has been committed.
    :param state: stream-specific extras (e.g. Stripe event ids seen inside the overlap).
    :param updated_at: when the cursor last moved.
    """

    position: datetime
    state: Mapping[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class RunRow:
    """The window one Airflow run of one stream claimed, and how the run ended."""

    key: StreamKey
    run_id: str
    dag_id: str | None
    task_id: str | None
    mode: str
    window: Window
    params: Mapping[str, Any]
    try_number: int
    started_at: datetime
    finished_at: datetime | None
    summary: Mapping[str, Any] | None


def _run(row: Row[Any]) -> RunRow:
    return RunRow(
        key=stream_of(row),
        run_id=row.run_id,
        dag_id=row.dag_id,
        task_id=row.task_id,
        mode=row.mode,
        window=Window(row.window_start, row.window_end),
        params=row.params,
        try_number=row.try_number,
        started_at=row.started_at,
        finished_at=row.finished_at,
        summary=row.summary,
    )


class RunLedger(LedgerBase):
    """Cursors, run windows and leases (a part of :class:`~ml_connector_provider.ledger.Ledger`)."""

    # -- cursors -------------------------------------------------------------------------------

    def get_cursor(self, key: StreamKey) -> Cursor | None:
        """The cursor of a stream, ``None`` if it never ran."""
        with self._read() as conn:
            row = conn.execute(sa.select(cursors).where(*of_stream(cursors, key))).first()
        return None if row is None else Cursor(row.position, row.state, row.updated_at)

    def advance_cursor(
        self, key: StreamKey, position: datetime, state: Mapping[str, Any] | None = None
    ) -> bool:
        """Move the cursor forward to ``position``, never backwards.

        Atomic: the comparison happens inside the database, so concurrent writers cannot move the
        cursor back whatever order they commit in.

        :param state: replaces the stored state when the cursor moves; ``None`` keeps it.
        :return: whether the cursor moved (``False`` if it was already at or past ``position``).
        """
        stmt = self._upsert(cursors).values(
            **key_values(key), position=position, state=dict(state or {}), updated_at=self._clock()
        )
        changes = {"position": stmt.excluded.position, "updated_at": stmt.excluded.updated_at}
        if state is not None:
            changes["state"] = stmt.excluded.state
        stmt = stmt.on_conflict_do_update(
            index_elements=list(cursors.primary_key), set_=changes, where=cursors.c.position < position
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    def set_cursor(
        self, key: StreamKey, position: datetime | None, state: Mapping[str, Any] | None = None
    ) -> None:
        """Operator override: put the cursor anywhere, including backwards.

        :param position: the new position; ``None`` deletes the cursor (the next run starts from the
            configured initial start).
        :param state: replaces the stored state; ``None`` keeps it.
        """
        with self._write() as conn:
            if position is None:
                conn.execute(sa.delete(cursors).where(*of_stream(cursors, key)))
                return
            stmt = self._upsert(cursors).values(
                **key_values(key), position=position, state=dict(state or {}), updated_at=self._clock()
            )
            changes = {"position": stmt.excluded.position, "updated_at": stmt.excluded.updated_at}
            if state is not None:
                changes["state"] = stmt.excluded.state
            conn.execute(stmt.on_conflict_do_update(index_elements=list(cursors.primary_key), set_=changes))

    # -- run windows ---------------------------------------------------------------------------

    def claim_run_window(
        self, key: StreamKey, run: RunRef, window: Window, *, mode: str, params: Mapping[str, Any]
    ) -> Window:
        """Record the window a run is about to process, or return the one it recorded before.

        A cleared or retried task therefore replays exactly the window of its first try. The
        stored row's ``try_number`` and ``started_at`` are updated and its end state cleared.

        :param mode: ``incremental``, ``replay_range`` or ``replay_ids``.
        :param params: the run's replay parameters, kept for the record.
        :return: the window to process.
        """
        if mode not in RUN_MODES:
            raise ValueError(f"unknown run mode {mode!r}; expected one of {sorted(RUN_MODES)}")
        insert = self._upsert(runs).values(
            **key_values(key),
            run_id=run.run_id,
            dag_id=run.dag_id,
            task_id=run.task_id,
            mode=mode,
            window_start=window.start,
            window_end=window.end,
            params=dict(params),
            try_number=run.try_number,
            started_at=self._clock(),
        )
        stmt = insert.on_conflict_do_update(
            index_elements=list(runs.primary_key),
            set_={
                "try_number": insert.excluded.try_number,
                "started_at": insert.excluded.started_at,
                "finished_at": None,
                "summary": None,
            },
        ).returning(runs.c.window_start, runs.c.window_end)
        with self._write() as conn:
            row = conn.execute(stmt).one()
        return Window(row.window_start, row.window_end)

    def finish_run(self, key: StreamKey, run: RunRef, summary: Mapping[str, Any]) -> None:
        """Record the end of a run and its summary (counts, window).

        :raises LedgerError: if the run never claimed a window.
        """
        stmt = (
            sa.update(runs)
            .where(*of_stream(runs, key), runs.c.run_id == run.run_id)
            .values(finished_at=self._clock(), summary=dict(summary), try_number=run.try_number)
        )
        with self._write() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise LedgerError(f"run {run.run_id!r} of {key} never claimed a window")

    def get_run(self, key: StreamKey, run_id: str) -> RunRow | None:
        """The stored run, ``None`` if it never claimed a window."""
        with self._read() as conn:
            row = conn.execute(sa.select(runs).where(*of_stream(runs, key), runs.c.run_id == run_id)).first()
        return None if row is None else _run(row)

    def list_runs(
        self,
        *,
        tenant: str | None = None,
        integration: str | None = None,
        stream: str | None = None,
        limit: int = 100,
    ) -> list[RunRow]:
        """Runs, most recently started first."""
        stmt = (
            sa.select(runs)
            .where(*matching(runs, tenant=tenant, integration=integration, stream=stream))
            .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            return [_run(row) for row in conn.execute(stmt)]

    # -- leases --------------------------------------------------------------------------------

    @contextmanager
    def lease(self, key: StreamKey, *, owner: str, ttl: timedelta = timedelta(minutes=30)) -> Iterator[None]:
        """Hold the stream for ``owner`` while the block runs.

        The lease is taken atomically: inserted, or taken over only when it has expired or is
        already ``owner``'s. It is released on exit, unless someone else took it over meanwhile.

        :param owner: who takes it (e.g. the task instance).
        :param ttl: how long the lease stands if its holder dies without releasing it.
        :raises LeaseHeld: when someone else holds an unexpired lease.
        """
        self._acquire_lease(key, owner, ttl)
        try:
            yield
        finally:
            with self._write() as conn:
                conn.execute(sa.delete(leases).where(*of_stream(leases, key), leases.c.owner == owner))

    def _acquire_lease(self, key: StreamKey, owner: str, ttl: timedelta) -> None:
        while True:
            now = self._clock()
            stmt = self._upsert(leases).values(
                **key_values(key), owner=owner, expires_at=now + ttl, acquired_at=now
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=list(leases.primary_key),
                set_={
                    "owner": stmt.excluded.owner,
                    "expires_at": stmt.excluded.expires_at,
                    "acquired_at": stmt.excluded.acquired_at,
                },
                where=sa.or_(leases.c.expires_at <= now, leases.c.owner == owner),
            )
            with self._write() as conn:
                if conn.execute(stmt).rowcount == 1:
                    return
                holder = conn.execute(
                    sa.select(leases.c.owner, leases.c.expires_at).where(*of_stream(leases, key))
                ).first()
            if holder is not None:  # else: released between the two statements; try again
                raise LeaseHeld(holder.owner, holder.expires_at, key)
