"""FBDI imports into Oracle Fusion: upload a zip to ``erpintegrations`` and submit its import job.

:meth:`FusionBulkImports.import_bulk_data` is the generic ``importBulkData`` call (contract
A5.7); :meth:`FusionBulkImports.import_journals` builds ``GlInterface.zip`` with
:mod:`~ml_connector_provider.hooks.oracle_fusion.fbdi` and submits Journal Import. Another FBDI
import (AP invoices, …) is one more such method, next to its file builder. The submitted job is
then followed with :class:`~ml_connector_provider.hooks.oracle_fusion.ess.FusionEssJobs`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from ml_connector_provider.hooks.oracle_fusion.errors import FusionResponseError
from ml_connector_provider.hooks.oracle_fusion.ess import ERP_INTEGRATIONS, ess_parameter
from ml_connector_provider.hooks.oracle_fusion.fbdi import (
    GL_IMPORT_DOCUMENT_ACCOUNT,
    JOURNAL_IMPORT_JOB,
    Journal,
    build_gl_interface_csv,
    journal_import_parameters,
    zip_gl_interface,
)
from ml_connector_provider.hooks.oracle_fusion.rest import FusionRestClient

__all__ = ["DEFAULT_JOB_OPTIONS", "FusionBulkImports"]

#: ``JobOptions`` of a GL journal import (``InterfaceDetails=15`` is the GL interface; UNCONFIRMED
#: but used widely).
DEFAULT_JOB_OPTIONS = "InterfaceDetails=15,ImportOption=Y,PurgeOption=N,ExtractFileType=ALL"


class FusionBulkImports(FusionRestClient):
    """File-Based Data Import submissions (a part of the hook)."""

    def import_bulk_data(
        self,
        document: bytes,
        *,
        file_name: str,
        job_name: str,
        parameters: Sequence[str | None],
        document_account: str = GL_IMPORT_DOCUMENT_ACCOUNT,
        job_options: str | None = DEFAULT_JOB_OPTIONS,
        notification_code: str | None = None,
        callback_url: str | None = None,
    ) -> str:
        """Upload an FBDI zip and submit its import job: ``POST erpintegrations`` with
        ``OperationName`` ``importBulkData`` (contract A5.7).

        The request is **not** idempotent — a second one submits a second import — so it is
        repeated only when it certainly did not reach Fusion: a connection that could not be
        opened, a 401 answered before Fusion did anything (a new token, then once more), and the
        statuses the connection treats as "not processed" (429 by default). A read timeout, a
        connection dropped mid-answer, a 502, 503 or 504 are not retried; they raise, and the caller must find
        out whether the import happened (e.g. look its journals up) before submitting again.

        :param document: the zip file (``GlInterface.zip`` for journals).
        :param file_name: its name in Fusion's content server.
        :param job_name: ``<package>,<job definition>``, e.g.
            :data:`~ml_connector_provider.hooks.oracle_fusion.fbdi.JOURNAL_IMPORT_JOB`.
        :param parameters: the job's ``ParameterList`` values in order; ``None`` or ``""`` is sent
            as ``#NULL``. Values must not contain commas.
        :param document_account: the UCM account (``fin$/generalLedger$/import$`` for journals).
        :param job_options: ``JobOptions``; ``None`` leaves it out.
        :param notification_code: ``NotificationCode`` (e.g. ``"10"``); ``None`` leaves it out.
        :param callback_url: ``CallbackURL``; ``None`` sends ``#NULL``.
        :returns: the ESS request id (``ReqstId``) as text.
        :raises FusionBadRequest: Fusion refused the request.
        :raises FusionResponseError: the answer carries no request id.
        """
        if not isinstance(document, bytes | bytearray) or not bytes(document).startswith(b"PK\x03\x04"):
            raise ValueError("importBulkData takes a zip file (the document does not start like one)")
        for name, value in (
            ("file_name", file_name),
            ("job_name", job_name),
            ("document_account", document_account),
        ):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} is required")
        if "," not in job_name:
            raise ValueError(f"job_name must be '<package path>,<job definition>', got {job_name!r}")
        body: dict[str, Any] = {
            "OperationName": "importBulkData",
            "DocumentContent": base64.b64encode(bytes(document)).decode("ascii"),
            "ContentType": "zip",
            "FileName": file_name,
            "DocumentAccount": document_account,
            "JobName": job_name,
            "ParameterList": ",".join(ess_parameter(value) for value in parameters),
            "CallbackURL": callback_url or "#NULL",
        }
        if notification_code is not None:
            body["NotificationCode"] = notification_code
        if job_options:
            body["JobOptions"] = job_options
        response = self._call(
            "POST",
            ERP_INTEGRATIONS,
            ERP_INTEGRATIONS,
            json=body,
            headers={"Content-Type": "application/json"},
            idempotent=False,
        )
        answer = self._json_object(response, ERP_INTEGRATIONS)
        request_id = str(answer.get("ReqstId") or "").strip()
        if not request_id.isdigit() or int(request_id) <= 0:
            raise FusionResponseError(
                f"Oracle Fusion answered importBulkData for {file_name} without an ESS request id "
                f"(ReqstId {answer.get('ReqstId')!r})"
            )
        self.log.info("Oracle Fusion accepted %s for %s: ESS request %s", file_name, job_name, request_id)
        return request_id

    def import_journals(
        self,
        journals: Iterable[Journal],
        *,
        data_access_set_id: str | int,
        source: str,
        ledger_id: str | int,
        ledger_name: str | None,
        group_id: int,
        created: date,
        period_name: str | None = None,
        segment_delimiter: str = "-",
        file_name: str | None = None,
        post_errors_to_suspense: bool = False,
        create_summary_journals: bool = False,
        import_descriptive_flexfields: bool = False,
        document_account: str = GL_IMPORT_DOCUMENT_ACCOUNT,
        job_options: str | None = DEFAULT_JOB_OPTIONS,
    ) -> str:
        """Build ``GlInterface.csv`` for ``journals``, zip it and submit Journal Import.

        :func:`~ml_connector_provider.hooks.oracle_fusion.fbdi.build_gl_interface_csv` checks every journal
        first (balance, names, amounts), so nothing is sent when one is wrong. The job is
        ``JournalImportLauncher`` with ``ParameterList`` ``DataAccessSetId, JournalSource,
        LedgerId, GroupId, PostErrorsToSuspense, CreateSummaryJournals, ImportDFF``. The returned id is
        the load request's only: wait for its whole tree with
        :meth:`~ml_connector_provider.hooks.oracle_fusion.OracleFusionHook.wait_for_ess_tree`, read
        the batches back by name prefix (``find_by_prefix("journalBatches", "BatchName", …)``) and
        the *Import Journals: Child* report of rejections
        (:mod:`~ml_connector_provider.hooks.oracle_fusion.journal_import_report`).

        :param journals: the journals (see :class:`~ml_connector_provider.hooks.oracle_fusion.fbdi.Journal`).
        :param data_access_set_id: the data access set of the ledger.
        :param source: the journal source, in the rows and the parameters.
        :param ledger_id: the ledger id, in the rows and the parameters.
        :param ledger_name: the ledger name for the rows (optional).
        :param group_id: a fresh interface group id, in the rows and the parameters.
        :param created: ``DATE_CREATED`` of the rows.
        :param period_name: ``PERIOD_NAME`` of the rows (``None``: derived from the dates).
        :param segment_delimiter: splits concatenated accounts.
        :param file_name: the zip's name (default ``GlInterface_<group_id>.zip``).
        :param post_errors_to_suspense: ``PostErrorsToSuspense`` parameter.
        :param create_summary_journals: ``CreateSummaryJournals`` parameter.
        :param import_descriptive_flexfields: ``ImportDFF`` parameter.
        :param document_account: the UCM account.
        :param job_options: ``JobOptions``.
        :returns: the ESS request id.
        :raises ~ml_connector_provider.hooks.oracle_fusion.fbdi.JournalError: a journal cannot be written.
        """
        document = zip_gl_interface(
            build_gl_interface_csv(
                journals,
                source=source,
                group_id=group_id,
                ledger_id=ledger_id,
                ledger_name=ledger_name,
                created=created,
                period_name=period_name,
                segment_delimiter=segment_delimiter,
            )
        )
        return self.submit_journal_import(
            document,
            data_access_set_id=data_access_set_id,
            source=source,
            ledger_id=ledger_id,
            group_id=group_id,
            file_name=file_name,
            post_errors_to_suspense=post_errors_to_suspense,
            create_summary_journals=create_summary_journals,
            import_descriptive_flexfields=import_descriptive_flexfields,
            document_account=document_account,
            job_options=job_options,
        )

    def submit_journal_import(
        self,
        document: bytes,
        *,
        data_access_set_id: str | int,
        source: str,
        ledger_id: str | int,
        group_id: int,
        file_name: str | None = None,
        post_errors_to_suspense: bool = False,
        create_summary_journals: bool = False,
        import_descriptive_flexfields: bool = False,
        document_account: str = GL_IMPORT_DOCUMENT_ACCOUNT,
        job_options: str | None = DEFAULT_JOB_OPTIONS,
    ) -> str:
        """Submit a ``GlInterface.zip`` already built (see :meth:`import_journals`, which builds it
        too); for a caller that records the exact file before it is sent. Parameters as there.

        :returns: the load request's ESS id.
        """
        return self.import_bulk_data(
            document,
            file_name=file_name or f"GlInterface_{group_id}.zip",
            job_name=JOURNAL_IMPORT_JOB,
            parameters=journal_import_parameters(
                data_access_set_id=data_access_set_id,
                source=source,
                ledger_id=ledger_id,
                group_id=group_id,
                post_errors_to_suspense=post_errors_to_suspense,
                create_summary_journals=create_summary_journals,
                import_descriptive_flexfields=import_descriptive_flexfields,
            ),
            document_account=document_account,
            job_options=job_options,
        )
