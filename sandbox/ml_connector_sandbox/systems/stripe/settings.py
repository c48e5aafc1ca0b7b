"""Tunable behaviour of the Stripe stand-in, including every UNCONFIRMED detail of the contract."""

from __future__ import annotations

from typing import Literal

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
    """Requests per second per account before answering 429 ``rate_limit``; ``None`` = off.

    Stripe allows 25 requests/s per account in test mode and 100 in live mode (contract A5, Appendix S
    "Rate limits"). The limiter is a sliding window on the wall clock (not the sandbox clock): a
    request is admitted when fewer than ``rate_limit`` requests of the same account were admitted
    in the second before it, i.e. **at most N admitted requests in any 1-second window**. Refused
    requests do not count. A client pacing itself must therefore never send its (N+1)-th request
    less than one second after the first of the last N. The account is the ``Stripe-Account``
    header (none: the key's own account); every authenticated ``/v1`` request counts, framework
    faults and the admin API do not.
    """
    rate_limit_should_retry: bool | None = True
    """``Stripe-Should-Retry`` on rate-limit 429s (``None`` leaves the header out; UNCONFIRMED)."""
    rate_limit_reason: str | None = "global-rate"
    """``Stripe-Rate-Limited-Reason`` on rate-limit 429s (``None`` leaves it out; UNCONFIRMED)."""
    search_rate_limit: int | None = Field(default=None, ge=1)
    """Search requests (``GET /v1/<resource>/search``) per second per account; ``None`` = off.

    Stripe's Search API allows 20 read requests/s (contract A5 "Search API: 20 read/s"; Appendix S
    "Rate limits"). Same algorithm as :attr:`rate_limit` — at most N admitted searches in any
    sliding 1-second window — counted separately: a search must fit both windows and, once
    admitted, counts against both. Off by default, like :attr:`rate_limit`.
    """
    search_rate_limit_reason: str | None = "endpoint-rate"
    """``Stripe-Rate-Limited-Reason`` when the search limiter refuses (``None`` leaves it out).

    UNCONFIRMED: the header and its values are described only in secondary sources (contract A5).
    """

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
    search_lag: float = Field(default=60.0, ge=0)
    """Seconds (sandbox clock) before a create or update becomes visible to search.

    Search is eventually consistent: Stripe documents data freshness as "usually within a minute",
    longer during incidents (contract A8 "Search semantics"; Appendix S "Search is eventually
    consistent"). Until then search shows the previous version (or nothing, for a new object).
    Set 0 for read-after-write tests; :attr:`search_delete_lag` applies to deletes.
    """
    search_delete_lag: float = Field(default=3600.0, ge=0)
    """Seconds (sandbox clock) before a delete reaches search; until then search keeps returning the
    last live version, rendered as a normal customer (no ``deleted`` flag).

    UNCONFIRMED: Appendix S cites stripe-node#1533, where a deleted customer was still returned by
    search "more than 10 s after the delete"; how long it lasts is not documented, so the default
    is a pessimistic hour (Stripe's "up to an hour behind during outages", contract A8).
    Retrieve by id to learn a hit is deleted (``{"id", "object", "deleted": true}``).
    """

    refuse_past_due_date: bool = True
    """Refuse an invoice ``due_date`` that is not in the future (sandbox clock).

    Real Stripe answers invoice create/update with such a ``due_date`` with 400
    ``invalid_request_error``, ``param: due_date``, "Invalid timestamp: must be an integer Unix
    timestamp in the future." (contract Appendix S, stripe-python#925). ``False`` turns off the
    whole rule, including :attr:`refuse_past_due_date_on_finalize`. Like every parameter
    validation error the refusal is not stored for idempotent replay (contract A4).
    """
    refuse_past_due_date_on_finalize: bool = True
    """Also refuse to finalize (``finalize``, or ``pay`` on a draft) a ``send_invoice`` draft whose
    stored ``due_date`` has passed meanwhile, with the same 400 on ``due_date`` (not stored for
    replay either).

    UNCONFIRMED: Appendix S only documents the rule on create/update; whether finalization
    re-checks a due date that was valid when set is not documented.
    """

    event_retention_days: float = Field(default=30.0, gt=0)
    """Days (sandbox clock) events stay listed and retrievable; Stripe guarantees 30."""
    event_list_repeats: int = Field(default=1, ge=1, le=10)
    """How many times ``GET /v1/events`` lists each event on its page (2 = simulated duplicates)."""

    restricted_keys: dict[str, dict[str, Literal["read", "write"]]] = Field(default_factory=dict)
    """Restricted keys (``rk_…``) accepted besides :attr:`api_keys`, each with the resources it may
    use: ``{"rk_test_x": {"customer": "write", "event": "read"}}`` (``write`` includes ``read``).

    A request of such a key on any other resource, or a write with ``read`` only, is answered
    403 ``invalid_request_error`` (stripe-python raises ``stripe.PermissionError``, contract A3
    table) with the message Stripe sends, which names the missing ``rak_<resource>_<read|write>``
    permission (see :mod:`.permissions` for the sources and the resource names). Key names are the
    resource part of those permissions (``customer``, ``invoice``, ``charge``, ``payment_intent``,
    ``refund``, ``event``, ``balance``, ``balance_transaction_source``, ``subscription``, ``plan``
    for prices, ``product``).
    """

    def accepts_key(self, key: str) -> bool:
        """Whether ``key`` authenticates (a secret key, or a restricted key of :attr:`restricted_keys`)."""
        return key in self.api_keys or key in self.restricted_keys
