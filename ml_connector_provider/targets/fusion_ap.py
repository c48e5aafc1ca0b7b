"""Creating Oracle Fusion payables (AP) invoices exactly once.

Fusion keeps an AP invoice unique by business unit, supplier and invoice number, and its REST
``invoices`` create is not idempotent. :class:`FusionApInvoiceWriter` is the write side of every
stream that posts AP invoices:

1. an invoice already linked in the ledger is not posted again (changes to a posted invoice are
   reported, not applied);
2. the batch's invoice numbers are looked up in Fusion in one query; an invoice that is already
   there (keyed in by hand, or created by an attempt whose answer was lost) is linked, not created;
3. the rest are created one by one; a 400 that says the number is a duplicate is resolved by a
   case-insensitive look-up (what Fusion's duplicate check compares) and linked;
4. a refusal for a data reason, or Fusion still unavailable after the transport's retries, is a
   dead letter with the reason; a lost answer leaves the write intent in the ledger and the next
   attempt looks the invoice up before creating it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ml_connector_provider.engine.types import Action, WriteItem, WriteResult

if TYPE_CHECKING:
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook

INVOICES_RESOURCE = "invoices"
#: Fragments of Fusion's 400 message for a duplicate invoice number (exact wording UNCONFIRMED).
_DUPLICATE_HINTS = ("duplicate", "already exists", "must be unique", "already used")


class FusionApInvoiceWriter:
    """Writes AP invoice payloads to Fusion's ``invoices`` resource, at most once each.

    :param fusion: the Oracle Fusion hook (its transport retries transient failures).
    """

    def __init__(self, fusion: OracleFusionHook) -> None:
        self.fusion = fusion

    def write(self, items: Sequence[WriteItem]) -> list[WriteResult]:
        """Create the batch's invoices that Fusion does not have yet; one result per item, in order.

        Each item's payload is a Fusion ``invoices`` create body (``InvoiceNumber``,
        ``SupplierNumber``, ``BusinessUnit``, lines…); an item with a ``target_id`` is already
        linked in the ledger and is not posted again.
        """
        from ml_connector_provider.hooks.oracle_fusion import FusionFilterValueError

        # One look-up for the whole batch (by invoice number), matched on the dedup key here. An
        # invoice number no q filter can hold is that invoice's dead letter, not the batch's failure.
        unusable: dict[str, str] = {}
        numbers: list[str] = []
        for item in items:
            if item.target_id is not None:
                continue
            number = str(item.payload["InvoiceNumber"])
            try:
                self.fusion.check_lookup_value("InvoiceNumber", number)
            except FusionFilterValueError as refused:
                unusable[item.record.id] = str(refused)
                continue
            numbers.append(number)
        in_fusion = _bydedup_key(self.fusion.find_by_attribute(INVOICES_RESOURCE, "InvoiceNumber", numbers))
        return [
            WriteResult(
                item.record.id,
                Action.DEAD_LETTERED,
                reason=(
                    f"invoice {item.payload['InvoiceNumber']} of supplier {item.payload['SupplierNumber']} "
                    f"cannot be checked for a duplicate in Fusion: {unusable[item.record.id]}"
                ),
            )
            if item.record.id in unusable
            else self._write_one(item, in_fusion)
            for item in items
        ]

    def _write_one(
        self, item: WriteItem, in_fusion: dict[tuple[str, str, str], dict[str, Any]]
    ) -> WriteResult:
        from ml_connector_provider.hooks.oracle_fusion import FusionApiError, FusionBadRequest
        from ml_connector_provider.transport import ConnectionFailed, RetryExhausted

        payload = item.payload
        number = str(payload["InvoiceNumber"])
        supplier = str(payload["SupplierNumber"])
        what = f"invoice {number} of supplier {supplier}"
        if item.target_id is not None:
            return WriteResult(
                item.record.id,
                Action.SKIPPED,
                item.target_id,
                reason=(
                    f"{what} is already in Fusion as InvoiceId {item.target_id}; changes in a later "
                    "export are not applied to a posted invoice"
                ),
            )
        existing = in_fusion.get(dedup_key(payload))
        if existing is not None:
            return self._linked(item, existing, what)
        try:
            created = self.fusion.create_item(INVOICES_RESOURCE, payload)
        except FusionBadRequest as refused:
            if any(hint in refused.detail.casefold() for hint in _DUPLICATE_HINTS):
                existing = self._find_any_case(payload)
                if existing is not None:
                    return self._linked(item, existing, what)
            return WriteResult(
                item.record.id, Action.DEAD_LETTERED, reason=f"Fusion refused {what}: {refused.detail}"
            )
        except RetryExhausted as exhausted:
            return WriteResult(
                item.record.id,
                Action.DEAD_LETTERED,
                reason=(
                    f"Fusion was unavailable for {what} after {exhausted.attempts} attempt(s) "
                    f"({exhausted.last_error.message}); retried on a later run"
                ),
            )
        except FusionApiError as failed:
            if failed.status in (429, 502, 503, 504):
                return WriteResult(
                    item.record.id,
                    Action.DEAD_LETTERED,
                    reason=f"Fusion was unavailable for {what} (HTTP {failed.status}); retried on a later run",
                )
            raise
        except ConnectionFailed as lost:
            # The create may have reached Fusion: the write intent stays in the ledger, and the
            # retry looks the invoice up before creating it.
            return WriteResult(
                item.record.id,
                Action.DEAD_LETTERED,
                reason=f"no answer from Fusion for {what} ({lost}); looked up again before any new attempt",
            )
        invoice_id = created.get("InvoiceId")
        if invoice_id is None:
            raise RuntimeError(f"Fusion created {what} but its answer has no InvoiceId")
        in_fusion[dedup_key(payload)] = created
        return WriteResult(
            item.record.id,
            Action.CREATED,
            str(invoice_id),
            details={"InvoiceId": invoice_id, "InvoiceNumber": number, "SupplierNumber": supplier},
        )

    def _find_any_case(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """The supplier's invoice whose number differs from the payload's only in case (what
        Fusion's duplicate check compares), preferring one that is not cancelled."""
        folded = str(payload["InvoiceNumber"]).casefold()
        criteria = {"SupplierNumber": payload["SupplierNumber"], "BusinessUnit": payload["BusinessUnit"]}
        matches = [
            i
            for i in self.fusion.find_matching(INVOICES_RESOURCE, criteria)
            if str(i.get("InvoiceNumber", "")).casefold() == folded
        ]
        live = [i for i in matches if not _truthy(i.get("CanceledFlag"))]
        return (live or matches)[0] if matches else None

    @staticmethod
    def _linked(item: WriteItem, existing: Mapping[str, Any], what: str) -> WriteResult:
        invoice_id = existing.get("InvoiceId")
        if invoice_id is None:
            raise RuntimeError(f"Fusion listed {what} without an InvoiceId")
        return WriteResult(
            item.record.id,
            Action.SKIPPED,
            str(invoice_id),
            reason=f"{what} is already in Fusion (InvoiceId {invoice_id}); linked, not posted again",
        )


def dedup_key(invoice: Mapping[str, Any]) -> tuple[str, str, str]:
    """What Fusion keeps unique for an AP invoice: business unit, supplier, invoice number."""
    return (
        str(invoice.get("BusinessUnit")),
        str(invoice.get("SupplierNumber")),
        str(invoice.get("InvoiceNumber")),
    )


def _bydedup_key(items: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Fusion invoices by dedup key; where several share one, the one not cancelled wins."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for item in items:
        key = dedup_key(item)
        if key not in found or (
            _truthy(found[key].get("CanceledFlag")) and not _truthy(item.get("CanceledFlag"))
        ):
            found[key] = dict(item)
    return found


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().upper() in ("Y", "TRUE", "YES")
