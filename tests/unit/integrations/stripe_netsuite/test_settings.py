from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ml_connector_provider.integrations.stripe_netsuite.settings import StripeNetSuiteSettings

BASE: dict[str, Any] = {"subsidiary_id": "1", "currencies": {"usd": "1", "JPY": "4"}}


def test_defaults_post_net_apply_payments_and_memo_only() -> None:
    settings = StripeNetSuiteSettings.model_validate(BASE)
    assert settings.currencies == {"USD": "1", "JPY": "4"}
    assert settings.amount_mode == "net"
    assert settings.apply_payments is True
    assert settings.refunds == "credit_memo"
    assert settings.create_customers is False
    assert settings.write_back_metadata is True
    assert (settings.event_id_field, settings.object_id_field) == (None, None)
    assert settings.item_custom_field == "custitem_stripe_product_id"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"amount_mode": "gross_with_fee_line"}, "needs fee_item", id="gross-without-fee-item"),
        pytest.param(
            {"refunds": "credit_memo_and_refund"}, "needs refund_account", id="refund-without-account"
        ),
        pytest.param({"currencies": {"US": "1"}}, "not a three-letter", id="bad-currency-code"),
        pytest.param({"currencies": {"USD": "one"}}, "currencies.USD", id="bad-currency-id"),
        pytest.param({"currencies": {"usd": "1", "USD": "2"}}, "listed twice", id="currency-twice"),
        pytest.param({"currencies": {}}, "at least 1", id="no-currency"),
        pytest.param({"items": {"widget": "5"}}, "not a Stripe product id", id="bad-product"),
        pytest.param({"items": {"prod_A": "x5"}}, "items.prod_A", id="bad-item-id"),
        pytest.param({"subsidiary_id": "1; DROP"}, "subsidiary_id", id="bad-subsidiary"),
        pytest.param({"event_id_field": "memo"}, "event_id_field", id="not-a-custom-field"),
        pytest.param(
            {"event_id_field": "custbody_x", "object_id_field": "custbody_x"},
            "must be different",
            id="same-field",
        ),
        pytest.param({"unmapped_retry_after": 5}, "unmapped_retry_after", id="retry-too-soon"),
        pytest.param({"colour": "blue"}, "colour", id="unknown-key"),
    ],
)
def test_invalid_settings_say_which_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StripeNetSuiteSettings.model_validate({**BASE, **change})


def test_gross_mode_and_refunds_validate_with_their_accounts() -> None:
    settings = StripeNetSuiteSettings.model_validate(
        {
            **BASE,
            "amount_mode": "gross_with_fee_line",
            "fee_item": "90",
            "fee_account": "612",
            "refunds": "credit_memo_and_refund",
            "refund_account": "1",
            "items": {"prod_Basic": "86"},
            "item_lookup": "custom_field",
        }
    )
    assert settings.fee_item == "90"
    assert settings.refund_account == "1"
    assert settings.items == {"prod_Basic": "86"}
