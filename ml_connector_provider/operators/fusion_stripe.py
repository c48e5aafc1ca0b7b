"""Streams of the ``fusion_stripe`` integration (Oracle Fusion ⇄ Stripe).

Each stream joins a hook for reading, a pure mapping and a hook for writing; the sync engine does
the rest (windows, idempotency, ledger, dead letters). Built by :func:`build_stream` when a
:class:`~ml_connector_provider.operators.sync.SyncStreamOperator` task runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ml_connector_provider.engine.stream import Stream
from ml_connector_provider.engine.types import (
    Action,
    MapResult,
    SourceRecord,
    Window,
    WriteItem,
    WriteResult,
)
from ml_connector_provider.mappings.fusion_stripe import customer_metadata_keys, map_customer

if TYPE_CHECKING:
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
    from ml_connector_provider.hooks.stripe import StripeHook
    from ml_connector_provider.integrations.fusion_stripe import FusionStripeSettings
    from ml_connector_provider.operators.sync import StreamContext

log = logging.getLogger(__name__)

CUSTOMER_RESOURCE = "receivablesCustomerAccountSiteActivities"
CUSTOMER_KEY = "BillToSiteUseId"


def customer_record(row: dict[str, Any], hook: OracleFusionHook) -> SourceRecord:
    """A Fusion customer bill-to site row as a source record."""
    changed = row.get("LastUpdateDate")
    if changed is None:
        raise ValueError(f"Fusion {CUSTOMER_RESOURCE} row {row.get(CUSTOMER_KEY)} has no LastUpdateDate")
    label = " ".join(
        str(part)
        for part in (row.get("AccountNumber"), row.get("BillToSiteNumber"), row.get("CustomerName"))
        if part
    )
    return SourceRecord(
        id=str(row[CUSTOMER_KEY]),
        version=str(changed),
        changed_at=hook.parse_timestamp(changed),
        data=row,
        label=label or None,
    )


class FusionCustomersToStripe(Stream):
    """Fusion AR customer bill-to sites → Stripe customers.

    Reads ``receivablesCustomerAccountSiteActivities`` changed in the window (``LastUpdateDate``),
    maps each site with :func:`~ml_connector_provider.mappings.fusion_stripe.map_customer` and
    creates or updates the Stripe customer. Before creating, it looks the site up in Stripe by the
    ``<prefix>bill_to_site_use_id`` metadata key, so a customer created earlier (by a run whose
    ledger commit was lost, or before the ledger existed) is linked instead of duplicated.

    :param fusion: hook of the tenant's Fusion connection.
    :param stripe: hook of the tenant's Stripe connection.
    :param settings: the tenant's ``fusion_stripe`` settings.
    """

    source_system = "fusion"
    target_system = "stripe"

    def __init__(self, fusion: OracleFusionHook, stripe: StripeHook, settings: FusionStripeSettings) -> None:
        self.fusion = fusion
        self.stripe = stripe
        self.settings = settings
        self._site_key = customer_metadata_keys(settings.customer_metadata_prefix)["site_use_id"]

    def read(self, window: Window) -> Iterable[Sequence[SourceRecord]]:
        for page in self.fusion.iter_changed(
            CUSTOMER_RESOURCE, key_attr=CUSTOMER_KEY, since=window.start, until=window.end
        ):
            yield [customer_record(row, self.fusion) for row in page]

    def fetch(self, ids: Sequence[str]) -> Iterable[SourceRecord]:
        for row in self.fusion.get_items(CUSTOMER_RESOURCE, CUSTOMER_KEY, ids):
            yield customer_record(row, self.fusion)

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        return map_customer(
            record.data,
            metadata_prefix=self.settings.customer_metadata_prefix,
            business_units=self.settings.business_units,
        )

    def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        from ml_connector_provider.hooks.stripe import StripeRecordError

        results: list[WriteResult] = []
        for item in items:
            try:
                results.append(self._write_one(item))
            except StripeRecordError as err:
                results.append(
                    WriteResult(item.record.id, Action.DEAD_LETTERED, reason=f"Stripe refused it: {err}")
                )
        return results

    def _write_one(self, item: WriteItem) -> WriteResult:
        from ml_connector_provider.hooks.stripe import StripeRecordError

        if item.target_id is not None:
            try:
                self.stripe.update_customer(
                    item.target_id, item.payload, idempotency_key=item.idempotency_key
                )
                return WriteResult(item.record.id, Action.UPDATED, item.target_id)
            except StripeRecordError as err:
                if err.code != "resource_missing":
                    raise
                log.warning(
                    "Stripe customer %s linked to Fusion site %s no longer exists; linking or creating anew",
                    item.target_id,
                    item.record.id,
                )
        existing = self.stripe.find_customer_by_metadata(self._site_key, item.record.id)
        if existing is not None:
            target_id = str(existing["id"])
            self.stripe.update_customer(target_id, item.payload, idempotency_key=_update_key(item, target_id))
            return WriteResult(item.record.id, Action.UPDATED, target_id)
        created = self.stripe.create_customer(item.payload, idempotency_key=item.idempotency_key)
        return WriteResult(item.record.id, Action.CREATED, str(created["id"]))

    def close(self) -> None:
        self.fusion.close()


def _update_key(item: WriteItem, target_id: str) -> str:
    # Stripe rejects a key reused for a different request, so an update never reuses the key of
    # the create that may have happened for the same content.
    return f"{item.idempotency_key}-upd-{target_id}"


def build_stream(ctx: StreamContext) -> Stream:
    """Build the named stream of the ``fusion_stripe`` integration for one tenant."""
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
    from ml_connector_provider.hooks.stripe import StripeHook
    from ml_connector_provider.integrations.fusion_stripe import FusionStripeSettings

    settings = ctx.settings
    if not isinstance(settings, FusionStripeSettings):  # pragma: no cover - guarded by the operator
        raise TypeError(f"expected FusionStripeSettings, got {type(settings).__name__}")
    fusion = OracleFusionHook(ctx.connections["fusion"])
    stripe = StripeHook(ctx.connections["stripe"])
    if ctx.stream == "customers":
        return FusionCustomersToStripe(fusion, stripe, settings)
    raise KeyError(f"fusion_stripe has no stream {ctx.stream!r}")
