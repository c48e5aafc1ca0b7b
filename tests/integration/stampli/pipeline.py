"""What the invoices-stream tests of this package share: the stream reading OpenSSH's sshd and
posting to the Fusion stand-in over HTTP, run by the engine on a SQLite ledger (the fixtures
``fusion``, ``ledger`` and ``settings`` are in this package's conftest)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from ml_connector_provider.engine.core import Summary, SyncEngine, SyncOptions
from ml_connector_provider.engine.types import RunRef, StreamKey
from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from ml_connector_provider.hooks.stampli import StampliHook
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings
from ml_connector_provider.integrations.stampli_fusion.streams import StampliInvoicesToFusion
from ml_connector_provider.ledger import Ledger
from tests.harness.sshd import SshdServer

KEY = StreamKey("acme", "stampli_fusion", "invoices")
OLD = time.time() - 600  # complete files (min_file_age 30 s)
TODAY = datetime.now(UTC).date()


def make_settings(sshd: SshdServer, **sftp: Any) -> StampliFusionSettings:
    """Settings reading ``<data_dir>/outbound`` (created, with archive and error), ``sftp`` overriding."""
    for name in ("outbound", "archive", "error"):
        sshd.mkdir(name)
    return StampliFusionSettings.model_validate(
        {
            "business_unit": "US1 Business Unit",
            "sftp": {
                "outbound_dir": sshd.remote_path("outbound"),
                "archive_dir": sshd.remote_path("archive"),
                "error_dir": sshd.remote_path("error"),
                "min_file_age": 30,
                **sftp,
            },
        }
    )


def build(
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    settings: StampliFusionSettings,
    ledger: Ledger,
    *,
    page_size: int | None = None,
) -> StampliInvoicesToFusion:
    """The stream with a run's own hooks, as the operator builds them (the stream closes them)."""
    stream = StampliInvoicesToFusion(
        StampliHook(sftp_conn_id, conn_retry_attempts=1),
        OracleFusionHook(fusion.oracle_fusion_conn_id),
        settings,
        ledger,
        KEY,
    )
    if page_size is not None:
        stream.page_size = page_size
    return stream


def run(
    sftp_conn_id: str,
    fusion: OracleFusionHook,
    settings: StampliFusionSettings,
    ledger: Ledger,
    run_id: str = "run-1",
    *,
    page_size: int | None = None,
    batch_size: int | None = None,
) -> Summary:
    """One engine run of the stream."""
    stream = build(sftp_conn_id, fusion, settings, ledger, page_size=page_size)
    options = (
        SyncOptions(lag=timedelta(0))
        if batch_size is None
        else SyncOptions(lag=timedelta(0), batch_size=batch_size)
    )
    try:
        return SyncEngine(ledger, options).run(KEY, stream, RunRef(run_id))
    finally:
        stream.close()


def put(sshd: SshdServer, name: str, content: bytes, *, mtime: float = OLD) -> None:
    sshd.put_file(sshd.remote_path(f"outbound/{name}"), content, mtime=mtime)


def names(sshd: SshdServer, directory: str) -> list[str]:
    return sorted(p.name for p in sshd.local_path(sshd.remote_path(directory)).iterdir())


def posted(fusion: OracleFusionHook, number: str) -> list[dict[str, Any]]:
    return list(fusion.find_by_attribute("invoices", "InvoiceNumber", [number]))


def file_outcomes(ledger: Ledger) -> dict[str, str]:
    from ml_connector_provider.ledger.schema import files

    with ledger.engine.connect() as conn:
        return {row.path.rsplit("/", 1)[-1]: row.outcome for row in conn.execute(files.select())}
