"""Shared pieces of the ledger tests: a stream, a run, a hand-moved clock, outcomes and thread helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from ml_connector_provider.engine.types import Action, Outcome, RunRef, SourceRecord, StreamKey
from ml_connector_provider.ledger import LeaseHeld, Ledger

T = TypeVar("T")

KEY = StreamKey("acme", "fusion_stripe", "invoices")
OTHER = StreamKey("acme", "fusion_stripe", "customers")
RUN = RunRef("scheduled__2025-01-01", try_number=1, dag_id="mlc__acme__fusion_stripe", task_id="invoices")
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def record(source_id: str, version: str = "v1", label: str | None = None) -> SourceRecord:
    return SourceRecord(
        id=source_id, version=version, changed_at=T0, data={"amount": 10, "id": source_id}, label=label
    )


def outcome(
    source_id: str,
    action: Action,
    target_id: str | None = None,
    *,
    reason: str | None = None,
    version: str = "v1",
    payload_hash: str | None = "h1",
    label: str | None = None,
) -> Outcome:
    return Outcome(
        record=record(source_id, version, label),
        action=action,
        source_system="fusion",
        target_system="stripe",
        target_id=target_id,
        reason=reason,
        payload_hash=payload_hash,
        idempotency_key=f"idem-{source_id}-{version}",
    )


def in_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` in ``count`` threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)

    def start(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def migrated(url: str) -> str:
    store = Ledger(url)
    store.migrate()
    store.dispose()
    return url


def refusal(store: Ledger, key: StreamKey, owner: str) -> LeaseHeld:
    """The :class:`LeaseHeld` raised when ``owner`` tries to take the lease (the test fails if it gets it)."""
    with pytest.raises(LeaseHeld) as held, store.lease(key, owner=owner):
        pass
    return held.value


def rows(store: Ledger, table: sa.Table) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*table.primary_key))]
