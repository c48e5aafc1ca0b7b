"""FusionApInvoiceWriter against the Fusion stand-in over HTTP: each AP invoice is created at most
once, whatever Fusion already holds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from ml_connector_sandbox.systems.fusion import FusionSandbox
from ml_connector_sandbox.systems.fusion.gl import OFFICE_SUPPLIES_EXPENSE_ACCOUNT, SOFTWARE_EXPENSE_ACCOUNT

from ml_connector_provider.engine.types import Action, SourceRecord, WriteItem
from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.targets.fusion_ap import FusionApInvoiceWriter
from tests.integration.fusion.test_fusion_payables import INVOICES, invoice_body, line


@pytest.fixture
def today(fusion: FusionSandbox) -> date:
    return fusion.clock.now().date()


def item(payload: dict[str, Any], *, target_id: str | None = None) -> WriteItem:
    record = SourceRecord(
        id=f"file.csv#{payload['SupplierNumber']}/{payload['InvoiceNumber']}",
        version="1",
        changed_at=datetime(2026, 1, 1, tzinfo=UTC),
        data={},
    )
    return WriteItem(record=record, payload=payload, idempotency_key="k", target_id=target_id)


def numbers(hook: OracleFusionHook, number: str) -> list[str]:
    return [str(i["InvoiceId"]) for i in hook.find_by_attribute(INVOICES, "InvoiceNumber", [number])]


def test_creates_once_then_links(hook: OracleFusionHook, today: date) -> None:
    writer = FusionApInvoiceWriter(hook)
    body = invoice_body(today, "NC-8801")
    [created] = writer.write([item(body)])
    assert created.action is Action.CREATED
    assert created.details["InvoiceNumber"] == "NC-8801"
    # The same payload again (a replay whose ledger link was lost): found, linked, not posted again.
    [again] = writer.write([item(body)])
    assert (again.action, again.target_id) == (Action.SKIPPED, created.target_id)
    assert "linked, not posted again" in (again.reason or "")
    assert numbers(hook, "NC-8801") == [created.target_id]
    # Linked in the ledger already: no look-up changes that, and nothing is created.
    [linked] = writer.write([item(body, target_id=created.target_id)])
    assert (linked.action, linked.target_id) == (Action.SKIPPED, created.target_id)
    assert numbers(hook, "NC-8801") == [created.target_id]


def test_number_differing_only_in_case_is_linked(hook: OracleFusionHook, today: date) -> None:
    """Fusion's duplicate check ignores case; the exact-number look-up does not find it, the
    duplicate refusal leads to the case-insensitive look-up, and the invoice is linked."""
    first = hook.create_item(
        INVOICES,
        invoice_body(
            today,
            "cr-5150",
            SupplierNumber="1001",
            **{"invoiceLines": [line(1200, OFFICE_SUPPLIES_EXPENSE_ACCOUNT)]},
        ),
    )
    body = invoice_body(
        today,
        "CR-5150",
        SupplierNumber="1001",
        **{"invoiceLines": [line(1200, OFFICE_SUPPLIES_EXPENSE_ACCOUNT)]},
    )
    [result] = FusionApInvoiceWriter(hook).write([item(body)])
    assert (result.action, result.target_id) == (Action.SKIPPED, str(first["InvoiceId"]))


def test_data_refusal_is_a_dead_letter_and_the_batch_goes_on(hook: OracleFusionHook, today: date) -> None:
    bad = invoice_body(today, "NC-8802", **{"invoiceLines": [line(1200, "999-999-99999-999-999")]})
    good = invoice_body(today, "NC-8803", **{"invoiceLines": [line(1200, SOFTWARE_EXPENSE_ACCOUNT)]})
    refused, created = FusionApInvoiceWriter(hook).write([item(bad), item(good)])
    assert refused.action is Action.DEAD_LETTERED
    assert refused.reason is not None
    assert refused.reason.startswith("Fusion refused invoice NC-8802 of supplier 1003: ")
    assert created.action is Action.CREATED
    assert numbers(hook, "NC-8802") == []
