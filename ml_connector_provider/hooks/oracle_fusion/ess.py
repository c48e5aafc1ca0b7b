"""Oracle Fusion ESS (Enterprise Scheduler) jobs through ``erpintegrations``: status, wait and log.

An ESS request id comes from a job submission (``importBulkData``, see
:mod:`~ml_connector_provider.hooks.oracle_fusion.bulk_import`); :class:`FusionEssJobs` reads its
status with the ``ESSJobStatusRF`` finder, waits for a terminal status with growing pauses, and
reads its log or output with ``ESSJobExecutionDetailsRF`` (contract A5.7, A5.7c). Submitting
further kinds of ESS job (``submitESSJobRequest``) belongs here too.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import time
import zipfile
from typing import Any

from ml_connector_provider.hooks.oracle_fusion.errors import (
    FusionApiError,
    FusionEssRequestNotFound,
    FusionEssTimeout,
    FusionResponseError,
)
from ml_connector_provider.hooks.oracle_fusion.rest import FusionRestClient
from ml_connector_provider.transport import ConnectionFailed, RetryExhausted

__all__ = [
    "ERP_INTEGRATIONS",
    "ESS_RUNNING_STATUSES",
    "ESS_SUCCESS_STATUSES",
    "ESS_TERMINAL_STATUSES",
    "FusionEssJobs",
    "ess_parameter",
]

#: The resource that runs FBDI imports and ESS jobs.
ERP_INTEGRATIONS = "erpintegrations"
#: ESS request statuses after which a request does not change any more (contract A5.7).
ESS_TERMINAL_STATUSES: frozenset[str] = frozenset(
    {
        "SUCCEEDED",
        "ERROR",
        "WARNING",
        "CANCELED",
        "CANCELLED",
        "EXPIRED",
        "FINISHED",
        "HOLD",
        "VALIDATION FAILED",
        "ERROR MANUAL RECOVERY",
    }
)
#: ESS request statuses of a request still queued or running (contract A5.7).
ESS_RUNNING_STATUSES: frozenset[str] = frozenset({"WAIT", "READY", "RUNNING", "BLOCKED", "PAUSED"})
#: Terminal statuses that mean the job did its work (``WARNING``: it did, with remarks).
ESS_SUCCESS_STATUSES: frozenset[str] = frozenset({"SUCCEEDED", "WARNING", "FINISHED"})


class FusionEssJobs(FusionRestClient):
    """Status, wait and log of ESS requests (a part of the hook)."""

    def ess_job_status(self, request_id: str | int) -> str:
        """The status of an ESS request: ``GET erpintegrations?finder=ESSJobStatusRF;requestId=<id>``.

        :param request_id: the ESS request id.
        :returns: ``RequestStatus`` in upper case, e.g. ``WAIT``, ``RUNNING``, ``SUCCEEDED``, ``ERROR``.
        :raises FusionEssRequestNotFound: Fusion answered no item for this id.
        :raises FusionResponseError: the item has no ``RequestStatus``.
        """
        rid = _request_id(request_id)
        items = self._ess_items(f"ESSJobStatusRF;requestId={rid}")
        if not items:
            raise FusionEssRequestNotFound(rid)
        status = items[0].get("RequestStatus")
        if not isinstance(status, str) or not status.strip():
            raise FusionResponseError(f"Oracle Fusion's status of ESS request {rid} has no RequestStatus")
        return " ".join(status.split()).upper()

    def wait_for_ess_job(
        self,
        request_id: str | int,
        *,
        timeout: float = 1800,
        poll_interval: float = 10,
        max_poll_interval: float = 60,
    ) -> str:
        """Poll an ESS request until its status is terminal (:data:`ESS_TERMINAL_STATUSES`).

        The first poll is immediate; the pause between polls starts at ``poll_interval`` and
        doubles up to ``max_poll_interval``. A poll that fails transiently even after the
        transport's retries (Fusion unreachable, throttling, a 5xx) is logged and the wait goes
        on; rejected credentials, a 4xx and an unknown request id end it.

        :param request_id: the ESS request id.
        :param timeout: seconds to wait in all.
        :param poll_interval: first pause between polls, seconds.
        :param max_poll_interval: longest pause between polls, seconds.
        :returns: the terminal status (check it against :data:`ESS_SUCCESS_STATUSES`; raise
            :class:`~ml_connector_provider.hooks.oracle_fusion.errors.FusionEssJobError` if failure
            should stop the caller).
        :raises FusionEssTimeout: no terminal status within ``timeout`` (the job may still finish).
        """
        rid = _request_id(request_id)
        for name, value in (("timeout", timeout), ("poll_interval", poll_interval)):
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        ceiling = max(float(max_poll_interval), float(poll_interval))
        deadline = time.monotonic() + float(timeout)
        pause = float(poll_interval)
        last_status: str | None = None
        polls = 0
        while True:
            polls += 1
            try:
                status = self.ess_job_status(rid)
            except (RetryExhausted, ConnectionFailed) as exc:
                self.log.warning("Polling ESS request %s failed (%s); polling again", rid, exc)
            except FusionApiError as exc:
                if exc.status < 500:
                    raise
                self.log.warning("Polling ESS request %s failed (%s); polling again", rid, exc)
            else:
                if status != last_status:
                    self.log.info("ESS request %s: %s (poll %d)", rid, status, polls)
                last_status = status
                if status in ESS_TERMINAL_STATUSES:
                    return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FusionEssTimeout(rid, float(timeout), last_status)
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, ceiling)

    def ess_job_log(self, request_id: str | int, *, file_type: str = "LOG") -> str:
        """The text of an ESS request's log (or output):
        ``GET erpintegrations?finder=ESSJobExecutionDetailsRF;requestId=<id>,fileType=LOG``.

        ``DocumentContent`` is base64; a zip is unpacked (its ``.log``/``.txt``/``.out`` members
        first, each decoded as UTF-8 with replacement characters), anything else decoded as text.
        Content that is not base64 is returned as it is. No item or no content gives ``""``.

        :param request_id: the ESS request id.
        :param file_type: ``LOG``, ``OUT`` or ``ALL``.
        """
        rid = _request_id(request_id)
        kind = file_type.strip().upper()
        if not re.fullmatch(r"[A-Z]+", kind):
            raise ValueError(f"file_type must be LOG, OUT or ALL, got {file_type!r}")
        items = self._ess_items(f"ESSJobExecutionDetailsRF;requestId={rid},fileType={kind}")
        texts = [_document_text(item.get("DocumentContent")) for item in items]
        return "\n".join(text for text in texts if text)

    def _ess_items(self, finder: str) -> list[dict[str, Any]]:
        body = self._get_collection(ERP_INTEGRATIONS, {"finder": finder, "onlyData": "true"})
        items: list[dict[str, Any]] = body["items"]
        return items


def _request_id(value: str | int) -> str:
    """An ESS request id as the digits Fusion expects.

    :raises ValueError: it is not a number.
    """
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise ValueError(f"an ESS request id is a number, got {value!r}")
    return text


def ess_parameter(value: str | None) -> str:
    """One value of an ESS ``ParameterList``: ``None`` or blank is sent as ``#NULL``.

    :raises ValueError: the value holds a comma (the list's separator, which has no escape).
    """
    if value is None:
        return "#NULL"
    text = str(value)
    if not text.strip():
        return "#NULL"
    if "," in text:
        raise ValueError(f"an ESS ParameterList value must not contain a comma: {text!r}")
    return text


def _document_text(content: Any) -> str:
    """Text of an ``erpintegrations`` ``DocumentContent``: base64 of a zip, of text, or plain text."""
    if not isinstance(content, str) or not content.strip():
        return ""
    try:
        raw = base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError):
        return content
    if raw.startswith(b"PK"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                members = [info for info in archive.infolist() if not info.is_dir()]
                members.sort(
                    key=lambda info: (
                        not info.filename.lower().endswith((".log", ".txt", ".out")),
                        info.filename,
                    )
                )
                parts = [archive.read(info).decode("utf-8", errors="replace") for info in members]
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError):
            pass
        else:
            return "\n".join(parts)
    return raw.decode("utf-8", errors="replace")
