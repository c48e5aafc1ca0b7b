"""Paging loops shared by the hooks: offset paging driven by ``hasMore``, and next-URL paging.

The helpers do no I/O themselves: each takes a callable that fetches one page (and raises the
hook's own errors for a failed request or an answer it cannot read) and decides only which page
to ask for next, and when to stop. Both refuse to loop forever on a server that keeps saying
"more" without moving on; they raise :class:`PagingError` instead, which the hook turns into its
own error.

* :func:`iter_offset_pages` — the ``items``/``count``/``hasMore``/``offset`` envelope of Oracle
  Fusion's ADF REST collections (contract ``oracle_fusion_netsuite.md`` A4.1) and of NetSuite's
  record collections and SuiteQL (B5, B6).
* :func:`iter_next_url_pages` — Salesforce's ``done``/``nextRecordsUrl`` query results
  (contract ``stripe_salesforce.md`` B3), or any API that links to its next page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["LinkedPage", "OffsetPage", "PagingError", "iter_next_url_pages", "iter_offset_pages"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class PagingError(Exception):
    """A server's paging answers cannot be followed: not a page at all, or a page that would make
    the client ask for the same page again and again.

    :param message: what the server answered, and where.
    :param position: the offset (offset paging) or the URL (next-URL paging) of that answer;
        ``None`` for the first page of next-URL paging.
    """

    def __init__(self, message: str, *, position: int | str | None) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class OffsetPage(Generic[T]):
    """One page of an offset-paged collection.

    :param items: the page's items, in the server's order.
    :param has_more: the server's ``hasMore``: whether rows follow this page.
    :param count: the server's ``count`` (items on this page), ``None`` if it sent none.
    """

    items: list[T]
    has_more: bool
    count: int | None = None

    @classmethod
    def from_envelope(cls, body: Mapping[str, Any]) -> OffsetPage[Any]:
        """Read the collection envelope Fusion (A4.1) and NetSuite (B5, B6) share:
        ``{"items": [...], "count": n, "hasMore": bool, "offset": m, ...}``.

        A ``count`` that is not an integer is read as missing.

        :param body: the decoded JSON answer.
        :raises PagingError: ``items`` is not a list or ``hasMore`` not a boolean.
        """
        items, has_more, count = body.get("items"), body.get("hasMore"), body.get("count")
        if not isinstance(items, list) or not isinstance(has_more, bool):
            raise PagingError(
                "the answer is not a collection envelope (needs a list 'items' and a boolean 'hasMore')",
                position=None,
            )
        return cls(items, has_more, count if isinstance(count, int) and not isinstance(count, bool) else None)


@dataclass(frozen=True)
class LinkedPage(Generic[T]):
    """One page of a result whose pages link to the next one.

    :param items: the page's items (Salesforce: ``records``).
    :param next_url: the URL of the next page (Salesforce: ``nextRecordsUrl``), ``None`` on the
        last page.
    :param done: the server's own end marker (Salesforce: ``done``), when it has one; it decides
        over ``next_url``. ``None``: the page is the last one exactly when it has no ``next_url``.
    """

    items: list[T]
    next_url: str | None
    done: bool | None = None


def iter_offset_pages(
    fetch: Callable[[int], OffsetPage[T]],
    *,
    start: int = 0,
    label: str = "the server's answer",
) -> Iterator[list[T]]:
    """Yield the items of each page of an offset-paged collection, until ``hasMore`` is false.

    ``fetch(offset)`` reads the page at ``offset`` (the caller sends its own ``limit``). The next
    offset is this one plus the number of items the page *returned*, never the page size that
    was asked for: Fusion caps a page silently at 500 rows, and some resources at 499 (A4.1), so
    only ``hasMore`` says whether more rows follow. A ``count`` that disagrees with the items
    returned is logged and the items win. NetSuite
    accepts only offsets that are multiples of its ``limit`` (B5); its full pages keep to that.

    Empty pages are not yielded. A page that says ``hasMore`` but holds no item raises
    :class:`PagingError`: asking for the same offset again would return it again forever.

    :param fetch: reads the page at an offset.
    :param start: the first offset.
    :param label: how log lines and messages name the answers, e.g.
        ``"Oracle Fusion's answer for invoices"``.
    :raises PagingError: a page says ``hasMore`` with no items (``position`` is its offset).
    """
    offset = start
    while True:
        page = fetch(offset)
        received = len(page.items)
        if received:
            yield page.items
        if not page.has_more:
            return
        if not received:
            raise PagingError(f"{label} says hasMore with no items at offset {offset}", position=offset)
        if page.count != received:
            log.warning(
                "%s says count=%r but has %d items; advancing by the items", label, page.count, received
            )
        offset += received


def iter_next_url_pages(
    fetch: Callable[[str | None], LinkedPage[T]],
    *,
    label: str = "the server's answer",
) -> Iterator[list[T]]:
    """Yield the items of each page of a result whose pages link to the next one.

    ``fetch(None)`` reads the first page (e.g. Salesforce's ``GET …/query?q=<SOQL>``), then
    ``fetch(url)`` each page's ``next_url`` (Salesforce: ``GET {instance}{nextRecordsUrl}``)
    until a page is the last one: ``done`` true, or no ``done`` and no ``next_url``. Salesforce
    returns up to 2,000 records per page, possibly fewer (B3), so the size of a page says nothing
    about the end. Empty pages are not yielded.

    :param fetch: reads the first page (``None``) or the page at a URL.
    :param label: how messages name the answers, e.g. ``"Salesforce's answer for Contact"``.
    :raises PagingError: a page that is not the last has no ``next_url``, or links to a URL
        already read (``position`` is the URL of that page, ``None`` for the first).
    """
    url: str | None = None
    followed: set[str] = set()
    while True:
        page = fetch(url)
        if page.items:
            yield page.items
        if page.done if page.done is not None else page.next_url is None:
            return
        following = page.next_url
        if not following:
            raise PagingError(f"{label} says more records follow but gives no next URL", position=url)
        if following in followed:
            raise PagingError(f"{label} links to {following} again", position=url)
        followed.add(following)
        url = following
