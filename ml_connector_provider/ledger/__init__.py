"""The provider's own store: cursors, run windows, links, audit trail, dead letters, files, EDI numbers."""

from __future__ import annotations

from ml_connector_provider.ledger.schema import LedgerError
from ml_connector_provider.ledger.store import AuditRow, Cursor, FileRow, LeaseHeld, Ledger, RunRow

__all__ = ["AuditRow", "Cursor", "FileRow", "LeaseHeld", "Ledger", "LedgerError", "RunRow"]
