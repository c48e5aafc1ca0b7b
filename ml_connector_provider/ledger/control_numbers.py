"""EDI control numbers: one counter per tenant, trading partner and kind, advanced atomically."""

from __future__ import annotations

import sqlalchemy as sa

from ml_connector_provider.ledger.base import LedgerBase
from ml_connector_provider.ledger.schema import control_numbers


class ControlNumberLedger(LedgerBase):
    """EDI control numbers (a part of :class:`~ml_connector_provider.ledger.Ledger`)."""

    def next_control_number(self, tenant: str, partner: str, kind: str, *, maximum: int = 999_999_999) -> int:
        """The next EDI control number of one kind for one trading partner.

        Atomic: concurrent callers never get the same number. Starts at 1 and wraps to 1 after
        ``maximum`` (X12 ISA13 and GS06 are at most nine digits).

        :param kind: ``ISA``, ``GS``, ``ST``…
        """
        if maximum < 1:
            raise ValueError("maximum must be at least 1")
        insert = self._upsert(control_numbers).values(
            tenant=tenant, partner=partner, kind=kind, last_value=1, updated_at=self._clock()
        )
        current = control_numbers.c.last_value
        stmt = insert.on_conflict_do_update(
            index_elements=list(control_numbers.primary_key),
            set_={
                "last_value": sa.case((current >= maximum, 1), else_=current + 1),
                "updated_at": insert.excluded.updated_at,
            },
        ).returning(current)
        with self._write() as conn:
            return int(conn.execute(stmt).scalar_one())
