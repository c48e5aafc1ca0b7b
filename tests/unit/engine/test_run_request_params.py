"""``RunRequest.from_params``: what a run's params may say, and what is refused with a fix."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ml_connector_provider.engine.core import REPLAY_IDS, REPLAY_RANGE, RunRequest

STREAMS = ("customers", "invoices", "payments")
D1 = datetime(2026, 3, 1, tzinfo=UTC)
D2 = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (None, RunRequest()),
        ({}, RunRequest()),
        ({"replay_from": None, "replay_to": "", "record_ids": [], "stream": None}, RunRequest()),
        ({"stream": "invoices"}, RunRequest()),
        ({"stream": ""}, RunRequest()),
        (
            {"replay_from": "2026-03-01T00:00:00+00:00", "replay_to": "2026-03-02T00:00:00Z"},
            RunRequest(mode=REPLAY_RANGE, replay_from=D1, replay_to=D2),
        ),
        (
            {"replay_from": "2026-03-01", "replay_to": "2026-03-02T02:00:00+02:00", "stream": "payments"},
            RunRequest(mode=REPLAY_RANGE, replay_from=D1, replay_to=D2),
        ),
        ({"replay_from": "2026-03-01T00:00", "replay_to": D2}, RunRequest(REPLAY_RANGE, D1, D2)),
        ({"record_ids": ["a", " b "]}, RunRequest(mode=REPLAY_IDS, record_ids=("a", "b"))),
        ({"record_ids": "a, b"}, RunRequest(mode=REPLAY_IDS, record_ids=("a", "b"))),
        ({"record_ids": [300100170752773]}, RunRequest(mode=REPLAY_IDS, record_ids=("300100170752773",))),
        (
            {"record_ids": ["1001/F-1"], "replay_from": ""},
            RunRequest(mode=REPLAY_IDS, record_ids=("1001/F-1",)),
        ),
    ],
    ids=[
        "none",
        "empty",
        "all-empty",
        "stream-only",
        "empty-stream",
        "range",
        "range-date-and-offset",
        "range-naive-and-datetime",
        "ids",
        "ids-csv",
        "ids-number",
        "ids-empty-range",
    ],
)
def test_good_params(params: dict[str, Any] | None, expected: RunRequest) -> None:
    assert RunRequest.from_params(params, streams=STREAMS) == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"replay_from": "2026-03-01T00:00:00Z"},
            "replay_from and replay_to must be given together: replay_from is set but replay_to is empty",
        ),
        (
            {"replay_to": "2026-03-01T00:00:00Z", "replay_from": ""},
            "replay_to is set but replay_from is empty",
        ),
        (
            {"replay_from": "2026-03-02", "replay_to": "2026-03-01"},
            "replay_to (2026-03-01T00:00:00+00:00) must be after replay_from (2026-03-02T00:00:00+00:00)",
        ),
        ({"replay_from": "2026-03-01", "replay_to": "2026-03-01"}, "must be after replay_from"),
        (
            {"replay_from": "01/03/2026", "replay_to": "2026-03-02"},
            "replay_from '01/03/2026' is not an ISO 8601 date-time; write it like 2026-03-01T00:00:00+00:00",
        ),
        (
            {"replay_from": "2026-03-01", "replay_to": "2026-02-30"},
            "replay_to '2026-02-30' is not an ISO 8601",
        ),
        ({"replay_from": 20260301, "replay_to": "2026-03-02"}, "replay_from 20260301 is not an ISO 8601"),
        ({"record_ids": ["a", ""]}, "record_ids: id 2 is empty; remove it or fill it in"),
        ({"record_ids": ["  "]}, "record_ids: id 1 is empty"),
        ({"record_ids": "a,,b"}, "record_ids: id 2 is empty"),
        ({"record_ids": [{"id": "a"}]}, "record_ids: id 1 must be a string, got {'id': 'a'}"),
        ({"record_ids": [True]}, "record_ids: id 1 must be a string"),
        ({"record_ids": {"a": 1}}, "record_ids must be a list of ids, got dict"),
        (
            {"record_ids": ["a"], "replay_from": "2026-03-01", "replay_to": "2026-03-02"},
            "record_ids and replay_from / replay_to were both given",
        ),
        (
            {"record_ids": ["a"], "replay_to": "2026-03-02"},
            "give either record_ids or a replay range, not both",
        ),
        (
            {"stream": "refunds"},
            "stream 'refunds' is not a stream of this DAG: use one of 'customers', 'invoices', 'payments'",
        ),
    ],
    ids=[
        "half-range-from",
        "half-range-to",
        "to-before-from",
        "empty-range",
        "malformed-date",
        "impossible-date",
        "date-not-a-string",
        "empty-id",
        "blank-id",
        "empty-id-csv",
        "id-not-a-string",
        "id-boolean",
        "ids-not-a-list",
        "ids-and-range",
        "ids-and-half-range",
        "unknown-stream",
    ],
)
def test_bad_params_say_what_to_fix(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        RunRequest.from_params(params, streams=STREAMS)
    assert message in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as caught:
        RunRequest.from_params({"stream": "nope", "record_ids": [""], "replay_from": "x"}, streams=STREAMS)
    text = str(caught.value)
    assert "stream 'nope'" in text
    assert "id 1 is empty" in text
    assert "replay_from 'x' is not an ISO 8601" in text


def test_stream_is_not_checked_without_the_stream_names() -> None:
    assert RunRequest.from_params({"stream": "anything"}) == RunRequest()
