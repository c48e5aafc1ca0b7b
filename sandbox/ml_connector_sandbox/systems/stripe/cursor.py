"""Cursor paging by position, for collections with many objects.

Each collection of the stand-in (``state["customers"]`` ...) is a dict that only grows: new
objects are added at the end and deleted ones are replaced in place by their tombstone. Its
insertion order is therefore creation order, and as long as ``created`` never decreases along it
(the sandbox clock was not moved backwards) Stripe's list order — newest first — is simply the
reverse insertion order. :class:`CreationOrder` keeps each id's position and creation time so that
a list page is found by position instead of sorting, filtering and copying the whole collection:

* ``starting_after`` / ``ending_before`` are dict look-ups;
* a ``created`` filter is a binary search on the (non-decreasing) creation times;
* only the objects on the page are copied (:func:`creation_order_page`).

When creation times do decrease somewhere, :func:`creation_order_page` answers ``None`` and the
caller falls back to sorting (:func:`.listing.newest_first` and :func:`.listing.paginate`).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ml_connector_sandbox.systems.stripe.errors import StripeAPIError, invalid_request
from ml_connector_sandbox.systems.stripe.objects import list_envelope

__all__ = ["CreationOrder", "ValueIndex", "creation_order_page"]

DEFAULT_LIMIT = 10
MAX_LIMIT = 100


class ValueIndex:
    """Ids by the exact value of one field (``email`` of customers): objects are added as
    :meth:`CreationOrder.sync` meets them, and routes that change the field call :meth:`move`."""

    def __init__(self) -> None:
        self._ids: dict[str, set[str]] = {}

    def move(self, object_id: str, old: str | None, new: str | None) -> None:
        """The field of ``object_id`` changed from ``old`` to ``new`` (``None``: absent or deleted)."""
        if old == new:
            return
        if old is not None:
            holders = self._ids.get(old)
            if holders is not None:
                holders.discard(object_id)
                if not holders:
                    del self._ids[old]
        if new is not None:
            self._ids.setdefault(new, set()).add(object_id)

    def ids(self, value: str) -> list[str]:
        """The ids whose field is ``value``."""
        return list(self._ids.get(value, ()))

    def clear(self) -> None:
        """Forget every value."""
        self._ids.clear()


class CreationOrder:
    """Positions and creation times of one collection's ids, in insertion order.

    :param created_field: the field holding the creation time (``created``; ``date`` for invoice
        items).
    :param indexed_field: also keep the ids by the value of this field in :attr:`values` (a list
        filter such as the customers' ``email``).
    """

    def __init__(self, created_field: str = "created", indexed_field: str | None = None) -> None:
        self.created_field = created_field
        self.indexed_field = indexed_field
        self.values = ValueIndex()
        """Ids by :attr:`indexed_field`; writers that change the field call ``values.move``."""
        self._source: dict[str, Any] | None = None
        self.ids: list[str] = []
        self.created: list[int] = []
        self.positions: dict[str, int] = {}
        self.monotone = True

    def sync(self, collection: dict[str, Any]) -> bool:
        """Catch up with objects added to ``collection`` since the last call.

        :return: whether creation times never decrease along the insertion order (the positions
            can then be used for newest-first paging).
        """
        if self._source is not collection or len(self.ids) > len(collection):
            self._source = collection
            self.ids, self.created, self.positions, self.monotone = [], [], {}, True
            self.values.clear()
        added = len(collection) - len(self.ids)
        if added:
            new_ids = list(itertools.islice(reversed(collection), added))
            new_ids.reverse()
            for object_id in new_ids:
                obj = collection[object_id]
                value = obj.get(self.created_field, obj.get("created"))
                # a tombstone may carry no creation time; it is never listed, so any value that
                # keeps the order non-decreasing will do
                created = int(value) if value is not None else (self.created[-1] if self.created else 0)
                if self.created and created < self.created[-1]:
                    self.monotone = False
                self.positions[object_id] = len(self.ids)
                self.ids.append(object_id)
                self.created.append(created)
                if self.indexed_field is not None and not obj.get("deleted"):
                    self.values.move(object_id, None, obj.get(self.indexed_field))
        return self.monotone

    def window(self, bounds: Mapping[str, int] | None) -> tuple[int, int]:
        """The positions ``[low, high)`` whose creation time satisfies a coerced ``created`` filter."""
        low, high = 0, len(self.ids)
        for op, bound in (bounds or {}).items():
            if op in ("gt", "eq", "gte"):
                side = bisect.bisect_right if op == "gt" else bisect.bisect_left
                low = max(low, side(self.created, bound))
            if op in ("lt", "eq", "lte"):
                side = bisect.bisect_left if op == "lt" else bisect.bisect_right
                high = min(high, side(self.created, bound))
        return low, high


def _walk(start: int, step: int, low: int, high: int, candidates: Sequence[int] | None) -> Iterator[int]:
    """Positions from ``start`` (inclusive) in direction ``step`` within ``[low, high)``."""
    if candidates is None:
        yield from range(start, low - 1, -1) if step < 0 else range(start, high)
        return
    if step < 0:
        index = bisect.bisect_right(candidates, start) - 1
        while index >= 0 and candidates[index] >= low:
            yield candidates[index]
            index -= 1
    else:
        index = bisect.bisect_left(candidates, start)
        while index < len(candidates) and candidates[index] < high:
            yield candidates[index]
            index += 1


def creation_order_page(
    order: CreationOrder,
    collection: dict[str, Any],
    url: str,
    params: Mapping[str, Any],
    *,
    kind: str,
    wanted: Callable[[Mapping[str, Any]], bool],
    render: Callable[[Mapping[str, Any]], dict[str, Any]],
    candidates: Callable[[], Sequence[str]] | None = None,
) -> dict[str, Any] | None:
    """One newest-first list page of the live objects of ``collection`` that are ``wanted`` and match
    the ``created`` filter, cut with ``limit`` and the cursors — or ``None`` when the collection is
    not in creation order (the caller must sort).

    Answers like :func:`.listing.paginate` (same errors), but visits only the positions it needs.

    :param render: the copy of an object put on the page (only page objects are copied).
    :param candidates: gives ids known to include every wanted object (an index look-up, such as
        ``order.values.ids``), called once ``order`` caught up; ``None``: every object.
    :raises StripeAPIError: 400 for a bad ``limit``, both cursors, or a cursor that names no
        listed object (``No such <kind>``).
    """
    if not order.sync(collection):
        return None
    limit = params.get("limit")
    size = DEFAULT_LIMIT if limit is None else int(limit)
    if not 1 <= size <= MAX_LIMIT:
        raise invalid_request(f"Invalid limit: must be between 1 and {MAX_LIMIT}.", param="limit")
    after, before = params.get("starting_after"), params.get("ending_before")
    if after is not None and before is not None:
        raise invalid_request(
            "You may only specify one of these parameters: starting_after, ending_before.",
            param="starting_after",
        )
    low, high = order.window(params.get("created"))
    positions = None
    if candidates is not None:
        positions = sorted(p for p in (order.positions.get(c) for c in candidates()) if p is not None)

    def listed(position: int) -> Mapping[str, Any] | None:
        obj = collection[order.ids[position]]
        return obj if not obj.get("deleted") and wanted(obj) else None

    def cursor_position(cursor: str, param: str) -> int:
        position = order.positions.get(cursor)
        if position is None or not low <= position < high or listed(position) is None:
            raise StripeAPIError(
                400, f"No such {kind}: '{cursor}'", code="resource_missing", param=param, validation=True
            )
        return position

    if before is not None:
        start, step = cursor_position(str(before), "ending_before") + 1, 1
    elif after is not None:
        start, step = cursor_position(str(after), "starting_after") - 1, -1
    else:
        start, step = high - 1, -1
    found: list[Mapping[str, Any]] = []
    for position in _walk(start, step, low, high, positions):
        obj = listed(position)
        if obj is not None:
            found.append(obj)
            if len(found) > size:
                break
    has_more = len(found) > size
    page = found[:size]
    if step > 0:
        page.reverse()
    return list_envelope(url, [render(obj) for obj in page], has_more)
