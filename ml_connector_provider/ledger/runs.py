"""Run windows, cursors and leases: where each stream is, what each run claimed, who runs it now.

A cursor only moves forward unless an operator sets it; a run keeps the window of its first try;
a lease is taken or taken over in one statement whose condition (released, expired, or already the
owner's) is checked by the database, and every write made under it is fenced by its token (see
:meth:`RunLedger.lease`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.pool import StaticPool

from ml_connector_provider.engine.types import RunRef, StreamKey, Window
from ml_connector_provider.ledger.base import LedgerBase, key_values, matching, of_stream, stream_of
from ml_connector_provider.ledger.schema import LedgerError, cursors, leases, runs

RUN_MODES = frozenset({"incremental", "replay_range", "replay_ids"})

log = logging.getLogger(__name__)


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


class LeaseLost(LedgerError):
    """The lease a worker works under is no longer its own: another worker took it over (its
    holder was presumed dead) or it was released. Nothing more may be written under it.

    :param key: the stream.
    :param token: the fencing token the worker held.
    :param holder: who holds the lease now (``None``: nobody, it was released).
    :param holder_try: the try number of that holder, when known.
    :param since: since when it holds it (or since when the lease is released).
    """

    def __init__(
        self,
        key: StreamKey,
        token: int,
        *,
        holder: str | None,
        holder_try: int | None = None,
        since: datetime | None = None,
    ) -> None:
        self.key = key
        self.token = token
        self.holder = holder
        self.holder_try = holder_try
        self.since = since
        when = f" since {since.isoformat()}" if since else ""
        if holder is None:
            now = f"it is released{when}"
        else:
            attempt = f" (try {holder_try})" if holder_try is not None else ""
            now = f"it is held by {holder!r}{attempt}{when}"
        super().__init__(f"lost the lease on {key} (token {token}): {now}; this worker writes nothing more")


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


RUN_STATUSES = ("running", "succeeded", "partial", "failed")
"""How a stored run stands: ``running`` (unfinished, a live lease of the stream names it),
``succeeded`` (finished, nothing dead-lettered), ``partial`` (finished, some records or files
dead-lettered), ``failed`` (unfinished and nobody works on it: its task failed or was killed)."""


@dataclass(frozen=True)
class RunState:
    """A stored run and how it stands now (one of :data:`RUN_STATUSES`)."""

    run: RunRow
    status: str


def _status_of(run: RunRow, held: set[tuple[StreamKey, str]]) -> str:
    if run.finished_at is not None:
        return "partial" if (run.summary or {}).get("dead_lettered") else "succeeded"
    mine = any(key == run.key and owner.endswith(f"/{run.run_id}") for key, owner in held)
    return "running" if mine else "failed"


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

    def query_runs(
        self,
        *,
        tenant: str | None = None,
        integration: str | None = None,
        stream: str | None = None,
        run_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[RunState]:
        """Runs with how each stands now, most recently started first.

        :param run_id: only the runs (one per stream) of this Airflow run id.
        :param since: only runs started at or after this instant.
        :param until: only runs started before this instant.
        :param status: only runs in this :data:`RUN_STATUSES` state.
        :param limit: at most this many runs (counted after the ``status`` filter).
        """
        if status is not None and status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}; expected one of {', '.join(RUN_STATUSES)}")
        conditions = matching(runs, tenant=tenant, integration=integration, stream=stream, run_id=run_id)
        if since is not None:
            conditions.append(runs.c.started_at >= since)
        if until is not None:
            conditions.append(runs.c.started_at < until)
        stmt = sa.select(runs).where(*conditions).order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
        if status is None:
            stmt = stmt.limit(limit)
        found: list[RunState] = []
        with self._read() as conn:
            now = self._clock()
            held = {
                (stream_of(row), row.owner)
                for row in conn.execute(
                    sa.select(leases).where(
                        *matching(leases, tenant=tenant, integration=integration, stream=stream),
                        leases.c.released_at.is_(None),
                        leases.c.expires_at > now,
                    )
                )
            }
            for row in conn.execute(stmt):
                run = _run(row)
                state = RunState(run, _status_of(run, held))
                if status is None or state.status == status:
                    found.append(state)
                    if len(found) >= limit:
                        break
        return found

    # -- leases --------------------------------------------------------------------------------

    @contextmanager
    def lease(
        self,
        key: StreamKey,
        *,
        owner: str,
        ttl: timedelta = timedelta(minutes=30),
        try_number: int | None = None,
        heartbeat: timedelta | None = None,
    ) -> Iterator[Lease]:
        """Hold the stream for ``owner`` while the block runs, fencing every ledger write made in it.

        The lease is taken atomically, in one statement whose condition the database checks: a
        new row, or one taken over because it was released, has expired, or is already
        ``owner``'s (a retry of the same task instance takes over its earlier try's lease at once,
        whatever its expiry). Each acquisition gets the next fencing token of the stream.

        While the block runs, every write transaction of this ledger (on this database, in this
        thread or task context) first renews the lease and checks, in the same transaction, that
        it still holds this token; when it does not, the transaction is rolled back and
        :class:`LeaseLost` raised, so a worker that lost its lease writes nothing more. Use
        :meth:`check_lease` before writing to an outside system. The lease is released on exit,
        unless someone else took it over meanwhile.

        :param owner: who takes it; the same value for every try of one task instance.
        :param ttl: how long the lease stands after its last renewal if its holder dies.
        :param try_number: which try of ``owner`` takes it (kept for the record and the logs).
        :param heartbeat: renew the lease this often from a daemon thread while the block runs
            (e.g. ``ttl / 3``), so long calls outside the ledger do not let it lapse. ``None``:
            renewed only by the block's writes and checks.
        :raises LeaseHeld: when someone else holds a live lease.
        """
        held = self._acquire_lease(key, owner, ttl, try_number)
        token = _fence.set(held)
        try:
            held._start_heartbeat(self, heartbeat)
            yield held
        finally:
            held._stop_heartbeat()
            _fence.reset(token)
            with LedgerBase._write(self) as conn:
                conn.execute(
                    sa.update(leases)
                    .where(
                        *of_stream(leases, key), leases.c.token == held.token, leases.c.released_at.is_(None)
                    )
                    .values(released_at=self._clock())
                )

    def check_lease(self, key: StreamKey) -> None:
        """Renew the lease held on ``key`` in this context and check it is still this worker's.

        Cheap (one short transaction); called before every write to an outside system. Nothing
        happens outside a :meth:`lease` block of ``key``.

        :raises LeaseLost: when another worker took the lease over (or it was released).
        """
        held = _fence.get()
        if held is None or held.key != key or held.engine is not self._engine:
            return
        if held.lost is not None:
            raise held.lost
        self.renew_lease(held)

    def renew_lease(self, held: Lease) -> None:
        """Push the expiry of ``held`` to now + its ttl, if it still holds its token.

        :raises LeaseLost: otherwise.
        """
        with LedgerBase._write(self) as conn:
            self._verify_lease(conn, held)

    def _write(self) -> AbstractContextManager[Connection]:
        # Every part of the ledger writes through here (this class is first in Ledger's bases):
        # inside a lease block, each write transaction starts with the fencing check.
        held = _fence.get()
        if held is None or held.engine is not self._engine:
            return super()._write()
        return self._fenced_write(held)

    @contextmanager
    def _fenced_write(self, held: Lease) -> Iterator[Connection]:
        with super()._write() as conn:
            self._verify_lease(conn, held)
            yield conn

    def _verify_lease(self, conn: Connection, held: Lease) -> None:
        """Renew ``held`` inside ``conn``'s transaction, or raise :class:`LeaseLost`.

        The update locks the lease row until the transaction ends (PostgreSQL) or runs under the
        database's write lock (SQLite), so nobody can take the lease over between this check and
        the transaction's commit. A lease that lapsed but was not taken over is simply renewed:
        its token is still the newest, so nobody else has written meanwhile.
        """
        renewed = conn.execute(
            sa.update(leases)
            .where(
                *of_stream(leases, held.key),
                leases.c.token == held.token,
                leases.c.owner == held.owner,
                leases.c.released_at.is_(None),
            )
            .values(expires_at=self._clock() + held.ttl)
        )
        if renewed.rowcount == 1:
            return
        now = conn.execute(sa.select(leases).where(*of_stream(leases, held.key))).first()
        lost = LeaseLost(
            held.key,
            held.token,
            holder=None if now is None or now.released_at is not None else now.owner,
            holder_try=None if now is None else now.try_number,
            since=None if now is None else (now.released_at or now.acquired_at),
        )
        held.lost = lost
        raise lost

    def _acquire_lease(self, key: StreamKey, owner: str, ttl: timedelta, try_number: int | None) -> Lease:
        now = self._clock()
        insert = self._upsert(leases).values(
            **key_values(key),
            owner=owner,
            expires_at=now + ttl,
            acquired_at=now,
            token=1,
            try_number=try_number,
            released_at=None,
        )
        stmt = insert.on_conflict_do_update(
            index_elements=list(leases.primary_key),
            set_={
                "owner": insert.excluded.owner,
                "expires_at": insert.excluded.expires_at,
                "acquired_at": insert.excluded.acquired_at,
                "try_number": insert.excluded.try_number,
                "released_at": None,
                "token": leases.c.token + 1,
            },
            where=sa.or_(
                leases.c.released_at.is_not(None), leases.c.expires_at <= now, leases.c.owner == owner
            ),
        ).returning(leases.c.token)
        current = sa.select(leases).where(*of_stream(leases, key))
        # Never fenced: taking a lease over is exactly what a fence protects the old holder from.
        with LedgerBase._write(self) as conn:
            before = conn.execute(current.with_for_update()).first()
            token = conn.execute(stmt).scalar()
            if token is None:
                holder = conn.execute(current).one()
                raise LeaseHeld(holder.owner, holder.expires_at, key)
        took_over = None
        if before is not None and before.released_at is None:
            took_over = LeaseTakeover(
                owner=before.owner,
                try_number=before.try_number,
                acquired_at=before.acquired_at,
                expires_at=before.expires_at,
                token=before.token,
            )
            if before.owner == owner:
                log.info(
                    "%s: try %s of %s took over the lease of its earlier try %s (held since %s, "
                    "it would have stood until %s)",
                    key,
                    try_number if try_number is not None else "?",
                    owner,
                    before.try_number if before.try_number is not None else "?",
                    before.acquired_at.isoformat(),
                    before.expires_at.isoformat(),
                )
            else:
                log.warning(
                    "%s: took over the lease of %r (try %s, held since %s), which expired at %s "
                    "without being released; its holder is presumed dead",
                    key,
                    before.owner,
                    before.try_number if before.try_number is not None else "?",
                    before.acquired_at.isoformat(),
                    before.expires_at.isoformat(),
                )
        return Lease(
            key=key,
            owner=owner,
            token=int(token),
            ttl=ttl,
            try_number=try_number,
            acquired_at=now,
            took_over=took_over,
            engine=self._engine,
        )


@dataclass(frozen=True)
class LeaseTakeover:
    """The unreleased lease an acquisition replaced: an earlier try of the same owner, or an
    expired lease of a presumably dead holder."""

    owner: str
    try_number: int | None
    acquired_at: datetime
    expires_at: datetime
    token: int


@dataclass(eq=False)
class Lease:
    """A held lease, as :meth:`RunLedger.lease` yields it.

    :param token: the fencing token of this acquisition (greater than every earlier one of the
        stream).
    :param took_over: the unreleased lease this acquisition replaced, if any.
    :param lost: set once a check found the lease taken over (by the heartbeat or a write).
    """

    key: StreamKey
    owner: str
    token: int
    ttl: timedelta
    try_number: int | None
    acquired_at: datetime
    took_over: LeaseTakeover | None
    engine: Engine = field(repr=False)
    lost: LeaseLost | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def _start_heartbeat(self, ledger: RunLedger, every: timedelta | None) -> None:
        # An in-memory SQLite database has one connection for every thread: no heartbeat there.
        if every is None or isinstance(self.engine.pool, StaticPool):
            return
        interval = max(every.total_seconds(), 0.01)

        def beat() -> None:
            while not self._stop.wait(interval):
                try:
                    ledger.renew_lease(self)
                except LeaseLost as lost:
                    log.warning("%s: heartbeat: %s", self.key, lost)
                    return
                except Exception:  # a network blip: the next beat (or write) tries again
                    log.warning("%s: heartbeat could not renew the lease", self.key, exc_info=True)

        self._thread = threading.Thread(target=beat, name=f"mlc-lease-{self.key}", daemon=True)
        self._thread.start()

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_HEARTBEAT_JOIN_SECONDS)
            self._thread = None


_HEARTBEAT_JOIN_SECONDS = 5.0

# The lease whose block the current thread (or task) is in: the fence of its ledger writes.
_fence: ContextVar[Lease | None] = ContextVar("mlc_lease_fence", default=None)
