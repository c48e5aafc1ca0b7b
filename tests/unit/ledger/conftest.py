"""Fixtures of the ledger tests: a migrated ledger on each backend (``ledger_url``) with a pinned clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml_connector_provider.ledger import Ledger
from tests.unit.ledger.helpers import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(ledger_url: str, clock: Clock) -> Iterator[Ledger]:
    store = Ledger(ledger_url, clock=clock)
    store.migrate()
    yield store
    store.dispose()
