"""``ml-connector check`` for ``fusion_stripe``: what the tenant's Fusion pod allows the journal
writer (only when the tenant posts to the general ledger), and what the tenant's Stripe key may
read of what the streams use (:data:`~.stripe_needs.STRIPE_NEEDS`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ml_connector_provider.checks import CheckResult


def run_checks(connections: Mapping[str, str], settings: BaseModel) -> list[CheckResult]:
    """Probe the tenant's Fusion pod and Stripe account read-only (see
    :mod:`ml_connector_provider.checks.fusion_gl` and :mod:`ml_connector_provider.checks.stripe`).

    :param connections: Airflow connection id per role.
    :param settings: the tenant's validated ``fusion_stripe`` settings.
    """
    from ml_connector_provider.checks.fusion_gl import check_journal_import
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook

    if not isinstance(settings, FusionStripeSettings):
        raise TypeError(f"expected FusionStripeSettings, got {type(settings).__name__}")
    results = _check_stripe(connections["stripe"], settings)
    if settings.gl is None:
        return results
    hook = OracleFusionHook(connections["fusion"])
    try:
        return results + check_journal_import(
            hook, journal_source=settings.gl.journal_source, journal_category=settings.gl.journal_category
        )
    finally:
        hook.close()


def _check_stripe(conn_id: str, settings: FusionStripeSettings) -> list[CheckResult]:
    from ml_connector_provider.checks.stripe import check_stripe
    from ml_connector_provider.hooks.stripe import StripeHook
    from ml_connector_provider.integrations.fusion_stripe.stripe_needs import needs_for

    return check_stripe(StripeHook(conn_id), needs=needs_for(settings))
