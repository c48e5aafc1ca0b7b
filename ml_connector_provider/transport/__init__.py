"""The shared HTTP layer of every hook: a pooled session with timeouts, retries with backoff and
jitter that honour ``Retry-After``, token providers with refresh on 401, and secret-free errors.
"""

from __future__ import annotations

from ml_connector_provider.transport.auth import (
    TOKEN_RETRY_POLICY,
    AccessToken,
    ApiKeyAuth,
    AuthProvider,
    BasicAuth,
    OAuth2ClientCredentials,
    OAuth2JwtBearer,
    OAuth2PasswordGrant,
    OAuth2TokenProvider,
    TokenProviderOptions,
    register_secret,
)
from ml_connector_provider.transport.errors import (
    AuthError,
    ConnectionFailed,
    HttpStatusError,
    RetryExhausted,
    TransportError,
    redact_text,
    redact_url,
)
from ml_connector_provider.transport.http import (
    HttpTransport,
    RequestOptions,
    RetryAfterWait,
    RetryPolicy,
    Timeout,
    TransportStats,
    parse_retry_after,
)
from ml_connector_provider.transport.pacing import AdaptivePacer
from ml_connector_provider.transport.paging import (
    LinkedPage,
    OffsetPage,
    PagingError,
    iter_next_url_pages,
    iter_offset_pages,
)

__all__ = [
    "TOKEN_RETRY_POLICY",
    "AccessToken",
    "AdaptivePacer",
    "ApiKeyAuth",
    "AuthError",
    "AuthProvider",
    "BasicAuth",
    "ConnectionFailed",
    "HttpStatusError",
    "HttpTransport",
    "LinkedPage",
    "OAuth2ClientCredentials",
    "OAuth2JwtBearer",
    "OAuth2PasswordGrant",
    "OAuth2TokenProvider",
    "OffsetPage",
    "PagingError",
    "RequestOptions",
    "RetryAfterWait",
    "RetryExhausted",
    "RetryPolicy",
    "Timeout",
    "TokenProviderOptions",
    "TransportError",
    "TransportStats",
    "iter_next_url_pages",
    "iter_offset_pages",
    "parse_retry_after",
    "redact_text",
    "redact_url",
    "register_secret",
]
