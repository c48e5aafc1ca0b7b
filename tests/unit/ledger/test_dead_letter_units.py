"""Dead letters of units bigger than a record (files): opened with an audit row, re-opened when the
same unit is rejected again, never due on a backoff, made due by hand, resolved when taken again;
and migration 4, which gives the dead letters of an existing ledger their kind."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ml_connector_provider.engine.types import Action, RejectedUnit, RunRef
from ml_connector_provider.ledger import Ledger
from ml_connector_provider.ledger.schema import dead_letters, schema_version
from tests.unit.ledger.helpers import KEY, OTHER, RUN, T0, Clock, outcome

CHECKSUM = "a" * 64


def unit(
    name: str = "export.csv", reason: str = "export.csv row 1: no header", **details: object
) -> RejectedUnit:
    return RejectedUnit("file", name, reason, {"checksum": CHECKSUM, "path": f"/error/{name}", **details})


def test_a_unit_is_opened_with_an_audit_row_and_is_not_due(ledger: Ledger, clock: Clock) -> None:
    [dead] = ledger.dead_letter_units(KEY, RUN, [unit()], source_system="stampli", target_system="fusion")

    assert (dead.kind, dead.source_id, dead.name, dead.status, dead.attempts) == (
        "file",
        "file:export.csv",
        "export.csv",
        "open",
        1,
    )
    assert dead.record == {
        "kind": "file",
        "name": "export.csv",
        "checksum": CHECKSUM,
        "path": "/error/export.csv",
    }
    assert (dead.reason, dead.source_version, dead.next_retry_at) == (
        "export.csv row 1: no header",
        CHECKSUM,
        None,
    )
    [audited] = ledger.query_audit(tenant=KEY.tenant)
    assert (audited.action, audited.source_id, audited.source_label, audited.reason, audited.run_id) == (
        Action.DEAD_LETTERED,
        "file:export.csv",
        "export.csv",
        "export.csv row 1: no header",
        RUN.run_id,
    )
    later = clock.advance(timedelta(days=30))
    assert ledger.due_dead_letters(KEY, now=later) == []
    assert ledger.due_unit_dead_letters(KEY, now=later) == []
    assert [d.kind for d in ledger.list_dead_letters(tenant=KEY.tenant)] == ["file"]


def test_the_same_unit_rejected_again_reopens_its_dead_letter(ledger: Ledger, clock: Clock) -> None:
    [first] = ledger.dead_letter_units(KEY, RUN, [unit()], source_system="stampli", target_system="fusion")
    assert ledger.retry_dead_letters_now([first.id]) == 1
    assert [d.id for d in ledger.due_unit_dead_letters(KEY)] == [first.id]
    assert ledger.resolve_taken_again({first.id: "moved back to /outbound/export.csv"}) == 1
    assert ledger.due_unit_dead_letters(KEY) == []

    clock.advance(timedelta(hours=1))
    again = RunRef("scheduled__2025-01-02")
    [second] = ledger.dead_letter_units(
        KEY, again, [unit(reason="still no header")], source_system="stampli", target_system="fusion"
    )
    assert (second.id, second.status, second.attempts, second.reason, second.next_retry_at) == (
        first.id,
        "open",
        2,
        "still no header",
        None,
    )
    assert [a.run_id for a in ledger.query_audit(tenant=KEY.tenant)] == [again.run_id, RUN.run_id]


def test_units_and_records_keep_apart(ledger: Ledger, clock: Clock) -> None:
    ledger.commit_batch(KEY, RUN, [outcome("r1", Action.DEAD_LETTERED, reason="bad")])
    [file] = ledger.dead_letter_units(KEY, RUN, [unit()], source_system="stampli", target_system="fusion")
    ledger.dead_letter_units(OTHER, RUN, [unit()], source_system="stampli", target_system="fusion")
    later = clock.advance(timedelta(days=1))

    assert [d.source_id for d in ledger.due_dead_letters(KEY, now=later)] == ["r1"]
    assert ledger.open_attempts(KEY, ["r1", "file:export.csv"]) == {"r1": 1}
    assert set(ledger.dead_letters_for(KEY, ["r1", "file:export.csv"])) == {"r1"}
    # A record going through resolves its own dead letter only.
    ledger.commit_batch(KEY, RUN, [outcome("r1", Action.CREATED, "T-1")])
    assert [d.id for d in ledger.list_dead_letters(stream=KEY.stream)] == [file.id]
    # Records are never resolved as "taken again".
    assert ledger.resolve_taken_again({file.id: "moved back"}) == 1
    assert ledger.list_dead_letters(stream=KEY.stream) == []
    assert [d.kind for d in ledger.list_dead_letters(stream=KEY.stream, status="resolved")] == [
        "record",
        "file",
    ]
    assert [d.key for d in ledger.list_dead_letters(kind="file")] == [OTHER]


def test_reopen_file_makes_a_failed_file_processing_again(ledger: Ledger) -> None:
    ledger.begin_file("acme", "stampli_fusion", path="/outbound/a.csv", size=10, checksum=CHECKSUM)
    ledger.finish_file("acme", "stampli_fusion", checksum=CHECKSUM, outcome="failed", detail="no header")

    assert ledger.reopen_file("acme", "stampli_fusion", checksum=CHECKSUM, detail="taken again") is True
    row = ledger.file_by_checksum("acme", "stampli_fusion", CHECKSUM)
    assert row is not None
    assert (row.outcome, row.detail, row.processed_at) == ("processing", "taken again", None)
    assert ledger.reopen_file("acme", "stampli_fusion", checksum="b" * 64, detail="x") is False


@pytest.mark.parametrize("kind", ["record", "", "File", "file-x"])
def test_a_unit_kind_is_not_a_record_and_is_lower_case(kind: str) -> None:
    with pytest.raises(ValueError, match="kind must be lower-case letters"):
        RejectedUnit(kind, "a.csv", "why")


def test_a_unit_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        RejectedUnit("file", "a.csv", "  ")


def test_migration_4_gives_existing_dead_letters_the_record_kind(ledger_url: str) -> None:
    store = Ledger(ledger_url, clock=Clock())
    try:
        store.migrate()
        store.commit_batch(KEY, RUN, [outcome("r1", Action.DEAD_LETTERED, reason="bad")])
        # Back to a version-3 ledger: no kind column, step 4 not applied.
        with store.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE mlc_dead_letters DROP COLUMN kind"))
            conn.execute(sa.delete(schema_version).where(schema_version.c.version == 4))
        assert store.migrate() == 4
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(dead_letters.c.source_id, dead_letters.c.kind)).all() == [
                ("r1", "record")
            ]
        [row] = store.list_dead_letters()
        assert (row.kind, row.source_id) == ("record", "r1")
        assert [d.source_id for d in store.due_dead_letters(KEY, now=T0 + timedelta(days=1))] == ["r1"]
    finally:
        store.dispose()
