"""In-memory source and target systems for exercising the sync engine.

They stand in for the external systems only; the engine and the ledger under test are the real
ones. The target behaves like the strictest real targets: ``create`` with an idempotency key
replays the first result for that key, and nothing stops a second create without one, so a
duplicate is possible unless the engine and the stream do their job.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ml_connector_provider.engine.stream import Stream
from ml_connector_provider.engine.types import (
    Action,
    DeadLetter,
    MapResult,
    Skip,
    SourceRecord,
    Window,
    Write,
    WriteItem,
    WriteResult,
)


class Crash(BaseException):
    """A simulated worker crash (BaseException so no ``except Exception`` swallows it)."""


@dataclass
class Crasher:
    """Raises :class:`Crash` at the N-th checkpoint reached, counting from 1; 0 never crashes."""

    at: int = 0
    reached: int = 0
    log: list[str] = field(default_factory=list)

    def checkpoint(self, where: str) -> None:
        self.reached += 1
        self.log.append(where)
        if self.at and self.reached == self.at:
            raise Crash(where)


@dataclass
class MemorySource:
    page_size: int = 3
    rows: dict[str, SourceRecord] = field(default_factory=dict)
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def change(self, record_id: str, data: dict[str, Any], changed_at: datetime) -> SourceRecord:
        record = SourceRecord(
            id=record_id, version=f"v{next(self._versions)}", changed_at=changed_at, data=dict(data)
        )
        self.rows[record_id] = record
        return record

    def read(self, window: Window) -> Iterator[list[SourceRecord]]:
        selected = sorted(
            (r for r in self.rows.values() if window.start <= r.changed_at < window.end),
            key=lambda r: (r.changed_at, r.id),
        )
        for start in range(0, len(selected), self.page_size):
            yield selected[start : start + self.page_size]


@dataclass
class MemoryTarget:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    creates: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def create(self, payload: dict[str, Any], idempotency_key: str) -> str:
        if idempotency_key in self.by_key:
            return self.by_key[idempotency_key]
        target_id = f"obj_{next(self._ids)}"
        self.creates += 1
        self.objects[target_id] = dict(payload)
        self.by_key[idempotency_key] = target_id
        return target_id

    def update(self, target_id: str, payload: dict[str, Any]) -> None:
        self.objects[target_id] = dict(payload)

    def find_by_source(self, source_id: str) -> str | None:
        for target_id, obj in self.objects.items():
            if obj["source_id"] == source_id:
                return target_id
        return None

    def count_for(self, source_id: str) -> int:
        return sum(1 for obj in self.objects.values() if obj["source_id"] == source_id)


class MemoryStream(Stream):
    """Maps ``{"value": n, "ref": r, "bad": b, "skip": s}`` records to ``{"source_id", "value", "ref"}``.

    A record with ``bad`` is dead-lettered (fixed by a source change); one whose ``ref`` is not in
    :attr:`known_refs` is dead-lettered until the reference is added (fixed without a source
    change: only a dead-letter retry posts it); ``skip`` records are skipped.
    """

    source_system = "memsrc"
    target_system = "memtgt"

    def __init__(
        self,
        source: MemorySource,
        target: MemoryTarget,
        crasher: Crasher | None = None,
        known_refs: set[str] | None = None,
        *,
        refetch: bool = True,
    ) -> None:
        self.source = source
        self.target = target
        self.crasher = crasher or Crasher()
        self.known_refs = known_refs if known_refs is not None else set()
        self.refetch = refetch

    def read(self, window: Window) -> Iterable[Sequence[SourceRecord]]:
        for page in self.source.read(window):
            self.crasher.checkpoint("read.page")
            yield page

    def fetch(self, ids: Sequence[str]) -> Iterable[SourceRecord]:
        if not self.refetch:
            raise NotImplementedError
        return [self.source.rows[i] for i in ids if i in self.source.rows]

    def prepare(self, records: Sequence[SourceRecord], links: Any) -> Any:
        return frozenset(self.known_refs)

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        data = record.data
        if data.get("bad"):
            return DeadLetter("value is not a number", field="value")
        if data.get("skip"):
            return Skip("marked as internal")
        ref = data.get("ref")
        if ref is not None and ref not in lookups:
            return DeadLetter(f"reference {ref} is not set up in the target", field="ref")
        return Write({"source_id": record.id, "value": data["value"], "ref": ref})

    def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        results = []
        for item in items:
            self.crasher.checkpoint("write.before")
            payload = dict(item.payload)
            if item.target_id is not None:
                self.target.update(item.target_id, payload)
                results.append(WriteResult(item.record.id, Action.UPDATED, item.target_id))
            else:
                existing = self.target.find_by_source(item.record.id) if item.uncertain else None
                if existing is not None:
                    self.target.update(existing, payload)
                    results.append(WriteResult(item.record.id, Action.UPDATED, existing))
                else:
                    target_id = self.target.create(payload, item.idempotency_key)
                    results.append(WriteResult(item.record.id, Action.CREATED, target_id))
            self.crasher.checkpoint("write.after")
        return results
