"""``ml-connector check`` for ``fusion_stripe``: read-only probes of each system the tenant's
enabled streams use, one call per system: the Stripe key against what the streams call
(:mod:`~.stripe_needs`), the Fusion pod against what they query (:mod:`~.fusion_needs`) and, when
the tenant posts to the general ledger, the journal import path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ml_connector_provider.checks import CheckResult

_ALL_STREAMS = ("customers", "invoices", "payments", "subscriptions")
_JOURNAL_STREAMS = frozenset({"payments", "subscriptions"})


def run_checks(
    connections: Mapping[str, str], settings: BaseModel, streams: Sequence[str] | None = None
) -> list[CheckResult]:
    """Probe the tenant's systems read-only.

    :param connections: Airflow connection id per role.
    :param settings: the tenant's validated ``fusion_stripe`` settings.
    :param streams: the tenant's enabled streams (default: all of them).
    """
    if not isinstance(settings, FusionStripeSettings):
        raise TypeError(f"expected FusionStripeSettings, got {type(settings).__name__}")
    enabled = tuple(_ALL_STREAMS if streams is None else streams)
    results: list[CheckResult] = []
    results += _stripe(connections["stripe"], settings, enabled)
    results += _fusion(connections["fusion"], settings, enabled)
    return results


def _stripe(conn_id: str, settings: FusionStripeSettings, streams: Sequence[str]) -> list[CheckResult]:
    """Stripe: the key, its mode and API version, and each resource the streams use
    (:mod:`~ml_connector_provider.checks.stripe`)."""
    from ml_connector_provider.checks.stripe import check_stripe
    from ml_connector_provider.hooks.stripe import StripeHook
    from ml_connector_provider.integrations.fusion_stripe.stripe_needs import needs_of_streams

    chosen = [s for s in streams if s not in _JOURNAL_STREAMS or settings.gl is not None]
    return check_stripe(StripeHook(conn_id), needs=needs_of_streams(chosen))


def _fusion(conn_id: str, settings: FusionStripeSettings, streams: Sequence[str]) -> list[CheckResult]:
    """Oracle Fusion: what the streams read and write (:mod:`~ml_connector_provider.checks.fusion`),
    and the journal import path when the tenant posts to the general ledger."""
    from ml_connector_provider.checks import CheckStatus
    from ml_connector_provider.checks.fusion import check_fusion
    from ml_connector_provider.checks.fusion_gl import check_journal_import
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
    from ml_connector_provider.integrations.fusion_stripe.fusion_needs import fusion_needs

    hook = OracleFusionHook(conn_id)
    try:
        results = check_fusion(hook, fusion_needs(streams))
        reachable = not any(r.status is CheckStatus.FAIL and r.check == "fusion.auth" for r in results)
        if reachable and settings.gl is not None and _JOURNAL_STREAMS & set(streams):
            results += check_journal_import(
                hook, journal_source=settings.gl.journal_source, journal_category=settings.gl.journal_category
            )
        return results
    finally:
        hook.close()
