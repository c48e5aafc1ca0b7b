"""EDI control numbers."""

from __future__ import annotations

import pytest

from ml_connector_provider.ledger import Ledger
from tests.unit.ledger.helpers import in_threads, migrated


def test_control_numbers_count_per_partner_and_kind_and_wrap(ledger: Ledger) -> None:
    assert [ledger.next_control_number("acme", "walmart", "ISA", maximum=3) for _ in range(5)] == [
        1,
        2,
        3,
        1,
        2,
    ]
    assert [ledger.next_control_number("acme", "walmart", "GS") for _ in range(2)] == [1, 2]
    assert ledger.next_control_number("acme", "target", "ISA") == 1
    assert ledger.next_control_number("globex", "walmart", "ISA") == 1
    assert ledger.next_control_number("acme", "walmart", "ISA") == 3
    with pytest.raises(ValueError, match="at least 1"):
        ledger.next_control_number("acme", "walmart", "ISA", maximum=0)


def test_concurrent_control_numbers_are_distinct_and_consecutive(ledger_url: str) -> None:
    migrated(ledger_url)
    stores = [Ledger(ledger_url) for _ in range(4)]
    try:
        numbers = in_threads(
            4, lambda i: [stores[i].next_control_number("acme", "walmart", "ST") for _ in range(100)]
        )
    finally:
        for store in stores:
            store.dispose()
    assert sorted(n for batch in numbers for n in batch) == list(range(1, 401))
    assert all(batch == sorted(batch) for batch in numbers)
