"""Streams of the ``fusion_stripe`` integration (Oracle Fusion ⇄ Stripe).

Each stream joins a hook for reading, a pure mapping and a hook for writing; the sync engine does
the rest (windows, idempotency, ledger, dead letters). Each is built with ``from_context`` when a
:class:`~ml_connector_provider.operators.sync.SyncStreamOperator` task runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ml_connector_provider.engine.stream import Stream
from ml_connector_provider.engine.types import (
    DeadLetter,
    Link,
    MapResult,
    SourceRecord,
    StreamKey,
    Window,
    Write,
    WriteItem,
    WriteResult,
)
from ml_connector_provider.integrations.fusion_stripe.mapping import (
    InvoiceCustomer,
    customer_metadata_keys,
    invoice_metadata_keys,
    map_customer,
    map_invoice,
)
from ml_connector_provider.integrations.fusion_stripe.onboarding import MatchAction, OnboardingPlan, SiteMatch
from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings
from ml_connector_provider.integrations.fusion_stripe.stripe_writer import CustomerWriter, InvoiceWriter

if TYPE_CHECKING:
    from ml_connector_provider.engine.context import StreamContext
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
    from ml_connector_provider.hooks.stripe import StripeHook
    from ml_connector_provider.ledger import Ledger

log = logging.getLogger(__name__)

CUSTOMER_RESOURCE = "receivablesCustomerAccountSiteActivities"
CUSTOMER_KEY = "BillToSiteUseId"


UNREADABLE = "__unreadable__"
"""Key added to the data of a record whose Fusion row could not be read as one (no usable key,
no ``LastUpdateDate``…): ``{"field": …, "reason": …}``; the stream's mapping dead-letters it."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def fusion_record(
    row: dict[str, Any], hook: OracleFusionHook, *, resource: str, key: str, label: Sequence[Any]
) -> SourceRecord:
    """A Fusion row as a source record: keyed by ``key``, versioned by its ``LastUpdateDate``.

    A row without a usable key or ``LastUpdateDate`` does not stop the page: it becomes a record
    marked :data:`UNREADABLE` (keyed by its key when it has one, else by a digest of its content;
    changed at the epoch, so it never moves the cursor) that :func:`unreadable_dead_letter` turns
    into a dead letter naming the row and the field.

    :param label: parts of the human-readable reference; empty ones are left out.
    """
    text = " ".join(str(part) for part in label if part)
    key_value = row.get(key)
    changed = row.get("LastUpdateDate")
    usable_key = not (
        key_value is None or isinstance(key_value, Mapping | list | bool) or not str(key_value).strip()
    )
    problem: tuple[str, str] | None = None
    changed_at = _EPOCH
    if not usable_key:
        problem = (key, f"the Fusion {resource} row has no usable {key} ({key_value!r})")
    elif changed is None:
        problem = ("LastUpdateDate", f"Fusion {resource} row {key_value} has no LastUpdateDate")
    else:
        try:
            changed_at = hook.parse_timestamp(changed)
        except ValueError:
            problem = (
                "LastUpdateDate",
                f"Fusion {resource} row {key_value} has LastUpdateDate {changed!r}, not a timestamp",
            )
    if problem is not None:
        field, reason = problem
        digest = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:16]
        log.warning("%s (field %s); dead-lettered", reason, field)
        return SourceRecord(
            id=str(key_value) if usable_key else f"unreadable-{digest}",
            version=f"unreadable:{field}:{digest}",
            changed_at=_EPOCH,
            data={**row, UNREADABLE: {"field": field, "reason": reason}},
            label=text or None,
        )
    return SourceRecord(
        id=str(key_value),
        version=str(changed),
        changed_at=changed_at,
        data=row,
        label=text or None,
    )


def unreadable_dead_letter(record: SourceRecord) -> DeadLetter | None:
    """The dead letter of a record :func:`fusion_record` could not read, else ``None``."""
    problem = record.data.get(UNREADABLE)
    if not isinstance(problem, Mapping):
        return None
    return DeadLetter(str(problem.get("reason")), field=str(problem.get("field")))


def numeric_keys(ids: Sequence[str]) -> list[int | str]:
    """Source ids as Fusion key values: the numeric keys (``BillToSiteUseId``,
    ``CustomerTransactionId``) compared as numbers, not as quoted text."""
    # isdigit() alone would pass "²" or Arabic-Indic digits (int() fails on the first, reads the
    # second); more than 19 digits is no Fusion key (and int() fails beyond 4,300).
    return [int(i) if i.isascii() and i.isdigit() and len(i) <= 19 else i for i in ids]


def customer_record(row: dict[str, Any], hook: OracleFusionHook) -> SourceRecord:
    """A Fusion customer bill-to site row as a source record."""
    label = (row.get("AccountNumber"), row.get("BillToSiteNumber"), row.get("CustomerName"))
    return fusion_record(row, hook, resource=CUSTOMER_RESOURCE, key=CUSTOMER_KEY, label=label)


class FusionCustomersToStripe(Stream):
    """Fusion AR customer bill-to sites → Stripe customers.

    Reads ``receivablesCustomerAccountSiteActivities`` changed in the window (``LastUpdateDate``),
    maps each site with :func:`~ml_connector_provider.integrations.fusion_stripe.mapping.map_customer` and
    creates or updates the Stripe customer with one call each (:class:`~.stripe_writer.CustomerWriter`).
    A site an interrupted attempt may have created already is looked up first, never duplicated.

    On the first sync of a tenant (no cursor yet) with ``onboarding.enabled``, the onboarding pass
    (:mod:`~.onboarding`) matches the Fusion sites with the customers the Stripe account already
    has: a matched site updates and links that customer instead of creating another, an ambiguous
    one is dead-lettered with every candidate named. The retry of such a dead letter matches the
    site again. With the run param ``onboarding_dry_run`` the task only logs the plan.

    :param fusion: hook of the tenant's Fusion connection.
    :param stripe: hook of the tenant's Stripe connection.
    :param settings: the tenant's ``fusion_stripe`` settings.
    :param ledger: the ledger (first-sync test, links of other sites, open dead letters); without
        it there is no onboarding.
    :param key: this stream's key.
    :param params: the DAG run's params (``onboarding_dry_run``).
    """

    source_system = "fusion"
    target_system = "stripe"

    @classmethod
    def from_context(cls, ctx: StreamContext) -> FusionCustomersToStripe:
        from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
        from ml_connector_provider.hooks.stripe import StripeHook

        settings = ctx.settings_as(FusionStripeSettings)
        return cls(
            OracleFusionHook(ctx.connections["fusion"]),
            StripeHook(ctx.connections["stripe"]),
            settings,
            ledger=ctx.ledger,
            key=ctx.key,
            params=ctx.params,
        )

    def __init__(
        self,
        fusion: OracleFusionHook,
        stripe: StripeHook,
        settings: FusionStripeSettings,
        *,
        ledger: Ledger | None = None,
        key: StreamKey | None = None,
        params: Any = None,
    ) -> None:
        self.fusion = fusion
        self.stripe = stripe
        self.settings = settings
        self.ledger = ledger
        self.key = key
        self.params = dict(params or {})
        keys = customer_metadata_keys(settings.customer_metadata_prefix)
        self._site_key = keys["site_use_id"]
        self.writer = CustomerWriter(stripe, site_key=self._site_key, managed_keys=keys.values())
        self._plan: OnboardingPlan | None = None
        self._first_sync: bool | None = None
        self._ambiguous: list[SourceRecord] | None = None
        self._matched: dict[str, str] = {}

    def dry_run(self) -> Mapping[str, Any] | None:
        if not self.params.get("onboarding_dry_run"):
            return None
        from ml_connector_provider.integrations.fusion_stripe.onboarding import (
            plan_onboarding,
            plan_to_json,
            render_plan,
        )

        plan = plan_onboarding(self.fusion, self.stripe, self.settings, ledger=self.ledger, key=self.key)
        log.info("Onboarding plan (dry run: nothing is written):\n%s", render_plan(plan))
        return {"onboarding": plan_to_json(plan)}

    def read(self, window: Window) -> Iterable[Sequence[SourceRecord]]:
        for page in self.fusion.iter_changed(
            CUSTOMER_RESOURCE, key_attr=CUSTOMER_KEY, since=window.start, until=window.end
        ):
            yield [customer_record(row, self.fusion) for row in page]

    def fetch(self, ids: Sequence[str]) -> Iterable[SourceRecord]:
        for row in self.fusion.find_by_attribute(CUSTOMER_RESOURCE, CUSTOMER_KEY, numeric_keys(ids)):
            yield customer_record(row, self.fusion)

    def prepare(self, records: Sequence[SourceRecord], links: Mapping[str, Link]) -> Any:
        """The onboarding verdicts of the batch's unlinked sites (empty when onboarding is off)."""
        unlinked = [r for r in records if r.id not in links]
        if not unlinked or self.ledger is None or self.key is None or not self.settings.onboarding.enabled:
            return {}
        from ml_connector_provider.integrations.fusion_stripe.onboarding import (
            ambiguous_dead_letters,
            ledger_claims,
            plan_onboarding,
            rematch_sites,
        )

        if self._first_sync is None:
            self._first_sync = self.ledger.get_cursor(self.key) is None
        verdicts: dict[str, SiteMatch] = {}
        if self._first_sync:
            if self._plan is None:
                self._plan = plan_onboarding(
                    self.fusion,
                    self.stripe,
                    self.settings,
                    ledger=self.ledger,
                    key=self.key,
                    read_sites_for_empty_account=False,
                )
                plan = self._plan
                log.info(
                    "%s: first sync: onboarding links %d site(s) to existing Stripe customers, creates %d, "
                    "leaves %d ambiguous (dead-lettered) and %d Stripe customer(s) alone",
                    self.key,
                    len(plan.links),
                    len(plan.creates),
                    len(plan.ambiguous),
                    len(plan.left_alone),
                )
            for record in unlinked:
                match = self._plan.match_for(record.id)
                if match is not None:
                    verdicts[record.id] = match
            return verdicts
        if self._ambiguous is None:
            self._ambiguous = ambiguous_dead_letters(self.ledger, self.key)
        waiting = {r.id for r in self._ambiguous}
        again = [r for r in unlinked if r.id in waiting]
        if again:
            claims = ledger_claims(self.ledger, self.key)

            def claimed_by(customer_id: str) -> str | None:
                return self._matched.get(customer_id) or claims(customer_id)

            verdicts = rematch_sites(
                again, self.stripe, self.settings, claimed_by=claimed_by, competing=self._ambiguous
            )
        return verdicts

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        unreadable = unreadable_dead_letter(record)
        if unreadable is not None:
            return unreadable
        match = (lookups or {}).get(record.id)
        if match is not None and match.action is MatchAction.AMBIGUOUS:
            return DeadLetter(match.reason)
        result = map_customer(
            record.data,
            metadata_prefix=self.settings.customer_metadata_prefix,
            business_units=self.settings.business_units,
        )
        if match is not None and match.action is MatchAction.LINK and isinstance(result, Write):
            # The payload is unchanged; the existing customer becomes the target of the write.
            self._matched[str(match.customer_id)] = record.id
        return result

    def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        targets = {site: customer for customer, site in self._matched.items()}
        matched = [
            replace(item, target_id=targets[item.record.id])
            if item.target_id is None and item.record.id in targets
            else item
            for item in items
        ]
        return self.writer.write(matched)

    def close(self) -> None:
        self.fusion.close()


INVOICE_RESOURCE = "receivablesInvoices"
INVOICE_KEY = "CustomerTransactionId"
INVOICE_LINES = "receivablesInvoiceLines"


def invoice_record(row: dict[str, Any], hook: OracleFusionHook) -> SourceRecord:
    """A Fusion receivables invoice row as a source record, with all its lines as a list.

    The lines come from the row when it was read with ``expand`` and holds them all (REST
    framework version 3 and later inline one page only); otherwise they are read.
    """
    from ml_connector_provider.hooks.oracle_fusion import expanded_items

    value = row.get(INVOICE_LINES)
    lines: Any
    if isinstance(value, list):
        lines = value  # inlined as an array (framework 1-2), as received: the mapping checks each line
    elif value is None or (isinstance(value, Mapping) and isinstance(value.get("items"), list)):
        rows, complete = expanded_items(row, INVOICE_LINES)
        if isinstance(value, Mapping) and len(rows) != len(value["items"]):
            lines = value["items"]  # entries that are not lines: for the mapping to name
        elif complete or row.get(INVOICE_KEY) is None:
            lines = rows  # (no key to read the lines by: dead-lettered for the key)
        else:
            lines = hook.child_items(INVOICE_RESOURCE, row[INVOICE_KEY], INVOICE_LINES)
    else:
        lines = value  # not lines at all: kept as received, for the mapping to name
    row = {**row, INVOICE_LINES: lines}
    label = ("invoice", row.get("TransactionNumber"), row.get("BillToCustomerName"))
    return fusion_record(row, hook, resource=INVOICE_RESOURCE, key=INVOICE_KEY, label=label)


def requested_invoice_numbers(params: Any) -> list[str]:
    """The ``invoice_numbers`` DAG-run param as a clean list (a list or a comma-separated string)."""
    value = (params or {}).get("invoice_numbers") or []
    if isinstance(value, str):
        value = value.split(",")
    return list(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))


class FusionInvoicesToStripe(Stream):
    """Fusion AR invoices → finalized Stripe invoices for collection.

    Reads ``receivablesInvoices`` (lines expanded) changed in the window, or, in ``on_demand``
    mode, the invoice numbers given in the run's ``invoice_numbers`` param. Each complete invoice
    whose bill-to site the customers stream has synced becomes a ``send_invoice`` Stripe invoice:
    a draft, every Fusion line added in one call (exact minor units), the total checked against
    Fusion's, finalized, and e-mailed when the tenant asks for it — four calls
    (:class:`~.stripe_writer.InvoiceWriter`). A due date that has passed is handled by the
    tenant's ``past_due_date`` setting.

    Every step is idempotent and resumable: an invoice an interrupted attempt may have started is
    looked up by the Fusion transaction id in its metadata, a draft gets only its missing lines
    (matched by the Fusion line id), and an invoice is e-mailed at most once. A finalized Stripe
    invoice is never changed: later edits in Fusion are reported as skipped with the reason.

    :param fusion: hook of the tenant's Fusion connection.
    :param stripe: hook of the tenant's Stripe connection.
    :param settings: the tenant's ``fusion_stripe`` settings.
    :param ledger: the ledger (links of the customers stream).
    :param key: this stream's key.
    :param params: the DAG run's params (``invoice_numbers``).
    """

    source_system = "fusion"
    target_system = "stripe"

    @classmethod
    def from_context(cls, ctx: StreamContext) -> FusionInvoicesToStripe:
        from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
        from ml_connector_provider.hooks.stripe import StripeHook

        return cls(
            OracleFusionHook(ctx.connections["fusion"]),
            StripeHook(ctx.connections["stripe"]),
            ctx.settings_as(FusionStripeSettings),
            ctx.ledger,
            ctx.key,
            ctx.params,
        )

    def __init__(
        self,
        fusion: OracleFusionHook,
        stripe: StripeHook,
        settings: FusionStripeSettings,
        ledger: Ledger,
        key: StreamKey,
        params: Any = None,
    ) -> None:
        self.fusion = fusion
        self.stripe = stripe
        self.settings = settings
        self.ledger = ledger
        self.key = key
        self.params = dict(params or {})
        self._keys = invoice_metadata_keys(settings.customer_metadata_prefix)
        self.writer = InvoiceWriter(stripe, settings, self._keys)

    def read(self, window: Window) -> Iterable[Sequence[SourceRecord]]:
        if self.settings.invoice_mode == "on_demand":
            numbers = requested_invoice_numbers(self.params)
            if not numbers:
                log.info(
                    "%s: invoice_mode is on_demand and the run names no invoice_numbers; nothing to send",
                    self.key,
                )
                return
            rows = self.fusion.find_by_attribute(
                INVOICE_RESOURCE, "TransactionNumber", numbers, expand=INVOICE_LINES
            )
            found = {str(r.get("TransactionNumber")) for r in rows}
            unknown = [n for n in numbers if n not in found]
            if unknown:
                log.warning("%s: Fusion has no invoice numbered %s", self.key, ", ".join(unknown))
            records = sorted(
                (invoice_record(r, self.fusion) for r in rows), key=lambda r: (r.changed_at, r.id)
            )
            if records:
                yield records
            return
        for page in self.fusion.iter_changed(
            INVOICE_RESOURCE, key_attr=INVOICE_KEY, since=window.start, until=window.end, expand=INVOICE_LINES
        ):
            yield [invoice_record(row, self.fusion) for row in page]

    def fetch(self, ids: Sequence[str]) -> Iterable[SourceRecord]:
        keys = numeric_keys(ids)
        for row in self.fusion.find_by_attribute(INVOICE_RESOURCE, INVOICE_KEY, keys, expand=INVOICE_LINES):
            yield invoice_record(row, self.fusion)

    def prepare(self, records: Sequence[SourceRecord], links: Mapping[str, Link]) -> Any:
        accounts = sorted(
            {str(r.data.get("BillToCustomerNumber")) for r in records if r.data.get("BillToCustomerNumber")}
        )
        sites: dict[tuple[str, str], str] = {}
        if accounts:
            for row in self.fusion.find_by_attribute(CUSTOMER_RESOURCE, "AccountNumber", accounts):
                sites[(str(row.get("AccountNumber")), str(row.get("BillToSiteNumber")))] = str(
                    row[CUSTOMER_KEY]
                )
        customers_key = StreamKey(self.key.tenant, self.key.integration, "customers")
        links = self.ledger.get_links(customers_key, sorted(set(sites.values())))
        return {
            pair: InvoiceCustomer(site_use_id, links[site_use_id].target_id if site_use_id in links else None)
            for pair, site_use_id in sites.items()
        }

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        unreadable = unreadable_dead_letter(record)
        if unreadable is not None:
            return unreadable
        pair = (str(record.data.get("BillToCustomerNumber")), str(record.data.get("BillToSite")))
        return map_invoice(
            record.data,
            customer=lookups.get(pair),
            metadata_prefix=self.settings.customer_metadata_prefix,
            business_units=self.settings.business_units,
            default_days_until_due=self.settings.default_days_until_due,
        )

    def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        return self.writer.write(items)

    def close(self) -> None:
        self.fusion.close()
