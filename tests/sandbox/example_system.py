"""A small sandbox system used to test the framework (not shipped in the package)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from ml_connector_sandbox import (
    AuthFailure,
    IssuedToken,
    OAuthError,
    PagingError,
    Principal,
    ResponseError,
    SandboxSystem,
    TokenRequest,
    cursor_page,
    offset_page,
)

CLIENT_ID = "example-client"
CLIENT_SECRET = "example-secret"
BASIC_USER = "basic-user"
BASIC_PASSWORD = "basic-pass"
TOKEN_PATH = "/oauth/token"
ALT_TOKEN_PATH = "/alt/token"
ASSERTION_TOKEN_PATH = "/assertion/token"
ALT_SCOPE = "urn:example:resource::all"
VALID_ASSERTION = "valid-assertion"
EXPORT_CHUNKS = 20


def _seed_events() -> list[dict[str, Any]]:
    # newest first, as Stripe lists them
    return [{"id": f"evt_{n}", "created": 1_700_000_000 + n} for n in range(7, 0, -1)]


class ExampleSystem(SandboxSystem):
    """Token endpoint, a protected paginated collection with create, a cursor list, a stream."""

    name = "example"
    title = "Example"
    clients: ClassVar[Mapping[str, str]] = {CLIENT_ID: CLIENT_SECRET}
    token_ttl = 600.0

    def seed(self) -> Mapping[str, Any]:
        return {
            "widgets": [{"id": n, "name": f"widget {n}"} for n in range(1, 6)],
            "events": _seed_events(),
        }

    def connection(self, base_url: str) -> dict[str, Any]:
        return {
            "conn_type": "http",
            "host": base_url,
            "login": CLIENT_ID,
            "password": CLIENT_SECRET,
            "extra": {"token_path": TOKEN_PATH},
        }

    def register_routes(self, app: FastAPI) -> None:
        self.add_token_endpoint(app, TOKEN_PATH)

        # NetSuite-like: string expires_in, lowercase token type; Salesforce-like 400 invalid_client.
        def check_scope(request: TokenRequest) -> None:
            if not (request.scope or "").endswith(ALT_SCOPE):
                raise OAuthError("invalid_scope", "The requested scope is invalid.")

        def alt_body(token: IssuedToken, request: TokenRequest) -> dict[str, Any]:
            return {
                "access_token": token.token,
                "token_type": "bearer",
                "expires_in": str(token.lifetime),
            }

        self.add_token_endpoint(
            app,
            ALT_TOKEN_PATH,
            validate=check_scope,
            build_response=alt_body,
            invalid_client_status=400,
            ttl=30,
        )

        # Client authentication by assertion instead of a secret.
        def check_assertion(request: TokenRequest) -> str:
            if request.form.get("client_assertion") != VALID_ASSERTION:
                raise OAuthError("invalid_grant", "The assertion is not valid.")
            return "assertion-client"

        self.add_token_endpoint(app, ASSERTION_TOKEN_PATH, authenticate=check_assertion)

        def unauthorized(failure: AuthFailure, request: Request) -> Response:
            return PlainTextResponse(f"Unauthorized ({failure.reason})", status_code=401)

        auth = self.require_bearer(basic={BASIC_USER: BASIC_PASSWORD}, unauthorized=unauthorized)
        key_auth = self.require_bearer(accept_token=lambda t: "api-key" if t.startswith("sk_test_") else None)

        def bad_page(exc: PagingError) -> ResponseError:
            return ResponseError(JSONResponse({"param": exc.param, "message": exc.message}, status_code=400))

        @app.get("/api/widgets")
        def list_widgets(
            offset: int | None = None,
            limit: int | None = None,
            principal: Principal = Depends(auth),  # noqa: B008
        ) -> dict[str, Any]:
            with self.state as db:
                widgets = list(db["widgets"])
            try:
                page = offset_page(widgets, offset, limit, default_limit=2, max_limit=3)
            except PagingError as exc:
                raise bad_page(exc) from exc
            return {
                "items": page.items,
                "count": page.count,
                "hasMore": page.has_more,
                "offset": page.offset,
                "limit": page.limit,
                "user": principal.subject,
            }

        @app.post("/api/widgets", status_code=201)
        def create_widget(
            payload: dict[str, Any],
            principal: Principal = Depends(auth),  # noqa: B008
        ) -> dict[str, Any]:
            with self.state as db:
                widget = {"id": self.state.next_id("widget", start=100), "name": str(payload["name"])}
                db["widgets"].append(widget)
            return widget

        @app.get("/api/events")
        def list_events(
            limit: int | None = None,
            starting_after: str | None = None,
            ending_before: str | None = None,
            principal: Principal = Depends(key_auth),  # noqa: B008
        ) -> dict[str, Any]:
            try:
                page = cursor_page(
                    self.state["events"],
                    limit=limit,
                    starting_after=starting_after,
                    ending_before=ending_before,
                    default_limit=3,
                )
            except PagingError as exc:
                raise bad_page(exc) from exc
            return {"object": "list", "data": page.items, "has_more": page.has_more}

        @app.get("/api/export")
        def export() -> StreamingResponse:
            def rows() -> Iterator[bytes]:
                for n in range(EXPORT_CHUNKS):
                    yield f"row {n}\n".encode()

            return StreamingResponse(rows(), media_type="text/plain")
