"""How the ``fusion_stripe`` streams write to Stripe: the fewest calls, nothing twice, recovery that works.

Stripe keeps the answer to an idempotency key for at least 24 hours and then forgets it; its search
is eventually consistent (usually under a minute, longer during incidents) and shows a deleted
customer as a normal one for a while; its lists are consistent. The writers below are built on
those facts (contract ``stripe_salesforce.md`` A4, A8 and Appendix S):

* **A record the ledger knows nothing about is simply created**: one ``POST``, no search first.
  The engine records a write intent before every create and clears it with the batch commit, so a
  record without an open intent cannot have been created by an earlier attempt.
* **A record with an open intent** (a crash between Stripe's answer and the ledger commit, or a
  dead letter after a partial write) is looked up before anything is created:

  - within :data:`IDEMPOTENCY_WINDOW` of its first intent, and with the same key, the create is
    simply sent again: Stripe replays its first answer instead of creating a second object;
  - otherwise, within :data:`LIST_LOOKBACK`, the account's objects created since the intent are
    listed once per batch (lists are consistent, and never show deleted customers);
  - older intents fall back to search, and every hit is retrieved by id, because search can show a
    deleted customer as a live one; a deleted customer is never reused.

* **A dead-lettered record retries with fresh keys** (:func:`attempt_key`): after an operator
  fixed or deleted what the failed attempt left in Stripe, the retry is a new request rather than
  the replay of the failure for the rest of the 24 hours.
* **An invoice is e-mailed at most once**: ``send`` follows a finalize of the same attempt, or,
  for an invoice an interrupted run may already have sent, the same key within the window, and
  after it only when Stripe's events show no ``invoice.sent`` for it.
* **Cleared values are unset**: Stripe merges metadata on update, so every metadata key the
  connector manages is sent, ``""`` for the ones Fusion no longer has.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ml_connector_provider.engine.types import Action, WriteItem, WriteResult

if TYPE_CHECKING:
    from ml_connector_provider.hooks.stripe import StripeHook
    from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings

log = logging.getLogger(__name__)

IDEMPOTENCY_WINDOW = timedelta(hours=23)
"""How long after a write intent its key is trusted to replay: Stripe keeps keys for at least 24
hours (contract A4); an hour is kept as a margin for clocks and slow runs."""
LIST_LOOKBACK = timedelta(days=7)
"""Intents younger than this are resolved by listing what was created since (consistent, one list
per batch); older ones by search, whose lag no longer matters for objects that old."""
CLOCK_SKEW = timedelta(minutes=10)
"""Margin between the ledger's clock and Stripe's ``created`` timestamps when listing."""
DUE_DATE_MARGIN = timedelta(hours=1)
"""A due date closer than this to now counts as passed: Stripe refuses due dates that are not in
the future when the invoice is created, updated or finalized (Appendix S)."""
MAX_ADD_LINES = 250
"""Lines sent in one ``add_lines`` call: an invoice holds at most 250 items (contract A8); the
per-request maximum of ``add_lines`` is not documented (UNCONFIRMED), so the invoice's maximum
is used and larger payloads never occur (the mapping refuses invoices with more lines)."""

_MISSING = "resource_missing"


def attempt_key(item: WriteItem) -> str:
    """The idempotency key of this attempt: the record's content key, plus the attempt number
    once the record has been dead-lettered (see :attr:`WriteItem.attempt`)."""
    return item.idempotency_key if item.attempt == 0 else f"{item.idempotency_key}-a{item.attempt}"


def _since(item: WriteItem) -> datetime:
    since = item.pending_since or datetime.now(UTC)
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def write_each(
    items: Sequence[WriteItem], write_one: Callable[[WriteItem], WriteResult]
) -> list[WriteResult]:
    """Write items one by one; a record Stripe refuses for a data reason is dead-lettered with
    Stripe's message, anything else (after the hook's retries) fails the task."""
    from ml_connector_provider.hooks.stripe import StripeRecordError

    results: list[WriteResult] = []
    for item in items:
        try:
            results.append(write_one(item))
        except StripeRecordError as err:
            results.append(
                WriteResult(item.record.id, Action.DEAD_LETTERED, reason=f"Stripe refused it: {err}")
            )
    return results


class _BatchLog:
    """One log line per batch: what happened, the Stripe calls it took and how long."""

    def __init__(self, what: str, stripe: StripeHook) -> None:
        self.what = what
        self.stripe = stripe
        self.started = time.monotonic()
        stats = getattr(stripe, "stats", None)
        self.before = stats.snapshot() if stats is not None else None

    def done(self, results: Sequence[WriteResult]) -> None:
        counts: dict[str, int] = {}
        for result in results:
            counts[result.action.value] = counts.get(result.action.value, 0) + 1
        elapsed = time.monotonic() - self.started
        summary = ", ".join(f"{action} {n}" for action, n in sorted(counts.items())) or "nothing"
        calls = "Stripe calls not counted"
        if self.before is not None:
            calls = "Stripe: " + self.stripe.stats.since(self.before).summary()
        log.info("%s: batch of %d: %s in %.2fs; %s", self.what, len(results), summary, elapsed, calls)


# -- customers ----------------------------------------------------------------------------------


class CustomerWriter:
    """Creates and updates Stripe customers for Fusion bill-to sites.

    :param stripe: the tenant's Stripe hook.
    :param site_key: the metadata key carrying the Fusion site use id.
    :param managed_keys: every metadata key the mapping can set (cleared ones are sent as ``""``).
    :param clock: the current time (UTC); injectable for tests.
    """

    def __init__(
        self,
        stripe: StripeHook,
        *,
        site_key: str,
        managed_keys: Iterable[str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.stripe = stripe
        self.site_key = site_key
        self.managed_keys = tuple(managed_keys)
        self.clock = clock

    def write(self, items: Sequence[WriteItem]) -> list[WriteResult]:
        """Write a batch (see the module docstring for the rules)."""
        batch = _BatchLog("customers → Stripe", self.stripe)
        now = self.clock()
        lookups = [i for i in items if i.target_id is None and self._needs_lookup(i, now)]
        recent = [i for i in lookups if now - _since(i) <= LIST_LOOKBACK]
        listed = self._created_since(min(_since(i) for i in recent)) if recent else {}
        results = write_each(items, lambda item: self._write_one(item, now, listed))
        batch.done(results)
        return results

    def update_params(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Update parameters: the payload, plus ``""`` for each managed metadata key it lacks
        (Stripe merges metadata on update; ``""`` removes a key)."""
        params = dict(payload)
        metadata = dict(payload.get("metadata") or {})
        for key in self.managed_keys:
            metadata.setdefault(key, "")
        params["metadata"] = metadata
        return params

    def _needs_lookup(self, item: WriteItem, now: datetime) -> bool:
        if not item.uncertain:
            return False
        return not (item.pending_key == attempt_key(item) and now - _since(item) < IDEMPOTENCY_WINDOW)

    def _created_since(self, since: datetime) -> dict[str, dict[str, Any]]:
        """Live customers created since ``since`` (minus :data:`CLOCK_SKEW`) that carry a site use
        id, by that id (the oldest wins)."""
        found: dict[str, dict[str, Any]] = {}
        start = int((since - CLOCK_SKEW).timestamp())
        for customer in self.stripe.iter_customers(created={"gte": start}):
            site = (customer.get("metadata") or {}).get(self.site_key)
            if not site:
                continue
            current = found.get(site)
            if current is None or int(customer.get("created") or 0) < int(current.get("created") or 0):
                found[site] = customer
        return found

    def _write_one(self, item: WriteItem, now: datetime, listed: Mapping[str, dict[str, Any]]) -> WriteResult:
        from ml_connector_provider.hooks.stripe import StripeRecordError

        key = attempt_key(item)
        replaced: str | None = None
        if item.target_id is not None:
            try:
                self.stripe.update_customer(
                    item.target_id,
                    self.update_params(item.payload),
                    idempotency_key=f"{key}-upd-{item.target_id}",
                )
                return WriteResult(item.record.id, Action.UPDATED, item.target_id)
            except StripeRecordError as err:
                if err.code != _MISSING:
                    raise
                log.warning(
                    "Stripe customer %s linked to Fusion site %s no longer exists; creating a new one",
                    item.target_id,
                    item.record.id,
                )
                replaced = item.target_id
        elif self._needs_lookup(item, now):
            if now - _since(item) <= LIST_LOOKBACK:
                existing = listed.get(item.record.id)
            else:
                existing = self.stripe.find_customer_by_metadata(self.site_key, item.record.id)
            if existing is not None:
                target_id = str(existing["id"])
                self.stripe.update_customer(
                    target_id, self.update_params(item.payload), idempotency_key=f"{key}-upd-{target_id}"
                )
                return WriteResult(item.record.id, Action.UPDATED, target_id)
        # A replaced (deleted) customer gets a key of its own: the old key would replay the deleted one.
        create_key = key if replaced is None else f"{key}-after-{replaced}"
        created = self.stripe.create_customer(item.payload, idempotency_key=create_key)
        return WriteResult(item.record.id, Action.CREATED, str(created["id"]))


# -- invoices -----------------------------------------------------------------------------------


def due_date_after(now: datetime, days: int) -> int:
    """The end (23:59:59 UTC) of the day ``days`` after ``now``, as a Unix timestamp."""
    day = (now + timedelta(days=days)).date()
    return int(datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC).timestamp())


def _day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def adjust_due_date(
    params: Mapping[str, Any],
    *,
    now: datetime,
    policy: str,
    days: int,
    original_key: str,
) -> dict[str, Any] | str:
    """Invoice create parameters whose due date Stripe will accept, or the dead-letter reason.

    A ``due_date`` that has passed (or falls within :data:`DUE_DATE_MARGIN`) is replaced by the
    end of the day ``days`` from ``now`` when ``policy`` is ``postpone``; the original date is kept
    in the metadata (``original_key``) and shown on the invoice as a custom field. With
    ``dead_letter`` the reason is returned instead.
    """
    due = params.get("due_date")
    if due is None or int(due) >= int((now + DUE_DATE_MARGIN).timestamp()):
        return dict(params)
    original = _day(int(due))
    if policy != "postpone":
        return (
            f"the Fusion due date {original} has passed and Stripe refuses due dates in the past; "
            "the tenant's past_due_date setting is dead_letter (set it to postpone to send such "
            "invoices with a new due date)"
        )
    adjusted = dict(params)
    adjusted["due_date"] = due_date_after(now, days)
    adjusted["metadata"] = {**dict(params.get("metadata") or {}), original_key: original}
    fields = list(params.get("custom_fields") or [])
    if len(fields) < 4:  # Stripe allows four custom fields
        fields.append({"name": "Original due date", "value": original})
    adjusted["custom_fields"] = fields
    return adjusted


class InvoiceWriter:
    """Creates, completes, finalizes and sends Stripe invoices for Fusion AR invoices.

    A new invoice costs four calls: create the draft, add every line in one ``add_lines``, finalize,
    send (three without e-mail). The totals are checked on the invoice ``add_lines`` returns.

    :param stripe: the tenant's Stripe hook.
    :param settings: the tenant's ``fusion_stripe`` settings.
    :param keys: the invoice metadata keys (:func:`~.mapping.invoice_metadata_keys`).
    :param clock: the current time (UTC); injectable for tests.
    """

    def __init__(
        self,
        stripe: StripeHook,
        settings: FusionStripeSettings,
        keys: Mapping[str, str],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.stripe = stripe
        self.settings = settings
        self.keys = dict(keys)
        self.clock = clock

    def write(self, items: Sequence[WriteItem]) -> list[WriteResult]:
        """Write a batch (see the module docstring for the rules)."""
        batch = _BatchLog("invoices → Stripe", self.stripe)
        now = self.clock()
        uncertain = [i for i in items if i.target_id is None and i.uncertain]
        recent = [i for i in uncertain if now - _since(i) <= LIST_LOOKBACK]
        older = [i for i in uncertain if now - _since(i) > LIST_LOOKBACK]
        existing: dict[str, dict[str, Any]] = {}
        if recent:
            start = int((min(_since(i) for i in recent) - CLOCK_SKEW).timestamp())
            existing.update(self._by_transaction(self.stripe.iter_invoices(created={"gte": start})))
        for customer in sorted({str(i.payload["invoice"]["customer"]) for i in older}):
            for transaction_id, invoice in self._by_transaction(
                self.stripe.iter_invoices(customer=customer)
            ).items():
                existing.setdefault(transaction_id, invoice)
        results = write_each(items, lambda item: self._write_one(item, now, existing))
        batch.done(results)
        return results

    def _by_transaction(self, invoices: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Live invoices that carry a Fusion transaction id, by that id (a finalized one wins over a draft)."""
        found: dict[str, dict[str, Any]] = {}
        for invoice in invoices:
            transaction_id = (invoice.get("metadata") or {}).get(self.keys["transaction_id"])
            if not transaction_id or invoice.get("status") in ("void", "deleted"):
                continue
            if transaction_id not in found or invoice.get("status") != "draft":
                found[transaction_id] = invoice
        return found

    def _write_one(
        self, item: WriteItem, now: datetime, existing: Mapping[str, dict[str, Any]]
    ) -> WriteResult:
        payload = item.payload
        params = payload["invoice"]
        number = payload["number"]
        transaction_id = params["metadata"][self.keys["transaction_id"]]
        key = attempt_key(item)
        replaced: str | None = None
        invoice: dict[str, Any] | None = None
        if item.target_id is not None:
            invoice = self.stripe.retrieve_invoice(item.target_id)
            if invoice is not None and invoice.get("status") not in ("draft", "void"):
                return WriteResult(
                    item.record.id,
                    Action.SKIPPED,
                    item.target_id,
                    reason=(
                        f"Stripe invoice {invoice.get('number') or item.target_id} is already "
                        f"{invoice.get('status')}; changes made in Fusion after it was finalized are not sent"
                    ),
                )
            if invoice is None or invoice.get("status") == "void":
                replaced, invoice = item.target_id, None
        elif item.uncertain:
            invoice = existing.get(transaction_id)

        created = False
        if invoice is None:
            adjusted = self._due(params, now)
            if isinstance(adjusted, str):
                return WriteResult(
                    item.record.id, Action.DEAD_LETTERED, reason=f"invoice {number}: {adjusted}"
                )
            create_key = f"{key}-inv"
            if adjusted.get("due_date") != params.get("due_date"):
                create_key += f"-due-{_day(int(adjusted['due_date']))}"
            if replaced is not None:
                create_key += f"-after-{replaced}"
            invoice = self.stripe.create_invoice(adjusted, idempotency_key=create_key)
            created = True
        invoice_id = str(invoice["id"])

        finalized_now = False
        if invoice.get("status") == "draft":
            outcome = self._complete_draft(item, invoice, created=created, key=key, now=now)
            if isinstance(outcome, WriteResult):
                return outcome
            invoice = self.stripe.finalize_invoice(invoice_id, idempotency_key=f"{key}-fin")
            finalized_now = True

        reason: str | None = None
        if self.settings.email_invoices and invoice.get("status") == "open":
            if finalized_now:
                self.stripe.send_invoice(invoice_id, idempotency_key=f"{key}-send")
            elif item.uncertain:
                reason = self._send_at_most_once(item, invoice_id, key, now)
        action = Action.CREATED if created else Action.UPDATED
        return WriteResult(item.record.id, action, invoice_id, reason=reason)

    def _due(self, params: Mapping[str, Any], now: datetime) -> dict[str, Any] | str:
        return adjust_due_date(
            params,
            now=now,
            policy=self.settings.past_due_date,
            days=self.settings.past_due_days,
            original_key=f"{self.settings.customer_metadata_prefix}original_due_date",
        )

    def _complete_draft(
        self, item: WriteItem, invoice: dict[str, Any], *, created: bool, key: str, now: datetime
    ) -> WriteResult | None:
        """Add the missing lines in one call, check the total, fix a due date that has passed
        since the draft was made. Returns a result when the draft cannot be finalized."""
        payload = item.payload
        invoice_id = str(invoice["id"])
        line_key = self.keys["line_id"]
        present: set[str] = set()
        if not created:
            lines = invoice.get("lines") or {}
            data = lines.get("data") if isinstance(lines, Mapping) else None
            if isinstance(data, list) and not lines.get("has_more"):
                rows: Iterable[Mapping[str, Any]] = data
            else:
                rows = self.stripe.iter_invoice_lines(invoice_id)
            present = {str((line.get("metadata") or {}).get(line_key)) for line in rows}
        missing = [
            {k: v for k, v in line.items() if k != "currency"}
            for line in payload["items"]
            if str(line["metadata"][line_key]) not in present
        ]
        for start in range(0, len(missing), MAX_ADD_LINES):
            chunk = missing[start : start + MAX_ADD_LINES]
            ids = ",".join(str(line["metadata"][line_key]) for line in chunk)
            digest = hashlib.sha256(ids.encode()).hexdigest()[:16]
            invoice = self.stripe.add_invoice_lines(
                invoice_id, chunk, idempotency_key=f"{key}-lines-{digest}"
            )
        total = invoice.get("total", invoice.get("amount_due"))
        if total is not None and int(total) != int(payload["total"]):
            return WriteResult(
                item.record.id,
                Action.DEAD_LETTERED,
                reason=(
                    f"Stripe draft invoice {invoice_id} totals {total} but Fusion invoice {payload['number']} "
                    f"totals {payload['total']} (minor units); fix or delete the draft in Stripe, then retry "
                    "(the retry sends new requests, not replays of this attempt)"
                ),
            )
        due = invoice.get("due_date")
        if not created and due is not None and int(due) < int((now + DUE_DATE_MARGIN).timestamp()):
            adjusted = self._due(
                {"due_date": due, "metadata": {}, "custom_fields": invoice.get("custom_fields")}, now
            )
            if isinstance(adjusted, str):
                return WriteResult(
                    item.record.id, Action.DEAD_LETTERED, reason=f"invoice {payload['number']}: {adjusted}"
                )
            self.stripe.update_invoice(
                invoice_id, adjusted, idempotency_key=f"{key}-due-{_day(int(adjusted['due_date']))}"
            )
        return None

    def _send_at_most_once(self, item: WriteItem, invoice_id: str, key: str, now: datetime) -> str | None:
        """Send an open invoice an interrupted attempt may have sent already; returns a note when
        it is not sent."""
        since = _since(item)
        if item.pending_key == key and now - since < IDEMPOTENCY_WINDOW:
            # The key of the first attempt is still kept by Stripe: a send that happened is replayed.
            self.stripe.send_invoice(invoice_id, idempotency_key=f"{key}-send")
            return None
        start = int((since - CLOCK_SKEW).timestamp())
        for event in self.stripe.iter_events(types=["invoice.sent"], created={"gte": start}):
            obj = (event.get("data") or {}).get("object") or {}
            if obj.get("id") == invoice_id:
                return None  # already e-mailed by the interrupted attempt
        if now - since >= timedelta(days=30) - CLOCK_SKEW:
            # Stripe keeps events 30 days: whether it was sent can no longer be known.
            return (
                f"Stripe invoice {invoice_id} was finalized by an attempt more than 30 days ago and "
                "may have been e-mailed then; it is not e-mailed again (send it from Stripe if needed)"
            )
        self.stripe.send_invoice(invoice_id, idempotency_key=f"{key}-send-{now.date().isoformat()}")
        return None
