"""Checks of a Stripe account, for a first connection with the tenant's real key.

Every probe is a ``GET`` (:func:`~ml_connector_provider.hooks.stripe.probe_stripe`): nothing is
created or changed. What is probed:

* ``stripe.auth`` — the key authenticates (``GET /v1/balance``; 401 = wrong, rolled or revoked);
* ``stripe.key`` — the kind of key (secret ``sk_`` or restricted ``rk_``) and its mode (test or
  live), against the mode the caller expects when it says;
* ``stripe.api_version`` — the ``Stripe-Version`` the hook pins is accepted (Stripe echoes it),
  and the account's default version, as the newest event records it;
* ``stripe.permission.<resource>`` — each resource the streams use can be read (a list with
  ``limit=1``; a restricted key without the permission is answered 403 naming it);
* ``stripe.write_permissions`` — writes cannot be tried without writing: for a restricted key the
  permissions to grant are listed as a warning;
* ``stripe.search`` — the Search API answers (onboarding and the customer writer search by
  metadata);
* ``stripe.events`` — the Events API answers, and how old the newest event is (Stripe keeps 30 days);
* ``stripe.clock`` — the worker's clock against Stripe's ``Date`` header (webhook signatures allow
  :data:`~ml_connector_provider.hooks.stripe.DEFAULT_WEBHOOK_TOLERANCE` seconds).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ml_connector_provider.checks import CheckResult, CheckStatus

if TYPE_CHECKING:
    from ml_connector_provider.hooks.stripe import StripeHook, StripeProbe

__all__ = ["CLOCK_FAIL_SECONDS", "CLOCK_WARN_SECONDS", "OLDEST_OBJECT_VERSION", "StripeNeed", "check_stripe"]

CLOCK_WARN_SECONDS = 60.0
"""Clock difference to Stripe above which ``stripe.clock`` warns (event windows use the clock)."""
CLOCK_FAIL_SECONDS = 300.0
"""Above this, webhook signatures fail their timestamp check (Stripe's default tolerance)."""
OLDEST_OBJECT_VERSION = "2025-03-31"
"""The streams read objects as API version 2025-03-31.basil and later shape them (contract A8);
events of an account on an older default version carry older shapes."""

_PERMISSION_RE = re.compile(r"'(rak_[a-z_]+)'")


@dataclass(frozen=True)
class StripeNeed:
    """One Stripe resource an integration uses (declared next to the integration's code).

    :param resource: the resource part of Stripe's permission name (``customer``).
    :param title: the resource as Stripe's dashboard lists it (``Customers``).
    :param access: ``write`` when the integration creates or changes it (Write includes Read).
    :param probe: a list path that a key with Read may call (probed with ``limit=1``).
    :param routes: the requests the integration sends, as
        :func:`~ml_connector_provider.hooks.stripe.route_template` writes them.
    :param streams: the streams that send them.
    """

    resource: str
    title: str
    access: Literal["read", "write"]
    probe: str
    routes: tuple[str, ...]
    streams: tuple[str, ...]

    @property
    def read_permission(self) -> str:
        """``rak_<resource>_read``."""
        return f"rak_{self.resource}_read"

    @property
    def permission(self) -> str:
        """The permission the integration needs: ``rak_<resource>_<access>``."""
        return f"rak_{self.resource}_{self.access}"


def _key_kind(key: str) -> tuple[str | None, str | None]:
    """``("secret" | "restricted" | None, "test" | "live" | None)`` from the key's prefix."""
    kind = {"sk": "secret", "rk": "restricted"}.get(key.split("_", 1)[0])
    mode = key.split("_", 2)[1] if key.count("_") >= 2 else None
    return kind, mode if mode in ("test", "live") else None


def check_stripe(
    hook: StripeHook,
    *,
    needs: Sequence[StripeNeed],
    live: bool | None = None,
    search: bool = True,
    now: datetime | None = None,
) -> list[CheckResult]:
    """Probe the Stripe account of ``hook`` for what an integration uses; read-only.

    :param hook: the tenant's Stripe hook.
    :param needs: the resources the integration uses (e.g. ``fusion_stripe``'s ``STRIPE_NEEDS``).
    :param live: ``True`` when the tenant expects a live-mode key, ``False`` a test-mode key,
        ``None`` when it does not say.
    :param search: whether the integration uses the Search API.
    :param now: the worker's clock (tests); default: now.
    """
    from ml_connector_provider.hooks.stripe import describe_error, probe_stripe

    conn = hook.stripe_conn_id
    results: list[CheckResult] = []
    try:
        hook.settings  # noqa: B018 - reads the connection: a missing or unusable one is the first finding
    except Exception as error:  # noqa: BLE001 - any reason the connection cannot be used is reported
        return [
            CheckResult(
                "stripe.auth",
                CheckStatus.FAIL,
                f"Airflow connection {conn!r} cannot be used: {describe_error(error)}",
                f"create connection {conn!r} of type stripe with the key in its password "
                "(docs/connections.md)",
            )
        ]
    first = probe_stripe(hook, "/v1/balance")
    if first.status is None:
        return [
            CheckResult(
                "stripe.auth",
                CheckStatus.FAIL,
                f"Stripe API of connection {conn!r} could not be reached: {first.message}",
                "check the network path from the workers to api.stripe.com (proxy, firewall) and the "
                "connection's api_base extra",
            )
        ]
    if first.status == 401:
        return [
            CheckResult(
                "stripe.auth",
                CheckStatus.FAIL,
                f"Stripe refused the key of connection {conn!r} (HTTP 401: {first.message})",
                f"the key is wrong, rolled or revoked: copy a current secret (sk_) or restricted (rk_) "
                f"key from Stripe's Dashboard (Developers → API keys) into the password of connection {conn!r}",
            )
        ]
    if first.status == 400 and "version" in first.message.lower():
        return [
            CheckResult(
                "stripe.api_version",
                CheckStatus.FAIL,
                f"Stripe refused the Stripe-Version of connection {conn!r} (HTTP 400: {first.message})",
                f"correct or remove the api_version extra of connection {conn!r} (without it the stripe "
                "library's pinned version is sent)",
            )
        ]
    if first.status not in (200, 403):
        results.append(
            CheckResult(
                "stripe.auth",
                CheckStatus.FAIL,
                f"GET /v1/balance with connection {conn!r} answered HTTP {first.status}: {first.message}",
                "check the connection's api_base and api_version extras; if they are right, try again later",
            )
        )
        return results
    where = hook.settings.api_base or "https://api.stripe.com"
    results.append(
        CheckResult("stripe.auth", CheckStatus.OK, f"the key of connection {conn!r} is accepted by {where}")
    )
    results.append(_check_key(hook.settings.api_key, conn, live))
    results.append(_check_version(hook, first))
    probes = {need.probe: probe_stripe(hook, need.probe, {"limit": "1"}) for need in needs}
    for need in needs:
        results.append(_check_permission(need, probes[need.probe], conn))
    results.append(_check_writes(hook.settings.api_key, needs, conn))
    if search:
        results.append(_check_search(hook, conn))
    events = probes.get("/v1/events") or probe_stripe(hook, "/v1/events", {"limit": "1"})
    results.extend(_check_events(hook, events, now))
    results.append(_check_clock(first, now))
    return results


def _check_key(key: str, conn: str, live: bool | None) -> CheckResult:
    kind, mode = _key_kind(key)
    if kind is None or mode is None:
        return CheckResult(
            "stripe.key",
            CheckStatus.WARN,
            f"the key of connection {conn!r} does not start with sk_test_, sk_live_, rk_test_ or rk_live_",
            "use a secret or restricted API key (not a publishable pk_ key or a webhook secret)",
        )
    found = f"a {kind} key in {mode} mode"
    if live is not None and live != (mode == "live"):
        expected = "live" if live else "test"
        return CheckResult(
            "stripe.key",
            CheckStatus.FAIL,
            found + f", but the tenant expects {expected} mode",
            f"put a {expected}-mode key ({'sk' if kind == 'secret' else 'rk'}_{expected}_…) in connection {conn!r}",
        )
    if kind == "secret":
        found += (
            " (it may do anything on the account; a restricted key with the permissions below limits a leak)"
        )
    return CheckResult("stripe.key", CheckStatus.OK, found)


def _check_version(hook: StripeHook, answer: StripeProbe) -> CheckResult:
    import stripe

    pinned = hook.settings.api_version or stripe.api_version
    source = "the connection's api_version extra" if hook.settings.api_version else "the stripe library"
    if answer.stripe_version and answer.stripe_version != pinned:
        return CheckResult(
            "stripe.api_version",
            CheckStatus.WARN,
            f"requests pin Stripe-Version {pinned} ({source}) but Stripe answered as {answer.stripe_version}",
            "set the connection's api_version extra to a version this account accepts, or remove it to "
            "use the library's",
        )
    return CheckResult(
        "stripe.api_version",
        CheckStatus.OK,
        f"Stripe accepts the pinned Stripe-Version {pinned} ({source})",
    )


def _check_permission(need: StripeNeed, answer: StripeProbe, conn: str) -> CheckResult:
    check = f"stripe.permission.{need.resource}"
    streams = ", ".join(need.streams)
    if answer.status == 200:
        return CheckResult(
            check, CheckStatus.OK, f"{need.title} can be read (GET {need.probe}; used by {streams})"
        )
    if answer.status == 403:
        named = _PERMISSION_RE.search(answer.message)
        permission = named.group(1) if named else need.read_permission
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"the key of connection {conn!r} may not read {need.title} (GET {need.probe}: HTTP 403, Stripe "
            f"asks for {permission}); the {streams} stream(s) would fail",
            f"edit the restricted key in Stripe's Dashboard: {need.title} → "
            f"{'Write' if need.access == 'write' else 'Read'} ({need.permission})",
        )
    return CheckResult(
        check,
        CheckStatus.FAIL,
        f"GET {need.probe} answered HTTP {answer.status}: {answer.message}",
        "check the connection's api_base and Stripe-Account (account_id extra)",
    )


def _check_writes(key: str, needs: Sequence[StripeNeed], conn: str) -> CheckResult:
    writes = [need for need in needs if need.access == "write"]
    if not writes:
        return CheckResult("stripe.write_permissions", CheckStatus.OK, "the streams only read from Stripe")
    names = ", ".join(f"{need.title} → Write ({need.permission})" for need in writes)
    if _key_kind(key)[0] == "secret":
        return CheckResult(
            "stripe.write_permissions",
            CheckStatus.OK,
            f"a secret key may write everything the streams write ({names})",
        )
    return CheckResult(
        "stripe.write_permissions",
        CheckStatus.WARN,
        f"writes cannot be tried without changing the account, and Stripe offers no read-only way to "
        f"list a restricted key's permissions; the streams write {names}",
        f"check in Stripe's Dashboard (Developers → API keys) that the key of connection {conn!r} has {names}",
    )


def _check_search(hook: StripeHook, conn: str) -> CheckResult:
    from ml_connector_provider.hooks.stripe import probe_stripe

    answer = probe_stripe(
        hook, "/v1/customers/search", {"query": "metadata['ml_connector_check']:'probe'", "limit": "1"}
    )
    if answer.status == 200:
        return CheckResult(
            "stripe.search",
            CheckStatus.OK,
            "customer search answers (onboarding and the customer writer find customers by metadata)",
        )
    if answer.status == 403:
        return CheckResult(
            "stripe.search",
            CheckStatus.FAIL,
            f"customer search is refused to the key of connection {conn!r} (HTTP 403: {answer.message})",
            "grant Customers → Read (rak_customer_read) on the restricted key",
        )
    return CheckResult(
        "stripe.search",
        CheckStatus.FAIL,
        f"customer search is not available on this account (HTTP {answer.status}: {answer.message}); "
        "onboarding and the customer writer find existing customers through it",
        "Stripe's Search API is not offered in every country (India, for one); ask Stripe support to enable "
        "it, or run onboarding with links given in the tenant's settings",
    )


def _check_events(hook: StripeHook, answer: StripeProbe, now: datetime | None) -> list[CheckResult]:
    from ml_connector_provider.hooks.stripe import EVENT_RETENTION

    if answer.status != 200:
        return []  # the permission row for events says why
    data = answer.body.get("data")
    newest = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None
    if newest is None:
        return [
            CheckResult(
                "stripe.events",
                CheckStatus.OK,
                f"the Events API answers; the account has no event yet (Stripe keeps events {EVENT_RETENTION.days} days)",
            )
        ]
    created = newest.get("created")
    clock = now or datetime.now(UTC)
    age = clock - datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None
    when = f"{age.days} day(s) ago" if age is not None and age >= timedelta(days=1) else "today"
    results = [
        CheckResult(
            "stripe.events",
            CheckStatus.OK,
            f"the Events API answers; the newest event is from {when}. Stripe keeps events "
            f"{EVENT_RETENTION.days} days: a tenant paused longer misses what expired",
        )
    ]
    version = newest.get("api_version")
    if isinstance(version, str) and version[:10] < OLDEST_OBJECT_VERSION:
        results.append(
            CheckResult(
                "stripe.account_api_version",
                CheckStatus.WARN,
                f"the account's default API version is {version} (its newest event); event payloads are "
                f"shaped by it, and the streams expect {OLDEST_OBJECT_VERSION} or later",
                "upgrade the account's API version in Stripe's Dashboard (Developers → Overview) after "
                "checking the account's other integrations",
            )
        )
    elif isinstance(version, str):
        results.append(
            CheckResult(
                "stripe.account_api_version",
                CheckStatus.OK,
                f"the account's default API version is {version} (its newest event)",
            )
        )
    return results


def _check_clock(answer: StripeProbe, now: datetime | None) -> CheckResult:
    if answer.date is None or answer.sent_at is None or answer.received_at is None:
        return CheckResult(
            "stripe.clock", CheckStatus.WARN, "Stripe's answer had no Date header; the clock was not compared"
        )
    if now is not None:
        worker = now
        slack = 1.0
    else:
        worker = answer.sent_at + (answer.received_at - answer.sent_at) / 2
        slack = 1.0 + (answer.received_at - answer.sent_at).total_seconds() / 2  # Date has 1 s steps
    skew = (worker - answer.date).total_seconds()
    size = max(0.0, abs(skew) - slack)
    direction = "ahead of" if skew > 0 else "behind"
    if size > CLOCK_FAIL_SECONDS:
        status = CheckStatus.FAIL
    elif size > CLOCK_WARN_SECONDS:
        status = CheckStatus.WARN
    else:
        return CheckResult(
            "stripe.clock",
            CheckStatus.OK,
            f"the worker's clock is within {CLOCK_WARN_SECONDS:.0f} s of Stripe's",
        )
    return CheckResult(
        "stripe.clock",
        status,
        f"the worker's clock is {abs(skew):.0f} s {direction} Stripe's (Date header); webhook signatures "
        f"allow {CLOCK_FAIL_SECONDS:.0f} s and event windows assume synchronised clocks",
        "synchronise the workers' clocks (NTP / chrony)",
    )
