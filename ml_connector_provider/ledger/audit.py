"""The audit trail: one row for everything a run did to a source record, and queries over it.

Rows are written by :meth:`~ml_connector_provider.ledger.Ledger.commit_batch` in the same
transaction as the links and dead letters they explain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from ml_connector_provider.engine.types import Action, StreamKey
from ml_connector_provider.ledger.base import LedgerBase, matching, stream_of
from ml_connector_provider.ledger.schema import audit


@dataclass(frozen=True)
class AuditRow:
    """One line of the audit trail: what one run did to one source record."""

    id: int
    key: StreamKey
    run_id: str
    try_number: int
    dag_id: str | None
    task_id: str | None
    source_system: str
    source_id: str
    source_version: str | None
    source_label: str | None
    target_system: str
    target_id: str | None
    action: Action
    reason: str | None
    idempotency_key: str | None
    created_at: datetime


def _audit(row: Row[Any]) -> AuditRow:
    return AuditRow(
        id=row.id,
        key=stream_of(row),
        run_id=row.run_id,
        try_number=row.try_number,
        dag_id=row.dag_id,
        task_id=row.task_id,
        source_system=row.source_system,
        source_id=row.source_id,
        source_version=row.source_version,
        source_label=row.source_label,
        target_system=row.target_system,
        target_id=row.target_id,
        action=Action(row.action),
        reason=row.reason,
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
    )


class AuditLedger(LedgerBase):
    """Queries over the audit trail (a part of :class:`~ml_connector_provider.ledger.Ledger`)."""

    def query_audit(
        self,
        *,
        tenant: str | None = None,
        integration: str | None = None,
        stream: str | None = None,
        record_id: str | None = None,
        action: str | None = None,
        run_id: str | None = None,
        since: datetime | None = None,
        limit: int = 200,
        until: datetime | None = None,
    ) -> list[AuditRow]:
        """Audit rows, newest first.

        :param record_id: matches the source id or the target id.
        :param action: an :class:`~ml_connector_provider.engine.types.Action` value.
        :param since: only rows recorded at or after this instant.
        :param until: only rows recorded before this instant.
        """
        conditions = matching(
            audit,
            tenant=tenant,
            integration=integration,
            stream=stream,
            run_id=run_id,
            action=None if action is None else Action(action).value,
        )
        if record_id is not None:
            conditions.append(sa.or_(audit.c.source_id == record_id, audit.c.target_id == record_id))
        if since is not None:
            conditions.append(audit.c.created_at >= since)
        if until is not None:
            conditions.append(audit.c.created_at < until)
        stmt = (
            sa.select(audit)
            .where(*conditions)
            .order_by(audit.c.created_at.desc(), audit.c.id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            return [_audit(row) for row in conn.execute(stmt)]

    def audit_counts(
        self, *, tenant: str | None = None, integration: str | None = None, run_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Audit rows counted per tenant, integration, stream and action.

        :return: dicts with keys ``tenant``, ``integration``, ``stream``, ``action`` and ``count``,
            sorted by those keys.
        """
        group = (audit.c.tenant, audit.c.integration, audit.c.stream, audit.c.action)
        stmt = (
            sa.select(*group, sa.func.count().label("count"))
            .where(*matching(audit, tenant=tenant, integration=integration, run_id=run_id))
            .group_by(*group)
            .order_by(*group)
        )
        with self._read() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]
