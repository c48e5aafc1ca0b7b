"""FusionJournalWriter and the hook's request-tree wait against the Fusion stand-in over HTTP.

The stand-in in this tree still imports each journal under its exact REFERENCE1 and runs one job
per import; the client must work with it where tolerance allows: an exact name is a prefix match
too, and a pod that lists no descendants makes the load request the whole tree."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ml_connector_sandbox.systems.fusion import FusionSandbox
from ml_connector_sandbox.systems.fusion.gl import (
    AR_SUSPENSE_ACCOUNT,
    CASH_CLEARING_ACCOUNT,
    DATA_ACCESS_SET_ID,
    DISABLED_ACCOUNT,
    LEDGER_ID,
    LEDGER_NAME,
)

from ml_connector_provider.engine.types import Action, SourceRecord, WriteItem
from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.hooks.oracle_fusion.fbdi import Journal, JournalLine
from ml_connector_provider.ledger import Ledger
from ml_connector_provider.targets.fusion_gl import FusionJournalWriter


class Gl:
    ledger_id = str(LEDGER_ID)
    ledger_name = LEDGER_NAME
    data_access_set_id = str(DATA_ACCESS_SET_ID)
    journal_source = "Stripe"
    segment_delimiter = "-"
    import_timeout = 60
    poll_interval = 0.01
    hold_timeout = 5


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    store = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.migrate()
    yield store
    store.dispose()


def item(key: str, today: date, *, account: str = AR_SUSPENSE_ACCOUNT) -> WriteItem:
    payload: dict[str, Any] = {
        "batch_name": f"Stripe {key}",
        "journal_name": f"Payment {key}",
        "accounting_date": today.isoformat(),
        "currency": "USD",
        "category": "Receipts",
        "lines": [
            {"account": CASH_CLEARING_ACCOUNT, "debit": "100.00"},
            {"account": account, "credit": "100.00"},
        ],
    }
    return WriteItem(SourceRecord(key, "v1", datetime.now(UTC), {}), payload, key)


def writer(hook: OracleFusionHook, ledger: Ledger) -> FusionJournalWriter:
    return FusionJournalWriter(
        hook, Gl(), ledger, tenant="acme", integration="fusion_stripe", stream="payments"
    )


def test_imports_once_and_links_by_prefix_on_the_next_run(
    hook: OracleFusionHook, ledger: Ledger, fusion: FusionSandbox
) -> None:
    today = fusion.clock.now().date()
    first = writer(hook, ledger)
    results = first.write([item("pi_1", today), item("pi_12", today)])
    assert [r.action for r in results] == [Action.CREATED, Action.CREATED]
    assert first.imports == 1
    again = writer(hook, ledger)
    replay = again.write([item("pi_1", today), item("pi_12", today)])
    assert again.imports == 0
    assert [r.target_id for r in replay] == [r.target_id for r in results]
    assert ledger.files_in_progress("acme", "fusion_stripe") == []


def test_a_rejected_journal_is_dead_lettered_with_fusions_reason(
    hook: OracleFusionHook, ledger: Ledger, fusion: FusionSandbox
) -> None:
    today = fusion.clock.now().date()
    w = writer(hook, ledger)
    results = w.write([item("pi_good", today), item("pi_bad", today, account=DISABLED_ACCOUNT)])
    actions = {r.source_id: r.action for r in results}
    assert actions["pi_bad"] is Action.DEAD_LETTERED
    assert actions["pi_good"] is Action.CREATED
    reason = next(r.reason for r in results if r.source_id == "pi_bad")
    assert reason is not None
    assert "Stripe pi_bad G" in reason


def test_descendants_not_listed_by_this_stand_in_make_the_load_the_tree(
    hook: OracleFusionHook, fusion: FusionSandbox
) -> None:
    today = fusion.clock.now().date()
    journal = Journal(
        "Stripe pi_t G1;",
        "",
        "Payment pi_t",
        "",
        today,
        "USD",
        "Receipts",
        (
            JournalLine(CASH_CLEARING_ACCOUNT, debit=Decimal("5")),
            JournalLine(AR_SUSPENSE_ACCOUNT, credit=Decimal("5")),
        ),
    )
    load = hook.import_journals(
        [journal],
        data_access_set_id=DATA_ACCESS_SET_ID,
        source="Stripe",
        ledger_id=LEDGER_ID,
        ledger_name=LEDGER_NAME,
        group_id=1,
        created=today,
    )
    seen: list[str] = []
    tree = hook.wait_for_ess_tree(
        load, timeout=10, poll_interval=0.01, on_request=lambda r: seen.append(r.request_id)
    )
    assert (tree.visible, tree.descendants, seen) == (False, (), [load])
    assert tree.root.state == "SUCCEEDED"
