"""Files seen by file-based integrations, known by the SHA-256 checksum of their content.

A file is begun (outcome ``processing``) before its content is acted on and finished as
``processed`` or ``failed``; a file still ``processing`` after a crash may or may not have been
acted on.

A file may carry a JSON ``state`` alongside its free-text ``detail``: what an importer needs to
settle an unfinished file after a crash (for a Fusion journal import: its ``GROUP_ID``, its
journals, the ESS request ids seen so far).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from ml_connector_provider.ledger.base import LedgerBase, matching
from ml_connector_provider.ledger.schema import LedgerError, files

FILE_OUTCOMES = frozenset({"processed", "failed"})


@dataclass(frozen=True)
class FileRow:
    """A file seen by a file-based integration, identified by its SHA-256 checksum."""

    id: int
    tenant: str
    integration: str
    path: str
    size: int
    checksum: str
    outcome: str
    detail: str | None
    first_seen_at: datetime
    processed_at: datetime | None
    state: dict[str, Any] | None = None


def _file(row: Row[Any]) -> FileRow:
    return FileRow(
        id=row.id,
        tenant=row.tenant,
        integration=row.integration,
        path=row.path,
        size=row.size,
        checksum=row.checksum,
        outcome=row.outcome,
        detail=row.detail,
        first_seen_at=row.first_seen_at,
        processed_at=row.processed_at,
        state=row.state if isinstance(row.state, dict) else None,
    )


class FileLedger(LedgerBase):
    """Processed files (a part of :class:`~ml_connector_provider.ledger.Ledger`)."""

    def file_by_checksum(self, tenant: str, integration: str, checksum: str) -> FileRow | None:
        """The file with this SHA-256 checksum, ``None`` if it was never seen."""
        stmt = sa.select(files).where(
            *matching(files, tenant=tenant, integration=integration, checksum=checksum)
        )
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _file(row)

    def begin_file(
        self,
        tenant: str,
        integration: str,
        *,
        path: str,
        size: int,
        checksum: str,
        state: dict[str, Any] | None = None,
    ) -> FileRow:
        """Record a file as being processed, unless its content is already known.

        :param checksum: SHA-256 of the content, hex.
        :param state: structured progress to keep with the file (JSON-serialisable).
        :return: the new row (outcome ``processing``), or the existing row for this checksum
            whatever its path and outcome; the caller decides what a known file means.
        """
        checksum = checksum.lower()
        if len(checksum) != 64 or any(c not in "0123456789abcdef" for c in checksum):
            raise ValueError(f"checksum {checksum!r} is not a SHA-256 hex digest")
        stmt = (
            self._upsert(files)
            .values(
                tenant=tenant,
                integration=integration,
                path=path,
                size=size,
                checksum=checksum,
                outcome="processing",
                state=state,
                first_seen_at=self._clock(),
            )
            .on_conflict_do_nothing(index_elements=[files.c.tenant, files.c.integration, files.c.checksum])
        )
        with self._write() as conn:
            conn.execute(stmt)
            row = conn.execute(
                sa.select(files).where(
                    *matching(files, tenant=tenant, integration=integration, checksum=checksum)
                )
            ).one()
        return _file(row)

    def finish_file(
        self,
        tenant: str,
        integration: str,
        *,
        checksum: str,
        outcome: str,
        detail: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        """Record how processing a file ended.

        :param outcome: ``processed`` or ``failed``.
        :param detail: counts or the error, for operators.
        :param state: replaces the file's structured state when given.
        :raises LedgerError: if the file was never begun.
        """
        if outcome not in FILE_OUTCOMES:
            raise ValueError(f"unknown file outcome {outcome!r}; expected one of {sorted(FILE_OUTCOMES)}")
        values: dict[str, Any] = {"outcome": outcome, "detail": detail, "processed_at": self._clock()}
        if state is not None:
            values["state"] = state
        self._update_file(tenant, integration, checksum, values)

    def note_file(
        self,
        tenant: str,
        integration: str,
        *,
        checksum: str,
        detail: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        """Record progress of a file still being processed (its outcome stays ``processing``).

        :param detail: replaces the free-text detail when given.
        :param state: replaces the structured state when given.
        :raises LedgerError: if the file was never begun.
        """
        values: dict[str, Any] = {}
        if detail is not None:
            values["detail"] = detail
        if state is not None:
            values["state"] = state
        if not values:
            raise ValueError("note_file needs a detail or a state")
        self._update_file(tenant, integration, checksum, values)

    def reopen_file(self, tenant: str, integration: str, *, checksum: str, detail: str) -> bool:
        """Make a finished file ``processing`` again, so its content is read once more (a file an
        operator asked to retry after it was rejected); what it posted before stays linked in the
        ledger, so nothing of it is posted twice.

        :param detail: why, for the record (replaces the detail).
        :return: whether the file was known (an unknown checksum changes nothing).
        """
        stmt = (
            sa.update(files)
            .where(*matching(files, tenant=tenant, integration=integration, checksum=checksum.lower()))
            .values(outcome="processing", detail=detail, processed_at=None)
        )
        with self._write() as conn:
            return bool(conn.execute(stmt).rowcount)

    def _update_file(self, tenant: str, integration: str, checksum: str, values: dict[str, Any]) -> None:
        stmt = (
            sa.update(files)
            .where(*matching(files, tenant=tenant, integration=integration, checksum=checksum.lower()))
            .values(**values)
        )
        with self._write() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise LedgerError(f"no file with checksum {checksum} was begun for {tenant}/{integration}")

    def files_in_progress(self, tenant: str, integration: str, *, path_prefix: str = "") -> list[FileRow]:
        """Files begun but not finished (outcome ``processing``), oldest first.

        After a crash these are the files whose processing may or may not have happened.
        """
        stmt = (
            sa.select(files)
            .where(
                *matching(files, tenant=tenant, integration=integration, outcome="processing"),
                files.c.path.startswith(path_prefix, autoescape=True),
            )
            .order_by(files.c.first_seen_at, files.c.id)
        )
        with self._read() as conn:
            return [_file(row) for row in conn.execute(stmt)]
