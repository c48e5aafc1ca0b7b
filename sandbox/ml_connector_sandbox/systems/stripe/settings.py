"""Tunable behaviour of the Stripe stand-in, including every UNCONFIRMED detail of the contract."""

from __future__ import annotations

import stripe
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_SECRET_KEY", "DEFAULT_WEBHOOK_SECRET", "StripeSandboxSettings"]

DEFAULT_SECRET_KEY = "sk_test_51MlcSandbox0StandIn0Key000000"
"""The secret key the stand-in accepts unless told otherwise."""
DEFAULT_WEBHOOK_SECRET = "whsec_mlcSandboxStandInSigningSecret000"
"""The webhook signing secret handed out in the connection and used to sign deliveries."""


class StripeSandboxSettings(BaseModel):
    """Settings of a :class:`~ml_connector_sandbox.systems.stripe.StripeSandbox`.

    Change them in process (``system.settings.rate_limit = 5``) or over HTTP
    (``POST /__sandbox__/stripe/settings`` with a partial JSON object); ``reset()`` restores the
    values the system was created with.
    """

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    api_keys: list[str] = Field(default_factory=lambda: [DEFAULT_SECRET_KEY], min_length=1)
    """Secret keys accepted (Bearer, or Basic with the key as user name); others get a 401."""
    webhook_secret: str = Field(default=DEFAULT_WEBHOOK_SECRET, min_length=1)
    """Signing secret handed out in the connection and used for ``Stripe-Signature`` (contract A6)."""
    webhook_url: str | None = None
    """Where every emitted event is POSTed, signed (``None``: no deliveries); see :mod:`.webhooks`."""
    webhook_timeout: float = Field(default=10.0, gt=0)
    """Seconds one webhook delivery may take before it counts as failed."""
    default_api_version: str = stripe.api_version
    """``Stripe-Version`` assumed when a request sends none (the installed SDK's pinned version)."""

    rate_limit: int | None = Field(default=None, ge=1)
    """Requests per second (per stand-in) before answering 429 ``rate_limit``; ``None`` = off."""
    rate_limit_should_retry: bool | None = True
    """``Stripe-Should-Retry`` on rate-limit 429s (``None`` leaves the header out; UNCONFIRMED)."""
    rate_limit_reason: str | None = "global-rate"
    """``Stripe-Rate-Limited-Reason`` on rate-limit 429s (``None`` leaves it out; UNCONFIRMED)."""

    idempotency_ttl: float = Field(default=86400.0, gt=0)
    """Seconds (sandbox clock) a stored idempotent response is replayed; Stripe keeps ≥ 24 h."""
    idempotency_store_validation_errors: bool = False
    """Also store 400s refused during parameter validation (Stripe's docs say it does not)."""
    idempotency_conflict_status: int = Field(default=409, ge=400, le=599)
    """Status when a request reuses the key of one still in flight (UNCONFIRMED body)."""
    idempotency_conflict_type: str = "idempotency_error"
    """``error.type`` of that answer (UNCONFIRMED)."""

    write_latency: float = Field(default=0.0, ge=0)
    """Seconds every POST is held after it claims its idempotency key (widens the in-flight window)."""
    search_lag: float = Field(default=0.0, ge=0)
    """Seconds (sandbox clock) before a write becomes visible to search (search is eventually consistent)."""

    event_retention_days: float = Field(default=30.0, gt=0)
    """Days (sandbox clock) events stay listed and retrievable; Stripe guarantees 30."""
    event_list_repeats: int = Field(default=1, ge=1, le=10)
    """How many times ``GET /v1/events`` lists each event on its page (2 = simulated duplicates)."""
