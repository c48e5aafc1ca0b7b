"""FusionJournalWriter and the hook's request-tree wait against the pod-like Fusion stand-in over
HTTP (contract A5.7c): extended batch names, the load request separate from Import Journals and
its child, group-wide rejection, descendants listed by either look-up or by none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from ml_connector_sandbox import SandboxClient
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
from ml_connector_provider.hooks.oracle_fusion import FusionEssHeld, OracleFusionHook
from ml_connector_provider.hooks.oracle_fusion.fbdi import Journal, JournalLine
from ml_connector_provider.ledger import Ledger
from ml_connector_provider.targets.fusion_gl import FusionJournalWriter
from ml_connector_provider.transport import ConnectionFailed


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


def batches(hook: OracleFusionHook, key: str) -> list[str]:
    """Every batch in Fusion whose name starts with the journal's stable part."""
    return sorted(
        str(row["BatchName"])
        for page in hook.iter_collection("journalBatches")
        for row in page
        if str(row["BatchName"]).startswith(f"Stripe {key} G")
    )


@pytest.mark.parametrize("lookup", ["execution_details", "scheduler", "none"])
def test_one_batch_per_journal_whichever_descendant_look_up_the_pod_allows(
    lookup: str, hook: OracleFusionHook, ledger: Ledger, fusion: FusionSandbox
) -> None:
    """Import Journals still runs after the load succeeded; the writer waits for it through the
    look-up the pod allows, or, with none, until the batches show up, and imports once."""
    fusion.configure_gl(
        execution_details_finder=lookup == "execution_details",
        scheduler_rest=lookup == "scheduler",
        import_delay_polls=3,
    )
    today = fusion.clock.now().date()
    w = writer(hook, ledger)
    results = w.write([item("pi_a", today), item("pi_b", today)])
    assert [r.action for r in results] == [Action.CREATED, Action.CREATED]
    assert w.imports == 1
    [a] = batches(hook, "pi_a")
    assert a.startswith("Stripe pi_a G")
    assert a.endswith(" N")
    assert len(batches(hook, "pi_b")) == 1
    again = writer(hook, ledger).write([item("pi_a", today), item("pi_b", today)])
    assert [r.target_id for r in again] == [r.target_id for r in results]
    assert (len(batches(hook, "pi_a")), len(batches(hook, "pi_b"))) == (1, 1)


def test_a_bad_journal_never_holds_back_the_good_ones(
    hook: OracleFusionHook, ledger: Ledger, fusion: FusionSandbox
) -> None:
    today = fusion.clock.now().date()
    good = [item(f"pi_g{n}", today) for n in range(5)]
    bad = item("pi_x", today, account=DISABLED_ACCOUNT)
    w = writer(hook, ledger)
    results = {r.source_id: r for r in w.write([*good[:2], bad, *good[2:]])}
    assert {k: r.action for k, r in results.items()} == {
        **{f"pi_g{n}": Action.CREATED for n in range(5)},
        "pi_x": Action.DEAD_LETTERED,
    }
    reason = results["pi_x"].reason or ""
    assert "Stripe pi_x G" in reason
    assert w.imports == 2  # the rejected group, then the good journals again under a fresh group
    for n in range(5):
        assert len(batches(hook, f"pi_g{n}")) == 1
    assert batches(hook, "pi_x") == []


def test_without_descendants_the_root_alone_is_the_tree(
    hook: OracleFusionHook, fusion: FusionSandbox
) -> None:
    fusion.configure_gl(execution_details_finder=False, scheduler_rest=False)
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


def ess_admin(base_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = requests.post(f"{base_url}/__sandbox__/fusion/ess/{path}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_lost_import_answer_is_settled_from_fusion_not_imported_again(
    hook: OracleFusionHook, ledger: Ledger, fusion: FusionSandbox, admin: SandboxClient, base_url: str
) -> None:
    """The importBulkData POST reaches Fusion but its 201 is cut off: the attempt stays recorded
    without a request id, and the next run finds its batches (by prefix and group) instead of
    importing the journals again."""
    today = fusion.clock.now().date()
    admin.add_fault(kind="drop", path="/erpintegrations$", method="POST", process=True)
    with pytest.raises(ConnectionFailed, match="not retried because POST is not idempotent"):
        writer(hook, ledger).write([item("pi_l1", today), item("pi_l2", today)])
    [unfinished] = ledger.files_in_progress("acme", "fusion_stripe")
    assert unfinished.state is not None
    assert unfinished.state["load_request_id"] is None
    ess_admin(base_url, "run")  # Fusion goes on with the import it stored
    w = writer(hook, ledger)
    results = w.write([item("pi_l1", today), item("pi_l2", today)])
    assert [r.action for r in results] == [Action.SKIPPED, Action.SKIPPED]  # linked to their batches
    assert all(r.target_id for r in results)
    assert w.imports == 0
    assert (len(batches(hook, "pi_l1")), len(batches(hook, "pi_l2"))) == (1, 1)
    assert ledger.files_in_progress("acme", "fusion_stripe") == []


class HeldGl(Gl):
    hold_timeout = 0.2


def test_a_held_import_is_waited_for_and_never_submitted_again(
    hook: OracleFusionHook, ledger: Ledger, fusion: FusionSandbox, base_url: str
) -> None:
    today = fusion.clock.now().date()
    ess_admin(base_url, "hold-next", {"state": "HOLD"})

    def held_writer() -> FusionJournalWriter:
        return FusionJournalWriter(
            hook, HeldGl(), ledger, tenant="acme", integration="fusion_stripe", stream="payments"
        )

    first = held_writer()
    with pytest.raises(FusionEssHeld) as held:
        first.write([item("pi_h", today)])
    assert first.imports == 1
    request_id = held.value.request_id
    assert f"request {request_id}" in str(held.value)
    # The next run finds the same attempt still held: it waits again and submits nothing.
    second = held_writer()
    with pytest.raises(FusionEssHeld):
        second.write([item("pi_h", today)])
    assert second.imports == 0
    assert batches(hook, "pi_h") == []
    # Released in Fusion: the following run links the batch the held attempt imported.
    ess_admin(base_url, f"requests/{request_id}/release")
    third = held_writer()
    [result] = third.write([item("pi_h", today)])
    assert (result.action, third.imports) == (Action.SKIPPED, 0)  # linked to the released import's batch
    assert result.target_id
    assert len(batches(hook, "pi_h")) == 1


@pytest.mark.parametrize(("bad", "imports"), [((), 1), ((7,), 2), ((2, 9, 15), 2)])
def test_import_count_for_twenty_journals(
    bad: tuple[int, ...], imports: int, hook: OracleFusionHook, ledger: Ledger, fusion: FusionSandbox
) -> None:
    """Isolation cost on the stand-in: one import for a clean batch; one more whatever the number
    of bad journals, since the child's report names them (one group per journal would take 20)."""
    today = fusion.clock.now().date()
    keys = [f"pi_n{n:02d}" for n in range(20)]
    w = writer(hook, ledger)
    results = w.write(
        [
            item(key, today, account=DISABLED_ACCOUNT if n in bad else AR_SUSPENSE_ACCOUNT)
            for n, key in enumerate(keys)
        ]
    )
    assert w.imports == imports
    assert {r.source_id for r in results if r.action is Action.DEAD_LETTERED} == {keys[n] for n in bad}
    for n, key in enumerate(keys):
        assert len(batches(hook, key)) == (0 if n in bad else 1), key
