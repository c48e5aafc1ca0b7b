"""The sync operator refuses bad run params at once (``AirflowFailException``: no retries)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from ml_connector_provider.engine.core import REPLAY_IDS, REPLAY_RANGE, RunRequest
from ml_connector_provider.operators.sync import SyncStreamOperator


def _operators() -> tuple[SyncStreamOperator, SyncStreamOperator]:
    with DAG(dag_id="mlc__unit__fusion_stripe", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC)):
        first, second = (
            SyncStreamOperator(
                task_id=stream,
                tenant_id="unit",
                integration_id="fusion_stripe",
                stream=stream,
                connections={"fusion": "fusion_default", "stripe": "stripe_default"},
                settings={},
                ledger_conn_id="no_such_ledger",  # never reached: params are checked first
            )
            for stream in ("customers", "invoices")
        )
    first >> second
    return first, second


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"replay_from": "2026-03-01T00:00:00Z"}, "replay_from is set but replay_to is empty"),
        ({"replay_from": "2026-03-02", "replay_to": "2026-03-01"}, "must be after replay_from"),
        (
            {"replay_from": "March 1st", "replay_to": "2026-03-02"},
            "replay_from 'March 1st' is not an ISO 8601",
        ),
        ({"record_ids": ["", "7"]}, "record_ids: id 1 is empty"),
        ({"record_ids": ["7"], "replay_from": "2026-03-01", "replay_to": "2026-03-02"}, "not both"),
        (
            {"stream": "payments"},
            "stream 'payments' is not a stream of this DAG: use one of 'customers', 'invoices'",
        ),
        ({"invoice_numbers": "AR-1"}, "invoice_numbers 'AR-1': 'AR-1' is not of type 'null', 'array'"),
        ({"invoice_numbers": [10042]}, "invoice_numbers [10042]: 10042 is not of type 'string'"),
        ({"onboarding_dry_run": "yes"}, "onboarding_dry_run 'yes': 'yes' is not of type 'null', 'boolean'"),
    ],
    ids=[
        "half-range",
        "to-before-from",
        "malformed-date",
        "empty-id",
        "ids-and-range",
        "unknown-stream",
        "invoice-numbers-not-a-list",
        "invoice-number-not-a-string",
        "dry-run-not-a-boolean",
    ],
)
def test_bad_params_fail_the_task_without_retries(params: dict[str, Any], message: str) -> None:
    # Every task refuses, the selected one or not, before touching the ledger or any system.
    for operator in _operators():
        with pytest.raises(AirflowFailException) as caught:
            operator.execute({"params": params})  # type: ignore[arg-type]
        text = str(caught.value)
        assert text.startswith("Invalid run params, fix them and trigger a new run: ")
        assert message in text


def test_all_problems_in_one_message() -> None:
    operator, _ = _operators()
    with pytest.raises(AirflowFailException) as caught:
        operator.execute({"params": {"replay_to": "2026-03-01", "onboarding_dry_run": 1}})  # type: ignore[arg-type]
    assert "replay_to is set but replay_from is empty" in str(caught.value)
    assert "onboarding_dry_run 1:" in str(caught.value)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, RunRequest()),
        ({"stream": "invoices", "invoice_numbers": ["AR-1"], "onboarding_dry_run": None}, RunRequest()),
        (
            {"replay_from": "2026-03-01", "replay_to": "2026-03-02", "stream": "customers"},
            RunRequest(
                mode=REPLAY_RANGE,
                replay_from=datetime(2026, 3, 1, tzinfo=UTC),
                replay_to=datetime(2026, 3, 2, tzinfo=UTC),
            ),
        ),
        (
            {"record_ids": ["300100170752773"], "onboarding_dry_run": True},
            RunRequest(REPLAY_IDS, record_ids=("300100170752773",)),
        ),
    ],
    ids=["incremental", "integration-params", "range", "ids"],
)
def test_good_params_give_the_request(params: dict[str, Any], expected: RunRequest) -> None:
    for operator in _operators():
        assert operator._run_request(params) == expected


def test_an_operator_outside_a_dag_checks_all_but_the_stream() -> None:
    operator = SyncStreamOperator(
        task_id="customers",
        tenant_id="unit",
        integration_id="fusion_stripe",
        stream="customers",
        connections={},
        settings={},
    )
    assert operator._run_request({"stream": "other"}) == RunRequest()
    with pytest.raises(AirflowFailException, match="must be given together"):
        operator._run_request({"replay_to": "2026-03-01"})
