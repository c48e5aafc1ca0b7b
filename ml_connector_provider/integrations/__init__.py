"""The catalogue of integrations this provider ships.

Each integration is a package ``integrations/<id>/`` whose ``SPEC`` (an
:class:`~ml_connector_provider.engine.spec.IntegrationSpec`) names its streams, connection roles,
settings model and params. See ``docs/architecture.md`` for what a new integration adds.
"""

from __future__ import annotations

from ml_connector_provider.engine.spec import IntegrationSpec


def registry() -> dict[str, IntegrationSpec]:
    """All integrations available in this version of the provider, by id (sorted)."""
    from ml_connector_provider.integrations.fusion_stripe import SPEC as FUSION_STRIPE
    from ml_connector_provider.integrations.stampli_fusion import SPEC as STAMPLI_FUSION
    from ml_connector_provider.integrations.stripe_netsuite import SPEC as STRIPE_NETSUITE

    specs = [FUSION_STRIPE, STAMPLI_FUSION, STRIPE_NETSUITE]
    return {spec.id: spec for spec in sorted(specs, key=lambda s: s.id)}


def get_integration(integration_id: str) -> IntegrationSpec:
    specs = registry()
    try:
        return specs[integration_id]
    except KeyError:
        known = ", ".join(specs) or "none"
        raise KeyError(f"unknown integration {integration_id!r} (available: {known})") from None
