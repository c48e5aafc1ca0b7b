"""Tunable behaviour of the NetSuite stand-in, including every UNCONFIRMED detail of the contract.

Citations are sections of ``contracts/oracle_fusion_netsuite.md`` part B.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_ACCOUNT_ID", "NetSuiteSandboxSettings"]

DEFAULT_ACCOUNT_ID = "1234567_SB1"
"""The account id the stand-in plays (a sandbox account, B1)."""


class NetSuiteSandboxSettings(BaseModel):
    """Settings of a :class:`~ml_connector_sandbox.systems.netsuite.NetSuiteSandbox`.

    Change them in process (``system.settings.concurrency_limit = 2``) or over HTTP
    (``POST /__sandbox__/netsuite/settings`` with a partial JSON object); ``reset()`` restores the
    values the system was created with.
    """

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    account_id: str = Field(default=DEFAULT_ACCOUNT_ID, pattern=r"^[0-9A-Za-z_]+$")
    """The account id (``1234567_SB1``); its host form (B1: lower case, ``_`` → ``-``) is
    :attr:`account_host`. It is the ``realm`` of ``WWW-Authenticate`` answers (B8)."""

    token_ttl: float = Field(default=3600.0, gt=0)
    """Seconds an access token lives: "The access token is valid for 60 minutes" (B2)."""
    expires_in_as_string: bool = True
    """``expires_in`` as the string ``"3600"`` as in Oracle's sample (B2), or a number.
    UNCONFIRMED which one real servers send (part D #9)."""
    max_assertion_lifetime: int = Field(default=3600, ge=1)
    """Largest ``exp - iat`` of a client assertion: "must be less than 60 minutes greater than the
    value of the iat" (B2); Oracle's own sample uses exactly 3600, so 3600 is accepted (B2)."""
    accept_rs256: bool = False
    """Accept RS256 assertions. RSA PKCS#1 v1.5 is no longer accepted since 2025-03-01 (B2 [3P]);
    whether every account refuses it is UNCONFIRMED (part D #10)."""
    token_error_style: Literal["rfc6749", "invalid_request"] = "rfc6749"
    """How the token endpoint refuses. ``rfc6749``: ``invalid_client`` (401) for an unknown ``kid``,
    a bad signature, a wrong ``iss`` or algorithm; ``invalid_grant`` (400) for a wrong ``aud`` or a bad
    ``exp``/``iat``; ``invalid_scope`` (400) for a scope without ``rest_webservices``.
    ``invalid_request``: every refusal is 400 ``{"error": "invalid_request"}``. B2 lists these codes
    with "exact bodies UNCONFIRMED"; the reason is only in the Login Audit Trail."""
    min_rsa_bits: int = Field(default=3072, ge=1024)
    """Smallest RSA key a certificate may carry: "RSA keys must be 3072 or 4096 bits, or EC
    P-256/P-384/P-521" (B2 [3P])."""

    concurrency_limit: int | None = Field(default=5, ge=1)
    """Concurrent in-flight requests per account before ``CONCURRENCY_LIMIT_EXCEEDED`` (B9: shared
    tier base 5); ``None`` = unlimited. The token endpoint and the admin API do not count."""
    concurrency_status: Literal[429, 400] = 429
    """Status of the concurrency refusal: 429 in most public fixtures, 400 in netsuite-rs's
    (B8 table, part D #11)."""
    concurrency_detail: Literal["short", "long"] = "short"
    """``detail`` text of the refusal: the older "Concurrent request limit exceeded. Request blocked."
    or the newer one that points at Integration Governance (B8)."""
    request_latency: float = Field(default=0.0, ge=0)
    """Seconds every REST request is held while it occupies a concurrency slot (benchmarks)."""

    suiteql_require_transient: bool = True
    """Refuse a SuiteQL request without ``Prefer: transient`` with 400 (B6, B11 #5: UNCONFIRMED)."""
    suiteql_max_results: int = Field(default=100_000, ge=1)
    """Rows one SuiteQL query may page through (B6: at most 100,000)."""
    property_validation_default: Literal["error", "warning", "ignore"] = "ignore"
    """What an unknown body field does when the request has no ``X-NetSuite-PropertyNameValidation``
    header (B3). UNCONFIRMED default; ``error`` answers 400 ``NONEXISTENT_FIELD`` (B8)."""
    refuse_duplicate_external_id_on_post: bool = True
    """POST of a record whose ``externalId`` is taken answers 400 ``DUP_RCRD`` (B8 table, UNCONFIRMED
    wording; clients should upsert with ``PUT .../eid:``)."""
    allowed_currencies: list[str] = Field(default_factory=lambda: ["USD", "EUR", "JPY"])
    """Currencies (ISO symbols) the account has (multi-currency feature); others are invalid
    references (B8 ``INVALID_KEY_OR_REF``)."""

    @property
    def account_host(self) -> str:
        """The account id in host form, ``1234567_SB1`` → ``1234567-sb1`` (B1)."""
        return self.account_id.lower().replace("_", "-")
