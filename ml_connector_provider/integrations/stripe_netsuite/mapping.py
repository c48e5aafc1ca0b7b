"""Pure mappings of Stripe money records to NetSuite transaction bodies. No I/O.

A record (see :mod:`ml_connector_provider.sources.stripe_money`) becomes:

* a one-time charge (a payment of no Stripe invoice) or a paid subscription invoice → a NetSuite
  ``invoice`` body whose ``externalId`` is ``stripe-<object id>`` (:func:`sale_external_id`), plus
  the ``customerpayment`` body applying what Stripe paid out to it (:func:`payment_body`);
* a refund → a ``creditmemo`` body applied to that invoice (:func:`map_refund`), plus a
  ``customerrefund`` body paying the credit out when the tenant asks for it.

Amounts are computed in Stripe's minor units of the charge's currency (integers, exact) and
written with the ISO 4217 decimals of the currency (``formats.money``): JPY has none, BHD three.

Amount modes: ``net`` spreads the amount charged minus Stripe's fee over the lines with the
largest-remainder method, so the lines sum to the net exactly; ``gross_with_fee_line`` keeps the
lines at the amount charged and adds a negative line on the fee item. Either way the invoice
total is what Stripe paid out (the balance transaction's net), so the payment closes it.

A partial refund credits the invoice's lines in proportion (largest remainder again); the fee
line is never reversed (Stripe keeps its fee on a refund). Out of scope: Stripe Tax amounts
(NetSuite's REST API needs SuiteTax for tax fields, contract B4), customer balance applied to an
invoice, and a fee settled in another currency than the charge; each is dead-lettered with its
reason instead of being posted wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ml_connector_provider.engine.types import DeadLetter, MapResult, Skip, Write
from ml_connector_provider.formats.money import (
    MoneyError,
    format_amount,
    from_stripe_minor_units,
    quantize_for_erp,
    to_stripe_minor_units,
)
from ml_connector_provider.integrations.stripe_netsuite.settings import StripeNetSuiteSettings

PAYMENT = "payment"
REFUND = "refund"
SUBSCRIPTION_INVOICE = "subscription_invoice"

EXTERNAL_ID_PREFIX = "stripe-"
# Stripe ids are letters, digits and underscores; NetSuite external ids are kept to letters,
# digits, '-', '_' and '.' (and 100 characters) here so that an eid: path never needs escaping.
_STRIPE_ID = re.compile(r"^(ch|in|re|cus|pi|py|prod|price|evt)_[A-Za-z0-9_]{1,80}$")
_MEMO_MAX = 999
PRODUCT_ID = re.compile(r"^prod_[A-Za-z0-9]{1,80}$")
"""A Stripe product id: only such values are looked up in NetSuite."""
UNMAPPED_PRODUCT = "unmapped product"


class MappingProblem(ValueError):
    """A record that cannot be posted as it is; carries the dead letter's reason and field."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def _check_id(value: Any, what: str, field: str) -> str:
    text = value.get("id") if isinstance(value, Mapping) else value
    if not isinstance(text, str) or not _STRIPE_ID.fullmatch(text):
        raise MappingProblem(f"{what} {str(text)[:60]!r} is not a Stripe id", field)
    return text


def external_id(stripe_id: str) -> str:
    """The NetSuite ``externalId`` of what a Stripe object posts: ``stripe-<id>``."""
    _check_id(stripe_id, "Stripe object id", "id")
    return EXTERNAL_ID_PREFIX + stripe_id


def customer_external_id(customer_id: str) -> str:
    """The NetSuite customer ``externalId`` of a Stripe customer: ``stripe-cus_…``."""
    return external_id(_check_id(customer_id, "Stripe customer", "customer"))


def sale_object_id(record: Mapping[str, Any]) -> str:
    """The Stripe object a sale record posts as one NetSuite invoice: the charge or the invoice."""
    if record.get("kind") == SUBSCRIPTION_INVOICE:
        return _check_id((record.get("invoice") or {}).get("id"), "Stripe invoice", "invoice.id")
    return _check_id((record.get("charge") or {}).get("id"), "Stripe charge", "charge.id")


def sale_external_id(record: Mapping[str, Any]) -> str:
    """``stripe-ch_…`` for a one-time charge, ``stripe-in_…`` for a subscription invoice."""
    return external_id(sale_object_id(record))


def sale_customer(record: Mapping[str, Any]) -> str | None:
    """The Stripe customer id of a sale or refund record, or ``None``."""
    for name in ("invoice", "charge", "payment_intent"):
        obj = record.get(name) or {}
        cust = obj.get("customer")
        if isinstance(cust, Mapping):
            cust = cust.get("id")
        if cust:
            return str(cust)
    return None


def customer_body(
    customer: Mapping[str, Any], settings: StripeNetSuiteSettings, *, currency: str | None = None
) -> dict[str, Any]:
    """The NetSuite customer of a Stripe customer (upserted by ``externalId`` ``stripe-cus_…``).

    :param customer: the Stripe customer (``id``, ``name``, ``email``, ``currency``).
    :param currency: the currency to use when the Stripe customer has none yet (the sale's).
    :raises MappingProblem: a hostile id, or a currency not in ``settings.currencies``.
    """
    cus = _check_id(customer.get("id"), "Stripe customer", "id")
    code = customer.get("currency") or currency
    name = " ".join(str(customer.get("name") or customer.get("email") or cus).split())[:83]
    body: dict[str, Any] = {
        "externalId": customer_external_id(cus),
        "companyName": name or cus,
        "subsidiary": {"id": settings.subsidiary_id},
    }
    if code:
        body["currency"] = {"id": _currency(code, settings, "currency")[1]}
    email = customer.get("email")
    if isinstance(email, str) and "@" in email and len(email) <= 254 and email.isprintable():
        body["email"] = email
    return body


def map_customer(record: Mapping[str, Any], settings: StripeNetSuiteSettings) -> MapResult:
    """A Stripe customer record → the NetSuite customer to upsert, or a Skip when
    ``create_customers`` is off, or a DeadLetter naming what is wrong."""
    if not settings.create_customers:
        return Skip("create_customers is off: NetSuite customers are kept by hand")
    customer = record.get("customer") or {}
    if customer.get("deleted"):
        return Skip(f"Stripe customer {customer.get('id')} is deleted; the NetSuite customer is left alone")
    try:
        body = customer_body(customer, settings)
    except MappingProblem as problem:
        return DeadLetter(problem.reason, field=problem.field)
    return Write({"external_id": body["externalId"], "customer": body})


# -- amounts --------------------------------------------------------------------------------------


def split_exact(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` spread over ``weights`` in proportion, as integers summing to ``total`` exactly.

    Largest remainder: each share is floored, and the units left go one each to the shares with
    the largest remainders (ties to the earlier line). Weights may be negative (a credit line);
    their sum must not be zero.

    :raises ValueError: when the weights sum to zero.
    """
    whole = sum(weights)
    if whole == 0:
        raise ValueError("the lines sum to zero; nothing to spread the amount over")
    if whole < 0:
        return [-share for share in split_exact(-total, [-w for w in weights])]
    floors = [(w * total) // whole for w in weights]
    remainders = [w * total - f * whole for w, f in zip(weights, floors, strict=True)]
    left = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return floors


def _amount(minor: int, currency: str, what: str) -> str:
    """A Stripe minor-unit amount as the decimal text NetSuite books, exact or MappingProblem."""
    try:
        return format_amount(quantize_for_erp(from_stripe_minor_units(minor, currency), currency, what=what))
    except MoneyError as error:
        raise MappingProblem(f"amount not representable: {error}", what) from None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingProblem(f"{what} is {value!r}, not an integer of minor units", what)
    return value


def _currency(record_currency: Any, settings: StripeNetSuiteSettings, field: str) -> tuple[str, str]:
    code = str(record_currency or "").upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise MappingProblem(f"currency {str(record_currency)[:20]!r} is not a currency code", field)
    if code not in settings.currencies:
        raise MappingProblem(
            f"currency not enabled: {code} has no NetSuite currency in settings.currencies", field
        )
    return code, settings.currencies[code]


def _fee(charges: Sequence[Mapping[str, Any]], currency: str) -> tuple[int, int]:
    """Stripe's fee and the net paid out over these charges, in the charge currency's minor units."""
    fee = 0
    net = 0
    for charge in charges:
        txn = charge.get("balance_transaction")
        if not isinstance(txn, Mapping):
            raise MappingProblem(
                f"charge {charge.get('id')} has no balance transaction yet (fee unknown)",
                "balance_transaction",
            )
        txn_fee = _int(txn.get("fee", 0), "balance_transaction.fee")
        if str(txn.get("currency") or currency).upper() != currency:
            if txn_fee:
                raise MappingProblem(
                    f"charge {charge.get('id')} settled in {str(txn.get('currency')).upper()} with a fee: "
                    f"a fee in another currency than the charge ({currency}) is out of scope",
                    "balance_transaction.currency",
                )
            fee += 0
            net += _int(charge.get("amount"), "charge.amount")
            continue
        fee += txn_fee
        net += _int(txn.get("amount", charge.get("amount")), "balance_transaction.amount") - txn_fee
    return fee, net


# -- lines ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleLine:
    """One revenue line before items: the Stripe product, price, quantity and gross minor units."""

    product: str | None
    price: str | None
    quantity: int
    amount: int
    description: str


def _line_product(line: Mapping[str, Any]) -> tuple[str | None, str | None]:
    pricing = line.get("pricing") or {}
    details = pricing.get("price_details") or {}
    product = details.get("product")
    price = details.get("price")
    legacy = line.get("price")
    if not product and isinstance(legacy, Mapping):
        product = legacy.get("product")
        price = price or legacy.get("id")
    if isinstance(product, Mapping):
        product = product.get("id")
    return (str(product) if product else None, str(price) if price else None)


def sale_lines(record: Mapping[str, Any], settings: StripeNetSuiteSettings) -> list[SaleLine]:
    """The revenue lines of a sale record, gross, with Stripe's line discounts taken off."""
    if record.get("kind") == SUBSCRIPTION_INVOICE:
        invoice = record.get("invoice") or {}
        lines = []
        for n, line in enumerate(record.get("lines") or []):
            amount = _int(line.get("amount"), f"lines[{n}].amount")
            for discount in line.get("discount_amounts") or []:
                amount -= _int(discount.get("amount"), f"lines[{n}].discount_amounts.amount")
            if line.get("taxes") and any(
                _int(t.get("amount", 0), f"lines[{n}].taxes.amount") for t in line["taxes"]
            ):
                raise MappingProblem(
                    f"Stripe invoice {invoice.get('id')} carries tax: Stripe Tax amounts are out of "
                    "scope (NetSuite REST tax needs SuiteTax)",
                    f"lines[{n}].taxes",
                )
            product, price = _line_product(line)
            quantity = line.get("quantity")
            lines.append(
                SaleLine(
                    product,
                    price,
                    quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else 1,
                    amount,
                    str(line.get("description") or "")[:200],
                )
            )
        if not lines:
            raise MappingProblem(f"Stripe invoice {invoice.get('id')} has no lines", "lines")
        return lines
    charge = record.get("charge") or {}
    intent = record.get("payment_intent") or {}
    key = settings.charge_product_metadata_key
    product = (charge.get("metadata") or {}).get(key) or (intent.get("metadata") or {}).get(key)
    return [
        SaleLine(
            str(product) if product else None,
            None,
            1,
            _int(charge.get("amount"), "charge.amount"),
            str(charge.get("description") or intent.get("description") or "")[:200],
        )
    ]


def unmapped_reason(product: str | None, price: str | None, settings: StripeNetSuiteSettings) -> str:
    """The dead-letter reason of a line whose product has no NetSuite item."""
    if not product:
        shown = f"(none: metadata.{settings.charge_product_metadata_key} is empty)"
    elif PRODUCT_ID.fullmatch(product):
        shown = product
    else:
        shown = f"{product[:60]!r} (not a Stripe product id)"
    where = f" (price {price})" if price else ""
    return (
        f"{UNMAPPED_PRODUCT} {shown}{where} — map it in settings.items or set "
        f"{settings.item_custom_field} on the item"
    )


# -- bodies ---------------------------------------------------------------------------------------


def _date(timestamp: Any) -> str:
    return datetime.fromtimestamp(_int(timestamp, "created"), tz=UTC).date().isoformat()


def _memo(text: str) -> str:
    clean = "".join(ch if ch.isprintable() else " " for ch in text)
    return clean[:_MEMO_MAX]


def _stamp(
    body: dict[str, Any], settings: StripeNetSuiteSettings, object_id: str, event_id: str | None
) -> None:
    if settings.object_id_field:
        body[settings.object_id_field] = object_id
    if settings.event_id_field and event_id:
        body[settings.event_id_field] = event_id


def map_sale(
    record: Mapping[str, Any],
    settings: StripeNetSuiteSettings,
    *,
    customer_id: str | None,
    item_ids: Mapping[str, str],
) -> MapResult:
    """A one-time charge or a paid subscription invoice → the NetSuite invoice (and payment) to write.

    :param record: a ``payment`` or ``subscription_invoice`` record of the shared Stripe reader.
    :param customer_id: the NetSuite internal id of the Stripe customer, ``None`` when not in NetSuite.
    :param item_ids: NetSuite item internal id per Stripe product id (settings and look-ups merged).
    :return: a :class:`Write` whose payload holds ``external_id``, ``invoice``, ``payment`` (or
        ``None``) and ``stripe`` (what to write back); a :class:`Skip` for a payment of a Stripe
        invoice; a :class:`DeadLetter` naming what is wrong.
    """
    try:
        return _map_sale(record, settings, customer_id=customer_id, item_ids=item_ids)
    except MappingProblem as problem:
        return DeadLetter(problem.reason, field=problem.field)


def _map_sale(
    record: Mapping[str, Any],
    settings: StripeNetSuiteSettings,
    *,
    customer_id: str | None,
    item_ids: Mapping[str, str],
) -> MapResult:
    kind = record.get("kind")
    if kind == PAYMENT:
        invoice = record.get("invoice")
        if invoice:
            return Skip(
                f"a payment of Stripe invoice {invoice.get('id')}: posted with that invoice, if a subscription's"
            )
        charge = record.get("charge") or {}
        if charge.get("status") != "succeeded":
            return Skip(f"charge {charge.get('id')} is {charge.get('status')}, not succeeded")
        charges = [charge]
        currency_field = "charge.currency"
        currency_value = charge.get("currency")
        gross = _int(charge.get("amount"), "charge.amount")
        created = charge.get("created")
        title = f"Stripe charge {charge.get('id')}"
        number = None
    elif kind == SUBSCRIPTION_INVOICE:
        invoice = record.get("invoice") or {}
        if invoice.get("status") != "paid":
            return Skip(f"Stripe invoice {invoice.get('id')} is {invoice.get('status')}, not paid")
        charges = list(record.get("payments") or [])
        currency_field = "invoice.currency"
        currency_value = invoice.get("currency")
        gross = _int(invoice.get("amount_paid"), "invoice.amount_paid")
        created = invoice.get("created")
        title = f"Stripe invoice {invoice.get('number') or invoice.get('id')}"
        number = invoice.get("number")
    else:
        raise MappingProblem(f"a record of kind {kind!r} is not a sale", "kind")
    object_id = sale_object_id(record)
    code, currency_id = _currency(currency_value, settings, currency_field)
    stripe_customer = sale_customer(record)
    if stripe_customer is None:
        raise MappingProblem(f"{title} has no Stripe customer; NetSuite needs one", "customer")
    _check_id(stripe_customer, "Stripe customer", "customer")
    if customer_id is None:
        raise MappingProblem(
            f"customer not in NetSuite: no customer with externalId {customer_external_id(stripe_customer)} "
            "(create it, or set create_customers)",
            "customer",
        )
    lines = sale_lines(record, settings)
    if sum(line.amount for line in lines) != gross:
        raise MappingProblem(
            f"{title}: the lines sum to {sum(line.amount for line in lines)} but {gross} was paid "
            "(customer balance, tax or credit notes are out of scope)",
            "amount_paid",
        )
    for line in lines:
        if line.product is None or line.product not in item_ids:
            return DeadLetter(unmapped_reason(line.product, line.price, settings), field="product")
    fee, net = _fee(charges, code)
    if settings.amount_mode == "net":
        amounts = split_exact(gross - fee, [line.amount for line in lines])
    else:
        amounts = [line.amount for line in lines]
    items: list[dict[str, Any]] = []
    for n, (line, amount) in enumerate(zip(lines, amounts, strict=True)):
        entry: dict[str, Any] = {
            "item": {"id": item_ids[str(line.product)]},
            "quantity": line.quantity,
            "amount": _amount(amount, code, f"line {n + 1} amount"),
        }
        if line.description:
            entry["description"] = line.description
        items.append(entry)
    if settings.amount_mode == "gross_with_fee_line" and fee:
        fee_line: dict[str, Any] = {
            "item": {"id": settings.fee_item},
            "quantity": 1,
            "amount": _amount(-fee, code, "fee line amount"),
            "description": "Stripe fee",
        }
        if settings.fee_account:
            fee_line["account"] = {"id": settings.fee_account}
        items.append(fee_line)
    eid = external_id(object_id)
    event_id = record.get("event_id")
    memo = f"{title}" + (f" (Stripe event {event_id})" if event_id else "")
    body: dict[str, Any] = {
        "externalId": eid,
        "entity": {"id": customer_id},
        "subsidiary": {"id": settings.subsidiary_id},
        "currency": {"id": currency_id},
        "tranDate": _date(created),
        "memo": _memo(memo),
        "item": {"items": items},
    }
    if number:
        body["otherRefNum"] = str(number)[:45]
    _stamp(body, settings, object_id, event_id if isinstance(event_id, str) else None)
    total = sum(amounts) - (fee if settings.amount_mode == "gross_with_fee_line" else 0)
    payment = None
    if settings.apply_payments:
        payment = payment_body(
            settings,
            customer_id=customer_id,
            currency_id=currency_id,
            amount=_amount(total, code, "payment amount"),
            date=_date(created),
            memo=_memo(f"Stripe payment of {title}"),
            external=EXTERNAL_ID_PREFIX + "pay-" + object_id,
        )
    return Write(
        {
            "external_id": eid,
            "invoice": body,
            "payment": payment,
            "customer": stripe_customer,
            "stripe": {"object": "invoice" if kind == SUBSCRIPTION_INVOICE else "charge", "id": object_id},
            "payment_intent": (record.get("payment_intent") or {}).get("id")
            or (record.get("charge") or {}).get("payment_intent"),
            "total": _amount(total, code, "invoice total"),
            "net": net,
        }
    )


def payment_body(
    settings: StripeNetSuiteSettings,
    *,
    customer_id: str,
    currency_id: str,
    amount: str,
    date: str,
    memo: str,
    external: str,
) -> dict[str, Any]:
    """A customer payment of ``amount``; the stream adds the ``apply`` line once the invoice has an id."""
    body: dict[str, Any] = {
        "externalId": external,
        "customer": {"id": customer_id},
        "subsidiary": {"id": settings.subsidiary_id},
        "currency": {"id": currency_id},
        "tranDate": date,
        "payment": amount,
        "memo": memo,
    }
    if settings.payment_account:
        body["account"] = {"id": settings.payment_account}
        body["undepFunds"] = False
    else:
        body["undepFunds"] = True
    return body


def apply_to(body: Mapping[str, Any], doc_id: str, amount: str) -> dict[str, Any]:
    """``body`` with one ``apply`` line paying ``amount`` of the transaction ``doc_id`` (contract B4)."""
    return {**body, "apply": {"items": [{"doc": {"id": doc_id}, "apply": True, "amount": amount}]}}


# -- refunds --------------------------------------------------------------------------------------


def refunded_sale_id(record: Mapping[str, Any]) -> str:
    """The Stripe object whose NetSuite invoice a refund credits: its subscription invoice, else its charge."""
    invoice = record.get("invoice")
    if invoice:
        return _check_id(invoice.get("id"), "Stripe invoice", "invoice.id")
    return _check_id((record.get("charge") or {}).get("id"), "Stripe charge", "refund.charge")


def map_refund(
    record: Mapping[str, Any],
    settings: StripeNetSuiteSettings,
    *,
    invoice: Mapping[str, Any] | None,
    open_amount: Any = None,
) -> MapResult:
    """A Stripe refund → a NetSuite credit memo applied to the refunded invoice (and a customer refund).

    :param record: a ``refund`` record of the shared Stripe reader.
    :param invoice: the NetSuite invoice of the refunded charge or invoice (``id``, ``entity``,
        ``currency`` and ``item.items`` with amounts), or ``None`` when it is not posted yet.
    :param open_amount: what is open on that invoice for this credit memo (its ``amountRemaining``
        plus what an earlier write of this credit memo applied to it); ``None`` or ``0`` when the
        payment closed it. The credit memo is applied to the invoice for at most this much; the
        rest stays a customer credit, which the customer refund (when configured) pays out.
    :return: a :class:`Write` with ``external_id``, ``credit_memo``, ``refund`` (or ``None``), or
        a :class:`Skip` / :class:`DeadLetter`.

    A full refund credits every line of the invoice; a partial one credits each line in proportion
    to the share refunded (largest remainder, exact). Revenue lines only: the fee line stays.
    """
    try:
        return _map_refund(record, settings, invoice=invoice, open_amount=open_amount)
    except MappingProblem as problem:
        return DeadLetter(problem.reason, field=problem.field)


def _map_refund(
    record: Mapping[str, Any],
    settings: StripeNetSuiteSettings,
    *,
    invoice: Mapping[str, Any] | None,
    open_amount: Any,
) -> MapResult:
    refund = record.get("refund") or {}
    refund_id = _check_id(refund.get("id"), "Stripe refund", "refund.id")
    status = refund.get("status")
    if status != "succeeded":
        return Skip(f"refund {refund_id} is {status}, not succeeded")
    sale_id = refunded_sale_id(record)
    if invoice is None:
        raise MappingProblem(
            f"refund {refund_id}: the NetSuite invoice {external_id(sale_id)} of {sale_id} is not posted yet",
            "charge",
        )
    charge = record.get("charge") or {}
    code, currency_id = _currency(
        refund.get("currency") or charge.get("currency"), settings, "refund.currency"
    )
    refunded = _int(refund.get("amount"), "refund.amount")
    if refunded <= 0:
        return Skip(f"refund {refund_id} is of {refunded}")
    sale = record.get("invoice") or {}
    gross = _int(sale.get("amount_paid") if sale else charge.get("amount"), "charge.amount")
    if refunded > gross:
        raise MappingProblem(f"refund {refund_id} of {refunded} exceeds the {gross} charged", "refund.amount")
    lines = []
    for line in (invoice.get("item") or {}).get("items") or []:
        item_id = str((line.get("item") or {}).get("id"))
        if settings.fee_item is not None and item_id == settings.fee_item:
            continue
        try:
            minor = to_stripe_minor_units(line.get("amount"), code, what="NetSuite invoice line amount")
        except MoneyError as error:
            raise MappingProblem(f"NetSuite invoice {invoice.get('id')}: {error}", "item") from None
        lines.append((item_id, line.get("quantity") or 1, minor, line.get("description")))
    if not lines:
        raise MappingProblem(f"NetSuite invoice {invoice.get('id')} has no revenue lines to credit", "item")
    revenue = sum(minor for _, _, minor, _ in lines)
    # What this refund credits: the revenue posted, in the share of the charge refunded.
    credit = revenue if refunded == gross else split_exact(revenue, [refunded, gross - refunded])[0]
    shares = split_exact(credit, [minor for _, _, minor, _ in lines])
    items = []
    for n, ((item_id, quantity, _, description), share) in enumerate(zip(lines, shares, strict=True)):
        if share == 0:
            continue
        entry: dict[str, Any] = {
            "item": {"id": item_id},
            "quantity": quantity if refunded == gross else 1,
            "amount": _amount(share, code, f"credit line {n + 1}"),
        }
        if description:
            entry["description"] = str(description)[:200]
        items.append(entry)
    entity = invoice.get("entity") or {}
    credit_text = _amount(credit, code, "credit memo total")
    eid = external_id(refund_id)
    kind = "full" if refunded == gross else "partial"
    body: dict[str, Any] = {
        "externalId": eid,
        "entity": {"id": str(entity.get("id"))},
        "subsidiary": {"id": settings.subsidiary_id},
        "currency": {"id": currency_id},
        "createdFrom": {"id": str(invoice.get("id"))},
        "tranDate": _date(refund.get("created")),
        "memo": _memo(f"Stripe {kind} refund {refund_id} of {sale_id}"),
        "item": {"items": items},
    }
    _stamp(
        body, settings, refund_id, record.get("event_id") if isinstance(record.get("event_id"), str) else None
    )
    try:
        still_open = max(0, to_stripe_minor_units(open_amount or 0, code, what="open amount of the invoice"))
    except MoneyError as error:
        raise MappingProblem(f"NetSuite invoice {invoice.get('id')}: {error}", "amountRemaining") from None
    applied = min(credit, still_open)
    if applied > 0:
        body = apply_to(body, str(invoice.get("id")), _amount(applied, code, "credit applied"))
    customer_refund = None
    unapplied = credit - applied
    if settings.refunds == "credit_memo_and_refund" and unapplied > 0:
        customer_refund = {
            "externalId": EXTERNAL_ID_PREFIX + "cr-" + refund_id,
            "customer": {"id": str(entity.get("id"))},
            "subsidiary": {"id": settings.subsidiary_id},
            "currency": {"id": currency_id},
            "account": {"id": settings.refund_account},
            "tranDate": _date(refund.get("created")),
            "memo": _memo(f"Stripe refund {refund_id}"),
        }
    return Write(
        {
            "external_id": eid,
            "credit_memo": body,
            "refund": customer_refund,
            "total": credit_text,
            "refund_amount": _amount(unapplied, code, "refund amount"),
            "invoice_id": str(invoice.get("id")),
        }
    )
