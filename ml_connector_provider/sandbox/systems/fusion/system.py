"""The Oracle Fusion Cloud ERP stand-in (REST API 11.13.18.05), sandbox system ``fusion``.

Wire behaviour follows ``contracts/oracle_fusion_netsuite.md`` part A and the checklist in part C:

* ``POST /oauth2/v1/token`` — the IAM identity domain's client-credentials grant; the client
  authenticates with HTTP Basic or ``client_id``/``client_secret`` form fields, the ``scope``
  must end with ``urn:opc:resource:consumer::all``; errors are RFC 6749 JSON
  (``invalid_client`` 401, ``invalid_scope`` 400, …). Tokens last ``token_ttl`` seconds (3600 by
  default) on the sandbox clock.
* ``/fscmRestApi/resources/11.13.18.05/*`` and ``/fscmRestApi/resources/latest/*`` — the ADF REST
  resources declared in :attr:`FusionSandbox.resources` (see :mod:`.adf`), with a valid unexpired
  bearer token or HTTP Basic credentials of a configured user; anything else is a ``401`` with a
  short ``text/plain`` body.
* Admin API (besides the framework's ``/__sandbox__/…``): ``/__sandbox__/fusion/resources``
  (list the declared resources), ``GET|POST /__sandbox__/fusion/resources/<name>`` (dump, or
  create/change items — read-only resources included — stamping ``LastUpdateDate``),
  ``DELETE /__sandbox__/fusion/resources/<name>/<key>``, ``POST /__sandbox__/fusion/customers``
  (create/change AR customers, see :meth:`FusionSandbox.upsert_customer`) and
  ``GET|POST /__sandbox__/fusion/settings`` (page-size cap, default page size, tie order).

Faults (429 with or without ``Retry-After``, 503, dropped connections, slow pages, expired tokens)
come from the framework: ``system.faults.add(FaultRule.rate_limit(path="receivablesCustomer"))``
or ``POST /__sandbox__/faults``; ``POST /__sandbox__/tokens/expire`` expires every token.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ml_connector_provider.sandbox.auth import AuthFailure, OAuthError, Principal, TokenRequest
from ml_connector_provider.sandbox.base import ADMIN_PREFIX, SandboxClock, SandboxSystem
from ml_connector_provider.sandbox.systems.fusion.adf import AdfError, AdfResource, AdfService
from ml_connector_provider.sandbox.systems.fusion.customers import (
    ADDRESS_ATTRIBUTES,
    CUSTOMER_RESOURCE_NAME,
    CUSTOMERS_RESOURCE,
    format_site_address,
)

__all__ = [
    "API_VERSIONS",
    "BASIC_PASSWORD",
    "BASIC_USER",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "REST_PREFIX",
    "SCOPE",
    "SCOPE_SUFFIX",
    "TOKEN_PATH",
    "FusionSandbox",
]

TOKEN_PATH = "/oauth2/v1/token"
REST_PREFIX = "/fscmRestApi/resources"
API_VERSIONS = ("11.13.18.05", "latest")
SCOPE_SUFFIX = "urn:opc:resource:consumer::all"
SCOPE = "urn:opc:resource:fa:instanceid=1234567" + SCOPE_SUFFIX
CLIENT_ID = "ML_CONNECTOR_INTEGRATION"
CLIENT_SECRET = "idcs-sandbox-5f0c2b7e9a4d41c8"
BASIC_USER = "FIN_INTEGRATION_USER"
BASIC_PASSWORD = "Sandbox-Basic-8d61e2"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_limit: int | None = Field(default=None, ge=1)
    default_limit: int | None = Field(default=None, ge=1)
    tie_order: Literal["key", "random"] | None = None


class FusionSandbox(SandboxSystem):
    """Local stand-in of Oracle Fusion Cloud ERP's REST API.

    Resources are declarations served by a generic ADF engine (:class:`.adf.AdfService`); this
    change declares the AR customers (``receivablesCustomerAccountSiteActivities``, read-only).
    A later resource is added by appending its :class:`.adf.AdfResource` to :attr:`resources`
    (or passing it in ``extra_resources``).

    :param clock: share a clock with other systems (default: a new one).
    :param token_ttl: token lifetime in seconds (default 3600).
    :param clients: OAuth clients, id → secret (default :data:`CLIENT_ID` / :data:`CLIENT_SECRET`).
    :param basic_users: HTTP Basic users, name → password (default :data:`BASIC_USER`).
    :param extra_resources: more resource declarations to serve.
    :param default_limit: page size when ``limit`` is absent (25).
    :param max_limit: page-size cap (500; whether real pods cap at 499 is UNCONFIRMED).
    :param tie_order: ``"key"`` (rows tied under ``orderBy`` come in key order) or ``"random"``
        (shuffled per request, like a database without a unique sort).
    :param require_scope: refuse token requests whose scope does not end with
        ``urn:opc:resource:consumer::all``.
    """

    name = "fusion"
    title = "Oracle Fusion Cloud ERP"
    conn_type = "oracle_fusion"
    token_ttl = 3600.0
    clients: ClassVar[Mapping[str, str]] = {CLIENT_ID: CLIENT_SECRET}
    basic_users: ClassVar[Mapping[str, str]] = {BASIC_USER: BASIC_PASSWORD}
    resources: ClassVar[tuple[AdfResource, ...]] = (CUSTOMERS_RESOURCE,)
    """The resources served; later changes append their declarations here."""

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        token_ttl: float | None = None,
        clients: Mapping[str, str] | None = None,
        basic_users: Mapping[str, str] | None = None,
        extra_resources: Sequence[AdfResource] = (),
        default_limit: int = 25,
        max_limit: int = 500,
        tie_order: Literal["key", "random"] = "key",
        require_scope: bool = True,
    ) -> None:
        super().__init__(clock=clock, token_ttl=token_ttl, clients=clients)
        self.basic_credentials: dict[str, str] = dict(
            type(self).basic_users if basic_users is None else basic_users
        )
        self.require_scope = require_scope
        self.service = AdfService(
            (*self.resources, *extra_resources),
            state=self.state,
            now=self.clock.now,
            default_limit=default_limit,
            max_limit=max_limit,
            tie_order=tie_order,
        )
        self._initial_settings = self._settings()

    def reset(
        self,
        *,
        state: bool = True,
        tokens: bool = True,
        faults: bool = True,
        requests: bool = True,
        clock: bool = True,
    ) -> None:
        """Back to a fresh start (see :meth:`SandboxSystem.reset`); paging settings too, with the state."""
        super().reset(state=state, tokens=tokens, faults=faults, requests=requests, clock=clock)
        if state:
            self.service.max_limit = self._initial_settings["max_limit"]
            self.service.default_limit = self._initial_settings["default_limit"]
            self.service.tie_order = self._initial_settings["tie_order"]

    # -- state ----------------------------------------------------------------------------------

    def seed(self) -> Mapping[str, Any]:
        """Every declared resource's seed items (customers: see ``customers.seed_customers``)."""
        return self.service.seed()

    def items(self, resource: str) -> list[dict[str, Any]]:
        """A copy of the stored items of a top-level resource."""
        self.service.resource(resource)
        with self.state as db:
            return [dict(item) for item in db.get(resource, [])]

    def customers(self) -> list[dict[str, Any]]:
        """A copy of the AR customer rows (one per bill-to site)."""
        return self.items(CUSTOMER_RESOURCE_NAME)

    def upsert(
        self, resource: str, values: Mapping[str, Any], *, user: str = "SANDBOX_ADMIN"
    ) -> dict[str, Any]:
        """Create or change an item of any declared resource, bypassing its allowed operations.

        The item is matched by key or alternate key. ``LastUpdateDate`` is stamped with the
        sandbox time unless ``values`` sets it (tests use that to place records precisely).

        :raises KeyError: the resource is not declared.
        :raises ValueError: an attribute is unknown or a value does not fit its type.
        """
        with self.state as db:
            try:
                return self.service.admin_upsert(db, resource, values, user=user)
            except AdfError as exc:
                raise ValueError(exc.message) from None

    def upsert_customer(self, values: Mapping[str, Any] | None = None, **attributes: Any) -> dict[str, Any]:
        """Create or change an AR customer bill-to site; ``LastUpdateDate`` moves to the sandbox time.

        The row is matched by ``BillToSiteUseId``, else by ``AccountNumber`` + ``BillToSiteNumber``.
        A new row needs ``CustomerName``; it gets the next ``BillToSiteUseId`` and, unless given,
        the account ids of a row with the same ``AccountNumber`` (a new site of that account) or new
        ones, the next account and site numbers, ``Status`` ``A`` and zero balances.
        ``BillToSiteAddress`` is rebuilt from the structured address attributes.

        :param values: attributes to set (merged with ``attributes``).
        :returns: a copy of the stored row.
        """
        given = {**(values or {}), **attributes}
        with self.state as db:
            rows = db.setdefault(CUSTOMER_RESOURCE_NAME, [])
            existing = self.service.find_alternate(rows, CUSTOMERS_RESOURCE, given)
            if existing is None:
                if not given.get("CustomerName"):
                    raise ValueError("a new customer needs a CustomerName")
                self._new_customer_defaults(rows, given)
            if "BillToSiteAddress" not in given and (
                existing is None or any(name in given for name in ADDRESS_ATTRIBUTES)
            ):
                given["BillToSiteAddress"] = format_site_address({**(existing or {}), **given})
            try:
                return self.service.admin_upsert(db, CUSTOMER_RESOURCE_NAME, given)
            except AdfError as exc:
                raise ValueError(exc.message) from None

    @staticmethod
    def _new_customer_defaults(rows: Sequence[Mapping[str, Any]], given: dict[str, Any]) -> None:
        """Fill what a new bill-to site inherits from its account, or what a new account gets."""
        sibling = next((row for row in rows if row.get("AccountNumber") == given.get("AccountNumber")), None)
        if sibling is not None:
            for name in ("AccountId", "CustomerId", "AccountName", "BusinessUnit", "CurrencyCode"):
                given.setdefault(name, sibling.get(name))
        else:
            account_ids = [row["AccountId"] for row in rows if isinstance(row.get("AccountId"), int)]
            party_ids = [row["CustomerId"] for row in rows if isinstance(row.get("CustomerId"), int)]
            given.setdefault("AccountId", max(account_ids, default=300000047101000) + 1)
            given.setdefault("CustomerId", max(party_ids, default=300000047090000) + 1)
        if given.get("AccountNumber") is None:
            numbers = [
                int(row["AccountNumber"]) for row in rows if str(row.get("AccountNumber", "")).isdigit()
            ]
            given["AccountNumber"] = str(max(numbers, default=1000) + 1)
        if given.get("BillToSiteNumber") is None:
            numbers = [
                int(row["BillToSiteNumber"]) for row in rows if str(row.get("BillToSiteNumber", "")).isdigit()
            ]
            given["BillToSiteNumber"] = str(max(numbers, default=2000) + 1)
        given.setdefault("AccountName", given["CustomerName"])
        given.setdefault("Status", "A")
        given.setdefault("BusinessUnit", "US1 Business Unit")
        given.setdefault("TotalOpenReceivablesForSite", 0)
        given.setdefault("TotalTransactionsDueForSite", 0)

    def delete(self, resource: str, key: Any) -> bool:
        """Remove an item of a top-level resource; returns whether it existed."""
        declaration = self.service.resource(resource)
        with self.state as db:
            rows = db.setdefault(resource, [])
            item = self.service.find(rows, declaration, key)
            if item is None:
                return False
            rows.remove(item)
            return True

    # -- connections ----------------------------------------------------------------------------

    def connection(self, base_url: str) -> dict[str, Any]:
        """The ``oracle_fusion`` Airflow connection (JSON form) using OAuth 2.0 client credentials.

        The token endpoint is served by the stand-in itself (on a real tenancy it is the IAM
        identity domain's host).
        """
        return {
            "conn_type": self.conn_type,
            "host": base_url,
            "extra": {
                "auth_type": "oauth2_client_credentials",
                "token_url": base_url.rstrip("/") + TOKEN_PATH,
                "client_id": CLIENT_ID,
                "client_secret": self.tokens.clients.get(CLIENT_ID, CLIENT_SECRET),
                "scope": SCOPE,
                "rest_framework_version": "4",
                "timeout": 30,
            },
        }

    def basic_connection(self, base_url: str) -> dict[str, Any]:
        """The ``oracle_fusion`` Airflow connection (JSON form) using HTTP Basic auth."""
        login, password = next(iter(self.basic_credentials.items()), (BASIC_USER, BASIC_PASSWORD))
        return {
            "conn_type": self.conn_type,
            "host": base_url,
            "login": login,
            "password": password,
            "extra": {"auth_type": "basic", "rest_framework_version": "4", "timeout": 30},
        }

    # -- routes ---------------------------------------------------------------------------------

    def register_routes(self, app: FastAPI) -> None:
        """Token endpoint, the REST resources under both version prefixes, and the admin routes."""
        self.add_token_endpoint(app, TOKEN_PATH, validate=self._check_scope)
        auth = self.require_bearer(basic=self._check_basic, unauthorized=_unauthorized)

        @app.api_route(
            REST_PREFIX + "/{version}/{path:path}",
            methods=["GET", "POST", "PATCH", "DELETE"],
            include_in_schema=False,
        )
        async def rest(request: Request, version: str, principal: Principal = Depends(auth)) -> Response:
            if version not in API_VERSIONS:
                return PlainTextResponse(f"The REST API version {version} does not exist.", status_code=404)
            base_path = f"{REST_PREFIX}/{version}"
            raw_path = bytes(request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
            rest_path = raw_path[raw_path.find(base_path) + len(base_path) :] if base_path in raw_path else ""
            return await self.service.handle(request, base_path, rest_path, principal.subject)

        app.include_router(self._admin_router())

    def _check_scope(self, request: TokenRequest) -> None:
        if not self.require_scope:
            return
        scope = (request.scope or "").strip()
        if not scope.endswith(SCOPE_SUFFIX):
            raise OAuthError(
                "invalid_scope",
                f"The requested scope is invalid, unknown, or malformed: the scope must end with {SCOPE_SUFFIX}.",
            )

    def _check_basic(self, user: str, password: str) -> bool:
        expected = self.basic_credentials.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

    def _admin_router(self) -> APIRouter:
        router = APIRouter(prefix=f"{ADMIN_PREFIX}/{self.name}", tags=["fusion sandbox admin"])

        def declared(name: str) -> AdfResource:
            try:
                return self.service.resource(name)
            except KeyError as exc:
                raise HTTPException(status_code=404, detail=str(exc.args[0])) from None

        def upsert_all(name: str, body: Any, upsert: Any) -> Any:
            rows = body if isinstance(body, list) else [body]
            if not all(isinstance(row, dict) for row in rows):
                raise HTTPException(status_code=422, detail="send a JSON object or a list of objects")
            try:
                stored = [upsert(row) for row in rows]
            except ValueError as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from None
            return stored if isinstance(body, list) else stored[0]

        @router.get("/resources")
        def list_resources() -> list[dict[str, Any]]:
            return [
                {
                    "name": resource.name,
                    "key": resource.key,
                    "operations": sorted(resource.operations),
                    "children": [child.name for child in resource.children],
                    "count": len(self.items(resource.name)),
                }
                for resource in self.service.resources.values()
            ]

        @router.get("/resources/{name}")
        def dump(name: str) -> list[dict[str, Any]]:
            declared(name)
            return self.items(name)

        @router.post("/resources/{name}")
        def upsert_items(name: str, body: Any = Body(...)) -> Any:
            declared(name)
            return upsert_all(name, body, lambda row: self.upsert(name, row))

        @router.delete("/resources/{name}/{key}")
        def delete_item(name: str, key: str) -> dict[str, Any]:
            resource = declared(name)
            if not self.delete(name, resource.parse_key(key)):
                raise HTTPException(status_code=404, detail=f"no {name} item {key}")
            return {"deleted": 1}

        @router.post("/customers")
        def upsert_customers(body: Any = Body(...)) -> Any:
            return upsert_all(CUSTOMER_RESOURCE_NAME, body, lambda row: self.upsert_customer(row))

        @router.get("/settings")
        def read_settings() -> dict[str, Any]:
            return self._settings()

        @router.post("/settings")
        def change_settings(settings: _Settings) -> dict[str, Any]:
            if settings.max_limit is not None:
                self.service.max_limit = settings.max_limit
            if settings.default_limit is not None:
                self.service.default_limit = settings.default_limit
            if settings.tie_order is not None:
                self.service.tie_order = settings.tie_order
            if self.service.default_limit > self.service.max_limit:
                self.service.default_limit = self.service.max_limit
            return self._settings()

        return router

    def _settings(self) -> dict[str, Any]:
        return {
            "max_limit": self.service.max_limit,
            "default_limit": self.service.default_limit,
            "tie_order": self.service.tie_order,
        }


def _unauthorized(failure: AuthFailure, request: Request) -> Response:
    return PlainTextResponse(f"Unauthorized: {failure.description}", status_code=401)
