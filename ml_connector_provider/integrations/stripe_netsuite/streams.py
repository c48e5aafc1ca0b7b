"""The streams of ``stripe_netsuite``: Stripe sales and refunds posted in NetSuite, exactly once.

Both streams read Stripe through the shared reader of
:mod:`ml_connector_provider.sources.stripe_money` (events of the window, each object re-fetched,
repeated and unordered events folded into one record per charge, invoice or refund) and write
NetSuite only by external id (``PUT …/eid:<externalId>``, contract B3/B7): a record written again
after a crash, a cleared task, a replay or a repeated event updates the same NetSuite transaction
instead of adding one.

* :class:`StripeCustomersToNetSuiteCustomers` (``customers``): Stripe customers → NetSuite
  customers by external id, when ``create_customers`` is on.
* :class:`StripeSalesToNetSuiteInvoices` (``invoices``): a one-time charge or a paid subscription
  invoice → a NetSuite invoice, then the customer payment applied to it, then the invoice's
  internal id written back into the Stripe object's metadata.
* :class:`StripeRefundsToNetSuiteCreditMemos` (``refunds``): a refund → a credit memo applied to
  the refunded invoice, and a customer refund when the tenant asks for it.

Dead letters of an unmapped product are made due again ``unmapped_retry_after`` seconds after
they were last tried (:meth:`_NetSuiteStream.schedule_unmapped_retries`), whatever the engine's
backoff says; the retry re-reads the record and posts it once the item is mapped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ml_connector_provider.engine.stream import Stream
from ml_connector_provider.engine.types import (
    Action,
    DeadLetter,
    Link,
    MapResult,
    SourceRecord,
    StreamKey,
    Window,
    WriteItem,
    WriteResult,
    utcnow,
)
from ml_connector_provider.integrations.stripe_netsuite.mapping import (
    PRODUCT_ID,
    UNMAPPED_PRODUCT,
    MappingProblem,
    apply_to,
    customer_body,
    customer_external_id,
    external_id,
    map_customer,
    map_refund,
    map_sale,
    refunded_sale_id,
    sale_customer,
    sale_lines,
)
from ml_connector_provider.integrations.stripe_netsuite.settings import StripeNetSuiteSettings
from ml_connector_provider.sources.stripe_money import (
    INVALID_EVENT,
    PAYMENT,
    SUBSCRIPTION_INVOICE,
    PaymentReader,
    StripeMoneyReader,
    SubscriptionInvoiceReader,
    map_invalid_event,
    object_id,
    subscription_of,
)

if TYPE_CHECKING:
    from typing import Self

    from ml_connector_provider.engine.context import StreamContext
    from ml_connector_provider.hooks.netsuite import NetSuiteHook
    from ml_connector_provider.hooks.stripe import StripeHook
    from ml_connector_provider.ledger import Ledger

log = logging.getLogger(__name__)

#: The Stripe metadata key receiving the NetSuite invoice's internal id.
METADATA_KEY = "netsuite_invoice_id"

_LINE_FIELDS = (
    "id",
    "amount",
    "currency",
    "description",
    "quantity",
    "pricing",
    "price",
    "discount_amounts",
    "taxes",
)


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _ts_end(moment: datetime) -> int:
    # Stripe's ``created`` is whole seconds: an exclusive bound rounded up keeps an object created
    # in the window's last fraction of a second inside it (a later overlap re-reads it harmlessly).
    return math.ceil(moment.timestamp())


def _from_ts(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def trim_line(line: Mapping[str, Any]) -> dict[str, Any]:
    """An invoice line item trimmed to what the mapping reads (product, quantity, amounts)."""
    trimmed = {name: line.get(name) for name in _LINE_FIELDS}
    price = trimmed.get("price")
    if isinstance(price, Mapping):
        trimmed["price"] = {"id": price.get("id"), "product": price.get("product")}
    trimmed["discount_amounts"] = [{"amount": d.get("amount")} for d in line.get("discount_amounts") or []]
    trimmed["taxes"] = [{"amount": t.get("amount")} for t in line.get("taxes") or []]
    return trimmed


class SalesReader(PaymentReader):
    """One-time charges (``charge.succeeded``) and paid subscription invoices (``invoice.paid``).

    A charge's record is the shared payment record (keyed by its payment intent, or charge); the
    mapping skips a payment of a Stripe invoice. A subscription invoice's record is the shared one
    plus its line items (``lines``), which the NetSuite invoice is made of.
    """

    event_types: tuple[str, ...] = ("charge.succeeded", "invoice.paid")
    with_event_ids = True

    def _keys_from_event(self, event: Mapping[str, Any]) -> list[str]:
        obj = (event.get("data") or {}).get("object") or {}
        if obj.get("object") == "invoice":
            return [str(obj["id"])] if subscription_of(obj) is not None else []
        return super()._keys_from_event(event)

    def _keys_from_objects(self, window: Window) -> dict[str, datetime]:
        created = {"gte": _ts(window.start), "lt": _ts_end(window.end)}
        found: dict[str, datetime] = {}
        for charge in self.stripe.iter_charges(created=created):
            if charge.get("status") == "succeeded":
                found.setdefault(
                    object_id(charge.get("payment_intent")) or str(charge["id"]), _from_ts(charge["created"])
                )
        for invoice in self.stripe.iter_invoices(created=created, status="paid"):
            if subscription_of(invoice) is not None:
                found.setdefault(str(invoice["id"]), _from_ts(invoice["created"]))
        return found

    def _load(self, record_id: str, when: datetime) -> SourceRecord | None:
        if record_id.startswith("in_"):
            record = SubscriptionInvoiceReader(self.stripe, self.key, clock=self.clock)._load(record_id, when)
            if record is None:
                return None
            lines = [trim_line(line) for line in self.stripe.iter_invoice_lines(record_id)]
            return SourceRecord(
                record.id, record.version, record.changed_at, {**record.data, "lines": lines}, record.label
            )
        if record_id.startswith("re_"):
            return None
        return super()._load(record_id, when)


class RefundReader(PaymentReader):
    """Refunds only (``charge.refunded`` names every refund of the charge; ``refund.updated``)."""

    event_types: tuple[str, ...] = ("charge.refunded", "refund.updated")
    with_event_ids = True

    def _keys_from_objects(self, window: Window) -> dict[str, datetime]:
        created = {"gte": _ts(window.start), "lt": _ts_end(window.end)}
        return {
            str(refund["id"]): _from_ts(refund["created"])
            for refund in self.stripe.iter_refunds(created=created)
        }

    def _load(self, record_id: str, when: datetime) -> SourceRecord | None:
        return self._load_refund(record_id, when) if record_id.startswith("re_") else None


class CustomerReader(StripeMoneyReader):
    """Stripe customers created or changed in the window (``customer.created``, ``customer.updated``)."""

    event_types: tuple[str, ...] = ("customer.created", "customer.updated")

    def _keys_from_event(self, event: Mapping[str, Any]) -> list[str]:
        obj = (event.get("data") or {}).get("object") or {}
        return [str(obj["id"])] if obj.get("object") == "customer" else []

    def _keys_from_objects(self, window: Window) -> dict[str, datetime]:
        created = {"gte": _ts(window.start), "lt": _ts_end(window.end)}
        return {str(c["id"]): _from_ts(c["created"]) for c in self.stripe.iter_customers(created=created)}

    def _load(self, record_id: str, when: datetime) -> SourceRecord | None:
        customer = self.stripe.retrieve_customer(record_id)
        if customer is None:
            return None
        trimmed = {name: customer.get(name) for name in ("id", "name", "email", "currency", "deleted")}
        version = ":".join(str(trimmed[name]) for name in ("name", "email", "currency"))
        return SourceRecord(
            record_id,
            version,
            when,
            {"kind": "customer", "customer": trimmed},
            f"Stripe customer {record_id}",
        )


def _decimal(value: Any) -> Decimal:
    """A NetSuite amount (number or text) as a Decimal; missing or unreadable counts as 0."""
    try:
        return (
            Decimal(repr(value) if isinstance(value, float) else str(value))
            if value is not None
            else Decimal(0)
        )
    except ArithmeticError:
        return Decimal(0)


def _netsuite_errors() -> tuple[type[Exception], type[Exception]]:
    from ml_connector_provider.hooks.netsuite import NetSuiteNotFoundError, NetSuiteValidationError

    return NetSuiteValidationError, NetSuiteNotFoundError


class _NetSuiteStream(Stream):
    """What both streams share: hooks, settings, the Stripe reader and unmapped-product retries."""

    source_system = "stripe"
    target_system = "netsuite"
    reader_class: type[StripeMoneyReader] = StripeMoneyReader

    @classmethod
    def from_context(cls, ctx: StreamContext) -> Self:
        from ml_connector_provider.hooks.netsuite import NetSuiteHook
        from ml_connector_provider.hooks.stripe import StripeHook

        return cls(
            StripeHook(ctx.connections["stripe"]),
            NetSuiteHook(ctx.connections["netsuite"]),
            ctx.settings_as(StripeNetSuiteSettings),
            ctx.ledger,
            ctx.key,
        )

    def __init__(
        self,
        stripe: StripeHook,
        netsuite: NetSuiteHook,
        settings: StripeNetSuiteSettings,
        ledger: Ledger,
        key: StreamKey,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.stripe = stripe
        self.netsuite = netsuite
        self.settings = settings
        self.ledger = ledger
        self.key = key
        self.clock = clock

    def _upsert_applied(
        self,
        item: WriteItem,
        document: tuple[str, str],
        applied: tuple[str, str],
        amount_key: str,
    ) -> tuple[str, str | None] | WriteResult:
        """Upsert a document by its external id, then, when the payload carries one, the record
        applied to it (a customer payment on an invoice, a customer refund on a credit memo) for
        ``payload[amount_key]``.

        :param document: ``(record type, payload key of its body)``.
        :param applied: ``(record type, payload key of its body)`` of the applied record.
        :return: the two internal ids (the second ``None`` when nothing is applied), or the dead
            letter when NetSuite refuses the data.
        """
        payload = item.payload
        try:
            document_id = self.netsuite.upsert_by_external_id(
                document[0], payload["external_id"], payload[document[1]]
            )
            applied_id = None
            if payload.get(applied[1]):
                body = apply_to(payload[applied[1]], document_id, payload[amount_key])
                applied_id = self.netsuite.upsert_by_external_id(applied[0], body["externalId"], body)
        except _netsuite_errors() as error:
            return WriteResult(item.record.id, Action.DEAD_LETTERED, reason=f"NetSuite refused it: {error}")
        return document_id, applied_id

    def reader(self) -> StripeMoneyReader:
        """The shared Stripe reader of this stream's records."""
        return self.reader_class(self.stripe, self.key, clock=self.clock)

    def read(self, window: Window) -> Iterable[Sequence[SourceRecord]]:
        self.schedule_unmapped_retries()
        return self.reader().read(window)

    def fetch(self, ids: Sequence[str]) -> Iterable[SourceRecord]:
        return self.reader().fetch(ids)

    def schedule_unmapped_retries(self) -> int:
        """Make the open "unmapped product" dead letters last tried ``unmapped_retry_after`` ago due now.

        The engine retries due dead letters at the end of this run, re-reading each record by id;
        one whose product is mapped by then posts without a manual replay.

        :return: how many were made due.
        """
        now = self.clock()
        delay = timedelta(seconds=self.settings.unmapped_retry_after)
        due = [
            row.id
            for row in self.ledger.list_dead_letters(
                tenant=self.key.tenant, integration=self.key.integration, stream=self.key.stream
            )
            if row.reason.startswith(UNMAPPED_PRODUCT)
            and row.updated_at + delay <= now
            and (row.next_retry_at is None or row.next_retry_at > now)
        ]
        if due:
            log.info("%s: retrying %d unmapped-product dead letter(s) now", self.key, len(due))
            self.ledger.retry_dead_letters_now(due)
        return len(due)

    def close(self) -> None:
        self.netsuite.close()


class StripeCustomersToNetSuiteCustomers(_NetSuiteStream):
    """Stripe customers → NetSuite customers (``externalId`` ``stripe-cus_…``), when the tenant
    allows creating customers (``create_customers``); otherwise every record is skipped.

    Name, e-mail and currency follow Stripe (its customer is the source of truth for them); the
    subsidiary comes from the settings. A NetSuite customer without that external id is never
    touched.
    """

    reader_class = CustomerReader

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        if record.data.get("kind") == INVALID_EVENT:
            return map_invalid_event(record.data)
        return map_customer(record.data, self.settings)

    def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        refused = _netsuite_errors()
        results = []
        for item in items:
            payload = item.payload
            try:
                internal_id = self.netsuite.upsert_by_external_id(
                    "customer", payload["external_id"], payload["customer"]
                )
            except refused as error:
                results.append(
                    WriteResult(item.record.id, Action.DEAD_LETTERED, reason=f"NetSuite refused it: {error}")
                )
                continue
            action = Action.UPDATED if item.target_id else Action.CREATED
            results.append(WriteResult(item.record.id, action, internal_id))
        return results


class StripeSalesToNetSuiteInvoices(_NetSuiteStream):
    """One-time Stripe charges and paid subscription invoices → NetSuite invoices, paid.

    Each is upserted by ``externalId`` ``stripe-ch_…`` / ``stripe-in_…``; with ``apply_payments``
    a customer payment (``stripe-pay-…``) of the invoice total is applied to it; with
    ``write_back_metadata`` the invoice's internal id goes into the Stripe invoice's (or payment
    intent's) metadata ``netsuite_invoice_id``.
    """

    reader_class = SalesReader

    def prepare(self, records: Sequence[SourceRecord], links: Mapping[str, Link]) -> Any:
        customers: dict[str, str] = {}
        currencies: dict[str, str] = {}
        products: set[str] = set()
        for record in records:
            data = record.data
            if data.get("kind") not in (PAYMENT, SUBSCRIPTION_INVOICE) or (
                data.get("invoice") and data.get("kind") == PAYMENT
            ):
                continue
            stripe_customer = sale_customer(data)
            try:
                if stripe_customer:
                    customers[customer_external_id(stripe_customer)] = stripe_customer
                    obj = data.get("invoice") or data.get("charge") or {}
                    currencies.setdefault(stripe_customer, str(obj.get("currency") or "").upper())
                products.update(
                    line.product
                    for line in sale_lines(data, self.settings)
                    if line.product and line.product not in self.settings.items
                )
            except MappingProblem:
                continue  # map() dead-letters the record with the reason
        found = self.netsuite.ids_by_external_id("customer", sorted(customers)) if customers else {}
        refused: dict[str, str] = {}
        if self.settings.create_customers:
            refusal = _netsuite_errors()[0]
            for eid, stripe_customer in customers.items():
                if eid in found:
                    continue
                try:
                    created = self._create_customer(eid, stripe_customer, currencies.get(stripe_customer, ""))
                except refusal as error:
                    refused[eid] = str(error)
                    continue
                if created is not None:
                    found[eid] = created
        items = dict(self.settings.items)
        # Only Stripe product ids go into a look-up query; anything else stays unmapped.
        items.update(self._lookup_items(sorted(p for p in products if PRODUCT_ID.fullmatch(p))))
        return {"customers": found, "items": items, "refused": refused}

    def _create_customer(self, eid: str, stripe_customer: str, currency: str) -> str | None:
        """Upsert the NetSuite customer of a Stripe customer (by ``externalId``), or ``None`` when
        the Stripe customer is gone or its currency is not enabled (the sale is dead-lettered)."""
        customer = self.stripe.retrieve_customer(stripe_customer)
        if customer is None or currency not in self.settings.currencies:
            return None
        try:
            body = customer_body(customer, self.settings, currency=currency)
        except MappingProblem:
            return None
        internal_id = self.netsuite.upsert_by_external_id("customer", eid, body)
        log.info(
            "%s: NetSuite customer %s (%s) for Stripe customer %s",
            self.key,
            internal_id,
            eid,
            stripe_customer,
        )
        return internal_id

    def _lookup_items(self, products: Sequence[str]) -> dict[str, str]:
        if not products or self.settings.item_lookup is None:
            return {}
        if self.settings.item_lookup == "external_id":
            return self.netsuite.ids_by_external_id("item", list(products))
        field = self.settings.item_custom_field
        rows = self.netsuite.find_by_values("item", field, list(products), ("id", field))
        return {str(row[field]): str(row["id"]) for row in rows if row.get(field) and row.get("id")}

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        if record.data.get("kind") == INVALID_EVENT:
            return map_invalid_event(record.data)
        stripe_customer = sale_customer(record.data)
        customer_id = None
        if stripe_customer:
            try:
                eid = customer_external_id(stripe_customer)
            except MappingProblem:
                eid = ""
            if eid in lookups["refused"]:
                return DeadLetter(
                    f"customer not in NetSuite: creating {eid} was refused: {lookups['refused'][eid]}",
                    field="customer",
                )
            customer_id = lookups["customers"].get(eid)
        return map_sale(record.data, self.settings, customer_id=customer_id, item_ids=lookups["items"])

    def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        results = []
        for item in items:
            payload = item.payload
            posted = self._upsert_applied(
                item, ("invoice", "invoice"), ("customerpayment", "payment"), "total"
            )
            if isinstance(posted, WriteResult):
                results.append(posted)
                continue
            invoice_id, payment_id = posted
            self._write_back(payload, invoice_id)
            action = Action.UPDATED if item.target_id else Action.CREATED
            results.append(
                WriteResult(
                    item.record.id,
                    action,
                    invoice_id,
                    details={"external_id": payload["external_id"], "payment_id": payment_id},
                )
            )
        return results

    def _write_back(self, payload: Mapping[str, Any], invoice_id: str) -> None:
        """The NetSuite internal id into the Stripe object's metadata (never fails the write)."""
        if not self.settings.write_back_metadata:
            return
        from ml_connector_provider.hooks.stripe import StripeRecordError

        stripe_obj = payload["stripe"]
        params = {"metadata": {METADATA_KEY: invoice_id}}
        key = f"netsuite-writeback-{stripe_obj['id']}-{invoice_id}"
        try:
            if stripe_obj["object"] == "invoice":
                self.stripe.update_invoice(stripe_obj["id"], params, idempotency_key=key)
            elif payload.get("payment_intent"):
                self.stripe.update_payment_intent(str(payload["payment_intent"]), params, idempotency_key=key)
            else:
                log.info(
                    "%s: charge %s has no payment intent; its NetSuite id %s is not written back",
                    self.key,
                    stripe_obj["id"],
                    invoice_id,
                )
        except StripeRecordError as error:
            log.warning("%s: writing NetSuite id back to %s failed: %s", self.key, stripe_obj["id"], error)


class StripeRefundsToNetSuiteCreditMemos(_NetSuiteStream):
    """Stripe refunds (full or partial) → NetSuite credit memos applied to the refunded invoice.

    Each credit memo is upserted by ``externalId`` ``stripe-re_…``; with ``refunds:
    credit_memo_and_refund`` a customer refund (``stripe-cr-re_…``) pays the credit out.
    """

    reader_class = RefundReader

    def prepare(self, records: Sequence[SourceRecord], links: Mapping[str, Link]) -> Any:
        invoices: dict[str, dict[str, Any] | None] = {}
        open_amounts: dict[str, Decimal] = {}
        for record in records:
            if record.data.get("kind") == INVALID_EVENT:
                continue
            try:
                eid = external_id(refunded_sale_id(record.data))
                memo_eid = external_id(str((record.data.get("refund") or {}).get("id")))
            except MappingProblem:
                continue
            if eid not in invoices:
                invoices[eid] = self.netsuite.get_by_external_id("invoice", eid, expand_sub_resources=True)
            invoice = invoices[eid]
            if invoice is None:
                continue
            # What is open for this credit memo: the invoice's remaining amount plus what an
            # earlier write of the same credit memo applied to it (a re-run must not shrink it).
            still_open = _decimal(invoice.get("amountRemaining"))
            earlier = self.netsuite.get_by_external_id("creditmemo", memo_eid, expand_sub_resources=True)
            for line in ((earlier or {}).get("apply") or {}).get("items") or []:
                if str((line.get("doc") or {}).get("id")) == str(invoice.get("id")) and line.get(
                    "apply", True
                ):
                    still_open += _decimal(line.get("amount"))
            open_amounts[record.id] = still_open
        return {"invoices": invoices, "open": open_amounts}

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        if record.data.get("kind") == INVALID_EVENT:
            return map_invalid_event(record.data)
        try:
            eid = external_id(refunded_sale_id(record.data))
        except MappingProblem:
            eid = ""
        return map_refund(
            record.data,
            self.settings,
            invoice=lookups["invoices"].get(eid),
            open_amount=lookups["open"].get(record.id),
        )

    def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        results = []
        for item in items:
            payload = item.payload
            posted = self._upsert_applied(
                item, ("creditmemo", "credit_memo"), ("customerrefund", "refund"), "refund_amount"
            )
            if isinstance(posted, WriteResult):
                results.append(posted)
                continue
            memo_id, refund_id = posted
            action = Action.UPDATED if item.target_id else Action.CREATED
            results.append(
                WriteResult(
                    item.record.id,
                    action,
                    memo_id,
                    details={"external_id": payload["external_id"], "customer_refund_id": refund_id},
                )
            )
        return results
