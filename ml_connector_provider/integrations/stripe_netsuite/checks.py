"""``ml-connector check`` for ``stripe_netsuite``: read-only probes of the tenant's Stripe account
and NetSuite account.

Stripe: the key against the resources the streams use (:data:`STRIPE_NEEDS`). NetSuite: the
token (a client assertion signed with the connection's certificate, contract B2), record access
(the subsidiary and each currency the settings name, B3), SuiteQL (B6), the items of
``settings.items`` and the item look-up the tenant chose, the customer look-up by external id,
and the custom body fields the tenant names. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ml_connector_provider.checks.stripe import StripeNeed
from ml_connector_provider.integrations.stripe_netsuite.settings import StripeNetSuiteSettings

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ml_connector_provider.checks import CheckResult
    from ml_connector_provider.hooks.netsuite import NetSuiteHook

_ALL_STREAMS = ("invoices", "refunds")

STRIPE_NEEDS: tuple[StripeNeed, ...] = (
    StripeNeed("event", "Events", "read", "/v1/events", ("GET /v1/events",), _ALL_STREAMS),
    StripeNeed(
        "charge", "Charges", "read", "/v1/charges", ("GET /v1/charges", "GET /v1/charges/{id}"), _ALL_STREAMS
    ),
    StripeNeed(
        # metadata write-back of the NetSuite invoice id on a one-time charge's payment intent
        "payment_intent",
        "PaymentIntents",
        "write",
        "/v1/payment_intents",
        ("GET /v1/payment_intents/{id}", "POST /v1/payment_intents/{id}"),
        _ALL_STREAMS,
    ),
    StripeNeed(
        "invoice",
        "Invoices",
        "write",
        "/v1/invoices",
        (
            "GET /v1/invoices",
            "GET /v1/invoices/{id}",
            "GET /v1/invoices/{id}/lines",
            "GET /v1/invoice_payments",
            "POST /v1/invoices/{id}",
        ),
        _ALL_STREAMS,
    ),
    StripeNeed(
        "refund", "Refunds", "read", "/v1/refunds", ("GET /v1/refunds", "GET /v1/refunds/{id}"), ("refunds",)
    ),
    StripeNeed("customer", "Customers", "read", "/v1/customers", ("GET /v1/customers/{id}",), ("invoices",)),
    StripeNeed(
        "balance_transaction_source",
        "Balance transaction sources",
        "read",
        "/v1/balance_transactions",
        (),
        _ALL_STREAMS,
    ),
)
"""Every Stripe resource the ``stripe_netsuite`` streams use."""


def run_checks(
    connections: Mapping[str, str], settings: BaseModel, streams: Sequence[str] | None = None
) -> list[CheckResult]:
    """Probe the tenant's Stripe and NetSuite accounts read-only.

    :param connections: Airflow connection id per role.
    :param settings: the tenant's validated ``stripe_netsuite`` settings.
    :param streams: the tenant's enabled streams (default: all of them).
    """
    if not isinstance(settings, StripeNetSuiteSettings):
        raise TypeError(f"expected StripeNetSuiteSettings, got {type(settings).__name__}")
    enabled = set(_ALL_STREAMS if streams is None else streams)
    from ml_connector_provider.checks.stripe import check_stripe
    from ml_connector_provider.hooks.stripe import StripeHook

    needs = [need for need in STRIPE_NEEDS if enabled.intersection(need.streams)]
    results = check_stripe(StripeHook(connections["stripe"]), needs=needs, search=False)
    results += check_netsuite(connections["netsuite"], settings)
    return results


def check_netsuite(conn_id: str, settings: StripeNetSuiteSettings) -> list[CheckResult]:
    """The NetSuite probes; the first failure of the token stops the others (they would all fail)."""
    from ml_connector_provider.checks import CheckResult, CheckStatus, unusable_connection
    from ml_connector_provider.hooks.netsuite import NetSuiteError, NetSuiteHook

    try:
        hook = NetSuiteHook(conn_id)
        hook.settings  # noqa: B018 - reads the connection: a missing or unusable one is the finding
    except Exception as error:  # noqa: BLE001 - any reason the connection cannot be used is reported
        return [unusable_connection("netsuite.token", conn_id, "netsuite", error)]
    results: list[CheckResult] = []
    try:
        try:
            hook.fetch_token()
        except NetSuiteError as error:
            return [
                CheckResult(
                    "netsuite.token",
                    CheckStatus.FAIL,
                    f"no access token: {error}",
                    "check the integration record's client credentials grant and the certificate "
                    "mapping (certificate id, entity, role) in NetSuite",
                )
            ]
        results.append(CheckResult("netsuite.token", CheckStatus.OK, "an access token was issued"))
        results.append(_probe("netsuite.records", lambda: _records(hook, settings)))
        results.append(_probe("netsuite.suiteql", lambda: _suiteql(hook)))
        results.append(_probe("netsuite.items", lambda: _items(hook, settings)))
        results.append(_probe("netsuite.customers", lambda: _customers(hook)))
        if settings.event_id_field or settings.object_id_field:
            results.append(_probe("netsuite.custom_fields", lambda: _custom_fields(hook, settings)))
        return results
    finally:
        hook.close()


def _probe(check: str, probe: Callable[[], tuple[bool, str, str]]) -> CheckResult:
    from ml_connector_provider.checks import CheckResult, CheckStatus
    from ml_connector_provider.hooks.netsuite import NetSuiteError

    try:
        ok, found, fix = probe()
    except NetSuiteError as error:
        return CheckResult(check, CheckStatus.FAIL, str(error), "grant the integration's role access to it")
    return CheckResult(check, CheckStatus.OK if ok else CheckStatus.FAIL, found, "" if ok else fix)


def _probe_query(table: str, columns: Sequence[str]) -> str:
    """A query of ``columns`` that matches no row (every name checked by the hook's builder): it
    fails only when a table or column does not exist or the role cannot read it."""
    from ml_connector_provider.hooks.netsuite import select_where_equals

    return select_where_equals(table, list(columns), "id", "-1")


def _records(hook: NetSuiteHook, settings: StripeNetSuiteSettings) -> tuple[bool, str, str]:
    from ml_connector_provider.hooks.netsuite import NetSuiteNotFoundError

    missing = []
    for record_type, internal_id in [
        ("subsidiary", settings.subsidiary_id),
        *(("currency", cid) for cid in settings.currencies.values()),
    ]:
        try:
            hook.get_record(record_type, internal_id, fields=("id",))
        except NetSuiteNotFoundError:
            missing.append(f"{record_type} {internal_id}")
    if missing:
        return False, f"not found: {', '.join(missing)}", "correct subsidiary_id / currencies in the settings"
    return (
        True,
        f"subsidiary {settings.subsidiary_id} and {len(settings.currencies)} currency record(s) read",
        "",
    )


def _suiteql(hook: NetSuiteHook) -> tuple[bool, str, str]:
    rows = list(hook.suiteql(_probe_query("item", ["id"]), page_size=1))
    return True, f"SuiteQL answered ({len(rows)} row(s))", ""


def _items(hook: NetSuiteHook, settings: StripeNetSuiteSettings) -> tuple[bool, str, str]:
    wanted = sorted(set(settings.items.values()) | ({settings.fee_item} if settings.fee_item else set()))
    found: set[str] = set()
    if wanted:
        found = {str(row.get("id")) for row in hook.find_by_values("item", "id", wanted, ("id",))}
    missing = [item for item in wanted if item not in found]
    if missing:
        return False, f"items not in NetSuite: {', '.join(missing)}", "correct settings.items / fee_item"
    if settings.item_lookup == "custom_field":
        field = settings.item_custom_field
        list(hook.suiteql(_probe_query("item", ["id", field]), page_size=1))
        return True, f"{len(wanted)} mapped item(s) found; item look-up by {field} works", ""
    if settings.item_lookup == "external_id":
        list(hook.suiteql(_probe_query("item", ["id", "externalid"]), page_size=1))
        return True, f"{len(wanted)} mapped item(s) found; item look-up by external id works", ""
    return True, f"{len(wanted)} mapped item(s) found", ""


def _customers(hook: NetSuiteHook) -> tuple[bool, str, str]:
    found: dict[str, Any] = hook.ids_by_external_id("customer", ["stripe-cus_check"])
    return True, f"customer look-up by external id works ({len(found)} match for a probe id)", ""


def _custom_fields(hook: NetSuiteHook, settings: StripeNetSuiteSettings) -> tuple[bool, str, str]:
    names = [name for name in (settings.event_id_field, settings.object_id_field) if name]
    list(hook.suiteql(_probe_query("transaction", ["id", *names]), page_size=1))
    return True, f"transaction body field(s) {', '.join(names)} exist", ""
