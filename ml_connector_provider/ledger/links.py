"""Links and write intents: which target record each source record became, and which writes are open.

A link is upserted by :meth:`~ml_connector_provider.ledger.Ledger.commit_batch` once the target
holds the record. A write intent is recorded just before a record is written and cleared by the
same batch commit; one that survives means the earlier write may have happened unrecorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ml_connector_provider.engine.types import Link, PendingIntent, StreamKey
from ml_connector_provider.ledger.base import LedgerBase, chunks, key_values, of_stream, stream_of
from ml_connector_provider.ledger.schema import links, pending


def _link(row: Row[Any]) -> Link:
    return Link(
        key=stream_of(row),
        source_system=row.source_system,
        source_id=row.source_id,
        target_system=row.target_system,
        target_id=row.target_id,
        source_version=row.source_version,
        payload_hash=row.payload_hash,
        updated_at=row.updated_at,
    )


class LinkLedger(LedgerBase):
    """Links and pending write intents (a part of :class:`~ml_connector_provider.ledger.Ledger`)."""

    # -- write intents -------------------------------------------------------------------------

    def mark_pending(self, key: StreamKey, items: Sequence[tuple[str, str]]) -> None:
        """Record that these records are about to be written to the target.

        A pending intent that survives to the next run means the earlier write may have happened
        without the ledger learning of it; the writer must then look before it creates.

        :param items: ``(source_id, idempotency_key)`` pairs; a later pair for the same id wins.
            An intent already open for a record is kept as it is: its time is the earliest moment
            an earlier attempt may have written the record, and its key the one that attempt used
            (a writer may resend that key while the target still replays it).
        """
        latest = dict(items)
        if not latest:
            return
        now = self._clock()
        rows = [
            {**key_values(key), "source_id": source_id, "idempotency_key": idem, "created_at": now}
            for source_id, idem in sorted(latest.items())
        ]
        stmt = self._upsert(pending).on_conflict_do_nothing(index_elements=list(pending.primary_key))
        with self._write() as conn:
            conn.execute(stmt, rows)

    def pending_for(self, key: StreamKey, source_ids: Sequence[str]) -> dict[str, str]:
        """The pending intents among ``source_ids``: source id → idempotency key."""
        found: dict[str, str] = {}
        with self._read() as conn:
            for chunk in chunks(list(dict.fromkeys(source_ids))):
                stmt = sa.select(pending.c.source_id, pending.c.idempotency_key).where(
                    *of_stream(pending, key), pending.c.source_id.in_(chunk)
                )
                found.update({row.source_id: row.idempotency_key for row in conn.execute(stmt)})
        return found

    def pending_intents(self, key: StreamKey, source_ids: Sequence[str]) -> dict[str, PendingIntent]:
        """The open write intents among ``source_ids``: the first key and time of each."""
        found: dict[str, PendingIntent] = {}
        with self._read() as conn:
            for chunk in chunks(list(dict.fromkeys(source_ids))):
                stmt = sa.select(pending.c.source_id, pending.c.idempotency_key, pending.c.created_at).where(
                    *of_stream(pending, key), pending.c.source_id.in_(chunk)
                )
                found.update(
                    {
                        row.source_id: PendingIntent(row.idempotency_key, row.created_at)
                        for row in conn.execute(stmt)
                    }
                )
        return found

    def _clear_pending(self, conn: Connection, key: StreamKey, source_ids: Sequence[str]) -> None:
        """Delete the pending intents of these records, inside the caller's transaction."""
        for chunk in chunks(source_ids):
            conn.execute(sa.delete(pending).where(*of_stream(pending, key), pending.c.source_id.in_(chunk)))

    # -- links ---------------------------------------------------------------------------------

    def get_links(self, key: StreamKey, source_ids: Sequence[str]) -> dict[str, Link]:
        """The links of these source records in a stream: source id → link."""
        found: dict[str, Link] = {}
        with self._read() as conn:
            for chunk in chunks(list(dict.fromkeys(source_ids))):
                stmt = sa.select(links).where(*of_stream(links, key), links.c.source_id.in_(chunk))
                found.update({row.source_id: _link(row) for row in conn.execute(stmt)})
        return found

    def links_for_target(self, target_system: str, target_id: str) -> list[Link]:
        """Every source record linked to one target record (across tenants and streams)."""
        stmt = (
            sa.select(links)
            .where(links.c.target_system == target_system, links.c.target_id == target_id)
            .order_by(links.c.tenant, links.c.integration, links.c.stream, links.c.source_id)
        )
        with self._read() as conn:
            return [_link(row) for row in conn.execute(stmt)]

    def find_link(self, *, tenant: str, integration: str, stream: str, source_id: str) -> Link | None:
        """The link of one source record, ``None`` if it was never written."""
        return self.get_links(StreamKey(tenant, integration, stream), [source_id]).get(source_id)

    def _link_upsert(self) -> sa.Insert:
        """Insert a link, or point the existing one at the new target state (keeping a known payload hash)."""
        stmt = self._upsert(links)
        return stmt.on_conflict_do_update(
            index_elements=list(links.primary_key),
            set_={
                "target_system": stmt.excluded.target_system,
                "target_id": stmt.excluded.target_id,
                "source_version": stmt.excluded.source_version,
                "payload_hash": sa.func.coalesce(stmt.excluded.payload_hash, links.c.payload_hash),
                "updated_at": stmt.excluded.updated_at,
            },
        )
