"""The Fusion item corpus (``tests/corpus/fusion/*.json``): items with missing or wrong-typed
attributes, served by the Fusion stand-in in one page between two of its own rows and read with
the hook, then turned into records and mapped as the streams do — customers and invoices for
Stripe (``FusionCustomersToStripe``, ``FusionInvoicesToStripe``), suppliers for Stampli
(``supplier_from_fusion``). The broken item ends in a dead letter (a ``MappingError`` for a
supplier) naming the field; the two real rows around it map exactly as they do without it.

A corpus file holds ``mapping`` (``customer``, ``invoice`` or ``supplier``), ``item``, ``field``
and ``reason`` (a part of the dead letter's text).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ml_connector_sandbox import FaultRule, SandboxRunner

from ml_connector_provider.engine.types import DeadLetter, StreamKey
from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.hooks.stripe import StripeHook
from ml_connector_provider.integrations.fusion_stripe.mapping import InvoiceCustomer
from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings
from ml_connector_provider.integrations.fusion_stripe.streams import (
    CUSTOMER_RESOURCE,
    INVOICE_LINES,
    INVOICE_RESOURCE,
    FusionCustomersToStripe,
    FusionInvoicesToStripe,
    customer_record,
    invoice_record,
)
from ml_connector_provider.integrations.stampli_fusion.mapping import MappingError, supplier_from_fusion
from ml_connector_provider.ledger import Ledger
from tests.integration.fusion_stripe.conftest import CONN_IDS

CORPUS = Path(__file__).parents[2] / "corpus" / "fusion"
CASES = sorted(path.stem for path in CORPUS.glob("*.json"))
REST = "/fscmRestApi/resources/11.13.18.05"
RESOURCES = {
    "customer": (CUSTOMER_RESOURCE, None),
    "invoice": (INVOICE_RESOURCE, INVOICE_LINES),
    "supplier": ("suppliers", "sites"),
}


class _EveryCustomer(dict[Any, InvoiceCustomer]):
    """Invoice look-ups in which every bill-to site is synced to a Stripe customer."""

    def get(self, key: Any, default: Any = None) -> InvoiceCustomer:
        return InvoiceCustomer("300000047112001", "cus_corpus")


def _verdicts(kind: str, rows: list[dict[str, Any]], fusion: OracleFusionHook, tmp_path: Path) -> list[Any]:
    """What the stream (or the supplier reader) makes of each row: a map verdict, a supplier, or
    the ``MappingError``."""
    if kind == "supplier":
        found: list[Any] = []
        for row in rows:
            try:
                found.append(supplier_from_fusion(row))
            except MappingError as error:
                found.append(error)
        return found
    settings = FusionStripeSettings()
    stripe = StripeHook(CONN_IDS["stripe"])
    if kind == "customer":
        customers = FusionCustomersToStripe(fusion, stripe, settings)
        return [customers.map(customer_record(row, fusion), {}) for row in rows]
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    invoices = FusionInvoicesToStripe(
        fusion, stripe, settings, ledger, StreamKey("acme", "fusion_stripe", "invoices")
    )
    return [invoices.map(invoice_record(row, fusion), _EveryCustomer()) for row in rows]


@pytest.mark.parametrize("name", CASES)
def test_a_broken_item_is_dead_lettered_and_its_neighbours_are_not(
    stand_ins: SandboxRunner, tmp_path: Path, name: str
) -> None:
    case = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
    kind, broken = case["mapping"], case["item"]
    resource, expand = RESOURCES[kind]
    fusion = OracleFusionHook(CONN_IDS["fusion"])
    first, second = next(fusion.iter_collection(resource, expand=expand, page_size=2))
    alone = _verdicts(kind, [first, second], fusion, tmp_path)

    page = {
        "items": [first, broken, second],
        "count": 3,
        "hasMore": False,
        "limit": 25,
        "offset": 0,
        "links": [],
    }
    stand_ins.system("fusion").faults.add(FaultRule.error(200, path=f"^{REST}/{resource}$", body=page))
    [read] = list(fusion.iter_collection(resource, expand=expand))
    before, verdict, after = _verdicts(kind, read, fusion, tmp_path)

    if kind == "supplier":
        assert isinstance(verdict, MappingError), verdict
        assert case["reason"] in str(verdict)
        assert case["field"] in str(verdict)
    else:
        assert isinstance(verdict, DeadLetter), verdict
        assert verdict.field == case["field"]
        assert case["reason"] in verdict.reason, verdict.reason
    assert [before, after] == alone  # the rows around it are unaffected
    assert not any(isinstance(v, DeadLetter | MappingError) for v in alone)
