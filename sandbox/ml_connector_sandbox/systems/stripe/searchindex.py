"""What the Search API sees: every write reaches it after a lag (contract A8, Appendix S).

Stripe's Search API reads an asynchronous index: a created or updated object becomes searchable
"usually within a minute", and a deleted customer can still be found — rendered as a normal
customer, without ``deleted`` — for a while after the delete (Appendix S "Search is eventually
consistent", stripe-node#1533). :class:`SearchIndex` models that per object type:

* every write is a *version* (a deep copy of the object, or ``None`` for a delete) that becomes
  visible at a given time of the sandbox clock (:meth:`SearchIndex.put`);
* search sees, for each object, the **last written** version among those already visible — a
  version is "settled" into the visible set the first time a search runs after its time came;
* visible objects are indexed by metadata ``(key, value)`` and by the case-folded value of each
  string field, so ``metadata['k']:'v'`` (the connector's query) and ``email:'…'`` are set
  look-ups; other clauses (``created>…``) filter the candidates, or scan the visible objects
  without copying them.

Moving the sandbox clock backwards does not hide versions a search already settled.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ml_connector_sandbox.systems.stripe.search import Clause, FieldKind, SearchQuery

__all__ = ["SearchIndex"]

_Key = tuple[str, str]
"""An index key: ``(field, case-folded value)`` or ``("metadata:" + key, value)``."""


@dataclass
class _Kind:
    """The index of one object type."""

    fields: Mapping[str, FieldKind]
    writes: int = 0
    pending: list[tuple[float, int, str, dict[str, Any] | None]] = field(default_factory=list)
    """Heap of ``(visible_at, write number, id, version)`` not yet settled."""
    settled: dict[str, int] = field(default_factory=dict)
    """Id → write number of the version search shows (tombstones included)."""
    visible: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Id → the version search shows (live objects only)."""
    first_seen: dict[str, int] = field(default_factory=dict)
    """Id → write number of its first version (ties of ``created`` sort by it)."""
    postings: dict[_Key, set[str]] = field(default_factory=dict)

    def keys_of(self, doc: Mapping[str, Any]) -> Iterable[_Key]:
        for name, kind in self.fields.items():
            if kind == "string":
                value = doc.get(name)
                if isinstance(value, str):
                    yield (name, value.casefold())
        for key, value in (doc.get("metadata") or {}).items():
            yield ("metadata:" + key, value)

    def settle(self, now: float) -> None:
        while self.pending and self.pending[0][0] <= now:
            _visible_at, write, object_id, version = heapq.heappop(self.pending)
            if write < self.settled.get(object_id, -1):
                continue  # a later write became visible first (the lag was shortened meanwhile)
            self.settled[object_id] = write
            old = self.visible.pop(object_id, None)
            if old is not None:
                for key in self.keys_of(old):
                    ids = self.postings.get(key)
                    if ids is not None:
                        ids.discard(object_id)
                        if not ids:
                            del self.postings[key]
            if version is not None:
                self.visible[object_id] = version
                for key in self.keys_of(version):
                    self.postings.setdefault(key, set()).add(object_id)

    def candidates(self, clause: Clause) -> set[str] | None:
        """Ids that may match ``clause``, or ``None`` when it cannot be answered from the index."""
        if clause.op != ":":
            return None
        kind = self.fields.get(clause.field)
        if kind == "metadata" and clause.metadata_key is not None:
            return self.postings.get(("metadata:" + clause.metadata_key, str(clause.value)), set())
        if kind == "string":
            return self.postings.get((clause.field, str(clause.value).casefold()), set())
        return None


class SearchIndex:
    """The search index of a stand-in, one part per object type (thread-safe).

    :param fields: searchable fields per object type (``{"customer": {"email": "string", ...}}``);
        string fields are indexed by value, ``metadata`` always is.
    """

    def __init__(self, fields: Mapping[str, Mapping[str, FieldKind]] | None = None) -> None:
        self._fields = dict(fields or {})
        self._lock = threading.Lock()
        self._kinds: dict[str, _Kind] = {}

    def _kind(self, kind: str) -> _Kind:
        part = self._kinds.get(kind)
        if part is None:
            part = self._kinds[kind] = _Kind(fields=self._fields.get(kind, {"metadata": "metadata"}))
        return part

    def put(
        self,
        kind: str,
        object_id: str,
        version: dict[str, Any] | None,
        visible_at: float,
        now: float | None = None,
    ) -> None:
        """Record a write: ``version`` (``None`` for a delete) becomes visible at ``visible_at``.

        :param version: the object as written; the index keeps it as given, so pass a copy that
            nothing else changes.
        :param now: the current time, to settle versions whose time came (so that pending versions
            do not pile up while nobody searches).
        """
        with self._lock:
            part = self._kind(kind)
            if now is not None:
                part.settle(now)
            write = part.writes
            part.writes += 1
            part.first_seen.setdefault(object_id, write)
            heapq.heappush(part.pending, (visible_at, write, object_id, version))

    def visible(self, kind: str, now: float) -> list[dict[str, Any]]:
        """Every object search shows at ``now``, in creation order (not copied: do not change them)."""
        with self._lock:
            part = self._kind(kind)
            part.settle(now)
            ids = sorted(part.visible, key=part.first_seen.__getitem__)
            return [part.visible[object_id] for object_id in ids]

    def search(self, kind: str, query: SearchQuery, now: float) -> list[dict[str, Any]]:
        """The objects matching ``query`` at ``now``, newest first (``created``, then latest first
        indexed); not copied: do not change them."""
        with self._lock:
            part = self._kind(kind)
            part.settle(now)
            sets = [part.candidates(clause) for clause in query.clauses]
            found: Iterable[str]
            if query.conjunction == "AND" and any(s is not None for s in sets):
                known = sorted((s for s in sets if s is not None), key=len)
                found = set(known[0]).intersection(*known[1:])
            elif query.conjunction == "OR" and all(s is not None for s in sets):
                found = set().union(*(s for s in sets if s is not None))
            else:
                found = part.visible.keys()
            docs = [(object_id, part.visible[object_id]) for object_id in found]
            matched = [(object_id, doc) for object_id, doc in docs if query.matches(doc)]
            matched.sort(
                key=lambda pair: (int(pair[1].get("created") or 0), part.first_seen[pair[0]]), reverse=True
            )
            return [doc for _object_id, doc in matched]

    def clear(self) -> None:
        """Forget every version."""
        with self._lock:
            self._kinds.clear()
