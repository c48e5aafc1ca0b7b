"""Local stand-ins of the external systems (Oracle Fusion, Stripe, NetSuite, Salesforce, Cleo).

Each stand-in is a :class:`SandboxSystem` subclass: a FastAPI app that follows the real API's
wire contract, keeps in-memory state, enforces expiring tokens, paginates like the real thing,
and can inject faults. :class:`SandboxRunner` serves them on free loopback ports for the tests,
the benchmarks and ``make demo``; ``python -m ml_connector_sandbox`` runs them by hand.
"""

from __future__ import annotations

from ml_connector_sandbox.auth import (
    AuthFailure,
    IssuedToken,
    OAuthError,
    Principal,
    ResponseError,
    TokenIssuer,
    TokenRequest,
    bearer_dependency,
    token_endpoint,
)
from ml_connector_sandbox.base import (
    ADMIN_PREFIX,
    RequestLog,
    SandboxClock,
    SandboxState,
    SandboxSystem,
)
from ml_connector_sandbox.faults import FaultInjector, FaultRule, RequestRecord
from ml_connector_sandbox.paging import (
    CursorPage,
    OffsetPage,
    PagingError,
    cursor_page,
    offset_page,
    sort_newest_first,
)
from ml_connector_sandbox.runner import SandboxClient, SandboxRunner, SandboxStartError, main

__all__ = [
    "ADMIN_PREFIX",
    "AuthFailure",
    "CursorPage",
    "FaultInjector",
    "FaultRule",
    "IssuedToken",
    "OAuthError",
    "OffsetPage",
    "PagingError",
    "Principal",
    "RequestLog",
    "RequestRecord",
    "ResponseError",
    "SandboxClient",
    "SandboxClock",
    "SandboxRunner",
    "SandboxStartError",
    "SandboxState",
    "SandboxSystem",
    "TokenIssuer",
    "TokenRequest",
    "bearer_dependency",
    "cursor_page",
    "main",
    "offset_page",
    "sort_newest_first",
    "token_endpoint",
]
