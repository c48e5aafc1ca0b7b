"""A generic Oracle ADF Business Components REST engine: each Fusion resource is a declaration.

Oracle Fusion's REST API (``/fscmRestApi/resources/11.13.18.05/…``) is served by the ADF BC REST
framework, so every resource behaves the same way (contract A1, A3, A4, A6). This module
implements that behaviour once; a resource is then a short :class:`AdfResource` declaration::

    RECEIVABLES_INVOICES = AdfResource(
        name="receivablesInvoices",
        key="CustomerTransactionId",
        attributes=(
            attr("CustomerTransactionId", "integer", generated=True),
            attr("TransactionNumber"),
            attr("BillToCustomerNumber", mandatory=True),
            attr("InvoiceCurrencyCode"),
            attr("TransactionDate", "date"),
            attr("EnteredAmount", "number", queryable=False),
        ),
        children=(
            AdfResource(
                name="receivablesInvoiceLines",
                key="CustomerTransactionLineId",
                attributes=(
                    attr("CustomerTransactionLineId", "integer", generated=True),
                    attr("LineNumber", "integer"),
                    attr("Description"),
                ),
                operations=CRUD,
            ),
        ),
        operations=CRUD,
        alternate_keys=(("TransactionSource", "TransactionNumber"),),
        on_create=reject_duplicate_transaction_number,
    )

and is added to the stand-in's resource list (see ``FusionSandbox.resources``).

What every declared resource gets:

* ``GET <resource>`` — the collection envelope ``items, count, hasMore, limit, offset, links``
  (``totalResults`` only with ``totalResults=true``); ``limit`` defaults to 25 and is silently
  capped at 500 (the effective value is echoed); ``offset``; ``orderBy=A:asc,B:desc``;
  ``onlyData=true`` drops the items' ``links``; ``fields=A,B;child:C,D``; ``expand=all`` or
  ``expand=child,child.grandchild`` (arrays with framework versions 1–2, collection objects from
  version 3); ``finder=PrimaryKey;Key=value`` and the declared finders; ``q`` in both dialects
  (:mod:`.query`); only queryable attributes may be filtered on.
* ``GET <resource>/{key}``, ``…/{key}/child/<child>``, ``…/child/<child>/{childKey}`` and
  ``GET <resource>/describe`` (attributes with their ``queryable`` flags, finders, children).
* Writes, when the declaration allows them: ``POST`` → 201 with the full item and a ``Location``
  header (``Upsert-Mode: true`` updates the item that has the same key or alternate key);
  ``PATCH`` → 200 with the full item; ``DELETE`` → 204; ``POST …/action/<name>`` with
  ``Content-Type: application/vnd.oracle.adf.action+json`` → ``{"result": …}``. Every write
  stamps ``LastUpdateDate``/``LastUpdatedBy`` (and ``CreationDate``/``CreatedBy`` on create) from
  the sandbox clock.
* Errors: ``text/plain`` bodies by default; the JSON payload
  ``{"title", "status", "o:errorDetails": [{"detail", "o:errorCode"}]}`` when the request sends
  ``REST-Framework-Version`` 4 or later. Unknown items are 404, bad parameters and business
  rule violations 400.

Items link to themselves with the plain key value in the ``self`` href (contract A1: clients must
navigate by ``links[rel=self].href``; the stand-in accepts the plain id).
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ml_connector_sandbox.base import SandboxState
from ml_connector_sandbox.paging import PagingError, offset_page
from ml_connector_sandbox.systems.fusion.query import QueryError, ResolvedPath, compile_query
from ml_connector_sandbox.systems.fusion.values import (
    AttrType,
    InvalidValue,
    coerce_input,
    format_timestamp,
    from_text,
    normalise,
)

__all__ = [
    "ACTION_MEDIA_TYPE",
    "ACTION_RESULT_MEDIA_TYPE",
    "COLLECTION_MEDIA_TYPE",
    "CRUD",
    "ERROR_MEDIA_TYPE",
    "ITEM_MEDIA_TYPE",
    "READ_ONLY",
    "WHO_COLUMNS",
    "ActionContext",
    "AdfAction",
    "AdfAttribute",
    "AdfError",
    "AdfFinder",
    "AdfResource",
    "AdfService",
    "WriteContext",
    "attr",
    "framework_version",
    "parse_finder",
    "read_json_object",
]

ITEM_MEDIA_TYPE = "application/vnd.oracle.adf.resourceitem+json"
COLLECTION_MEDIA_TYPE = "application/vnd.oracle.adf.resourcecollection+json"
ACTION_MEDIA_TYPE = "application/vnd.oracle.adf.action+json"
ACTION_RESULT_MEDIA_TYPE = "application/vnd.oracle.adf.actionresult+json"
ERROR_MEDIA_TYPE = "application/vnd.oracle.adf.error+json"

Operation = Literal["get", "create", "update", "delete"]
READ_ONLY: frozenset[str] = frozenset({"get"})
"""Operations of a read-only resource (lists of values, activity views)."""
CRUD: frozenset[str] = frozenset({"get", "create", "update", "delete"})
"""Operations of a fully writable resource."""

#: The ADF "who" columns added to every resource that declares ``who_columns=True``.
WHO_COLUMNS = ("CreatedBy", "CreationDate", "LastUpdatedBy", "LastUpdateDate")


def framework_version(request: Request) -> int:
    """The request's ``REST-Framework-Version`` (1 when absent or unparseable, at most 9)."""
    raw = request.headers.get("rest-framework-version", "").strip()
    try:
        version = int(raw)
    except ValueError:
        return 1
    return min(max(version, 1), 9)


async def read_json_object(request: Request) -> dict[str, Any]:
    """The JSON object in a POST/PATCH body (an empty body is ``{}``).

    :raises AdfError: 400 when the body is not JSON or not an object.
    """
    raw = await request.body()
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise AdfError(400, "The request body is not valid JSON.", "INVALID_JSON") from None
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise AdfError(400, "The request body must be a JSON object.", "INVALID_JSON")
    return payload


def parse_finder(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Split ``finder=<Name>;var=value,var2=value`` into the finder name and its bind pairs.

    Names are stripped, values are kept as written.

    :raises AdfError: 400 when a bind is not written ``name=value``.
    """
    name, _, binds_text = text.partition(";")
    binds: list[tuple[str, str]] = []
    for raw in binds_text.split(","):
        if not raw.strip():
            continue
        var, sep, value = raw.partition("=")
        if not sep:
            raise AdfError(
                400, f"The finder parameter '{raw.strip()}' must be written name=value.", "INVALID_FINDER"
            )
        binds.append((var.strip(), value))
    return name.strip(), binds


class AdfError(Exception):
    """An error answer of the ADF framework (plain text, or JSON from framework version 4).

    :param status: HTTP status.
    :param message: the human-readable detail.
    :param code: the ``o:errorCode`` of the version 4 JSON payload.
    :param path: the ``o:errorPath`` of the version 4 JSON payload.
    """

    def __init__(self, status: int, message: str, code: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.path = path

    def to_response(self, version: int) -> Response:
        """The response for a request made with framework ``version``."""
        if version >= 4:
            detail: dict[str, Any] = {"detail": self.message, "o:errorCode": self.code or str(self.status)}
            if self.path:
                detail["o:errorPath"] = self.path
            body = {
                "title": HTTPStatus(self.status).phrase,
                "status": str(self.status),
                "o:errorDetails": [detail],
            }
            return JSONResponse(body, status_code=self.status, media_type=ERROR_MEDIA_TYPE)
        return PlainTextResponse(self.message, status_code=self.status)


# -- declarations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdfAttribute:
    """One attribute of a resource.

    :param name: the PascalCase attribute name (case-sensitive, as on the wire).
    :param type: the attribute type (``string``, ``integer``, ``number``, ``boolean``, ``date``,
        ``datetime``).
    :param queryable: whether ``q``, finders and ``orderBy`` may use it; others answer 400.
    :param updatable: whether ``PATCH`` may change it.
    :param mandatory: whether ``POST`` must supply it.
    :param generated: assigned by the server (ids, who columns); a ``POST`` may not set it.
    :param default: value given on create when the body omits the attribute.
    :param description: shown by ``/describe``.
    """

    name: str
    type: AttrType = "string"
    queryable: bool = True
    updatable: bool = True
    mandatory: bool = False
    generated: bool = False
    default: Any = None
    description: str = ""


def attr(name: str, type: AttrType = "string", **options: Any) -> AdfAttribute:
    """Shorthand for :class:`AdfAttribute`."""
    return AdfAttribute(name, type, **options)


def _coerce(attribute: AdfAttribute, value: Any, name: str | None = None) -> Any:
    """``value`` in ``attribute``'s stored form; 400 naming ``name`` (default: the attribute) when
    it does not fit the type."""
    name = name or attribute.name
    try:
        return coerce_input(attribute.type, name, value)
    except InvalidValue as exc:
        raise AdfError(400, str(exc), "INVALID_VALUE", name) from None


@dataclass(frozen=True)
class AdfFinder:
    """A named query (``finder=<name>;Var=value,Var2=value``).

    :param name: the finder name.
    :param variables: bind variable → attribute compared for equality.
    :param predicate: replaces the equality match: called with the item and the bind values
        (as text) and returns whether the item matches.
    """

    name: str
    variables: Mapping[str, str] = field(default_factory=dict)
    predicate: Callable[[Mapping[str, Any], Mapping[str, str]], bool] | None = None


@dataclass
class WriteContext:
    """What an ``on_create``/``on_update`` hook sees; raise :class:`AdfError` to refuse the write.

    :param service: the engine (for look-ups in other resources).
    :param resource: the resource written.
    :param item: the new state of the item (mutable: hooks may fill server-side attributes).
    :param payload: the request body.
    :param previous: the item before an update (``None`` on create).
    :param parent: the parent item of a child resource.
    :param db: the whole state (the lock is held).
    :param now: the sandbox time of the write.
    :param user: the authenticated user or client id.
    """

    service: AdfService
    resource: AdfResource
    item: dict[str, Any]
    payload: Mapping[str, Any]
    previous: Mapping[str, Any] | None
    parent: dict[str, Any] | None
    db: dict[str, Any]
    now: datetime
    user: str


@dataclass
class ActionContext:
    """What an action handler sees; its return value becomes ``{"result": …}``.

    :param service: the engine.
    :param resource: the resource the action belongs to.
    :param item: the item for an item action (``…/{key}/action/<name>``), else ``None``.
    :param payload: the request body.
    :param db: the whole state (the lock is held).
    :param now: the sandbox time of the call.
    :param user: the authenticated user or client id.
    """

    service: AdfService
    resource: AdfResource
    item: dict[str, Any] | None
    payload: Mapping[str, Any]
    db: dict[str, Any]
    now: datetime
    user: str


@dataclass(frozen=True)
class AdfAction:
    """A custom action (``POST …/action/<name>``).

    :param name: the action name.
    :param handler: computes the result (may change state; raise :class:`AdfError` to refuse).
    :param on_item: ``True`` for ``<resource>/{key}/action/<name>``, ``False`` for
        ``<resource>/action/<name>``.
    """

    name: str
    handler: Callable[[ActionContext], Any]
    on_item: bool = True


WriteHook = Callable[[WriteContext], None]


@dataclass(frozen=True)
class AdfResource:
    """The declaration of one ADF collection resource (top-level or child).

    :param name: the resource name in the URL (``receivablesInvoices``).
    :param key: the key attribute (``…/<resource>/{key}``).
    :param attributes: the attributes in response order; the who columns are appended when
        ``who_columns`` is set.
    :param children: child collections (``…/{key}/child/<name>``), themselves declarations;
        stored in the parent item under the child's name.
    :param operations: allowed operations among ``get``, ``create``, ``update``, ``delete``
        (:data:`READ_ONLY`, :data:`CRUD`); others answer 400 ``Invalid operation``.
    :param finders: named queries in addition to the implicit ``PrimaryKey`` finder.
    :param actions: custom actions.
    :param alternate_keys: attribute tuples that identify an item too (``Upsert-Mode`` and the
        admin upsert look items up by them).
    :param input_aliases: ``(alias, attribute)`` pairs: a write body (REST or admin) may name
        ``attribute`` ``alias``; the value is stored under ``attribute`` (both given with
        different values answer 400). An alias is never stored, rendered, described or queried.
    :param on_create: validation / server-side defaults on create.
    :param on_update: validation on update.
    :param on_admin_upsert: completes, in place, what :meth:`AdfService.admin_upsert` stores:
        ``context.item`` holds the given values, ``context.previous`` is the stored item (``None``
        for a new one); raise :class:`AdfError` to refuse.
    :param seed: returns the initial items given the sandbox time when the state is (re)built.
    :param who_columns: add ``CreatedBy``, ``CreationDate``, ``LastUpdatedBy``, ``LastUpdateDate``.
    :param id_start: first generated value of an integer key (Fusion ids are 15-digit numbers).
    :param title: shown by ``/describe``.
    """

    name: str
    key: str
    attributes: tuple[AdfAttribute, ...]
    children: tuple[AdfResource, ...] = ()
    operations: frozenset[str] = READ_ONLY
    finders: tuple[AdfFinder, ...] = ()
    actions: tuple[AdfAction, ...] = ()
    alternate_keys: tuple[tuple[str, ...], ...] = ()
    input_aliases: tuple[tuple[str, str], ...] = ()
    on_create: WriteHook | None = None
    on_update: WriteHook | None = None
    on_admin_upsert: WriteHook | None = None
    seed: Callable[[datetime], Iterable[Mapping[str, Any]]] | None = None
    who_columns: bool = True
    id_start: int = 300000100000001
    title: str = ""

    def __post_init__(self) -> None:
        names = [a.name for a in self.all_attributes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"resource {self.name}: attributes declared twice: {', '.join(duplicates)}")
        if self.key not in names:
            raise ValueError(f"resource {self.name}: key attribute {self.key} is not declared")
        clash = {c.name for c in self.children} & set(names)
        if clash:
            raise ValueError(
                f"resource {self.name}: children named like attributes: {', '.join(sorted(clash))}"
            )
        unknown_ops = set(self.operations) - set(CRUD)
        if unknown_ops:
            raise ValueError(f"resource {self.name}: unknown operations {sorted(unknown_ops)}")
        for alias, target in self.input_aliases:
            if alias in names or target not in names:
                raise ValueError(
                    f"resource {self.name}: input alias {alias} must name a declared attribute, not be one"
                )

    @cached_property
    def all_attributes(self) -> tuple[AdfAttribute, ...]:
        """The declared attributes plus the who columns."""
        if not self.who_columns:
            return self.attributes
        declared = {a.name for a in self.attributes}
        who = (
            attr("CreatedBy", updatable=False, generated=True),
            attr("CreationDate", "datetime", updatable=False, generated=True),
            attr("LastUpdatedBy", updatable=False, generated=True),
            attr("LastUpdateDate", "datetime", updatable=False, generated=True),
        )
        return self.attributes + tuple(a for a in who if a.name not in declared)

    @cached_property
    def attribute_map(self) -> dict[str, AdfAttribute]:
        """Attribute name → declaration."""
        return {a.name: a for a in self.all_attributes}

    @cached_property
    def alias_map(self) -> dict[str, str]:
        """Input alias → the attribute it stands for."""
        return dict(self.input_aliases)

    def canonical(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """``payload`` with each input alias replaced by its attribute.

        :raises AdfError: 400 when an alias's value does not fit the attribute's type, or the
            alias and the attribute are both given with different values.
        """
        if not any(alias in payload for alias, _ in self.input_aliases):
            return payload
        values = dict(payload)
        for alias, name in self.input_aliases:
            if values.get(alias) is None:
                values.pop(alias, None)
                continue
            attribute = self.attribute_map[name]
            value = _coerce(attribute, values.pop(alias), alias)
            given = _coerce(attribute, values.get(name))
            if given is not None and given != value:
                raise AdfError(
                    400,
                    f"{name} {given} and {alias} {value} disagree; send one of them.",
                    "INVALID_VALUE",
                    alias,
                )
            values[name] = value
        return values

    @cached_property
    def child_map(self) -> dict[str, AdfResource]:
        """Child name → declaration."""
        return {c.name: c for c in self.children}

    @property
    def key_attribute(self) -> AdfAttribute:
        """The key attribute's declaration."""
        return self.attribute_map[self.key]

    @cached_property
    def finder_map(self) -> dict[str, AdfFinder]:
        """Finder name → declaration, ``PrimaryKey`` included."""
        finders = {"PrimaryKey": AdfFinder("PrimaryKey", {self.key: self.key})}
        finders.update({f.name: f for f in self.finders})
        return finders

    def action(self, name: str, on_item: bool) -> AdfAction | None:
        """The action called ``name`` at item or collection level, if declared."""
        return next((a for a in self.actions if a.name == name and a.on_item == on_item), None)

    def parse_key(self, text: str) -> Any:
        """The key value written in a URL, or ``None`` when it cannot be one."""
        if self.key_attribute.type == "integer":
            try:
                return int(text)
            except ValueError:
                return None
        return text


# -- request parameters --------------------------------------------------------------------------


def _bool_param(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name.lower())
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise AdfError(400, f"The value '{value}' of query parameter {name} is not a valid boolean.")


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name.lower())
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise AdfError(
            400, f"The value '{value}' of query parameter {name} is not a valid integer."
        ) from None


ExpandTree = dict[str, "ExpandTree"]


def _expand_tree(resource: AdfResource, text: str | None) -> ExpandTree:
    tree: ExpandTree = {}
    if not text:
        return tree
    if text.strip().lower() == "all":
        return {child.name: {} for child in resource.children}
    for raw_path in text.split(","):
        path = raw_path.strip()
        if not path:
            continue
        node = tree
        current = resource
        for part in path.split("."):
            child = current.child_map.get(part)
            if child is None:
                raise AdfError(
                    400,
                    f"The child resource {part} in the expand parameter is not defined for resource {current.name}.",
                    "INVALID_EXPAND",
                )
            node = node.setdefault(part, {})
            current = child
    return tree


@dataclass(frozen=True)
class _Fields:
    own: frozenset[str] | None
    children: Mapping[str, frozenset[str]]


def _fields(resource: AdfResource, text: str | None) -> _Fields | None:
    if text is None:
        return None
    own: set[str] = set()
    children: dict[str, frozenset[str]] = {}
    for index, part in enumerate(text.split(";")):
        if index == 0 and ":" not in part:
            names, target = part, resource
            selected = own
        else:
            child_name, _, names = part.partition(":")
            child = resource.child_map.get(child_name.strip())
            if child is None:
                raise AdfError(
                    400,
                    f"The child resource {child_name.strip()} in the fields parameter is not defined "
                    f"for resource {resource.name}.",
                    "INVALID_FIELDS",
                )
            target = child
            selected = set()
        for raw in names.split(","):
            name = raw.strip()
            if not name:
                continue
            if name not in target.attribute_map:
                raise AdfError(
                    400,
                    f"The attribute {name} in the fields parameter is not defined for resource {target.name}.",
                    "INVALID_FIELDS",
                )
            selected.add(name)
        if target is not resource:
            children[target.name] = frozenset(selected)
    return _Fields(frozenset(own), children)


def _order_by(resource: AdfResource, text: str | None) -> list[tuple[AdfAttribute, bool]]:
    if not text:
        return []
    order: list[tuple[AdfAttribute, bool]] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        name, _, direction = part.partition(":")
        attribute = resource.attribute_map.get(name.strip())
        if attribute is None:
            raise AdfError(
                400,
                f"The attribute {name.strip()} in the orderBy parameter is not defined for resource {resource.name}.",
                "INVALID_ORDER_BY",
            )
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            raise AdfError(400, f"The sort direction '{direction}' in the orderBy parameter is not valid.")
        order.append((attribute, direction == "desc"))
    return order


def _sort(items: list[dict[str, Any]], order: Sequence[tuple[AdfAttribute, bool]]) -> None:
    # Oracle's defaults: NULLS LAST when ascending, NULLS FIRST when descending. Stable sorts
    # applied from the last key to the first give the combined order.
    for attribute, descending in reversed(order):

        def sort_key(item: Mapping[str, Any], attribute: AdfAttribute = attribute) -> tuple[bool, Any]:
            try:
                value = normalise(attribute.type, item.get(attribute.name))
            except (InvalidValue, ValueError, ArithmeticError):
                value = None
            return (True, 0) if value is None else (False, value)

        items.sort(key=sort_key, reverse=descending)


# -- the engine ----------------------------------------------------------------------------------


@dataclass
class _Render:
    base: str
    version: int
    only_data: bool


@dataclass
class _Call:
    """One REST request being answered (what every handler needs besides the addressed rows)."""

    request: Request
    params: Mapping[str, str]
    render: _Render
    payload: dict[str, Any]
    db: dict[str, Any]
    user: str


class AdfService:
    """Serves a set of :class:`AdfResource` declarations over a sandbox system's state.

    :param resources: the top-level resources.
    :param state: the system state; each resource's items live in ``state[<resource name>]``
        (children inside their parent item, under the child's name).
    :param now: returns the sandbox time (stamps and seeds).
    :param default_limit: page size when ``limit`` is absent (Fusion: 25).
    :param max_limit: largest page size; larger limits are silently capped (Fusion: 500; some
        sources say 499 — UNCONFIRMED, hence configurable).
    :param tie_order: ``"key"`` orders rows that ``orderBy`` leaves tied by their key (a stable,
        predictable order); ``"random"`` shuffles them on every request, as a database may, so
        a client that pages without a unique sort order sees rows skipped and repeated.
    """

    def __init__(
        self,
        resources: Sequence[AdfResource],
        *,
        state: SandboxState,
        now: Callable[[], datetime],
        default_limit: int = 25,
        max_limit: int = 500,
        tie_order: Literal["key", "random"] = "key",
    ) -> None:
        names = [r.name for r in resources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"resources declared twice: {', '.join(duplicates)}")
        self.resources: dict[str, AdfResource] = {r.name: r for r in resources}
        self.state = state
        self.now = now
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.tie_order = tie_order
        self.removed_finders: set[tuple[str, str]] = set()
        """``(resource, finder)`` pairs served as if undeclared: a pod of another release or
        offering may lack a finder (switch of ``/__sandbox__/fusion/settings``)."""

    def finders_of(self, resource: AdfResource) -> dict[str, AdfFinder]:
        """The finders ``resource`` serves now (:attr:`removed_finders` left out)."""
        return {
            name: finder
            for name, finder in resource.finder_map.items()
            if (resource.name, name) not in self.removed_finders
        }

    # -- seed and in-process access ------------------------------------------------------------

    def seed(self) -> dict[str, list[dict[str, Any]]]:
        """The initial state: each resource's seed items, normalised and stamped."""
        now = self.now()
        state: dict[str, list[dict[str, Any]]] = {}
        for resource in self.resources.values():
            raw_items = list(resource.seed(now)) if resource.seed is not None else []
            state[resource.name] = [self._seed_item(resource, raw, now) for raw in raw_items]
        return state

    def _seed_item(self, resource: AdfResource, raw: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        item: dict[str, Any] = {}
        for attribute in resource.all_attributes:
            value = raw.get(attribute.name, attribute.default)
            item[attribute.name] = coerce_input(attribute.type, attribute.name, value)
        if item.get("CreationDate") is None and "CreationDate" in resource.attribute_map:
            item["CreationDate"] = format_timestamp(now)
        if item.get("LastUpdateDate") is None and "LastUpdateDate" in resource.attribute_map:
            item["LastUpdateDate"] = item.get("CreationDate") or format_timestamp(now)
        for name in ("CreatedBy", "LastUpdatedBy"):
            if name in resource.attribute_map and item.get(name) is None:
                item[name] = "FIN_IMPL"
        for child in resource.children:
            item[child.name] = [self._seed_item(child, row, now) for row in raw.get(child.name, ())]
        return item

    def resource(self, name: str) -> AdfResource:
        """The top-level resource called ``name``.

        :raises KeyError: it is not declared.
        """
        try:
            return self.resources[name]
        except KeyError:
            raise KeyError(
                f"no Fusion resource {name!r} (declared: {', '.join(sorted(self.resources))})"
            ) from None

    @staticmethod
    def find(items: Iterable[dict[str, Any]], resource: AdfResource, key: Any) -> dict[str, Any] | None:
        """The item of ``items`` whose key equals ``key``."""
        return next((item for item in items if item.get(resource.key) == key), None)

    def find_alternate(
        self, items: Iterable[dict[str, Any]], resource: AdfResource, values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The item matching ``values`` by key or by one of the resource's alternate keys."""
        pool = list(items)
        key = values.get(resource.key)
        if key is not None:
            found = self.find(pool, resource, coerce_input(resource.key_attribute.type, resource.key, key))
            if found is not None:
                return found
        for names in resource.alternate_keys:
            if all(values.get(n) is not None for n in names):
                for item in pool:
                    if all(item.get(n) == values[n] for n in names):
                        return item
        return None

    def admin_upsert(
        self,
        db: dict[str, Any],
        resource_name: str,
        values: Mapping[str, Any],
        *,
        user: str = "SANDBOX_ADMIN",
    ) -> dict[str, Any]:
        """Create or change a top-level item from the admin side (read-only resources included).

        The item is found by key or alternate key; every given attribute is set (who columns too,
        so tests can place ``LastUpdateDate`` precisely); ``LastUpdateDate`` is otherwise stamped
        with the sandbox time. Input aliases are mapped, and the resource's ``on_admin_upsert``
        hook, if declared, completes the values; no ``on_create``/``on_update`` hook runs.

        :returns: a copy of the stored item.
        :raises AdfError: a value does not fit its attribute, an attribute is unknown, or the
            ``on_admin_upsert`` hook refuses the values.
        """
        resource = self.resource(resource_name)
        items: list[dict[str, Any]] = db.setdefault(resource.name, [])
        now = self.now()
        values = resource.canonical(values)
        unknown = sorted(set(values) - set(resource.attribute_map) - set(resource.child_map))
        if unknown:
            raise AdfError(400, f"Attributes not defined for resource {resource.name}: {', '.join(unknown)}.")
        existing = self.find_alternate(items, resource, values)
        if resource.on_admin_upsert is not None:
            completed = copy.deepcopy(dict(values))
            resource.on_admin_upsert(
                WriteContext(self, resource, completed, values, existing, None, db, now, user)
            )
            values = completed
        merged: dict[str, Any] = dict(existing or {})
        merged.update(values)
        if existing is None:
            if merged.get(resource.key) is None and resource.key_attribute.type == "integer":
                merged[resource.key] = self._next_id(items, resource)
            elif merged.get(resource.key) is None:
                raise AdfError(400, f"The key attribute {resource.key} is required.")
            merged.setdefault("CreationDate", format_timestamp(now))
            merged.setdefault("CreatedBy", user)
        if "LastUpdateDate" not in values:
            merged["LastUpdateDate"] = format_timestamp(now)
        if "LastUpdatedBy" not in values:
            merged["LastUpdatedBy"] = user
        try:
            item = self._seed_item(resource, merged, now)
        except InvalidValue as exc:
            raise AdfError(400, str(exc), "INVALID_VALUE") from None
        if existing is None:
            items.append(item)
        else:
            existing.clear()
            existing.update(item)
        return copy.deepcopy(item)

    @staticmethod
    def _next_id(items: Iterable[Mapping[str, Any]], resource: AdfResource) -> int:
        existing = [v for v in (item.get(resource.key) for item in items) if isinstance(v, int)]
        return max([resource.id_start - 1, *existing]) + 1

    # -- HTTP ------------------------------------------------------------------------------------

    async def handle(self, request: Request, base_path: str, path: str, user: str) -> Response:
        """Answer one REST request.

        :param request: the incoming request.
        :param base_path: the URL path of the resource catalogue, e.g.
            ``/fscmRestApi/resources/11.13.18.05`` (prefix of every href in the answer).
        :param path: the rest of the URL path, still percent-encoded, e.g.
            ``receivablesInvoices/300000001/child/receivablesInvoiceLines``.
        :param user: the authenticated user or client id (stamped on writes).
        """
        version = framework_version(request)
        try:
            payload = await read_json_object(request) if request.method in ("POST", "PATCH") else {}
            return self._dispatch(request, base_path, path, user, version, payload)
        except AdfError as exc:
            return exc.to_response(version)

    def _dispatch(
        self, request: Request, base_path: str, path: str, user: str, version: int, payload: dict[str, Any]
    ) -> Response:
        params = {name.lower(): value for name, value in request.query_params.items()}
        base = str(request.base_url).rstrip("/") + "/" + base_path.strip("/")
        render = _Render(base=base, version=version, only_data=_bool_param(params, "onlyData"))
        segments = unquote_segments(path)
        if not segments:
            raise AdfError(404, "The requested resource does not exist.", "NOT_FOUND")
        resource = self.resources.get(segments[0])
        if resource is None:
            raise AdfError(404, f"The resource {segments[0]} does not exist.", "NOT_FOUND")
        href = f"{base}/{quote(resource.name, safe='')}"
        with self.state as db:
            call = _Call(request, params, render, payload, db, user)
            rows: list[dict[str, Any]] = db.setdefault(resource.name, [])
            if len(segments) == 1:
                return self._on_collection(call, resource, rows, None, href)
            if len(segments) == 2 and segments[1] == "describe":
                _allow(request.method, "GET")
                return JSONResponse(self.describe(resource, href))
            if len(segments) == 3 and segments[1] == "action":
                return self._on_action(call, resource, None, segments[2])
            parent: dict[str, Any] | None = None
            index = 1
            while True:
                key = resource.parse_key(segments[index])
                item = self.find(rows, resource, key) if key is not None else None
                if item is None:
                    raise AdfError(
                        404,
                        f"The requested {resource.name} item {segments[index]} does not exist.",
                        "NOT_FOUND",
                    )
                href = f"{href}/{_key_text(item[resource.key])}"
                index += 1
                if index == len(segments):
                    return self._on_item(call, resource, rows, item, parent, href)
                if segments[index] == "action" and index + 2 == len(segments):
                    return self._on_action(call, resource, item, segments[index + 1])
                if segments[index] != "child" or index + 1 >= len(segments):
                    raise AdfError(404, "The requested resource does not exist.", "NOT_FOUND")
                child = resource.child_map.get(segments[index + 1])
                if child is None:
                    raise AdfError(
                        404,
                        f"The child resource {segments[index + 1]} of {resource.name} does not exist.",
                        "NOT_FOUND",
                    )
                parent, resource = item, child
                rows = item.setdefault(child.name, [])
                href = f"{href}/child/{child.name}"
                index += 2
                if index == len(segments):
                    return self._on_collection(call, resource, rows, parent, href)

    def _on_collection(
        self,
        call: _Call,
        resource: AdfResource,
        rows: list[dict[str, Any]],
        parent: dict[str, Any] | None,
        href: str,
    ) -> Response:
        method = call.request.method
        if method == "GET":
            return JSONResponse(
                self._collection(resource, rows, call.params, call.render, href),
                media_type=COLLECTION_MEDIA_TYPE,
            )
        _allow(method, "GET", "POST")
        if _media_type(call.request) == ACTION_MEDIA_TYPE:
            raise AdfError(
                400, f"An action must be posted to {resource.name}/action/<name>.", "INVALID_REQUEST"
            )
        upsert = (call.request.headers.get("upsert-mode") or "").strip().lower() == "true"
        existing = self.find_alternate(rows, resource, call.payload) if upsert else None
        if existing is not None:
            item = self._update(resource, existing, parent, call.payload, call.db, call.user)
            status = 200
        else:
            item = self._create(resource, rows, parent, call.payload, call.db, call.user)
            status = 201
        item_href = f"{href}/{_key_text(item[resource.key])}"
        body = self._render_written(resource, item, call.render, item_href)
        headers = {"Location": item_href} if status == 201 else {}
        return JSONResponse(body, status_code=status, headers=headers, media_type=ITEM_MEDIA_TYPE)

    def _on_item(
        self,
        call: _Call,
        resource: AdfResource,
        rows: list[dict[str, Any]],
        item: dict[str, Any],
        parent: dict[str, Any] | None,
        href: str,
    ) -> Response:
        method = call.request.method
        if method == "GET":
            fields = _fields(resource, call.params.get("fields"))
            expand = {} if fields is not None else _expand_tree(resource, call.params.get("expand"))
            body = self._render_item(resource, item, call.render, href, fields, expand)
            return JSONResponse(body, media_type=ITEM_MEDIA_TYPE)
        if method == "PATCH":
            updated = self._update(resource, item, parent, call.payload, call.db, call.user)
            return JSONResponse(
                self._render_written(resource, updated, call.render, href), media_type=ITEM_MEDIA_TYPE
            )
        if method == "DELETE":
            self._require(resource, "delete")
            rows.remove(item)
            if parent is not None:
                self._touch(parent, call.user)
            return Response(status_code=204)
        raise AdfError(
            405, f"The method {method} is not allowed for {resource.name} items.", "METHOD_NOT_ALLOWED"
        )

    def _on_action(
        self, call: _Call, resource: AdfResource, item: dict[str, Any] | None, name: str
    ) -> Response:
        _allow(call.request.method, "POST")
        action = resource.action(name, on_item=item is not None)
        if action is None:
            raise AdfError(
                404, f"The action {name} is not defined for resource {resource.name}.", "NOT_FOUND"
            )
        media_type = _media_type(call.request)
        if media_type != ACTION_MEDIA_TYPE:
            raise AdfError(
                415,
                f"The media type '{media_type}' is not supported for an action; use {ACTION_MEDIA_TYPE}.",
                "UNSUPPORTED_MEDIA_TYPE",
            )
        context = ActionContext(self, resource, item, call.payload, call.db, self.now(), call.user)
        result = action.handler(context)
        return JSONResponse({"result": result}, media_type=ACTION_RESULT_MEDIA_TYPE)

    # -- writes -----------------------------------------------------------------------------------

    @staticmethod
    def _require(resource: AdfResource, operation: str) -> None:
        if operation not in resource.operations:
            raise AdfError(
                400, f"Invalid operation {operation} for the specified resource.", "INVALID_OPERATION"
            )

    def _create(
        self,
        resource: AdfResource,
        rows: list[dict[str, Any]],
        parent: dict[str, Any] | None,
        payload: Mapping[str, Any],
        db: dict[str, Any],
        user: str,
    ) -> dict[str, Any]:
        item = self._insert(resource, rows, parent, payload, db, user, self.now())
        if parent is not None:
            self._touch(parent, user)
        return item

    def _new_item(
        self,
        resource: AdfResource,
        rows: Sequence[dict[str, Any]],
        payload: Mapping[str, Any],
        db: dict[str, Any],
        user: str,
        now: datetime,
    ) -> dict[str, Any]:
        self._check_names(resource, payload)
        item: dict[str, Any] = {}
        for attribute in resource.all_attributes:
            given = attribute.name in payload and payload[attribute.name] is not None
            if attribute.generated and given:
                raise AdfError(
                    400,
                    f"Attribute {attribute.name} in resource {resource.name} is read-only and cannot be set.",
                    "READ_ONLY_ATTRIBUTE",
                    attribute.name,
                )
            value = payload.get(attribute.name, attribute.default) if given else attribute.default
            if attribute.mandatory and value is None:
                aliases = " or ".join(a for a, name in resource.input_aliases if name == attribute.name)
                raise AdfError(
                    400,
                    f"Attribute {attribute.name} in resource {resource.name} is required"
                    + (f" ({aliases} is accepted too)." if aliases else "."),
                    "MANDATORY_ATTRIBUTE",
                    attribute.name,
                )
            item[attribute.name] = _coerce(attribute, value)
        if item.get(resource.key) is None:
            if resource.key_attribute.type != "integer":
                raise AdfError(400, f"Attribute {resource.key} in resource {resource.name} is required.")
            item[resource.key] = self._next_id(rows, resource)
        elif self.find(rows, resource, item[resource.key]) is not None:
            raise AdfError(
                400,
                f"An item of {resource.name} with {resource.key} {item[resource.key]} already exists.",
                "DUPLICATE_KEY",
            )
        self._stamp(resource, item, user, now, created=True)
        for child in resource.children:
            item[child.name] = []
            for row in _child_rows(payload, child):
                self._insert(child, item[child.name], item, row, db, user, now)
        return item

    def _insert(
        self,
        resource: AdfResource,
        rows: list[dict[str, Any]],
        parent: dict[str, Any] | None,
        payload: Any,
        db: dict[str, Any],
        user: str,
        now: datetime,
    ) -> dict[str, Any]:
        """Create an item of ``rows`` (a POST body, or a child row inline in its parent's body)."""
        if not isinstance(payload, dict):
            raise AdfError(400, f"The items of {resource.name} must be JSON objects.", path=resource.name)
        self._require(resource, "create")
        payload = resource.canonical(payload)
        item = self._new_item(resource, rows, payload, db, user, now)
        if resource.on_create is not None:
            resource.on_create(WriteContext(self, resource, item, payload, None, parent, db, now, user))
        rows.append(item)
        return item

    def _update(
        self,
        resource: AdfResource,
        item: dict[str, Any],
        parent: dict[str, Any] | None,
        payload: Mapping[str, Any],
        db: dict[str, Any],
        user: str,
    ) -> dict[str, Any]:
        self._require(resource, "update")
        sent = {resource.alias_map[name]: name for name in payload if name in resource.alias_map}
        payload = resource.canonical(payload)
        self._check_names(resource, payload)
        now = self.now()
        previous = copy.deepcopy(item)
        changes: dict[str, Any] = {}
        for name, value in payload.items():
            if name == "links" or name in resource.child_map:
                continue
            attribute = resource.attribute_map[name]
            coerced = _coerce(attribute, value)
            if not attribute.updatable or attribute.generated:
                if coerced != item.get(name):
                    raise AdfError(
                        400,
                        f"Attribute {sent.get(name, name)} in resource {resource.name} cannot be updated.",
                        "READ_ONLY_ATTRIBUTE",
                        sent.get(name, name),
                    )
                continue
            changes[name] = coerced
        candidate = {**item, **changes}
        for child in resource.children:
            if payload.get(child.name) is None:
                continue
            rows = candidate[child.name] = copy.deepcopy(item.get(child.name) or [])
            for row in _child_rows(payload, child):
                existing = self.find_alternate(rows, child, row) if isinstance(row, dict) else None
                if existing is not None:
                    self._update(child, existing, candidate, row, db, user)
                else:
                    self._insert(child, rows, candidate, row, db, user, now)
        self._stamp(resource, candidate, user, now, created=False)
        if resource.on_update is not None:
            resource.on_update(
                WriteContext(self, resource, candidate, payload, previous, parent, db, now, user)
            )
        item.clear()
        item.update(candidate)
        if parent is not None:
            self._touch(parent, user)
        return item

    def _check_names(self, resource: AdfResource, payload: Mapping[str, Any]) -> None:
        unknown = sorted(
            name
            for name in payload
            if name != "links" and name not in resource.attribute_map and name not in resource.child_map
        )
        if unknown:
            raise AdfError(
                400,
                f"Attribute {unknown[0]} is not defined for resource {resource.name}.",
                "INVALID_ATTRIBUTE",
                unknown[0],
            )

    def _stamp(
        self, resource: AdfResource, item: dict[str, Any], user: str, now: datetime, *, created: bool
    ) -> None:
        stamp = format_timestamp(now)
        if created:
            if "CreationDate" in resource.attribute_map:
                item["CreationDate"] = stamp
            if "CreatedBy" in resource.attribute_map:
                item["CreatedBy"] = user
        if "LastUpdateDate" in resource.attribute_map:
            item["LastUpdateDate"] = stamp
        if "LastUpdatedBy" in resource.attribute_map:
            item["LastUpdatedBy"] = user

    def _touch(self, item: dict[str, Any], user: str) -> None:
        if "LastUpdateDate" in item:
            item["LastUpdateDate"] = format_timestamp(self.now())
        if "LastUpdatedBy" in item:
            item["LastUpdatedBy"] = user

    # Building blocks ------------------------------------------------------------------------------

    def _resolver(self, resource: AdfResource) -> Callable[[str], ResolvedPath]:
        def resolve(path: str) -> ResolvedPath:
            parts = path.split(".")
            current = resource
            chain: list[AdfResource] = []
            for part in parts[:-1]:
                child = current.child_map.get(part)
                if child is None:
                    raise QueryError(
                        f"The attribute {path} is not defined for resource {resource.name}.",
                        "INVALID_ATTRIBUTE",
                    )
                chain.append(child)
                current = child
            attribute = current.attribute_map.get(parts[-1])
            if attribute is None:
                raise QueryError(
                    f"The attribute {path} is not defined for resource {resource.name}.", "INVALID_ATTRIBUTE"
                )
            if not attribute.queryable:
                raise QueryError(
                    f"The attribute {path} of resource {resource.name} is not queryable.",
                    "ATTRIBUTE_NOT_QUERYABLE",
                )
            names = [c.name for c in chain]

            def values(item: Mapping[str, Any]) -> list[Any]:
                rows: list[Mapping[str, Any]] = [item]
                for name in names:
                    rows = [row for parent in rows for row in (parent.get(name) or ())]
                return [row.get(attribute.name) for row in rows]

            return ResolvedPath(attribute.type, values)

        return resolve

    def _finder(self, resource: AdfResource, text: str) -> Callable[[Mapping[str, Any]], bool]:
        name, pairs = parse_finder(text)
        finder = self.finders_of(resource).get(name)
        if finder is None:
            raise AdfError(
                400, f"The finder {name} is not defined for resource {resource.name}.", "INVALID_FINDER"
            )
        binds: dict[str, str] = {}
        for var, value in pairs:
            if var not in finder.variables:
                raise AdfError(
                    400,
                    f"The bind variable {var} is not defined for finder {finder.name} of resource {resource.name}.",
                    "INVALID_FINDER",
                )
            binds[var] = value
        if finder.predicate is not None:
            predicate = finder.predicate
            return lambda item: predicate(item, binds)
        expected: list[tuple[str, Any]] = []
        for var, value in binds.items():
            attribute = resource.attribute_map[finder.variables[var]]
            try:
                expected.append((attribute.name, from_text(attribute.type, value)))
            except InvalidValue as exc:
                raise AdfError(
                    400, f"Invalid value for bind variable {var}: {exc}", "INVALID_VALUE"
                ) from None

        def matches(item: Mapping[str, Any]) -> bool:
            for name, want in expected:
                try:
                    have = normalise(resource.attribute_map[name].type, item.get(name))
                except (InvalidValue, ValueError, ArithmeticError):
                    return False
                if have != want:
                    return False
            return True

        return matches

    def _collection(
        self,
        resource: AdfResource,
        rows: Sequence[dict[str, Any]],
        params: Mapping[str, str],
        render: _Render,
        href: str,
    ) -> dict[str, Any]:
        items = list(rows)
        if self.tie_order == "random":
            random.shuffle(items)
        else:
            _sort(items, [(resource.key_attribute, False)])
        finder_text = params.get("finder")
        if finder_text:
            finder = self._finder(resource, finder_text)
            items = [item for item in items if finder(item)]
        q_text = params.get("q")
        if q_text:
            try:
                predicate = compile_query(q_text, render.version, self._resolver(resource))
            except QueryError as exc:
                raise AdfError(400, exc.message, exc.code) from None
            items = [item for item in items if predicate(item)]
        _sort(items, _order_by(resource, params.get("orderby")))
        try:
            page = offset_page(
                items,
                _int_param(params, "offset"),
                _int_param(params, "limit"),
                default_limit=min(self.default_limit, self.max_limit),
                max_limit=self.max_limit,
            )
        except PagingError as exc:
            raise AdfError(400, exc.message, "INVALID_PARAMETER") from None
        fields = _fields(resource, params.get("fields"))
        expand = {} if fields is not None else _expand_tree(resource, params.get("expand"))
        body: dict[str, Any] = {
            "items": [
                self._render_item(
                    resource, item, render, f"{href}/{_key_text(item[resource.key])}", fields, expand
                )
                for item in page.items
            ],
        }
        if _bool_param(params, "totalResults"):
            body["totalResults"] = page.total
        body.update(
            {
                "count": page.count,
                "hasMore": page.has_more,
                "limit": page.limit,
                "offset": page.offset,
                "links": [{"rel": "self", "href": href, "name": resource.name, "kind": "collection"}],
            }
        )
        return body

    def _render_written(
        self, resource: AdfResource, item: Mapping[str, Any], render: _Render, href: str
    ) -> dict[str, Any]:
        """The answer to a write: the full item with every child inlined."""
        return self._render_item(resource, item, render, href, None, {c.name: {} for c in resource.children})

    def _render_item(
        self,
        resource: AdfResource,
        item: Mapping[str, Any],
        render: _Render,
        href: str,
        fields: _Fields | None,
        expand: ExpandTree,
    ) -> dict[str, Any]:
        own = fields.own if fields is not None else None
        out: dict[str, Any] = {
            attribute.name: copy.deepcopy(item.get(attribute.name))
            for attribute in resource.all_attributes
            if not own or attribute.name in own
        }
        shown_children: dict[str, tuple[_Fields | None, ExpandTree]] = {}
        if fields is not None:
            for child_name, selected in fields.children.items():
                shown_children[child_name] = (_Fields(selected, {}), {})
        else:
            for child_name, subtree in expand.items():
                shown_children[child_name] = (None, subtree)
        for child in resource.children:
            if child.name not in shown_children:
                continue
            child_fields, subtree = shown_children[child.name]
            rows = sorted(item.get(child.name) or (), key=lambda row: row.get(child.key) or 0)
            child_href = f"{href}/child/{child.name}"
            rendered = [
                self._render_item(
                    child, row, render, f"{child_href}/{_key_text(row[child.key])}", child_fields, subtree
                )
                for row in rows
            ]
            if render.version >= 3:
                shown = rendered[: self.default_limit]
                out[child.name] = {
                    "items": shown,
                    "count": len(shown),
                    "hasMore": len(rendered) > len(shown),
                    "limit": self.default_limit,
                    "offset": 0,
                    "links": [{"rel": "self", "href": child_href, "name": child.name, "kind": "collection"}],
                }
            else:
                out[child.name] = rendered
        if not render.only_data:
            out["links"] = self._item_links(resource, item, href)
        return out

    @staticmethod
    def _item_links(resource: AdfResource, item: Mapping[str, Any], href: str) -> list[dict[str, Any]]:
        stamp = f"{resource.name}:{item.get(resource.key)}:{item.get('LastUpdateDate')}"
        change_indicator = "ACED0005737200" + hashlib.sha256(stamp.encode()).hexdigest()[:40].upper()
        links: list[dict[str, Any]] = [
            {
                "rel": "self",
                "href": href,
                "name": resource.name,
                "kind": "item",
                "properties": {"changeIndicator": change_indicator},
            },
            {"rel": "canonical", "href": href, "name": resource.name, "kind": "item"},
        ]
        links.extend(
            {"rel": "child", "href": f"{href}/child/{child.name}", "name": child.name, "kind": "collection"}
            for child in resource.children
        )
        return links

    def describe(self, resource: AdfResource, href: str) -> dict[str, Any]:
        """The ``/describe`` document of ``resource``."""
        return {"Resources": {resource.name: self._describe(resource, href)}}

    def _describe(self, resource: AdfResource, href: str) -> dict[str, Any]:
        operations = [
            {"name": name, "method": method}
            for name, method in (
                ("get", "GET"),
                ("create", "POST"),
                ("update", "PATCH"),
                ("delete", "DELETE"),
            )
            if name in resource.operations
        ]
        return {
            "discrColumnType": False,
            "title": resource.title or resource.name,
            "attributes": [
                {
                    "name": a.name,
                    "type": a.type,
                    "updatable": a.updatable and not a.generated and "update" in resource.operations,
                    "mandatory": a.mandatory,
                    "queryable": a.queryable,
                    "allowChanges": "always" if a.updatable and not a.generated else "never",
                    **({"annotations": {"description": a.description}} if a.description else {}),
                }
                for a in resource.all_attributes
            ],
            "collection": {
                "rangeSize": self.default_limit,
                "finders": [
                    {
                        "name": finder.name,
                        "attributes": [{"name": var, "type": "string"} for var in finder.variables],
                    }
                    for finder in self.finders_of(resource).values()
                ],
                "actions": [op for op in operations if op["name"] in ("get", "create")]
                + [{"name": a.name, "method": "POST"} for a in resource.actions if not a.on_item],
            },
            "item": {
                "actions": [op for op in operations if op["name"] != "create"]
                + [{"name": a.name, "method": "POST"} for a in resource.actions if a.on_item],
            },
            "children": {
                child.name: self._describe(child, f"{href}/child/{child.name}") for child in resource.children
            },
            "links": [{"rel": "self", "href": f"{href}/describe", "name": "describe", "kind": "describe"}],
        }


def _child_rows(payload: Mapping[str, Any], child: AdfResource) -> list[Any]:
    """The rows of ``child`` given inline in a write body (none when absent)."""
    rows = payload.get(child.name)
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise AdfError(400, f"The child collection {child.name} must be a JSON array.", path=child.name)
    return rows


def _media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";")[0].strip().lower()


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise AdfError(405, f"The method {method} is not allowed here.", "METHOD_NOT_ALLOWED")


def _key_text(value: Any) -> str:
    return quote(str(value), safe="")


def unquote_segments(path: str) -> list[str]:
    """The ``/``-separated segments of a resource path, percent-decoded."""
    return [unquote(part) for part in path.strip("/").split("/")] if path.strip("/") else []
