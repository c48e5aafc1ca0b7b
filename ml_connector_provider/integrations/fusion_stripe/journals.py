"""Pure mappings of Stripe money movements to Oracle Fusion general-ledger journals.

The streams gather, for each payment, refund or paid subscription invoice, the Stripe objects
involved (trimmed to the fields used here, see :func:`trim_charge` and friends) into one record.
These functions turn such a record into a balanced journal, a :class:`Skip` or a
:class:`DeadLetter`. No I/O.

Posting rules (amounts from the charge's or refund's balance transaction, so in the settlement
currency, net of Stripe's fees):

* **payment** of an invoice: debit cash clearing with the net amount, debit the fee account with
  the fee, credit AR suspense with the gross amount;
* **paid subscription invoice**: the same, crediting the subscription revenue account;
* **refund**: the reverse of the payment, on the account the payment credited.

A positive signed amount is a debit, a negative one a credit, so the same code posts both
directions and every journal balances by construction (``net + fee - gross == 0``).

Stripe amounts are read with Stripe's exponent and booked with the ISO 4217 decimals of the
currency (5 ISK is ``500`` in Stripe and ``5`` in the journal); an amount the ledger currency cannot
hold exactly dead-letters the record instead of being rounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ml_connector_provider.engine.types import DeadLetter, MapResult, Skip, Write
from ml_connector_provider.formats.money import (
    MoneyError,
    format_amount,
    from_stripe_minor_units,
    quantize_for_erp,
)
from ml_connector_provider.integrations.fusion_stripe.mapping import invoice_metadata_keys
from ml_connector_provider.sources.stripe_objects import (
    PAYMENT,
    REFUND,
    SUBSCRIPTION_INVOICE,
    subscription_of,
    trim_balance_transaction,
    trim_charge,
    trim_invoice,
    trim_payment_intent,
    trim_refund,
)

__all__ = [
    "PAYMENT",
    "REFUND",
    "SUBSCRIPTION_INVOICE",
    "FusionInvoiceRef",
    "PostingAccounts",
    "fusion_reference",
    "map_payment",
    "map_subscription_invoice",
    "payment_key",
    "subscription_of",
    "trim_balance_transaction",
    "trim_charge",
    "trim_invoice",
    "trim_payment_intent",
    "trim_refund",
]

# GL_INTERFACE column sizes: REFERENCE1/REFERENCE4 (batch and journal names) 100 characters,
# descriptions 240.
_MAX_NAME = 100
_MAX_DESCRIPTION = 240


@dataclass(frozen=True)
class PostingAccounts:
    """The accounts and journal attributes a journal mapping needs (from the tenant's ``gl`` settings)."""

    cash_clearing: str
    ar_suspense: str
    fees: str
    subscription_revenue: str | None
    category: str

    @classmethod
    def from_settings(cls, gl: Any) -> PostingAccounts:
        return cls(
            cash_clearing=gl.cash_clearing_account,
            ar_suspense=gl.ar_suspense_account,
            fees=gl.fee_account,
            subscription_revenue=gl.subscription_revenue_account,
            category=gl.journal_category,
        )

    @property
    def subscription_credit(self) -> str:
        return self.subscription_revenue or self.ar_suspense


@dataclass(frozen=True)
class FusionInvoiceRef:
    """Where a Stripe payment names its Fusion invoice.

    :param attribute: ``CustomerTransactionId`` or ``TransactionNumber``.
    :param value: the id or number.
    :param where: the Stripe object and metadata key it came from, for messages.
    :param field: the metadata key, as the dead letter's field.
    :param number: the transaction number, when the metadata carries it.
    """

    attribute: str
    value: str
    where: str
    field: str
    number: str | None


# -- references -----------------------------------------------------------------------------------


def fusion_reference(record: Mapping[str, Any], prefix: str) -> FusionInvoiceRef | None:
    """Find the Fusion invoice a payment names: the Stripe invoice's metadata first, then the
    payment intent's, then the charge's; a transaction id wins over a number in the same object."""
    keys = invoice_metadata_keys(prefix)
    sources = (
        ("invoice", record.get("invoice")),
        ("payment intent", record.get("payment_intent")),
        ("charge", record.get("charge")),
    )
    for kind, obj in sources:
        if not obj:
            continue
        metadata = obj.get("metadata") or {}
        number = str(metadata.get(keys["transaction_number"]) or "").strip() or None
        transaction_id = str(metadata.get(keys["transaction_id"]) or "").strip() or None
        where = f"Stripe {kind} {obj.get('id')}"
        if transaction_id:
            return FusionInvoiceRef(
                "CustomerTransactionId",
                transaction_id,
                f"{where} metadata {keys['transaction_id']}",
                f"metadata.{keys['transaction_id']}",
                number,
            )
        if number:
            return FusionInvoiceRef(
                "TransactionNumber",
                number,
                f"{where} metadata {keys['transaction_number']}",
                f"metadata.{keys['transaction_number']}",
                number,
            )
    return None


# -- journals -------------------------------------------------------------------------------------


def _date_of(timestamp: Any) -> str:
    return datetime.fromtimestamp(int(timestamp), tz=UTC).date().isoformat()


def _line(account: str, signed: Decimal, description: str, reference: str) -> dict[str, Any]:
    return {
        "account": account,
        "debit": format_amount(signed) if signed > 0 else None,
        "credit": format_amount(-signed) if signed < 0 else None,
        "description": description[:_MAX_DESCRIPTION],
        "reference": reference[:_MAX_NAME],
    }


def _money_lines(
    key: str,
    txn: Mapping[str, Any],
    *,
    cash: str,
    fees: str,
    counter: str,
    counter_text: str,
) -> list[dict[str, Any]] | DeadLetter:
    currency = str(txn.get("currency") or "")
    try:
        gross, fee, net = (int(txn[name]) for name in ("amount", "fee", "net"))
    except (KeyError, TypeError, ValueError):
        return DeadLetter(
            f"balance transaction {txn.get('id')} has no amount, fee or net", field="balance_transaction"
        )
    if gross - fee != net:
        return DeadLetter(
            f"balance transaction {txn.get('id')} does not add up: amount {gross} - fee {fee} ≠ net {net}",
            field="balance_transaction",
        )
    lines = []
    for n, (account, minor, text) in enumerate(
        (
            (cash, net, "Stripe net amount"),
            (fees, fee, "Stripe fees"),
            (counter, -gross, counter_text),
        ),
        start=1,
    ):
        if not minor:
            continue
        # Stripe counts in its own exponent; the Fusion journal books ISO 4217 decimals.
        try:
            amount = quantize_for_erp(from_stripe_minor_units(minor, currency), currency, what=text)
        except MoneyError as error:
            return DeadLetter(f"balance transaction {txn.get('id')}: {error}", field="balance_transaction")
        lines.append(_line(account, amount, f"{text} {key}", f"{key}:{n}"))
    return lines


def _journal(
    key: str,
    *,
    title: str,
    description: str,
    txn: Mapping[str, Any],
    lines: list[dict[str, Any]],
    category: str,
    references: Mapping[str, Any],
) -> dict[str, Any]:
    name = f"Stripe {key}"
    return {
        "batch_name": name[:_MAX_NAME],
        "batch_description": description[:_MAX_DESCRIPTION],
        "journal_name": f"{title} {key}"[:_MAX_NAME],
        "journal_description": description[:_MAX_DESCRIPTION],
        "accounting_date": _date_of(txn.get("created")),
        "currency": str(txn.get("currency") or "").upper(),
        "category": category,
        "lines": lines,
        "references": {k: v for k, v in references.items() if v},
    }


def payment_key(record: Mapping[str, Any]) -> str:
    """The id a payment is keyed by: its payment intent, or its charge when it has none."""
    intent = record.get("payment_intent") or {}
    charge = record.get("charge") or {}
    return str(intent.get("id") or charge.get("id"))


def map_payment(
    record: Mapping[str, Any],
    *,
    accounts: PostingAccounts,
    prefix: str,
    fusion_invoice: Mapping[str, Any] | None,
    linked: bool,
) -> MapResult:
    """Map one Stripe payment (``kind == "payment"``) or refund (``kind == "refund"``) to a journal.

    :param record: the trimmed Stripe objects: ``charge`` (with its balance transaction),
        ``payment_intent``, ``invoice`` (the Stripe invoice it paid, if any) and, for a refund,
        ``refund`` (with its balance transaction).
    :param accounts: where to post.
    :param prefix: the tenant's Stripe metadata prefix.
    :param fusion_invoice: the Fusion invoice the reference names, ``None`` when not found.
    :param linked: the record was posted before; the Fusion invoice is then not required to
        still exist, so an unchanged payment stays unchanged.
    """
    kind = record.get("kind")
    charge = record.get("charge") or {}
    invoice = record.get("invoice")
    subscription = subscription_of(invoice)
    key = payment_key(record)

    if kind == PAYMENT:
        if charge.get("status") != "succeeded":
            return Skip(
                f"charge {charge.get('id')} has status {charge.get('status')}; only succeeded charges post"
            )
        if subscription is not None:
            return Skip(
                f"payment of subscription invoice {invoice and invoice.get('id')}: posted by the subscriptions stream"
            )
        txn = charge.get("balance_transaction")
    elif kind == REFUND:
        refund = record.get("refund") or {}
        if refund.get("status") != "succeeded":
            return Skip(
                f"refund {refund.get('id')} has status {refund.get('status')}; it posts once succeeded"
            )
        key = str(refund.get("id"))
        txn = refund.get("balance_transaction")
    else:
        return DeadLetter(f"unknown Stripe record kind {kind!r}", field="kind")
    if not txn:
        return DeadLetter(f"Stripe gave no balance transaction for {key}", field="balance_transaction")

    reference = fusion_reference(record, prefix)
    number: str | None = None
    if subscription is None:
        if reference is None:
            keys = invoice_metadata_keys(prefix)
            return DeadLetter(
                f"no Fusion invoice reference: no metadata {keys['transaction_number']} or "
                f"{keys['transaction_id']} on the Stripe invoice, payment intent or charge of {key}",
                field=f"metadata.{keys['transaction_number']}",
            )
        if fusion_invoice is None and not linked:
            return DeadLetter(
                f"Fusion invoice {reference.value} named in {reference.where} does not exist in Fusion",
                field=reference.field,
            )
        number = reference.number or (
            str(fusion_invoice.get("TransactionNumber")) if fusion_invoice else None
        )
    counter = accounts.ar_suspense if subscription is None else accounts.subscription_credit
    target = f"Fusion invoice {number or (reference.value if reference else '')}".strip()
    if subscription is not None:
        target = f"subscription {subscription}"
    if kind == PAYMENT:
        title = "Stripe payment"
        description = f"Stripe payment {key} for {target}"
        counter_text = "Payment of " + target
    else:
        title = "Stripe refund"
        description = f"Stripe refund {key} of payment {payment_key(record)} for {target}"
        counter_text = "Refund of " + target
    lines = _money_lines(
        key, txn, cash=accounts.cash_clearing, fees=accounts.fees, counter=counter, counter_text=counter_text
    )
    if isinstance(lines, DeadLetter):
        return lines
    if not lines:
        return Skip(f"{key} moved no money")
    references = {
        "stripe_payment_intent": (record.get("payment_intent") or {}).get("id"),
        "stripe_charge": charge.get("id"),
        "stripe_refund": (record.get("refund") or {}).get("id") if kind == REFUND else None,
        "stripe_invoice": invoice.get("id") if invoice else None,
        "stripe_balance_transaction": txn.get("id"),
        "fusion_invoice_number": number,
        "fusion_transaction_id": reference.value
        if reference and reference.attribute == "CustomerTransactionId"
        else None,
        "stripe_subscription": subscription,
    }
    return Write(
        _journal(
            key,
            title=title,
            description=description,
            txn=txn,
            lines=lines,
            category=accounts.category,
            references=references,
        )
    )


def map_subscription_invoice(record: Mapping[str, Any], *, accounts: PostingAccounts) -> MapResult:
    """Map a paid subscription invoice (``kind == "subscription_invoice"``) to its billing cycle's journal.

    :param record: ``invoice`` (trimmed) and ``payments``: the charges that paid it, each with its
        balance transaction.
    """
    invoice = record.get("invoice") or {}
    invoice_id = str(invoice.get("id"))
    subscription = subscription_of(invoice)
    if subscription is None:
        return Skip(f"invoice {invoice_id} is not a subscription invoice")
    if invoice.get("status") != "paid":
        return Skip(f"subscription invoice {invoice_id} has status {invoice.get('status')}")
    charges = [c for c in record.get("payments") or [] if (c or {}).get("status") == "succeeded"]
    if not charges:
        return Skip(f"subscription invoice {invoice_id} was not paid through Stripe (nothing collected)")
    txns = [c.get("balance_transaction") for c in charges]
    if any(not t for t in txns):
        return DeadLetter(
            f"Stripe gave no balance transaction for a payment of {invoice_id}", field="balance_transaction"
        )
    currencies = {str(t["currency"]) for t in txns if t}
    if len(currencies) != 1:
        return DeadLetter(
            f"subscription invoice {invoice_id} was paid in several settlement currencies ({', '.join(sorted(currencies))})",
            field="balance_transaction.currency",
        )
    combined = {
        "id": ",".join(str(t["id"]) for t in txns if t),
        "currency": currencies.pop(),
        "amount": sum(int(t["amount"]) for t in txns if t),
        "fee": sum(int(t["fee"]) for t in txns if t),
        "net": sum(int(t["net"]) for t in txns if t),
        "created": max(int(t["created"]) for t in txns if t),
    }
    period = ""
    if invoice.get("period_start") and invoice.get("period_end"):
        period = f" {_date_of(invoice['period_start'])} to {_date_of(invoice['period_end'])}"
    target = f"subscription {subscription}{period}"
    lines = _money_lines(
        invoice_id,
        combined,
        cash=accounts.cash_clearing,
        fees=accounts.fees,
        counter=accounts.subscription_credit,
        counter_text="Subscription billing",
    )
    if isinstance(lines, DeadLetter):
        return lines
    if not lines:
        return Skip(f"subscription invoice {invoice_id} moved no money")
    number = invoice.get("number")
    description = f"Stripe subscription invoice {number or invoice_id} for {target}"
    return Write(
        _journal(
            invoice_id,
            title="Stripe subscription",
            description=description,
            txn=combined,
            lines=lines,
            category=accounts.category,
            references={
                "stripe_invoice": invoice_id,
                "stripe_invoice_number": number,
                "stripe_subscription": subscription,
                "stripe_charges": ",".join(str(c.get("id")) for c in charges),
                "stripe_billing_reason": invoice.get("billing_reason"),
            },
        )
    )
