"""Numeric ids read from outside (given on the command line, replayed from dead letters) are
numbers only when written with the digits 0-9: ``str.isdigit()`` also accepts Arabic-Indic,
full-width and superscript digits, which ``int()`` reads or fails on."""

from __future__ import annotations

from ml_connector_provider.integrations.fusion_stripe.onboarding import _sort_key
from ml_connector_provider.integrations.fusion_stripe.streams import numeric_keys


def test_numeric_keys_are_numbers_only_when_written_with_0_to_9() -> None:
    ids = ["300000046975971", "١٢٣", "12²", "１２", "9" * 25, "X-1"]
    assert numeric_keys(ids) == [300000046975971, "١٢٣", "12²", "１２", "9" * 25, "X-1"]


def test_onboarding_sort_keys_never_fail_on_other_digits() -> None:
    values = ["10", "9", "12²", "١٢٣", "A"]
    assert sorted(values, key=_sort_key) == ["9", "10", "12²", "A", "١٢٣"]
    assert _sort_key("9" * 5000) == (1, "9" * 5000)


def test_fusion_ledger_ids_in_settings_take_the_digits_0_to_9_only() -> None:
    import pydantic
    import pytest

    from ml_connector_provider.integrations.fusion_stripe.settings import GeneralLedgerSettings

    base = {
        "ledger_name": "US Primary",
        "data_access_set_id": "300000046975980",
        "cash_clearing_account": "101-000-11250-000-000",
        "ar_suspense_account": "101-000-12100-000-000",
        "fee_account": "101-000-61500-000-000",
    }
    assert (
        GeneralLedgerSettings.model_validate({**base, "ledger_id": "300000046975971"}).ledger_id
        == "300000046975971"
    )
    for foreign in ("٣٠٠", "３００"):
        with pytest.raises(pydantic.ValidationError, match="ledger_id"):
            GeneralLedgerSettings.model_validate({**base, "ledger_id": foreign})
