"""Pagination helpers shared by sandbox systems (pure functions, no I/O).

* :func:`offset_page` — offset/limit paging as in Oracle ADF REST (Fusion) and NetSuite record
  collections: a default limit, a cap, and ``hasMore``.
* :func:`cursor_page` — cursor paging as in Stripe lists: ``starting_after`` / ``ending_before``
  object ids over a list in its display order (newest first), ``has_more``.

Bad parameters raise :class:`PagingError`; each system turns it into its own error format.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = [
    "CursorPage",
    "OffsetPage",
    "PagingError",
    "cursor_page",
    "offset_page",
    "sort_newest_first",
]

T = TypeVar("T")


class PagingError(ValueError):
    """A paging parameter is invalid.

    :param param: the offending parameter (``limit``, ``offset``, ``starting_after`` ...).
    :param message: a human-readable explanation.
    :param code: a machine code where one applies (``resource_missing`` for an unknown cursor).
    """

    def __init__(self, param: str, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.message = message
        self.code = code


@dataclass(frozen=True)
class OffsetPage(Generic[T]):
    """One page of an offset/limit collection."""

    items: list[T]
    offset: int
    limit: int
    has_more: bool
    total: int

    @property
    def count(self) -> int:
        """Number of items on this page."""
        return len(self.items)

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or ``None`` on the last page."""
        return self.offset + self.limit if self.has_more else None


def offset_page(
    items: Sequence[T],
    offset: int | None = None,
    limit: int | None = None,
    *,
    default_limit: int = 25,
    max_limit: int = 500,
    clamp: bool = True,
    aligned: bool = False,
) -> OffsetPage[T]:
    """Cut one page out of ``items`` (already filtered and ordered).

    :param offset: index of the first item (default 0); past the end gives an empty last page.
    :param limit: page size (default ``default_limit``).
    :param max_limit: the largest page size allowed.
    :param clamp: when ``limit`` exceeds ``max_limit``, silently use ``max_limit`` (Oracle ADF)
        instead of raising.
    :param aligned: require ``offset`` to be a multiple of ``limit`` (NetSuite).
    :raises PagingError: negative offset, ``limit`` < 1, over the cap without ``clamp``,
        or an unaligned offset.
    """
    if default_limit < 1 or max_limit < default_limit:
        raise ValueError("need 1 <= default_limit <= max_limit")
    start = 0 if offset is None else offset
    size = default_limit if limit is None else limit
    if start < 0:
        raise PagingError("offset", f"The offset must be 0 or more, got {start}.")
    if size < 1:
        raise PagingError("limit", f"The limit must be at least 1, got {size}.")
    if size > max_limit:
        if not clamp:
            raise PagingError("limit", f"The limit must be at most {max_limit}, got {size}.")
        size = max_limit
    if aligned and start % size:
        raise PagingError("offset", f"The offset must be a multiple of the limit ({size}), got {start}.")
    total = len(items)
    return OffsetPage(
        items=list(items[start : start + size]),
        offset=start,
        limit=size,
        has_more=start + size < total,
        total=total,
    )


@dataclass(frozen=True)
class CursorPage(Generic[T]):
    """One page of a cursor-paged list."""

    items: list[T]
    has_more: bool


def _default_key(item: Any) -> str:
    return str(item["id"])


def cursor_page(
    items: Sequence[T],
    *,
    limit: int | None = None,
    starting_after: str | None = None,
    ending_before: str | None = None,
    key: Callable[[T], str] = _default_key,
    default_limit: int = 10,
    max_limit: int = 100,
) -> CursorPage[T]:
    """Cut one page out of ``items`` (already filtered, in display order) the way Stripe does.

    * no cursor: the first ``limit`` items; ``has_more`` when more follow.
    * ``starting_after=X``: the ``limit`` items right after ``X``; ``has_more`` when more follow.
    * ``ending_before=X``: the ``limit`` items right before ``X`` (still in display order);
      ``has_more`` when more precede them.

    :param key: the cursor id of an item (default ``item["id"]``).
    :raises PagingError: ``limit`` outside 1..``max_limit``, both cursors given, or a cursor id
        that is not in ``items`` (code ``resource_missing``).
    """
    size = default_limit if limit is None else limit
    if not 1 <= size <= max_limit:
        raise PagingError("limit", f"Invalid limit: must be between 1 and {max_limit}.")
    if starting_after is not None and ending_before is not None:
        raise PagingError(
            "starting_after",
            "You may only specify one of these parameters: starting_after, ending_before.",
        )

    def position(cursor: str, param: str) -> int:
        for index, item in enumerate(items):
            if key(item) == cursor:
                return index
        raise PagingError(param, f"No such object: '{cursor}'", code="resource_missing")

    if ending_before is not None:
        end = position(ending_before, "ending_before")
        start = max(end - size, 0)
        return CursorPage(items=list(items[start:end]), has_more=start > 0)
    start = 0 if starting_after is None else position(starting_after, "starting_after") + 1
    return CursorPage(items=list(items[start : start + size]), has_more=start + size < len(items))


def sort_newest_first(
    items: Sequence[T],
    *,
    created: Callable[[T], Any] | str = "created",
    key: Callable[[T], Any] | str = "id",
) -> list[T]:
    """Order items newest first, ties broken by id (descending), for a deterministic order.

    :param created: field name or function giving the creation time.
    :param key: field name or function giving the id.
    """

    def getter(spec: Callable[[T], Any] | str) -> Callable[[T], Any]:
        if callable(spec):
            return spec
        return lambda item: item[spec]  # type: ignore[index]

    created_of, key_of = getter(created), getter(key)
    return sorted(items, key=lambda item: (created_of(item), key_of(item)), reverse=True)
