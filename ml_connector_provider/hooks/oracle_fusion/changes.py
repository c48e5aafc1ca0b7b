"""Incremental reads of Fusion collections: the rows whose change timestamp lies in a window.

Offset paging over rows that change while they are read can skip or repeat rows (contract A8);
:meth:`FusionChangeReads.iter_changed` pages by timestamp and key instead, and checks on every
page that nothing before it moved.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ml_connector_provider.hooks.oracle_fusion.errors import FusionResponseError
from ml_connector_provider.hooks.oracle_fusion.query import (
    ceil_millis,
    floor_millis,
    parse_timestamp,
    window_filter,
)
from ml_connector_provider.hooks.oracle_fusion.rest import FusionRestClient, check_page_size

__all__ = ["FusionChangeReads"]

#: How often :meth:`FusionChangeReads.iter_changed` re-reads rows that changed under it before giving up.
_MAX_RESTARTS = 20


class FusionChangeReads(FusionRestClient):
    """Reads of the rows of a collection that changed in a time window (a part of the hook)."""

    def iter_changed(
        self,
        resource: str,
        *,
        key_attr: str,
        since: datetime,
        until: datetime,
        timestamp_attr: str = "LastUpdateDate",
        extra_filter: str | None = None,
        page_size: int = 500,
        fields: Sequence[str] | None = None,
        expand: str | Sequence[str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield, page by page, the rows whose ``timestamp_attr`` lies in ``[since, until)``.

        The filter is written in the connection's dialect — framework version 1:
        ``LastUpdateDate>=2026-01-01T00:00:00.000+00:00;LastUpdateDate<2026-01-02T00:00:00.000+00:00``;
        version 2 and later: ``LastUpdateDate >= '2026-01-01T00:00:00.000+00:00' and
        LastUpdateDate < '2026-01-02T00:00:00.000+00:00'`` — and rows are ordered by
        ``timestamp_attr:asc,key_attr:asc``.

        Pages are read by timestamp rather than by a growing offset: each request starts at the
        timestamp of the last row read, ``offset`` only skips the rows already read at that very
        timestamp, and every request re-reads the last row read to prove that nothing before it
        left the result (otherwise the rows at that timestamp are read again). So a row that
        changes during the read, and thereby leaves the window, cannot shift unread rows past the
        client. Each row in the window is yielded exactly once per call; a row that changes during
        the read is picked up by the window that contains its new timestamp. (With
        ``page_size=1`` there is no room for the re-read row and this check is skipped.)

        :param resource: the collection.
        :param key_attr: the unique key attribute (the tie-breaker of the order).
        :param since: start of the window, inclusive (aware datetime).
        :param until: end of the window, exclusive (aware datetime).
        :param timestamp_attr: the change timestamp attribute.
        :param extra_filter: another condition in the connection's dialect, ANDed with the window.
        :param page_size: rows per request, 1 to 500.
        :param fields: attributes to return; ``key_attr`` and ``timestamp_attr`` are always added.
        :param expand: children to inline, ``"all"``, a string or a sequence.
        :raises ValueError: ``since``/``until`` are naive.
        :raises FusionBadRequest: Fusion refused the filter (e.g. the attribute is not queryable).
        :raises FusionResponseError: a row lacks ``key_attr`` or a parseable ``timestamp_attr``.
        """
        if since.tzinfo is None or until.tzinfo is None:
            raise ValueError("iter_changed needs timezone-aware since/until datetimes")
        start, end = since.astimezone(UTC), until.astimezone(UTC)
        if end <= start:
            return
        limit = check_page_size(page_size)
        order = f"{timestamp_attr}:asc,{key_attr}:asc"
        shape: dict[str, str] = {}
        if fields is not None:
            shape["fields"] = ",".join(dict.fromkeys([key_attr, timestamp_attr, *fields]))
        if expand is not None:
            shape["expand"] = expand if isinstance(expand, str) else ",".join(expand)
        upper = ceil_millis(end)
        lower = ceil_millis(start)  # the query reads rows at or after `lower`
        at_lower: set[Any] = set()  # keys of the rows read whose timestamp is `lower`
        offset = 0  # position, among the rows at or after `lower`, of the next row not read yet
        last_key: Any = None  # key of the row at position offset - 1
        restarts = rows = 0
        while True:
            # Ask for one row already read as well: finding it where it was proves that no row
            # before it left the result (which would shift the unread rows past `offset`).
            step_back = offset > 0 and limit > 1
            query = {
                "onlyData": "true",
                "limit": limit,
                "offset": offset - 1 if step_back else offset,
                "orderBy": order,
                "q": window_filter(
                    timestamp_attr, lower, upper, extra_filter, version=self.rest_framework_version
                ),
                **shape,
            }
            body = self._get_collection(resource, query)
            items, has_more = body["items"], body["hasMore"]
            marked = [(item, *_row_mark(item, key_attr, timestamp_attr, resource)) for item in items]
            if step_back:
                if not marked or marked[0][1] != last_key:
                    restarts += 1
                    if restarts > _MAX_RESTARTS:
                        raise FusionResponseError(
                            f"rows of {resource} kept changing while they were read; gave up after "
                            f"{_MAX_RESTARTS} re-reads"
                        )
                    self.log.info("Rows of %s changed during the read; re-reading from %s", resource, lower)
                    offset, last_key = 0, None
                    continue
                marked = marked[1:]
            if not marked:
                if has_more:
                    raise FusionResponseError(
                        f"Oracle Fusion returned hasMore=true with no new items for {resource} at offset "
                        f"{query['offset']}; stopping instead of asking for the same page again"
                    )
                break
            fresh = [item for item, key, stamp in marked if key not in at_lower and start <= stamp < end]
            if fresh:
                rows += len(fresh)
                yield fresh
            if not has_more:
                break
            newest = floor_millis(marked[-1][2])
            if newest > lower:
                lower = newest
                at_lower = {key for _, key, stamp in marked if floor_millis(stamp) >= lower}
                offset = len(at_lower)
            else:
                at_lower.update(key for _, key, _stamp in marked)
                offset += len(marked)
            last_key = marked[-1][1]
        self.log.debug("Read %d changed rows of %s in [%s, %s)", rows, resource, start, end)


def _row_mark(
    item: Mapping[str, Any], key_attr: str, timestamp_attr: str, resource: str
) -> tuple[Any, datetime]:
    """The key and the change timestamp of a row read by :meth:`FusionChangeReads.iter_changed`."""
    key = item.get(key_attr)
    if key is None:
        raise FusionResponseError(f"a row of {resource} has no {key_attr}; cannot page by key")
    stamp = item.get(timestamp_attr)
    try:
        if stamp is None:
            raise ValueError(stamp)
        return key, parse_timestamp(stamp)
    except ValueError:
        raise FusionResponseError(
            f"row {key_attr}={key} of {resource} has no valid {timestamp_attr} ({stamp!r})"
        ) from None
