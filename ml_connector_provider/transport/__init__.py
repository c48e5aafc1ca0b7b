"""The shared HTTP layer of every hook: a pooled session with timeouts, one retry policy (backoff
with jitter that honours ``Retry-After``, also run around vendor SDK calls), auth providers that add
credentials or sign whole requests (token providers refresh on 401), client-side rate limiters
shared per process, client-side concurrency limits (requests in flight per account), one secret redaction, and secret-free errors.
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
)
from ml_connector_provider.transport.concurrency import (
    ConcurrencyLimiter,
    ConcurrencyStats,
    clear_shared_concurrency_limiters,
    shared_concurrency_limiter,
)
from ml_connector_provider.transport.errors import (
    AuthError,
    ConnectionFailed,
    HttpStatusError,
    RetryExhausted,
    TransportError,
)
from ml_connector_provider.transport.http import (
    HttpTransport,
    RequestOptions,
    Timeout,
    TransportStats,
)
from ml_connector_provider.transport.pacing import AdaptivePacer
from ml_connector_provider.transport.paging import (
    LinkedPage,
    OffsetPage,
    PagingError,
    iter_next_url_pages,
    iter_offset_pages,
)
from ml_connector_provider.transport.ratelimit import (
    LimiterStats,
    RateLimiter,
    acquire_all,
    clear_shared_limiters,
    shared_limiter,
)
from ml_connector_provider.transport.redaction import REDACTED, redact_text, redact_url, register_secret
from ml_connector_provider.transport.retry import (
    RetryAfterWait,
    RetryAttempt,
    RetryPolicy,
    RetryRunner,
    parse_retry_after,
)

__all__ = [
    "REDACTED",
    "TOKEN_RETRY_POLICY",
    "AccessToken",
    "AdaptivePacer",
    "ApiKeyAuth",
    "AuthError",
    "AuthProvider",
    "BasicAuth",
    "ConcurrencyLimiter",
    "ConcurrencyStats",
    "ConnectionFailed",
    "HttpStatusError",
    "HttpTransport",
    "LimiterStats",
    "LinkedPage",
    "OAuth2ClientCredentials",
    "OAuth2JwtBearer",
    "OAuth2PasswordGrant",
    "OAuth2TokenProvider",
    "OffsetPage",
    "PagingError",
    "RateLimiter",
    "RequestOptions",
    "RetryAfterWait",
    "RetryAttempt",
    "RetryExhausted",
    "RetryPolicy",
    "RetryRunner",
    "Timeout",
    "TokenProviderOptions",
    "TransportError",
    "TransportStats",
    "acquire_all",
    "clear_shared_concurrency_limiters",
    "clear_shared_limiters",
    "iter_next_url_pages",
    "iter_offset_pages",
    "parse_retry_after",
    "redact_text",
    "redact_url",
    "register_secret",
    "shared_concurrency_limiter",
    "shared_limiter",
]
