"""Oracle Fusion ⇄ Stripe: the integration's declaration and tenant settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ml_connector_provider.integrations import IntegrationSpec, StreamSpec


class FusionStripeSettings(BaseModel):
    """Tenant settings of the ``fusion_stripe`` integration."""

    model_config = ConfigDict(extra="forbid")

    business_units: list[str] = Field(
        default_factory=list,
        description="Fusion business units whose customers and invoices are synced; empty means all.",
    )
    customer_metadata_prefix: str = Field(
        default="fusion_",
        description="Prefix of the Stripe metadata keys that carry Fusion ids.",
        pattern=r"^[a-z0-9_]{0,20}$",
    )


SPEC = IntegrationSpec(
    id="fusion_stripe",
    title="Oracle Fusion ⇄ Stripe",
    streams=(
        StreamSpec(
            name="customers",
            title="Fusion AR customers → Stripe customers",
            source_system="fusion",
            target_system="stripe",
            description="New and changed Fusion customer account sites become Stripe customers.",
        ),
    ),
    connection_roles={"fusion": "oracle_fusion", "stripe": "stripe"},
    settings_model=FusionStripeSettings,
    streams_factory="ml_connector_provider.operators.fusion_stripe.build_stream",
    default_schedule="*/15 * * * *",
    docs="docs/integrations/fusion_stripe.md",
)
