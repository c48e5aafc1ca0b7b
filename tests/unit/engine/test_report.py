"""The end-of-task table and the ``on_dead_letters`` policy, on run summaries."""

from __future__ import annotations

from typing import Any

import pytest

from ml_connector_provider.engine.core import Summary
from ml_connector_provider.engine.report import DeadLetterPolicy, failure_message, run_table
from ml_connector_provider.engine.types import StreamKey

KEY = StreamKey("acme", "stampli_fusion", "invoices")


def summary(
    *, read: int = 100, dead: int = 0, files: int = 0, retried: int = 0, recovered: int = 0
) -> Summary:
    result = Summary(key=KEY, mode="incremental", read=read, created=read - dead, dead_lettered=dead)
    result.retried, result.recovered = retried, recovered
    if files:
        result.rejected["file"] = files
    return result


@pytest.mark.parametrize(
    ("policy", "run", "fails"),
    [
        ("succeed", summary(dead=50, files=3), False),
        ("fail", summary(), False),
        ("fail", summary(dead=1), True),
        ("fail", summary(files=1), True),
        # Retries of earlier dead letters that fail again are not new rejections.
        ("fail", summary(dead=2, retried=2, recovered=0), False),
        ("fail", summary(dead=3, retried=2, recovered=0), True),
        ({"max_count": 3}, summary(dead=2, files=1), False),
        ({"max_count": 3}, summary(dead=3, files=1), True),
        ({"max_count": 0}, summary(files=1), True),
        ({"max_ratio": 0.05}, summary(read=100, dead=5), False),
        ({"max_ratio": 0.05}, summary(read=100, dead=6), True),
        # A rejected file counts once, among what the run read.
        ({"max_ratio": 0.5}, summary(read=1, files=1), False),
        ({"max_ratio": 0.5}, summary(read=0, files=1), True),
        ({"max_count": 10, "max_ratio": 0.05}, summary(read=100, dead=6), True),
        ({"max_count": 5, "max_ratio": 0.5}, summary(read=100, dead=6), True),
        ({"max_count": 10, "max_ratio": 0.5}, summary(read=100, dead=6), False),
    ],
)
def test_policy_fails_only_past_its_limit(policy: Any, run: Summary, fails: bool) -> None:
    assert (DeadLetterPolicy.from_value(policy).breach(run) is not None) is fails


def test_policy_reads_back_what_it_writes() -> None:
    for value in (
        "succeed",
        "fail",
        {"max_count": 2},
        {"max_ratio": 0.1},
        {"max_count": 0, "max_ratio": 1.0},
    ):
        assert DeadLetterPolicy.from_value(value).as_value() == value
    assert DeadLetterPolicy.from_value(None).as_value() == "succeed"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sometimes", "must be 'succeed', 'fail' or a threshold"),
        (True, "must be 'succeed', 'fail' or a threshold"),
        ({"max_count": 1.5}, "max_count must be a whole number"),
        ({"max_ratio": "5%"}, "max_ratio must be a number between 0 and 1"),
        ({"max_ratio": 1.5}, "max_ratio must be between 0 and 1, got 1.5"),
    ],
)
def test_bad_policies_say_what_is_accepted(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeadLetterPolicy.from_value(value)


def test_failure_message_names_the_counts_and_the_command() -> None:
    run = summary(read=10, dead=2, files=1)
    message = failure_message(run, "on_dead_letters is 'fail'")
    assert message == (
        "acme/stampli_fusion/invoices: 2 record(s) dead-lettered and 1 file(s) rejected in this run "
        "(on_dead_letters is 'fail'). Everything else was committed: 8 created, 0 updated, 0 skipped. "
        "A retry would not change the data; list them with: "
        "ml-connector dead-letters list --tenant acme --integration stampli_fusion --stream invoices"
    )


def test_table_lists_counts_files_first_then_a_few_reasons_cut_to_one_line() -> None:
    run = summary(read=12, dead=4, files=1)
    for n in range(4):
        run.note_reason(f"1001/INV-{n}", f"vendor not set up\nin Fusion {'x' * 300}")
    run.note_reason("file:B.csv", "B.csv row 1: the header row lacks 'Currency'", unit=True)

    lines = run_table(run).splitlines()

    assert lines[:3] == [
        "acme/stampli_fusion: what moved and what was rejected",
        "stream    read  created  updated  skipped  unchanged  dead-lettered  files rejected",
        "invoices    12        8        0        0          0              4               1",
    ]
    assert lines[3] == "dead letters:"
    assert lines[4] == "  file:B.csv  B.csv row 1: the header row lacks 'Currency'"
    assert lines[5].startswith("  1001/INV-0  vendor not set up in Fusion xxx")
    assert lines[5].endswith("…")
    assert len(lines[5]) == len("  1001/INV-0  ") + 120
    assert lines[7] == (
        "  2 more: ml-connector dead-letters list --tenant acme --integration stampli_fusion --stream invoices"
    )
    assert len(lines) == 8


def test_table_without_rejections_has_no_reasons() -> None:
    assert len(run_table(summary(read=3)).splitlines()) == 3


def test_table_escapes_invisible_characters_in_reasons() -> None:
    run = summary(read=1, dead=1)
    run.note_reason("1001/X\x1b[31m", "bad \u202e name")
    text = run_table(run)
    assert "\x1b" not in text
    assert "\u202e" not in text
