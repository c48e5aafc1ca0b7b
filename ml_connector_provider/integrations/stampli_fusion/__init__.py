"""Stampli (SFTP CSV exports) → Oracle Fusion AP.

Modules: :mod:`.settings` (the tenant's ``settings`` block and the file template),
:mod:`.csv_export` (the pure CSV parser), :mod:`.mapping` (pure AP invoice mapping) and
:mod:`.streams` (the streams, built by name from :data:`SPEC`).
"""

from __future__ import annotations

from ml_connector_provider.engine.spec import IntegrationSpec, StreamSpec
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings

_HERE = "ml_connector_provider.integrations.stampli_fusion"

SPEC = IntegrationSpec(
    id="stampli_fusion",
    title="Stampli → Oracle Fusion AP",
    streams=(
        StreamSpec(
            name="invoices",
            stream_class=f"{_HERE}.streams.StampliInvoicesToFusion",
            title="Stampli approved invoices → Fusion AP invoices",
            source_system="stampli",
            target_system="fusion",
            description=(
                "Complete CSV exports in the SFTP outbound directory become Fusion payables invoices "
                "with lines and distributions, once per supplier and invoice number; each file is "
                "then archived (or moved to the error directory with a reason file)."
            ),
        ),
        StreamSpec(
            name="reference_data",
            stream_class=f"{_HERE}.streams.FusionReferenceDataToStampli",
            title="Fusion vendors, GL accounts, cost centres → Stampli",
            source_system="fusion",
            target_system="stampli",
            description="Writes Fusion's suppliers, account combinations and cost centres to Stampli's inbound directory as CSV.",
            requires_settings=("reference_data",),
        ),
    ),
    connection_roles={"fusion": "oracle_fusion", "stampli": "sftp"},
    settings_model=StampliFusionSettings,
    default_schedule="*/15 * * * *",
    docs="docs/integrations/stampli_fusion.md",
    checks=f"{_HERE}.checks.run_checks",
)
