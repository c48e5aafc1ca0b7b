"""Numeric text read from outside (ids given on the command line, settings, Fusion keys) is read
with the digits 0-9 only: ``str.isdigit()`` and the ``\\d`` of pydantic's patterns also accept
Arabic-Indic, full-width and superscript digits, which ``int()`` reads or fails on."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ml_connector_provider.integrations.fusion_stripe.onboarding import _sort_key
from ml_connector_provider.integrations.fusion_stripe.settings import GeneralLedgerSettings
from ml_connector_provider.integrations.fusion_stripe.streams import numeric_keys
from tests.unit.config.helpers import GL


def test_numeric_keys_are_numbers_only_when_written_with_0_to_9() -> None:
    ids = ["300000046975971", "١٢٣", "12²", "１２", "9" * 25, "X-1"]
    assert numeric_keys(ids) == [300000046975971, "١٢٣", "12²", "１２", "9" * 25, "X-1"]


def test_onboarding_sort_keys_never_fail_on_other_digits() -> None:
    values = ["10", "9", "12²", "١٢٣", "A"]
    assert sorted(values, key=_sort_key) == ["9", "10", "12²", "A", "١٢٣"]
    assert _sort_key("9" * 5000) == (1, "9" * 5000)


@pytest.mark.parametrize("field", ["ledger_id", "data_access_set_id"])
def test_ledger_ids_take_the_digits_0_to_9_only(field: str) -> None:
    assert getattr(GeneralLedgerSettings.model_validate(GL), field) == GL[field]
    with pytest.raises(ValidationError, match=field):
        GeneralLedgerSettings.model_validate({**GL, field: "٣٠٠٠٠٠٠٤٦٩٧٥٩٧١"})
