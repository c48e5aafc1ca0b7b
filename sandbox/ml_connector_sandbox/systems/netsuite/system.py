"""The NetSuite stand-in: SuiteTalk REST web services of one account (contract part B).

One server plays ``https://<account>.suitetalk.api.netsuite.com`` (B1): records under
``/services/rest/record/v1``, SuiteQL at ``/services/rest/query/v1/suiteql`` and the OAuth 2.0 token
endpoint at ``/services/rest/auth/oauth2/v1/token``. Clients are given the stand-in's URL as an
override of the account host; the token ``aud`` is therefore the stand-in's own token URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError

from ml_connector_sandbox.base import ADMIN_PREFIX, SandboxClock, SandboxSystem
from ml_connector_sandbox.paging import PagingError, offset_page
from ml_connector_sandbox.systems.netsuite import store
from ml_connector_sandbox.systems.netsuite.clients import (
    ClientKeyError,
    ClientRegistry,
    M2MClient,
    generate_client,
    load_public_key,
    new_client_id,
)
from ml_connector_sandbox.systems.netsuite.collections_q import compile_q
from ml_connector_sandbox.systems.netsuite.concurrency import ConcurrencyGate, ConcurrencyMiddleware
from ml_connector_sandbox.systems.netsuite.errors import NetSuiteError
from ml_connector_sandbox.systems.netsuite.oauth import TOKEN_PATH, token_endpoint, unauthorized_factory
from ml_connector_sandbox.systems.netsuite.settings import NetSuiteSandboxSettings
from ml_connector_sandbox.systems.netsuite.suiteql import (
    CUSTOM_PREFIX,
    TABLE_COLUMNS,
    SuiteQLError,
    parse,
    run,
)

__all__ = ["CONNECTION_EXTRA_FIELDS", "SEED_CERTIFICATE_ID", "SEED_CLIENT_ID", "NetSuiteSandbox"]

REST_PREFIX = "/services/rest"
RECORD_PREFIX = f"{REST_PREFIX}/record/v1"
SUITEQL_PATH = f"{REST_PREFIX}/query/v1/suiteql"

SEED_CLIENT_ID = "a3f1c9e0b2d84f6a9c7e5d3b1a0f8e6c4d2b0a9f7e5c3a1b9d7f5e3c1a0b8d6f"
"""The client id of the seeded M2M mapping (64 hex characters like a real one, B2)."""
SEED_CERTIFICATE_ID = "sandbox-cert-1"
"""The certificate id (``kid``) of the seeded mapping."""

CONNECTION_EXTRA_FIELDS: dict[str, str] = {
    "account_id": "the NetSuite account id, e.g. 1234567_SB1 (B1)",
    "certificate_id": "the M2M mapping's Certificate ID, sent as the assertion's kid (B2)",
    "private_key": "PEM private key matching the uploaded certificate (or private_key_file: a path)",
    "algorithm": "PS256 (default) or ES256 (B2)",
    "base_url": "overrides https://<account>.suitetalk.api.netsuite.com (the stand-in's URL)",
    "scope": "assertion scope, default rest_webservices (B2)",
    "concurrency": "client-side limit of concurrent requests (B9)",
}
"""The ``netsuite`` connection's extra fields (login = the integration's client id); the stand-in's
:meth:`NetSuiteSandbox.connection` fills the first five."""

_TRAN_PREFIX = {"invoice": "INV", "customerpayment": "PYMT", "creditmemo": "CM", "customerrefund": "RFND"}


def _seed_records() -> dict[str, dict[str, dict[str, Any]]]:
    records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in store.RECORD_TYPES}
    stamp = "2026-01-01T00:00:00Z"
    for rid, symbol, name, precision in (
        ("1", "USD", "US Dollar", 2),
        ("2", "EUR", "Euro", 2),
        ("3", "JPY", "Japanese Yen", 0),
    ):
        records["currency"][rid] = {"id": rid, "symbol": symbol, "name": name, "currencyPrecision": precision}
    for rid, name, currency, country in (
        ("1", "Parent Company", "1", "US"),
        ("2", "Acme Europe GmbH", "2", "DE"),
        ("3", "Acme Japan KK", "3", "JP"),
    ):
        records["subsidiary"][rid] = {
            "id": rid,
            "name": name,
            "currency": {"id": currency},
            "country": country,
        }
    for rid, name, number, kind in (
        ("1", "Checking", "1000", "Bank"),
        ("2", "Stripe Clearing", "1010", "Bank"),
        ("54", "Sales", "4000", "Income"),
        ("58", "Stripe Fees", "6100", "Expense"),
    ):
        records["account"][rid] = {"id": rid, "acctName": name, "acctNumber": number, "acctType": kind}
    customers = (
        ("101", "CUST-101", "Acme Corp", "ap@acme.example", "1", "1", "cus_SeedAcme"),
        ("102", "CUST-102", "Northwind GmbH", "billing@northwind.example", "2", "2", "cus_SeedNorthwind"),
        ("103", "CUST-103", "Sakura KK", "keiri@sakura.example", "3", "3", None),
    )
    for rid, entity, company, email, subsidiary, currency, stripe_id in customers:
        record: dict[str, Any] = {
            "id": rid,
            "entityId": entity,
            "companyName": company,
            "email": email,
            "isPerson": False,
            "isInactive": False,
            "subsidiary": {"id": subsidiary},
            "currency": {"id": currency},
            "dateCreated": stamp,
            "lastModifiedDate": stamp,
        }
        if stripe_id:
            # The external id a Stripe connector gives the customer it creates: "stripe-" and the
            # Stripe id (docs/integrations/stripe_netsuite.md, "Mappings"); the custom field
            # holds the bare id.
            record["externalId"] = f"stripe-{stripe_id}"
            record["custentity_stripe_customer_id"] = stripe_id
        records["customer"][rid] = record
    items = (
        ("201", "servicesaleitem", "Pro Plan - Monthly", "prod_SeedProMonthly"),
        ("202", "servicesaleitem", "Pro Plan - Annual", "prod_SeedProAnnual"),
        ("203", "noninventorysaleitem", "Onboarding Package", "prod_SeedOnboarding"),
        ("204", "servicesaleitem", "Stripe Processing Fees", None),
        ("205", "inventoryitem", "Hardware Token", None),
        ("206", "discountitem", "Promotional Discount", None),
    )
    for rid, type_name, item_id, product in items:
        item: dict[str, Any] = {
            "id": rid,
            "itemId": item_id,
            "displayName": item_id,
            "isInactive": False,
            "incomeAccount": {"id": "58" if "Fees" in item_id else "54"},
            "dateCreated": stamp,
            "lastModifiedDate": stamp,
        }
        if product:
            item["externalId"] = product
            item["custitem_stripe_product_id"] = product
        elif "Fees" in item_id:
            item["externalId"] = "stripe-fees"
        records[type_name][rid] = item
    return records


class NetSuiteSandbox(SandboxSystem):
    """A stateful local stand-in of NetSuite's REST web services for one account.

    * OAuth 2.0 client credentials with a JWT client assertion verified with ``joserfc`` (B2);
      bearer tokens expire (``settings.token_ttl``), REST refusals as B8 (401 ``INVALID_LOGIN``);
    * records (B3–B5): customer, the item types of B4, invoice, customerPayment, creditMemo,
      customerRefund, with ``POST`` → 204 + ``Location``, ``PUT …/eid:<externalId>`` upsert,
      ``GET``/``PATCH``/``DELETE`` by id or ``eid:``, collections with aligned ``limit``/``offset``
      and the ``q`` filter, validation with B8's error bodies;
    * SuiteQL (B6) for a small SQL subset (:mod:`.suiteql`);
    * the account's concurrency limit (B9, :mod:`.concurrency`).

    Asynchronous requests and ``X-NetSuite-Idempotency-Key`` (B7) are not served: the contract
    documents the key for asynchronous requests only, and names ``PUT …/eid:`` as the idempotent
    way to create synchronously, which is what the connector uses. A ``Prefer: respond-async``
    request is refused with 400 saying so.

    :param settings: tunables (see :class:`~.settings.NetSuiteSandboxSettings`).
    :param clock: share a clock with other systems.
    """

    name = "netsuite"
    title = "Oracle NetSuite"
    conn_type = "netsuite"
    clients: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        *,
        settings: NetSuiteSandboxSettings | None = None,
        clock: SandboxClock | None = None,
        **kwargs: Any,
    ) -> None:
        base = settings.model_copy(deep=True) if settings is not None else NetSuiteSandboxSettings()
        self._initial_settings = base
        self.settings = base.model_copy(deep=True)
        self.gate = ConcurrencyGate()
        self.m2m = ClientRegistry()
        self._seed_client: M2MClient | None = None
        super().__init__(clock=clock, token_ttl=self.settings.token_ttl, **kwargs)
        self._install_seed_client()

    # -- SandboxSystem --------------------------------------------------------------------------

    def seed(self) -> Mapping[str, Any]:
        """Three subsidiaries (USD, EUR, JPY), accounts, three customers, six items, no transactions."""
        return {
            "records": _seed_records(),
            "custom_fields": [
                "custentity_stripe_customer_id",
                "custitem_stripe_product_id",
                "custbody_stripe_event_id",
                "custbody_stripe_object_id",
                "custbody_stripe_charge_id",
                "custcol_stripe_line_id",
            ],
        }

    @property
    def seed_client(self) -> M2MClient:
        """The mapping generated at start (RSA 3072, PS256); its private key is handed out by
        :meth:`connection` and ``GET /__sandbox__/netsuite/credentials``."""
        if self._seed_client is None:
            self._seed_client = generate_client(SEED_CLIENT_ID, SEED_CERTIFICATE_ID)
        return self._seed_client

    def _install_seed_client(self) -> None:
        self.m2m.replace_all([self.seed_client])

    def connection(self, base_url: str) -> dict[str, Any]:
        """A ``netsuite`` connection: login = client id, extras per :data:`CONNECTION_EXTRA_FIELDS`."""
        client = self.seed_client
        return {
            "conn_type": "netsuite",
            "host": base_url.rstrip("/"),
            "login": client.client_id,
            "extra": {
                "account_id": self.settings.account_id,
                "certificate_id": client.certificate_id,
                "private_key": client.private_key_pem,
                "algorithm": "PS256",
                "base_url": base_url.rstrip("/"),
            },
        }

    def reset_state(self) -> None:
        """Also restore the settings, the seeded client mapping and the concurrency statistics."""
        self.settings = self._initial_settings.model_copy(deep=True)
        self.tokens.ttl = self.settings.token_ttl
        self._install_seed_client()
        self.gate.reset()

    def register_routes(self, app: FastAPI) -> None:
        """Token endpoint, records, SuiteQL, admin routes and the concurrency middleware."""
        app.add_route(TOKEN_PATH, token_endpoint(self), methods=["POST"], include_in_schema=False)
        app.add_exception_handler(NetSuiteError, _netsuite_error_handler)
        app.add_exception_handler(SuiteQLError, _netsuite_error_handler)
        self._register_records(app)
        self._register_suiteql(app)
        self._register_admin(app)

        def limits() -> tuple[int | None, int, bool, float]:
            s = self.settings
            return (
                s.concurrency_limit,
                s.concurrency_status,
                s.concurrency_detail == "long",
                s.request_latency,
            )

        def counted(path: str) -> bool:
            return path.startswith(REST_PREFIX + "/") and path.rstrip("/") != TOKEN_PATH

        app.add_middleware(ConcurrencyMiddleware, gate=self.gate, settings=limits, counted=counted)

    # -- helpers --------------------------------------------------------------------------------

    def timestamp(self) -> str:
        """The sandbox clock as B3's datetime format (``2017-07-21T17:32:28Z``)."""
        return self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def _auth(self) -> Any:
        return self.require_bearer(unauthorized=unauthorized_factory(self), realm=self.settings.account_id)

    def records(self, type_name: str, *, base_url: str = "http://netsuite.invalid") -> list[dict[str, Any]]:
        """Every record of a type, rendered with sublists expanded (for tests and the admin API)."""
        rtype = store.canonical_type(type_name)
        if rtype is None:
            raise KeyError(type_name)
        key = rtype.name.lower()
        with self.state as db:
            return [
                store.render(db, key, record, base_url.rstrip("/"), expand=True)
                for record in db["records"][key].values()
            ]

    def write(
        self,
        type_name: str,
        body: Any,
        *,
        record_id: str | None = None,
        external_id: str | None = None,
        validation: str | None = None,
        create_only: bool = False,
    ) -> tuple[str, bool]:
        """Create or update a record; returns ``(internal id, created)``.

        :param record_id: update this record (PATCH by id).
        :param external_id: upsert by external id (``PUT …/eid:``, B3) or PATCH by ``eid:``.
        :param create_only: PATCH semantics: the record must exist (404 otherwise).
        """
        rtype = store.canonical_type(type_name)
        if rtype is None:
            raise _unknown_type(type_name)
        key = rtype.name.lower()
        mode = validation or self.settings.property_validation_default
        with self.state as db:
            table = db["records"][key]
            existing_id = record_id
            if external_id is not None:
                existing_id = next(
                    (rid for rid, r in table.items() if r.get("externalId") == external_id), None
                )
                if isinstance(body, dict) and body.get("externalId") not in (None, external_id):
                    raise NetSuiteError(
                        400,
                        "INVALID_CONTENT",
                        "The body's externalId differs from the eid: in the URL.",
                        path="externalId",
                    )
            if record_id is not None and record_id not in table:
                raise _not_found(rtype.name, record_id)
            if create_only and existing_id is None:
                raise _not_found(rtype.name, f"eid:{external_id}")
            body = self._filter_custom(db, rtype, body, mode)
            existing = table.get(existing_id) if existing_id is not None else None
            record = store.prepare(
                db,
                rtype,
                body,
                existing=existing,
                validation=mode,
                allowed_currencies=self.settings.allowed_currencies,
            )
            if external_id is not None:
                record["externalId"] = external_id
            if existing is None and record.get("externalId") is not None:
                taken = next(
                    (rid for rid, r in table.items() if r.get("externalId") == record["externalId"]), None
                )
                if taken is not None and self.settings.refuse_duplicate_external_id_on_post:
                    raise NetSuiteError(
                        400,
                        "DUP_RCRD",
                        f"A {rtype.name} record with the same external ID ({record['externalId']}) already exists.",
                        path="externalId",
                    )
            if rtype.name == "customer" and not (
                record.get("companyName")
                or record.get("entityId")
                or (record.get("firstName") and record.get("lastName"))
            ):
                # UNCONFIRMED wording; a company needs a name (B4 "Customer" create example).
                raise NetSuiteError(
                    400, "USER_ERROR", "Please enter value(s) for: Company Name", path="companyName"
                )
            if rtype.family == "transaction":
                record.setdefault("tranDate", self.clock.now().date().isoformat())
                store.check_transaction(db, rtype, record, record_id=existing_id)
            if existing_id is None:
                existing_id = str(self.state.next_id(rtype.family, _SEQUENCE_START.get(rtype.family, 1)))
                record["id"] = existing_id
                record["dateCreated" if rtype.family != "transaction" else "createdDate"] = self.timestamp()
                if rtype.family == "transaction" and not record.get("tranId"):
                    record["tranId"] = f"{_TRAN_PREFIX[key]}{existing_id}"
                created = True
            else:
                created = False
            record["lastModifiedDate"] = self.timestamp()
            table[existing_id] = record
            return existing_id, created

    def _filter_custom(self, db: dict[str, Any], rtype: store.RecordType, body: Any, mode: str) -> Any:
        if not isinstance(body, dict):
            return body
        defined = {name.lower() for name in db["custom_fields"]}
        kept: dict[str, Any] = {}
        for field, value in body.items():
            lowered = field.lower()
            if store.is_custom(lowered) and lowered not in defined:
                if mode == "error":
                    raise NetSuiteError(
                        400,
                        "NONEXISTENT_FIELD",
                        f"Invalid field name {field} on record {rtype.name}.",
                        path=field,
                    )
                continue
            if field in store.RECORD_TYPES[rtype.name.lower()].sublists or field.lower() in ("item", "apply"):
                value = self._filter_lines(defined, value, mode, rtype)
            kept[field] = value
        return kept

    @staticmethod
    def _filter_lines(defined: set[str], value: Any, mode: str, rtype: store.RecordType) -> Any:
        if not isinstance(value, dict) or not isinstance(value.get("items"), list):
            return value
        lines = []
        for line in value["items"]:
            if isinstance(line, dict):
                for field in list(line):
                    if store.is_custom(field) and field.lower() not in defined:
                        if mode == "error":
                            raise NetSuiteError(
                                400,
                                "NONEXISTENT_FIELD",
                                f"Invalid field name {field} on record {rtype.name}.",
                                path=field,
                            )
                        line = {k: v for k, v in line.items() if k != field}
            lines.append(line)
        return {**value, "items": lines}

    def _locate(self, rtype: store.RecordType, key: str) -> str:
        """Internal id of ``key`` (an id or ``eid:<externalId>``); 404 when missing."""
        table = self.state["records"][rtype.name.lower()]
        if key.startswith("eid:"):
            external = key[4:]
            with self.state:
                found = next((rid for rid, r in table.items() if r.get("externalId") == external), None)
            if found is None:
                raise _not_found(rtype.name, key)
            return found
        if key not in table:
            raise _not_found(rtype.name, key)
        return key

    # -- routes ---------------------------------------------------------------------------------

    def _register_records(self, app: FastAPI) -> None:
        system = self
        auth = self._auth()

        async def body_of(request: Request) -> Any:
            raw = await request.body()
            if not raw:
                return {}
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise NetSuiteError(
                    400, "INVALID_CONTENT", f"The request body is not valid JSON: {exc.msg}."
                ) from exc

        def refuse_async(request: Request) -> None:
            if "respond-async" in request.headers.get("prefer", "").lower():
                raise NetSuiteError(
                    400,
                    "INVALID_PARAMETER",
                    "Asynchronous requests (Prefer: respond-async, contract B7) are not supported by the NetSuite "
                    "stand-in; use PUT .../eid:<externalId> for idempotent writes.",
                )

        def validation_mode(request: Request) -> str:
            value = request.headers.get("x-netsuite-propertynamevalidation", "").strip().lower()
            return (
                value
                if value in ("error", "warning", "ignore")
                else system.settings.property_validation_default
            )

        def location(request: Request, type_name: str, record_id: str) -> Response:
            base = str(request.base_url).rstrip("/")
            return Response(
                status_code=204, headers={"Location": f"{base}{RECORD_PREFIX}/{type_name}/{record_id}"}
            )

        def record_type(name: str) -> store.RecordType:
            rtype = store.canonical_type(name)
            if rtype is None:
                raise _unknown_type(name)
            return rtype

        @app.get(RECORD_PREFIX + "/{type_name}", include_in_schema=False)
        def list_records(
            request: Request,
            type_name: str,
            limit: int | None = None,
            offset: int | None = None,
            q: str | None = None,
            principal: Any = auth_dep(auth),
        ) -> dict[str, Any]:
            rtype = record_type(type_name)
            key = rtype.name.lower()
            predicate = compile_q(q) if q else None
            with system.state as db:
                ids = [
                    rid
                    for rid, record in db["records"][key].items()
                    if predicate is None or predicate(record)
                ]
            ids.sort(key=int)
            try:
                page = offset_page(
                    ids, offset, limit, default_limit=1000, max_limit=1000, clamp=False, aligned=True
                )
            except PagingError as exc:
                raise NetSuiteError(400, "INVALID_PARAMETER", exc.message, query_param=exc.param) from exc
            base = str(request.base_url).rstrip("/")
            url = f"{base}{RECORD_PREFIX}/{key}"
            extra = f"&q={q}" if q else ""
            links = []
            if page.has_more:
                links.append(
                    {
                        "rel": "next",
                        "href": f"{url}?limit={page.limit}&offset={page.offset + page.limit}{extra}",
                    }
                )
            last = ((page.total - 1) // page.limit) * page.limit if page.total else 0
            links.append({"rel": "last", "href": f"{url}?limit={page.limit}&offset={last}{extra}"})
            links.append({"rel": "self", "href": f"{url}?limit={page.limit}&offset={page.offset}{extra}"})
            return {
                "links": links,
                "count": page.count,
                "hasMore": page.has_more,
                "items": [
                    {"links": [{"rel": "self", "href": f"{url}/{rid}"}], "id": rid} for rid in page.items
                ],
                "offset": page.offset,
                "totalResults": page.total,
            }

        @app.post(RECORD_PREFIX + "/{type_name}", include_in_schema=False)
        async def create_record(
            request: Request, type_name: str, principal: Any = auth_dep(auth)
        ) -> Response:
            refuse_async(request)
            rtype = record_type(type_name)
            if not rtype.writable:
                raise NetSuiteError(
                    400,
                    "INVALID_PARAMETER",
                    f"Creating {rtype.name} records is not supported by the NetSuite stand-in.",
                )
            body = await body_of(request)
            record_id, _ = system.write(rtype.name, body, validation=validation_mode(request))
            return location(request, rtype.name.lower(), record_id)

        @app.get(RECORD_PREFIX + "/{type_name}/{key}", include_in_schema=False)
        def get_record(
            request: Request,
            type_name: str,
            key: str,
            expandSubResources: bool = False,
            fields: str | None = None,
            principal: Any = auth_dep(auth),
        ) -> dict[str, Any]:
            rtype = record_type(type_name)
            record_id = system._locate(rtype, key)
            base = str(request.base_url).rstrip("/")
            with system.state as db:
                rendered = store.render(
                    db,
                    rtype.name.lower(),
                    db["records"][rtype.name.lower()][record_id],
                    base,
                    expand=expandSubResources,
                )
            if fields:
                wanted = {f.strip().lower() for f in fields.split(",")} | {"links", "id"}
                rendered = {k: v for k, v in rendered.items() if k.lower() in wanted}
            return rendered

        @app.get(RECORD_PREFIX + "/{type_name}/{key}/{sublist}", include_in_schema=False)
        def get_sublist(
            request: Request, type_name: str, key: str, sublist: str, principal: Any = auth_dep(auth)
        ) -> dict[str, Any]:
            rtype = record_type(type_name)
            record_id = system._locate(rtype, key)
            base = str(request.base_url).rstrip("/")
            with system.state as db:
                rendered = store.render(
                    db, rtype.name.lower(), db["records"][rtype.name.lower()][record_id], base, expand=True
                )
            for name in rtype.sublists:
                if name.lower() == sublist.lower():
                    return dict(rendered.get(name, {"links": [], "items": [], "totalResults": 0}))
            raise _not_found(f"{rtype.name} sublist", sublist)

        @app.put(RECORD_PREFIX + "/{type_name}/{key}", include_in_schema=False)
        async def upsert_record(
            request: Request, type_name: str, key: str, principal: Any = auth_dep(auth)
        ) -> Response:
            refuse_async(request)
            rtype = record_type(type_name)
            if not key.startswith("eid:") or len(key) == 4:
                raise NetSuiteError(
                    400,
                    "INVALID_PARAMETER",
                    "PUT is only supported as an upsert by external ID: /record/v1/<type>/eid:<externalId>.",
                    url_path=request.url.path,
                )
            body = await body_of(request)
            record_id, _ = system.write(
                rtype.name, body, external_id=key[4:], validation=validation_mode(request)
            )
            return location(request, rtype.name.lower(), record_id)

        @app.patch(RECORD_PREFIX + "/{type_name}/{key}", include_in_schema=False)
        async def patch_record(
            request: Request, type_name: str, key: str, principal: Any = auth_dep(auth)
        ) -> Response:
            refuse_async(request)
            rtype = record_type(type_name)
            record_id = system._locate(rtype, key)
            body = await body_of(request)
            system.write(rtype.name, body, record_id=record_id, validation=validation_mode(request))
            return Response(status_code=204)

        @app.delete(RECORD_PREFIX + "/{type_name}/{key}", include_in_schema=False)
        def delete_record(type_name: str, key: str, principal: Any = auth_dep(auth)) -> Response:
            rtype = record_type(type_name)
            record_id = system._locate(rtype, key)
            with system.state as db:
                dependents: Decimal | int | None = None
                if rtype.family == "transaction":
                    dependents = store.balances(db).get(record_id)
                elif rtype.name == "customer":
                    dependents = store.transactions_of(db, record_id)
                if dependents:
                    # UNCONFIRMED wording (B8 has no sample for a refused delete).
                    raise NetSuiteError(
                        400,
                        "USER_ERROR",
                        f"This {rtype.name} ({key}) cannot be deleted because it has dependent records.",
                    )
                del db["records"][rtype.name.lower()][record_id]
            return Response(status_code=204)

    def _register_suiteql(self, app: FastAPI) -> None:
        system = self
        auth = self._auth()

        @app.post(SUITEQL_PATH, include_in_schema=False)
        async def suiteql(
            request: Request,
            limit: int | None = None,
            offset: int | None = None,
            principal: Any = auth_dep(auth),
        ) -> dict[str, Any]:
            if (
                system.settings.suiteql_require_transient
                and "transient" not in request.headers.get("prefer", "").lower()
            ):
                raise NetSuiteError(
                    400,
                    "INVALID_PARAMETER",
                    "SuiteQL requests need the header Prefer: transient.",
                    title="Bad Request",
                )
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else {}
            except json.JSONDecodeError as exc:
                raise NetSuiteError(
                    400, "INVALID_CONTENT", f"The request body is not valid JSON: {exc.msg}."
                ) from exc
            if not isinstance(body, dict) or not isinstance(body.get("q"), str):
                raise SuiteQLError('Search error occurred: the body must be {"q": "SELECT ..."}.')
            if body.get("params"):
                raise SuiteQLError(
                    f"Search error occurred: bind parameters (params) are not supported by the NetSuite stand-in "
                    f"(query: {body['q']})."
                )
            parsed = parse(body["q"])
            with system.state as db:
                rows, columns = system._table_rows(db, parsed.table)
            items = run(parsed, rows, columns)
            try:
                page = offset_page(items, offset, limit, default_limit=1000, max_limit=1000, clamp=False)
            except PagingError as exc:
                raise NetSuiteError(400, "INVALID_PARAMETER", exc.message, query_param=exc.param) from exc
            if page.offset + page.count > system.settings.suiteql_max_results:
                raise SuiteQLError(
                    f"Search error occurred: a query returns at most {system.settings.suiteql_max_results} results; "
                    "page with WHERE id > :last instead."
                )
            base = str(request.base_url).rstrip("/") + SUITEQL_PATH
            links = [{"rel": "self", "href": f"{base}?limit={page.limit}&offset={page.offset}"}]
            if page.has_more:
                links.insert(
                    0, {"rel": "next", "href": f"{base}?limit={page.limit}&offset={page.offset + page.limit}"}
                )
            return {
                "links": links,
                "count": page.count,
                "hasMore": page.has_more,
                "items": page.items,
                "offset": page.offset,
                "totalResults": page.total,
            }

    def _table_rows(self, db: dict[str, Any], table: str) -> tuple[list[dict[str, str]], set[str]]:
        """Rows of a SuiteQL table as lower-case column → string (B6), and the known columns."""
        columns = set(TABLE_COLUMNS[table])
        prefix = CUSTOM_PREFIX.get(table)
        if prefix:
            columns |= {name.lower() for name in db["custom_fields"] if name.lower().startswith(prefix)}
        rows: list[dict[str, str]] = []
        records = db["records"]
        if table == "customer":
            types = ["customer"]
        elif table == "item":
            types = list(store.ITEM_TYPES)
        elif table == "transaction":
            types = list(store.TRANSACTION_TYPES)
        else:
            types = [table]
        applied = store.balances(db) if table == "transaction" else {}
        for type_name in types:
            rtype = store.RECORD_TYPES[type_name]
            for record in records[type_name].values():
                row: dict[str, str] = {}
                for key, value in record.items():
                    name = key.lower()
                    if isinstance(value, dict) and "id" in value:
                        row[name] = str(value["id"])
                    elif isinstance(value, bool):
                        row[name] = "T" if value else "F"
                    elif value is not None and not isinstance(value, dict | list):
                        row[name] = str(value)
                if table == "item":
                    row["itemtype"] = rtype.suiteql_type or ""
                    if record.get("salesDescription"):
                        row["description"] = str(record["salesDescription"])
                if table == "transaction":
                    row["type"] = rtype.suiteql_type or ""
                    row["entity"] = str((record.get("entity") or record.get("customer") or {}).get("id", ""))
                    total = store.transaction_total(rtype, record)
                    row["foreigntotal"] = str(total)
                    if type_name in ("invoice", "creditmemo"):
                        remaining = total - applied.get(record["id"], 0)
                        row["foreignamountremaining"] = str(remaining)
                        row["status"] = "B" if remaining == 0 else "A"
                    row["createddate"] = str(record.get("createdDate", ""))
                    row["currency"] = str((record.get("currency") or {}).get("id", "")) or row.get(
                        "currency", ""
                    )
                rows.append({k: v for k, v in row.items() if v != ""})
        return rows, columns

    def _register_admin(self, app: FastAPI) -> None:
        system = self
        prefix = f"{ADMIN_PREFIX}/netsuite"

        def ns_error(error: NetSuiteError) -> Response:
            return error.response

        @app.get(f"{prefix}/settings", include_in_schema=False)
        def read_settings() -> dict[str, Any]:
            return system.settings.model_dump(mode="json")

        @app.post(f"{prefix}/settings", include_in_schema=False)
        def change_settings(changes: dict[str, Any] = Body(...)) -> dict[str, Any]:
            try:
                system.settings = NetSuiteSandboxSettings.model_validate(
                    {**system.settings.model_dump(), **changes}
                )
            except ValidationError as exc:
                raise HTTPException(status_code=400, detail=exc.errors(include_url=False)) from exc
            system.tokens.ttl = system.settings.token_ttl
            return system.settings.model_dump(mode="json")

        @app.get(f"{prefix}/credentials", include_in_schema=False)
        def credentials() -> dict[str, Any]:
            client = system.seed_client
            return {
                "account_id": system.settings.account_id,
                "client_id": client.client_id,
                "certificate_id": client.certificate_id,
                "algorithm": "PS256",
                "private_key": client.private_key_pem,
                "certificate": client.certificate_pem,
            }

        @app.get(f"{prefix}/clients", include_in_schema=False)
        def list_clients() -> list[dict[str, Any]]:
            return [client.view() for client in system.m2m.all()]

        @app.post(f"{prefix}/clients", status_code=201, include_in_schema=False)
        def add_client(spec: dict[str, Any] = Body(...)) -> dict[str, Any]:
            client_id = str(spec.get("client_id") or new_client_id())
            certificate_id = str(
                spec.get("certificate_id") or f"cert-{system.state.next_id('certificate', 2)}"
            )
            if spec.get("generate"):
                client = generate_client(client_id, certificate_id, key_type=str(spec["generate"]))
                system.m2m.add(client)
                return {**client.view(), "private_key": client.private_key_pem}
            certificate = spec.get("certificate")
            if not isinstance(certificate, str):
                raise HTTPException(
                    status_code=400, detail="give 'certificate' (PEM) or 'generate': 'RSA'|'EC'"
                )
            try:
                key = load_public_key(certificate, min_rsa_bits=system.settings.min_rsa_bits)
            except ClientKeyError as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from exc
            client = M2MClient(client_id, certificate_id, key, certificate)
            system.m2m.add(client)
            return client.view()

        @app.delete(f"{prefix}/clients/{{certificate_id}}", include_in_schema=False)
        def remove_client(certificate_id: str) -> dict[str, Any]:
            if not system.m2m.remove(certificate_id):
                raise HTTPException(status_code=404, detail=f"no certificate {certificate_id!r}")
            return {"removed": 1}

        @app.get(f"{prefix}/records/{{type_name}}", include_in_schema=False)
        def admin_records(request: Request, type_name: str) -> Any:
            try:
                return system.records(type_name, base_url=str(request.base_url))
            except KeyError:
                return ns_error(_unknown_type(type_name))

        @app.post(f"{prefix}/records/{{type_name}}", status_code=201, include_in_schema=False)
        def admin_seed(request: Request, type_name: str, body: Any = Body(...)) -> Any:
            bodies = body if isinstance(body, list) else [body]
            created = []
            try:
                for one in bodies:
                    record_id, _ = system.write(type_name, one, validation="error")
                    created.append(record_id)
            except NetSuiteError as error:
                return ns_error(error)
            return {"ids": created}

        @app.get(f"{prefix}/custom-fields", include_in_schema=False)
        def custom_fields() -> list[str]:
            return list(system.state["custom_fields"])

        @app.post(f"{prefix}/custom-fields", include_in_schema=False)
        def add_custom_fields(names: list[str] = Body(...)) -> list[str]:
            with system.state as db:
                for name in names:
                    if name.lower() not in [n.lower() for n in db["custom_fields"]]:
                        db["custom_fields"].append(name.lower())
                return list(db["custom_fields"])

        @app.get(f"{prefix}/concurrency", include_in_schema=False)
        def concurrency() -> dict[str, Any]:
            return {**system.gate.snapshot(), "limit": system.settings.concurrency_limit}

        @app.post(f"{prefix}/concurrency", include_in_schema=False)
        def change_concurrency(options: dict[str, Any] = Body(...)) -> dict[str, Any]:
            if options.get("hold") is True:
                system.gate.hold()
            elif options.get("hold") is False:
                system.gate.release()
            if options.get("reset_stats"):
                system.gate.reset()
            return {**system.gate.snapshot(), "limit": system.settings.concurrency_limit}


_SEQUENCE_START = {"entity": 1001, "item": 1001, "transaction": 5001}


def auth_dep(auth: Any) -> Any:
    """``Depends(auth)`` (a default value, as :mod:`ml_connector_sandbox.base` requires)."""
    from fastapi import Depends

    return Depends(auth)


def _not_found(type_name: str, key: str) -> NetSuiteError:
    # B8: 404 NONEXISTENT_ID, detail like Oracle's (UNCONFIRMED wording).
    return NetSuiteError(
        404,
        "NONEXISTENT_ID",
        f"The record instance does not exist. Provide a valid record instance ID. ({type_name} {key})",
    )


def _unknown_type(name: str) -> NetSuiteError:
    # UNCONFIRMED status and wording: the contract has no sample for an unknown record type.
    return NetSuiteError(404, "NONEXISTENT_ID", f"Record type '{name}' does not exist.")


async def _netsuite_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NetSuiteError)
    return exc.response
