"""Processed files, known by checksum."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ml_connector_provider.ledger import Ledger, LedgerError
from tests.unit.ledger.helpers import T0, Clock

SUM_A = "a" * 64
SUM_B = "b" * 64


def test_files_are_known_by_checksum(ledger: Ledger, clock: Clock) -> None:
    assert ledger.file_by_checksum("acme", "stampli_fusion", SUM_A) is None
    first = ledger.begin_file(
        "acme", "stampli_fusion", path="/out/inv1.csv", size=120, checksum=SUM_A.upper()
    )
    assert (first.path, first.size, first.checksum, first.outcome, first.first_seen_at) == (
        "/out/inv1.csv",
        120,
        SUM_A,
        "processing",
        T0,
    )
    clock.advance(timedelta(minutes=1))
    again = ledger.begin_file("acme", "stampli_fusion", path="/out/renamed.csv", size=120, checksum=SUM_A)
    assert again == first
    ledger.finish_file("acme", "stampli_fusion", checksum=SUM_A, outcome="processed", detail="3 invoices")
    done = ledger.file_by_checksum("acme", "stampli_fusion", SUM_A)
    assert done is not None
    assert (done.id, done.outcome, done.detail, done.processed_at) == (
        first.id,
        "processed",
        "3 invoices",
        clock.now,
    )
    other = ledger.begin_file("globex", "stampli_fusion", path="/out/inv1.csv", size=120, checksum=SUM_A)
    assert other.id != first.id
    assert other.outcome == "processing"

    with pytest.raises(LedgerError, match="no file with checksum"):
        ledger.finish_file("acme", "stampli_fusion", checksum=SUM_B, outcome="failed")
    with pytest.raises(ValueError, match="unknown file outcome"):
        ledger.finish_file("acme", "stampli_fusion", checksum=SUM_A, outcome="done")
    with pytest.raises(ValueError, match="not a SHA-256"):
        ledger.begin_file("acme", "stampli_fusion", path="x", size=1, checksum="abc")
