"""List and search helpers shared by every Stripe resource (pure functions).

* :func:`paginate` — the ``{"object": "list", ...}`` envelope with ``limit`` (1–100) and the
  ``starting_after`` / ``ending_before`` cursors over items already filtered and ordered;
* :func:`newest_first` — Stripe's list order;
* :func:`created_matches` — the ``created`` filter (``created=`` or ``created[gt|gte|lt|lte]``);
* :func:`search_page` — the ``{"object": "search_result", ...}`` envelope: parse ``query``,
  look up the matches, cut a page, hand out an opaque ``next_page`` token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from ml_connector_sandbox.paging import PagingError, cursor_page
from ml_connector_sandbox.systems.stripe.errors import StripeAPIError, invalid_request
from ml_connector_sandbox.systems.stripe.objects import clone, list_envelope, search_envelope
from ml_connector_sandbox.systems.stripe.params import require
from ml_connector_sandbox.systems.stripe.search import (
    FieldKind,
    SearchQuery,
    SearchQueryError,
    parse_search_query,
)

__all__ = ["created_matches", "newest_first", "paginate", "search_page"]


def created_matches(created: int, bounds: Mapping[str, int] | None) -> bool:
    """Whether ``created`` satisfies the coerced ``created`` filter (``None`` = no filter)."""
    if not bounds:
        return True
    checks = {
        "eq": lambda b: created == b,
        "gt": lambda b: created > b,
        "gte": lambda b: created >= b,
        "lt": lambda b: created < b,
        "lte": lambda b: created <= b,
    }
    return all(checks[op](bound) for op, bound in bounds.items())


def paginate(
    url: str,
    items: list[dict[str, Any]],
    params: Mapping[str, Any],
    *,
    kind: str,
) -> dict[str, Any]:
    """A list envelope for ``items`` (already filtered, newest first) using ``limit`` and cursors.

    :param kind: object name for ``No such <kind>`` cursor errors.
    """
    try:
        page = cursor_page(
            items,
            limit=params.get("limit"),
            starting_after=params.get("starting_after"),
            ending_before=params.get("ending_before"),
        )
    except PagingError as exc:
        if exc.code == "resource_missing":
            cursor = params.get(exc.param)
            raise StripeAPIError(
                400, f"No such {kind}: '{cursor}'", code="resource_missing", param=exc.param, validation=True
            ) from exc
        raise invalid_request(exc.message, param=exc.param) from exc
    return list_envelope(url, page.items, page.has_more)


def newest_first(items: list[dict[str, Any]], created: str = "created") -> list[dict[str, Any]]:
    """Newest first by ``created`` (or the field named); objects created in the same second keep
    reverse insertion order."""
    order = sorted(range(len(items)), key=lambda index: (int(items[index][created]), index), reverse=True)
    return [items[index] for index in order]


def _page_token(query: str, offset: int) -> str:
    digest = hashlib.sha256(query.encode()).hexdigest()[:12]
    raw = json.dumps({"o": offset, "q": digest}, separators=(",", ":")).encode()
    return "page_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _page_offset(query: str, token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = token.removeprefix("page_")
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        offset = int(data["o"])
        if data["q"] != hashlib.sha256(query.encode()).hexdigest()[:12] or offset < 0:
            raise ValueError("page token of another query")
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise invalid_request(f"Invalid page: {token}", param="page") from exc
    return offset


def search_page(
    url: str,
    params: Mapping[str, Any],
    fields: Mapping[str, FieldKind],
    find: Callable[[SearchQuery], list[dict[str, Any]]],
) -> dict[str, Any]:
    """A search envelope: parse ``query``, ``find`` its matches (newest first), cut a ``page``.

    :param find: the matching objects for a parsed query, newest first (not copied: only the
        objects on the page are copied here).
    """
    query_text = str(require(params, "query"))
    try:
        query = parse_search_query(query_text, fields)
    except SearchQueryError as exc:
        raise invalid_request(str(exc), param="query") from exc
    limit = params.get("limit")
    size = 10 if limit is None else int(limit)
    if not 1 <= size <= 100:
        raise invalid_request("Invalid limit: must be between 1 and 100.", param="limit")
    offset = _page_offset(query_text, params.get("page"))
    matched = find(query)
    chunk = [clone(item) for item in matched[offset : offset + size]]
    has_more = offset + size < len(matched)
    next_page = _page_token(query_text, offset + size) if has_more else None
    return search_envelope(url, chunk, has_more, next_page)
