"""Oracle Fusion REST resources: requests, the collection envelope, offset paging, items and actions.

:class:`FusionRestClient` holds what every Fusion resource shares (the ADF REST conventions of
contract A3/A4): the ``items``/``count``/``hasMore`` envelope read page by page with
:func:`~ml_connector_provider.transport.iter_offset_pages`, ``onlyData``, ``fields``, ``expand``,
finders, item paths (a key, or the ``links[rel=self].href``), ``Location`` on create and
``/action/<name>`` calls, and look-ups by attribute in either ``q`` dialect. Methods for a
particular resource family (AP invoices, sales or purchase orders…) belong in a mixin of their own
built on it, like :class:`~ml_connector_provider.hooks.oracle_fusion.ess.FusionEssJobs`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from ml_connector_provider.formats.text import json_type
from ml_connector_provider.hooks.oracle_fusion.errors import (
    DETAIL_LIMIT,
    FusionApiError,
    FusionBadRequest,
    FusionResponseError,
    api_error,
)
from ml_connector_provider.hooks.oracle_fusion.query import (
    check_filter_value,
    comparable,
    equality_filter,
    in_filters,
    prefix_filters,
)
from ml_connector_provider.transport import (
    HttpStatusError,
    HttpTransport,
    OffsetPage,
    PagingError,
    TransportError,
    iter_offset_pages,
)
from ml_connector_provider.transport.errors import body_excerpt, is_html

if TYPE_CHECKING:
    import requests
    from airflow.sdk.types import Logger

__all__ = [
    "ACTION_MEDIA_TYPE",
    "ITEM_MEDIA_TYPE",
    "FusionRestClient",
    "check_page_size",
    "collection_path",
    "expanded_items",
    "item_path",
    "quote_segment",
]

#: Media type of item bodies sent with POST and PATCH.
ITEM_MEDIA_TYPE = "application/vnd.oracle.adf.resourceitem+json"
#: Media type of the body of a ``…/action/<name>`` POST.
ACTION_MEDIA_TYPE = "application/vnd.oracle.adf.action+json"
#: Longest excerpt of an answer that is not JSON quoted in a :class:`FusionResponseError`.
ANSWER_EXCERPT = 200


class FusionRestClient:
    """Generic access to Fusion REST resources; the base of the hook's other parts.

    A class that mixes it in provides :attr:`transport` (an
    :class:`~ml_connector_provider.transport.HttpTransport` rooted at
    ``<pod>/fscmRestApi/resources/<version>``), :attr:`rest_framework_version` and ``log`` (the
    hook: :class:`~ml_connector_provider.hooks.oracle_fusion.OracleFusionHook`).
    """

    #: Largest page Fusion returns; larger limits are capped silently by the server.
    MAX_PAGE_SIZE: ClassVar[int] = 500

    log: Logger

    @property
    def transport(self) -> HttpTransport:
        """The HTTP client of the pod's REST API."""
        raise NotImplementedError

    @property
    def rest_framework_version(self) -> int:
        """The ``REST-Framework-Version`` sent with every request (selects the ``q`` dialect)."""
        raise NotImplementedError

    # -- reading ----------------------------------------------------------------------------------

    def iter_collection(
        self,
        resource: str,
        *,
        q: str | None = None,
        order_by: Sequence[str] = (),
        fields: str | Sequence[str] | None = None,
        expand: str | Sequence[str] | None = None,
        finder: str | None = None,
        page_size: int = 500,
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Read a collection page by page (offset paging), yielding the items of each page.

        Sends ``onlyData=true``, ``limit=page_size`` and ``offset``; advances ``offset`` by the
        number of items returned and stops only when ``hasMore`` is false (a server may cap the
        page below the requested size). Empty pages are not yielded.

        Offset paging over a collection that changes while it is read can skip or repeat rows;
        for incremental reads use ``iter_changed`` (it pages by key; see
        :mod:`~ml_connector_provider.hooks.oracle_fusion.changes`).

        :param resource: the collection, e.g. ``receivablesInvoices`` (or a child path
            ``<resource>/<key>/child/<child>``).
        :param q: a filter in the connection's dialect (see :attr:`rest_framework_version`).
        :param order_by: ``Attr`` or ``Attr:asc``/``Attr:desc`` terms; order by unique attributes
            for predictable paging.
        :param fields: attributes to return (``fields=``), a string or a sequence.
        :param expand: children to inline (``expand=``), ``"all"``, a string or a sequence.
        :param finder: a finder, e.g. ``PrimaryKey;InvoiceId=300000001``.
        :param page_size: rows per request, 1 to 500.
        :param params: further query parameters (override the ones above except ``offset``).
        :raises FusionBadRequest: Fusion refused the request (bad filter, unknown attribute…).
        :raises FusionResponseError: the answer is not a collection, or it says ``hasMore`` but
            has no items (a server bug that would otherwise loop forever).
        """
        query: dict[str, Any] = {"onlyData": "true", "limit": check_page_size(page_size)}
        if q:
            query["q"] = q
        if order_by:
            query["orderBy"] = ",".join(order_by)
        if fields is not None:
            query["fields"] = _joined(fields)
        if expand is not None:
            query["expand"] = _joined(expand)
        if finder:
            query["finder"] = finder
        query.update(params or {})
        pages = rows = 0
        try:
            for items in iter_offset_pages(
                partial(self._collection_page, resource, query),
                label=f"Oracle Fusion's answer for {resource}",
            ):
                pages += 1
                rows += len(items)
                yield items
        except PagingError as exc:
            raise FusionResponseError(
                f"Oracle Fusion returned hasMore=true with no items for {resource} at offset {exc.position}; "
                "stopping instead of asking for the same page again"
            ) from None
        self.log.debug("Read %d rows of %s in %d pages", rows, resource, pages)

    def get_item(
        self,
        resource: str,
        key: Any,
        *,
        fields: str | Sequence[str] | None = None,
        expand: str | Sequence[str] | None = None,
    ) -> dict[str, Any] | None:
        """Read one item, or ``None`` when Fusion answers 404.

        :param resource: the collection.
        :param key: the key value, or the item's ``links[rel=self].href``.
        :param fields: attributes to return.
        :param expand: children to inline.
        """
        params: dict[str, Any] = {"onlyData": "true"}
        if fields is not None:
            params["fields"] = _joined(fields)
        if expand is not None:
            params["expand"] = _joined(expand)
        response = self._call("GET", resource, item_path(resource, key), params=params, expected={404})
        if response.status_code == 404:
            self._check_not_found(response, resource)
            return None
        return self._json_object(response, resource)

    def child_items(
        self,
        resource: str,
        key: Any,
        child: str,
        *,
        item: Mapping[str, Any] | None = None,
        page_size: int = 500,
    ) -> list[dict[str, Any]]:
        """All rows of an item's child collection, e.g. an invoice's ``receivablesInvoiceLines``.

        When ``item`` (read with ``expand=<child>``) carries the child completely — an array
        (framework versions 1–2), or a collection object with ``hasMore`` false (version 3 and
        later, which inline at most one page) — those rows are returned without a request;
        otherwise ``<resource>/<key>/child/<child>`` is read page by page.

        :param resource: the parent collection.
        :param key: the parent's key value or ``links[rel=self].href``.
        :param child: the child collection's name.
        :param item: the parent as read, if it was read with the child expanded.
        :param page_size: rows per request when the child must be read.
        """
        if item is not None:
            rows, complete = expanded_items(item, child)
            if complete:
                return rows
        path = f"{item_path(resource, key)}/child/{quote_segment(child)}"
        found: list[dict[str, Any]] = []
        for page in self.iter_collection(path, page_size=page_size):
            found.extend(page)
        return found

    def describe(self, resource: str) -> dict[str, Any]:
        """The resource's metadata (``GET <resource>/describe``): attributes with their
        ``queryable``/``updatable`` flags, finders, actions and children.

        :returns: ``Resources[<resource>]`` of the answer (the whole answer if it has no such entry).
        """
        response = self._call("GET", resource, f"{quote_segment(resource)}/describe")
        body = self._json_object(response, resource)
        entry = body.get("Resources", {}).get(resource) if isinstance(body.get("Resources"), dict) else None
        return entry if isinstance(entry, dict) else body

    def check_lookup_value(self, attribute: str, value: Any) -> None:
        """Refuse, before any request, a value (from a record) that cannot be looked up with
        :meth:`find_by_attribute` or :meth:`find_matching` in this connection's ``q`` dialect;
        callers dead-letter the record that holds it instead of failing the whole batch.

        :raises FusionFilterValueError: the value cannot be used; the message names the attribute
            and the value (see :func:`~ml_connector_provider.hooks.oracle_fusion.query.check_filter_value`).
        """
        check_filter_value(attribute, value, version=self.rest_framework_version)

    def find_by_attribute(
        self,
        resource: str,
        attribute: str,
        values: Iterable[Any],
        *,
        expand: str | Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The items whose ``attribute`` equals one of ``values`` (an exact match, in any order).

        With framework version 2 or later: one query ``attribute in ('a', 'b', …)`` per 100 values
        (text single-quoted with ``'`` doubled, numbers bare). The version 1 dialect has no ``in``:
        one query ``attribute=value`` per value. A value that cannot be written without changing
        the filter's meaning (in version 1 a ``;``, surrounding quotes or blanks, an ``and``/``or``
        followed by an operator; in any version control characters or more than 4,000
        characters) raises :class:`FusionFilterValueError` (a ``ValueError``) before any request;
        :meth:`check_lookup_value` tells a caller so beforehand. Either way the answer is filtered
        on the client to exact equality, so a server that matches case-insensitively or treats
        ``%`` as a wildcard cannot add rows.

        :param resource: the collection, e.g. ``journalBatches``.
        :param attribute: a queryable attribute, e.g. ``BatchName``.
        :param values: the values looked for (``None`` and repeats are ignored).
        :param expand: children to inline.
        :raises FusionBadRequest: Fusion refused the filter (e.g. the attribute is not queryable).
        :raises FusionFilterValueError: a value cannot be written into the filter.
        """
        wanted = [value for value in values if value is not None]
        queries = in_filters(attribute, wanted, version=self.rest_framework_version)
        keys = {comparable(value) for value in wanted}
        found: list[dict[str, Any]] = []
        for q in queries:
            for page in self.iter_collection(resource, q=q, expand=expand):
                found.extend(item for item in page if comparable(item.get(attribute)) in keys)
        return found

    def find_matching(
        self,
        resource: str,
        criteria: Mapping[str, Any],
        *,
        expand: str | Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The items whose attributes equal all of ``criteria`` (an exact match on every one).

        One query: ``a = 'x' and b = 'y'`` with framework version 2 or later, the
        query-by-example form ``a=x;b=y`` with version 1 (values that dialect cannot express raise
        ``ValueError``, as in :meth:`find_by_attribute`). The answer is filtered on the client to
        exact equality of every attribute.

        :param resource: the collection, e.g. ``invoices``.
        :param criteria: attribute → value; ``None`` values are not allowed.
        :param expand: children to inline.
        :raises FusionBadRequest: Fusion refused the filter (e.g. an attribute is not queryable).
        """
        if not criteria:
            raise ValueError("find_matching needs at least one attribute")
        q = equality_filter(criteria, version=self.rest_framework_version)
        wanted = {attribute: comparable(value) for attribute, value in criteria.items()}
        found: list[dict[str, Any]] = []
        for page in self.iter_collection(resource, q=q, expand=expand):
            found.extend(
                item
                for item in page
                if all(comparable(item.get(attribute)) == value for attribute, value in wanted.items())
            )
        return found

    def find_by_prefix(
        self,
        resource: str,
        attribute: str,
        prefixes: Iterable[str],
        *,
        scan_limit: int = 2000,
        scan_order: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """The items whose text ``attribute`` starts with one of ``prefixes``.

        First a server-side filter (:func:`~ml_connector_provider.hooks.oracle_fusion.query.prefix_filters`,
        ``LIKE 'prefix%'`` conditions OR-ed, framework version 2 and later). When the dialect has
        no ``LIKE`` or Fusion answers 400 to it, a bounded read instead: at most ``scan_limit``
        rows of the collection, ordered by ``scan_order`` (e.g. ``JeBatchId:desc`` for the newest
        first), filtered on the client. Either way only items that really start with a prefix
        are returned.

        :param resource: the collection, e.g. ``journalBatches``.
        :param attribute: the text attribute, e.g. ``BatchName``.
        :param prefixes: the prefixes looked for.
        :param scan_limit: most rows the bounded read looks at.
        :param scan_order: ``orderBy`` of the bounded read.
        :returns: ``(items, path)`` — ``path`` is ``"filter"`` or ``"scan"``, for logs.
        :raises FusionBadRequest: the bounded read was refused too.
        """
        wanted = [prefix for prefix in dict.fromkeys(prefixes) if prefix]
        if not wanted:
            return [], "filter"

        def matches(item: Mapping[str, Any]) -> bool:
            value = item.get(attribute)
            return isinstance(value, str) and value.startswith(tuple(wanted))

        queries = prefix_filters(attribute, wanted, version=self.rest_framework_version)
        if queries is not None:
            found: list[dict[str, Any]] = []
            try:
                for q in queries:
                    for page in self.iter_collection(resource, q=q):
                        found.extend(item for item in page if matches(item))
            except FusionBadRequest as exc:
                self.log.warning(
                    "Oracle Fusion refused a prefix filter on %s.%s (%s); reading at most %d rows instead",
                    resource,
                    attribute,
                    exc,
                    scan_limit,
                )
            else:
                return found, "filter"
        found = []
        seen = 0
        order = (scan_order,) if scan_order else ()
        for page in self.iter_collection(resource, order_by=order, page_size=min(500, max(1, scan_limit))):
            found.extend(item for item in page[: scan_limit - seen] if matches(item))
            seen += len(page)
            if seen >= scan_limit:
                break
        return found, "scan"

    # -- writing ----------------------------------------------------------------------------------

    def create_item(
        self, resource: str, payload: Mapping[str, Any], *, upsert: bool = False
    ) -> dict[str, Any]:
        """Create an item (``POST``; 201 with the full item) and return it.

        A create is not repeated after a lost response (the item may exist); callers look the
        item up by its business key before retrying.

        :param resource: the collection, or a child collection ``<resource>/<key>/child/<child>``
            (e.g. to add a line to an invoice).
        :param payload: the attributes (and child arrays) of the new item.
        :param upsert: send ``Upsert-Mode: true`` (Fusion updates the item that matches instead);
            such a request is safe to repeat.
        :raises FusionBadRequest: Fusion refused the item (the message carries Fusion's reason).
        """
        headers = {"Content-Type": ITEM_MEDIA_TYPE}
        if upsert:
            headers["Upsert-Mode"] = "true"
        response = self._call(
            "POST",
            resource,
            collection_path(resource),
            json=dict(payload),
            headers=headers,
            idempotent=upsert or None,
        )
        return self._json_object(response, resource)

    def update_item(self, resource: str, key_or_self_href: Any, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Change attributes of an item (``PATCH``; 200 with the full item) and return it.

        :param resource: the collection.
        :param key_or_self_href: the key value or the item's ``links[rel=self].href``.
        :param payload: the attributes to change.
        :raises FusionBadRequest: Fusion refused the change.
        """
        response = self._call(
            "PATCH",
            resource,
            item_path(resource, key_or_self_href),
            json=dict(payload),
            headers={"Content-Type": ITEM_MEDIA_TYPE},
            idempotent=True,
        )
        return self._json_object(response, resource)

    def delete_item(self, resource: str, key_or_self_href: Any) -> bool:
        """Delete an item; returns ``False`` when it did not exist (404)."""
        response = self._call("DELETE", resource, item_path(resource, key_or_self_href), expected={404})
        if response.status_code == 404:
            self._check_not_found(response, resource)
            return False
        return True

    def post_action(
        self,
        resource: str,
        action: str,
        payload: Mapping[str, Any] | None = None,
        key: Any = None,
        *,
        idempotent: bool = False,
    ) -> Any:
        """Call a custom action: ``POST <resource>[/<key>]/action/<action>`` with
        ``Content-Type: application/vnd.oracle.adf.action+json``.

        :param resource: the collection.
        :param action: the action name, e.g. ``applyReceipt``.
        :param payload: the action's parameters.
        :param key: the item (key value or ``self`` href) for an item-level action.
        :param idempotent: whether repeating the call after a lost response is harmless.
        :returns: the ``result`` of the answer (the whole answer when it has none).
        :raises FusionBadRequest: Fusion refused the call.
        """
        base = quote_segment(resource) if key is None else item_path(resource, key)
        response = self._call(
            "POST",
            resource,
            f"{base}/action/{quote_segment(action)}",
            json=dict(payload or {}),
            headers={"Content-Type": ACTION_MEDIA_TYPE},
            idempotent=idempotent,
        )
        if not response.content.strip():
            return None
        body = self._json_any(response, resource)
        return body["result"] if isinstance(body, dict) and "result" in body else body

    # -- requests and answers ---------------------------------------------------------------------

    def _call(self, method: str, resource: str, path: str, **options: Any) -> requests.Response:
        """Send a request. An error status the transport does not retry raises a
        :class:`FusionApiError`; the transport's own errors (``AuthError``, ``RetryExhausted``,
        ``ConnectionFailed``) keep their class, with a message that starts with
        ``Oracle Fusion, <method> <resource>``."""
        try:
            return self.transport.request(method, path, **options)
        except HttpStatusError as exc:
            raise api_error(method, resource, exc) from exc
        except TransportError as exc:
            raise exc.in_context(f"Oracle Fusion, {method} {resource}") from exc

    def _check_not_found(self, response: requests.Response, resource: str) -> None:
        """Accept a 404 as "no such item" only when Fusion itself could have sent it: Fusion
        answers a missing item with plain text or, with framework 4, JSON (contract A6). An HTML
        page is a gateway's or a login page's answer, which says nothing about the item.

        :raises FusionApiError: the 404 is an HTML page.
        """
        text = response.text
        if not is_html(text):
            return
        method = response.request.method or "GET"
        detail = body_excerpt(text, self.transport.secret_values(), limit=DETAIL_LIMIT)
        raise FusionApiError(
            f"Oracle Fusion rejected {method} {resource} with HTTP 404 and an HTML page, not Fusion's "
            f"answer for a missing item (a gateway or proxy in between?): {detail}",
            resource=resource,
            status=404,
            detail=detail,
        )

    def _get_collection(self, resource: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GET`` a collection and check its envelope: a list ``items`` of objects, a boolean
        ``hasMore``, an integer ``count`` when there is one.

        :raises FusionResponseError: the answer is not JSON or breaks the envelope; the message
            names the resource and the offset.
        """
        offset = params.get("offset", 0)
        where = f"{resource} at offset {offset}"
        response = self._call("GET", resource, collection_path(resource), params=params)
        body = self._json_object(response, resource, where=where)
        items = body.get("items")
        if "items" not in body:
            raise FusionResponseError(
                f"Oracle Fusion's answer for {where} has no list of items (no items; keys: {_keys(body)})"
            )
        if not isinstance(items, list):
            raise FusionResponseError(
                f"Oracle Fusion's answer for {where} has no list of items (items is {json_type(items)})"
            )
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise FusionResponseError(
                    f"Oracle Fusion's answer for {where} has an item that is not an object "
                    f"(item {index} is {json_type(item)}: {_short(item)})"
                )
        has_more = body.get("hasMore")
        if not isinstance(has_more, bool):
            raise FusionResponseError(
                f"Oracle Fusion's answer for {where} has no boolean hasMore "
                f"(hasMore is {json_type(has_more)}: {_short(has_more)})"
            )
        count = body.get("count")
        if "count" in body and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise FusionResponseError(
                f"Oracle Fusion's answer for {where} has a count that is not a whole number "
                f"(count is {json_type(count)}: {_short(count)})"
            )
        return body

    def _collection_page(self, resource: str, query: Mapping[str, Any], offset: int) -> OffsetPage[Any]:
        return OffsetPage.from_envelope(self._get_collection(resource, {**query, "offset": offset}))

    def _json_any(self, response: requests.Response, resource: str, *, where: str | None = None) -> Any:
        try:
            return response.json()
        except ValueError:
            content_type = response.headers.get("Content-Type") or "no content type"
            try:
                text = response.text
            except (ValueError, LookupError):  # pragma: no cover - requests decodes with replacement
                text = ""
            excerpt = (
                body_excerpt(text, self.transport.secret_values(), limit=ANSWER_EXCERPT) or "(empty body)"
            )
            raise FusionResponseError(
                f"Oracle Fusion answered {response.request.method} {where or resource} with HTTP "
                f"{response.status_code} but the body is not JSON ({content_type}): {excerpt}"
            ) from None

    def _json_object(
        self, response: requests.Response, resource: str, *, where: str | None = None
    ) -> dict[str, Any]:
        body = self._json_any(response, resource, where=where)
        if not isinstance(body, dict):
            raise FusionResponseError(
                f"Oracle Fusion's answer for {where or resource} is not a JSON object "
                f"(it is {json_type(body)}: {_short(body)})"
            )
        return body

    # -- probes -----------------------------------------------------------------------------------

    #: Statuses :meth:`probe_get` returns instead of raising.
    PROBE_STATUSES: ClassVar[frozenset[int]] = frozenset({400, 401, 403, 404, 405})

    def probe_get(self, path: str, params: Mapping[str, Any]) -> requests.Response:
        """``GET`` a path under the REST root and return the answer, a refusal (400, 401, 403, 404,
        405) included, for read-only probes (``ml-connector check``) that report what a pod says.

        :param path: a collection (``receivablesInvoices``) or ``<resource>/describe``.
        :param params: the query parameters.
        :raises FusionApiError: another error status; the transport's errors as in :meth:`_call`.
        """
        resource = path.split("/", 1)[0]
        target = "/".join(quote_segment(part) for part in path.split("/"))
        return self._call("GET", resource, target, params=dict(params), expected=self.PROBE_STATUSES)


def _short(value: Any, limit: int = 80) -> str:
    """A short JSON rendering of a value for a message (answers carry data, not secrets)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _keys(body: Mapping[str, Any]) -> str:
    names = sorted(str(name) for name in body)
    shown = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
    return shown or "none"


def expanded_items(item: Mapping[str, Any], child: str) -> tuple[list[dict[str, Any]], bool]:
    """The rows of a child inlined by ``expand``, in either shape Fusion uses.

    Framework versions 1–2 inline an array; version 3 and later a collection object
    (``{"items": […], "hasMore": …}``) holding at most one page.

    :param item: the parent item as read.
    :param child: the child collection's name.
    :returns: ``(rows, complete)`` — ``complete`` is false when the child is missing from
        ``item`` or the collection object says ``hasMore`` (read the child collection then; see
        :meth:`FusionRestClient.child_items`).
    """
    value = item.get(child)
    if isinstance(value, list):
        return [row for row in value if isinstance(row, dict)], True
    if isinstance(value, dict) and isinstance(value.get("items"), list):
        rows = [row for row in value["items"] if isinstance(row, dict)]
        return rows, value.get("hasMore") is False
    return [], False


def check_page_size(value: int) -> int:
    """``value`` if it is a valid page size (an integer from 1 to 500), else ``ValueError``."""
    largest = FusionRestClient.MAX_PAGE_SIZE
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= largest:
        raise ValueError(f"page_size must be an integer from 1 to {largest}, got {value!r}")
    return value


def quote_segment(segment: str) -> str:
    """``segment`` percent-encoded as one path segment (``/`` included)."""
    return quote(segment, safe="")


def collection_path(resource: str) -> str:
    """The path of a collection: a resource name is quoted, a child path (with ``/``) kept."""
    return resource if "/" in resource else quote_segment(resource)


def item_path(resource: str, key: Any) -> str:
    """The path of an item: ``<resource>/<key>``, or the item's absolute ``self`` href as given.

    :raises ValueError: no key.
    """
    if isinstance(key, str) and key.startswith(("http://", "https://")):
        return key
    if key is None or (isinstance(key, str) and not key.strip()):
        raise ValueError(f"an item key of {resource} is required")
    return f"{quote_segment(resource)}/{quote_segment(str(key))}"


def _joined(names: str | Sequence[str]) -> str:
    return names if isinstance(names, str) else ",".join(names)
