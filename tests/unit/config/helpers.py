"""Shared pieces of the tenant configuration tests (also used by the DAG tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

    from ml_connector_provider.engine.spec import StreamSpec

#: The smallest valid ``settings.gl`` block of fusion_stripe (the fields without a default).
GL: dict[str, Any] = {
    "ledger_id": "300000046975971",
    "ledger_name": "US Primary Ledger",
    "data_access_set_id": "300000046975980",
    "cash_clearing_account": "101-000-11250-000-000",
    "ar_suspense_account": "101-000-12990-000-000",
    "fee_account": "101-000-65110-000-000",
}


def use_stand_in_streams(monkeypatch: pytest.MonkeyPatch, *streams: StreamSpec) -> None:
    """Make ``fusion_stripe`` declare ``streams`` instead of its own (roles and settings kept)."""
    from ml_connector_provider.config import loader
    from ml_connector_provider.engine.spec import IntegrationSpec
    from ml_connector_provider.integrations import get_integration

    real = get_integration("fusion_stripe")
    spec = IntegrationSpec(
        id=real.id,
        title=real.title,
        streams=streams,
        connection_roles=real.connection_roles,
        settings_model=real.settings_model,
    )
    monkeypatch.setattr(loader, "registry", lambda: {spec.id: spec})
