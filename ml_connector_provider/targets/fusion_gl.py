"""Posting journals to the Oracle Fusion general ledger, exactly once, through FBDI journal import.

Fusion's REST API cannot create journals (``journalBatches`` is read-only): journals go in as a
``GlInterface.csv`` file zipped, base64-encoded and handed to ``erpintegrations``
``importBulkData``, which runs the *Journal Import* ESS job. :class:`FusionJournalWriter` is the
write side of every stream that posts journals:

1. a journal already linked in the ledger is never imported again (a posted journal is not
   edited; corrections are new journals);
2. imports an earlier attempt left unfinished (recorded in the ledger's file table with their ESS
   request id) are waited for first, so a crash during an import cannot cause a second one;
3. journals whose batch name (``Stripe <payment id>``, unique per payment) already exists in
   Fusion are linked, not imported;
4. the rest go in one file per batch, with a fresh ``GROUP_ID`` from the ledger; the ESS job is
   polled to a terminal state; the imported batches are read back by name for their ``JeBatchId``;
5. a journal Journal Import rejected is dead-lettered with Fusion's reasons for its lines (from
   the job log); a job that failed without rejecting any journal fails the task with the request
   id and the log excerpt.

The one gap left: if the ``importBulkData`` POST reaches Fusion but its answer is lost, the ledger
knows of the file but not of its request id; the next attempt finds no batch yet and imports again
if the first job has not finished by then. The batch names make such a duplicate easy to spot.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from ml_connector_provider.engine.types import Action, WriteItem, WriteResult, utcnow
from ml_connector_provider.hooks.oracle_fusion import ESS_SUCCESS_STATUSES, OracleFusionError
from ml_connector_provider.transport import ConnectionFailed, HttpStatusError, RetryExhausted

if TYPE_CHECKING:
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
    from ml_connector_provider.hooks.oracle_fusion.fbdi import Journal
    from ml_connector_provider.ledger import Ledger

log = logging.getLogger(__name__)


class JournalImportSettings(Protocol):
    """What the writer needs of a tenant's general-ledger settings (each integration that posts
    journals has its own settings model with these fields)."""

    @property
    def ledger_id(self) -> str: ...
    @property
    def ledger_name(self) -> str: ...
    @property
    def data_access_set_id(self) -> str: ...
    @property
    def journal_source(self) -> str: ...
    @property
    def segment_delimiter(self) -> str: ...
    @property
    def import_timeout(self) -> int: ...
    @property
    def poll_interval(self) -> float: ...


BATCHES_RESOURCE = "journalBatches"
FILE_PREFIX = "fusion-gl"


class JournalImportFailed(RuntimeError):
    """A Journal Import ESS job failed without saying which journals it rejected."""


def journal_from_payload(payload: Mapping[str, Any]) -> Journal:
    """Build the :class:`~ml_connector_provider.hooks.oracle_fusion.fbdi.Journal` a mapping described."""
    from ml_connector_provider.hooks.oracle_fusion.fbdi import Journal, JournalLine

    def amount(value: Any) -> Decimal | None:
        return None if value in (None, "") else Decimal(str(value))

    return Journal(
        batch_name=str(payload["batch_name"]),
        batch_description=str(payload.get("batch_description") or ""),
        journal_name=str(payload["journal_name"]),
        journal_description=str(payload.get("journal_description") or ""),
        accounting_date=date.fromisoformat(str(payload["accounting_date"])),
        currency=str(payload["currency"]),
        category=str(payload["category"]),
        lines=tuple(
            JournalLine(
                account=str(line["account"]),
                debit=amount(line.get("debit")),
                credit=amount(line.get("credit")),
                description=str(line.get("description") or ""),
                reference=line.get("reference"),
            )
            for line in payload["lines"]
        ),
    )


class FusionJournalWriter:
    """Imports the journals of a batch of write items into Fusion, exactly once.

    :param fusion: the tenant's Fusion hook.
    :param gl: the tenant's general-ledger settings.
    :param ledger: the provider's ledger (import files, ``GROUP_ID`` sequence).
    :param tenant: tenant id.
    :param integration: integration id.
    :param stream: stream name (keeps each stream's import files apart).
    :param clock: current UTC time.
    """

    def __init__(
        self,
        fusion: OracleFusionHook,
        gl: JournalImportSettings,
        ledger: Ledger,
        *,
        tenant: str,
        integration: str,
        stream: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.fusion = fusion
        self.gl = gl
        self.ledger = ledger
        self.tenant = tenant
        self.integration = integration
        self.stream = stream
        self.clock = clock

    @property
    def _prefix(self) -> str:
        return f"{FILE_PREFIX}/{self.stream}/"

    def write(self, items: Sequence[WriteItem]) -> list[WriteResult]:
        results: dict[str, WriteResult] = {}
        todo: list[WriteItem] = []
        for item in items:
            if item.target_id is not None:
                results[item.record.id] = WriteResult(
                    item.record.id,
                    Action.SKIPPED,
                    item.target_id,
                    reason=(
                        f"already posted as Fusion journal batch {item.target_id}; a posted journal is "
                        "not changed (post a correction in Fusion if needed)"
                    ),
                )
            else:
                todo.append(item)
        if todo:
            self.settle_unfinished_imports()
            existing = self._batches([str(i.payload["batch_name"]) for i in todo])
            fresh: list[WriteItem] = []
            for item in todo:
                found = existing.get(str(item.payload["batch_name"]))
                if found is not None:
                    results[item.record.id] = WriteResult(
                        item.record.id,
                        Action.SKIPPED,
                        found,
                        reason=f"journal batch {item.payload['batch_name']} is already in Fusion (JeBatchId {found}); linked",
                    )
                else:
                    fresh.append(item)
            if fresh:
                results.update(self._import(fresh))
        return [results[item.record.id] for item in items]

    # -- steps ----------------------------------------------------------------------------------

    def settle_unfinished_imports(self) -> None:
        """Wait for the imports an earlier attempt started and did not see finish."""
        for row in self.ledger.files_in_progress(self.tenant, self.integration, path_prefix=self._prefix):
            request_id = _request_id(row.detail)
            if request_id is None:
                log.warning(
                    "Journal import file %s was begun but its submission was never confirmed; "
                    "checking Fusion for its journals before importing again",
                    row.path,
                )
                self.ledger.finish_file(
                    self.tenant,
                    self.integration,
                    checksum=row.checksum,
                    outcome="failed",
                    detail="submission not confirmed",
                )
                continue
            log.info(
                "Waiting for journal import ESS request %s left by an earlier attempt (%s)",
                request_id,
                row.path,
            )
            status = self._wait(request_id)
            self.ledger.finish_file(
                self.tenant,
                self.integration,
                checksum=row.checksum,
                outcome="processed" if status in ESS_SUCCESS_STATUSES else "failed",
                detail=f"request {request_id}: {status}",
            )

    def _batches(self, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        found: dict[str, str] = {}
        for row in self.fusion.find_by_attribute(BATCHES_RESOURCE, "BatchName", list(dict.fromkeys(names))):
            name = row.get("BatchName")
            if name is not None and row.get("JeBatchId") is not None:
                found.setdefault(str(name), str(row["JeBatchId"]))
        return found

    def _wait(self, request_id: str) -> str:
        return self.fusion.wait_for_ess_job(
            request_id,
            timeout=float(self.gl.import_timeout),
            poll_interval=float(self.gl.poll_interval),
        )

    def _import(self, items: Sequence[WriteItem]) -> dict[str, WriteResult]:
        from ml_connector_provider.hooks.oracle_fusion.fbdi import (
            JOURNAL_IMPORT_JOB,
            build_gl_interface_csv,
            journal_import_parameters,
            parse_journal_import_log,
            zip_gl_interface,
        )

        journals = [journal_from_payload(item.payload) for item in items]
        group_id = self.ledger.next_control_number(self.tenant, "fusion-gl", "journal-import-group")
        now = self.clock()
        csv_bytes = build_gl_interface_csv(
            journals,
            source=self.gl.journal_source,
            group_id=group_id,
            ledger_id=self.gl.ledger_id,
            ledger_name=self.gl.ledger_name,
            created=now.date(),
            segment_delimiter=self.gl.segment_delimiter,
        )
        document = zip_gl_interface(csv_bytes)
        checksum = hashlib.sha256(document).hexdigest()
        path = f"{self._prefix}GlInterface-{group_id}.zip"
        self.ledger.begin_file(
            self.tenant, self.integration, path=path, size=len(document), checksum=checksum
        )
        request_id = self.fusion.import_bulk_data(
            document,
            file_name=f"GlInterface_{group_id}.zip",
            job_name=JOURNAL_IMPORT_JOB,
            parameters=journal_import_parameters(
                data_access_set_id=self.gl.data_access_set_id,
                source=self.gl.journal_source,
                ledger_id=self.gl.ledger_id,
                group_id=group_id,
            ),
        )
        self.ledger.note_file(
            self.tenant, self.integration, checksum=checksum, detail=f"request {request_id}"
        )
        log.info(
            "Submitted %d journal(s) to Fusion Journal Import: ESS request %s, group %s",
            len(journals),
            request_id,
            group_id,
        )
        status = self._wait(request_id)
        imported = self._batches([j.batch_name for j in journals])
        self.ledger.finish_file(
            self.tenant,
            self.integration,
            checksum=checksum,
            outcome="processed" if status in ESS_SUCCESS_STATUSES else "failed",
            detail=f"request {request_id}: {status}; {len(imported)} of {len(journals)} journal(s) imported",
        )
        results: dict[str, WriteResult] = {}
        missing: list[WriteItem] = []
        for item in items:
            name = str(item.payload["batch_name"])
            if name in imported:
                results[item.record.id] = WriteResult(item.record.id, Action.CREATED, imported[name])
            else:
                missing.append(item)
        if not missing:
            return results

        log_text = ""
        try:
            log_text = self.fusion.ess_job_log(request_id)
        except (OracleFusionError, HttpStatusError, RetryExhausted, ConnectionFailed, ValueError) as err:
            # The log only explains the outcome; failing to read it must not hide the outcome.
            log.warning("Could not read the log of ESS request %s: %s", request_id, err)
        reasons = parse_journal_import_log(log_text)
        unexplained = [item for item in missing if not reasons.get(str(item.payload["batch_name"]))]
        if unexplained:
            excerpt = log_text.strip()[-2000:] or "(no log)"
            names = ", ".join(str(i.payload["batch_name"]) for i in unexplained[:10])
            raise JournalImportFailed(
                f"Fusion Journal Import request {request_id} ended {status} and did not import "
                f"{len(unexplained)} journal(s) without naming a reason: {names}. Log excerpt:\n{excerpt}"
            )
        for item in missing:
            batch = str(item.payload["batch_name"])
            lines = "; ".join(reasons[batch])
            results[item.record.id] = WriteResult(
                item.record.id,
                Action.DEAD_LETTERED,
                reason=f"Fusion Journal Import (ESS request {request_id}, {status}) rejected journal {batch}: {lines}",
            )
        return results


def _request_id(detail: str | None) -> str | None:
    if not detail or not detail.startswith("request "):
        return None
    return detail.split()[1].rstrip(":") or None
