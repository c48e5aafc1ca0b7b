"""``ml-connector check`` for ``fusion_stripe``: what the tenant's Fusion pod allows the journal
writer (only when the tenant posts to the general ledger)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ml_connector_provider.checks import CheckResult


def run_checks(connections: Mapping[str, str], settings: BaseModel) -> list[CheckResult]:
    """Probe the tenant's Fusion pod read-only (see :mod:`ml_connector_provider.checks.fusion_gl`).

    :param connections: Airflow connection id per role.
    :param settings: the tenant's validated ``fusion_stripe`` settings.
    """
    from ml_connector_provider.checks.fusion_gl import check_journal_import
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook

    if not isinstance(settings, FusionStripeSettings):
        raise TypeError(f"expected FusionStripeSettings, got {type(settings).__name__}")
    if settings.gl is None:
        return []
    hook = OracleFusionHook(connections["fusion"])
    try:
        return check_journal_import(
            hook, journal_source=settings.gl.journal_source, journal_category=settings.gl.journal_category
        )
    finally:
        hook.close()
