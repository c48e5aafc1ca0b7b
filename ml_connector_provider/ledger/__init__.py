"""The provider's own store: cursors, run windows, links, audit trail, dead letters, files, EDI numbers."""

from __future__ import annotations

from ml_connector_provider.ledger.audit import AuditRow
from ml_connector_provider.ledger.files import FileRow
from ml_connector_provider.ledger.runs import Cursor, Lease, LeaseHeld, LeaseLost, RunRow
from ml_connector_provider.ledger.schema import LedgerError
from ml_connector_provider.ledger.store import Ledger

__all__ = [
    "AuditRow",
    "Cursor",
    "FileRow",
    "Lease",
    "LeaseHeld",
    "LeaseLost",
    "Ledger",
    "LedgerError",
    "RunRow",
]
