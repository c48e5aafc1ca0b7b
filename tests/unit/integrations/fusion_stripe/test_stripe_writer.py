"""The pure parts of the Stripe writers: due dates Stripe accepts, fresh keys, cleared values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ml_connector_provider.engine.types import SourceRecord, WriteItem
from ml_connector_provider.integrations.fusion_stripe.stripe_writer import (
    DUE_DATE_MARGIN,
    CustomerWriter,
    adjust_due_date,
    attempt_key,
    due_date_after,
)

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
PARAMS: dict[str, Any] = {
    "customer": "cus_1",
    "metadata": {"fusion_transaction_id": "42"},
    "custom_fields": [{"name": "Invoice number", "value": "INV-1"}],
}


def ts(value: datetime) -> int:
    return int(value.timestamp())


def test_a_future_due_date_is_sent_as_it_is() -> None:
    params = {**PARAMS, "due_date": ts(NOW + timedelta(days=3))}
    assert adjust_due_date(params, now=NOW, policy="postpone", days=7, original_key="k") == params


def test_without_a_due_date_nothing_changes() -> None:
    params = {**PARAMS, "days_until_due": 30}
    assert adjust_due_date(params, now=NOW, policy="dead_letter", days=7, original_key="k") == params


@pytest.mark.parametrize("due", [NOW - timedelta(days=40), NOW, NOW + DUE_DATE_MARGIN - timedelta(seconds=1)])
def test_a_passed_due_date_is_postponed_and_the_original_kept(due: datetime) -> None:
    params = {**PARAMS, "due_date": ts(due)}
    adjusted = adjust_due_date(
        params, now=NOW, policy="postpone", days=7, original_key="fusion_original_due_date"
    )
    assert isinstance(adjusted, dict)
    assert adjusted["due_date"] == ts(datetime(2026, 12, 14, 23, 59, 59, tzinfo=UTC))
    assert adjusted["metadata"] == {
        "fusion_transaction_id": "42",
        "fusion_original_due_date": due.date().isoformat(),
    }
    assert adjusted["custom_fields"][-1] == {"name": "Original due date", "value": due.date().isoformat()}
    assert params["metadata"] == {"fusion_transaction_id": "42"}, "the mapped payload is left alone"


def test_the_original_due_date_is_not_a_fifth_custom_field() -> None:
    fields = [{"name": f"f{i}", "value": "v"} for i in range(4)]
    params = {**PARAMS, "custom_fields": fields, "due_date": ts(NOW - timedelta(days=1))}
    adjusted = adjust_due_date(params, now=NOW, policy="postpone", days=7, original_key="k")
    assert isinstance(adjusted, dict)
    assert adjusted["custom_fields"] == fields
    assert adjusted["metadata"]["k"] == "2026-12-06"


def test_a_passed_due_date_is_dead_lettered_when_the_tenant_says_so() -> None:
    params = {**PARAMS, "due_date": ts(NOW - timedelta(days=2))}
    reason = adjust_due_date(params, now=NOW, policy="dead_letter", days=7, original_key="k")
    assert isinstance(reason, str)
    assert "2026-12-05 has passed" in reason
    assert "past_due_date" in reason


def test_due_date_after_is_the_end_of_the_day() -> None:
    assert due_date_after(NOW, 1) == ts(datetime(2026, 12, 8, 23, 59, 59, tzinfo=UTC))


def _item(**kwargs: Any) -> WriteItem:
    record = SourceRecord(id="7", version="v1", changed_at=NOW, data={})
    return WriteItem(record=record, payload={}, idempotency_key="mlc-abc", **kwargs)


def test_a_dead_lettered_record_retries_with_fresh_keys() -> None:
    assert attempt_key(_item()) == "mlc-abc"
    assert attempt_key(_item(attempt=1)) == "mlc-abc-a1"
    assert attempt_key(_item(attempt=2)) != attempt_key(_item(attempt=1))


def test_an_update_unsets_every_managed_key_the_payload_lacks() -> None:
    writer = CustomerWriter(None, site_key="s", managed_keys=["s", "a", "b"])  # type: ignore[arg-type]
    params = writer.update_params({"name": "X", "metadata": {"s": "7", "a": "1"}})
    assert params == {"name": "X", "metadata": {"s": "7", "a": "1", "b": ""}}
