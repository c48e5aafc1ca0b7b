"""The one parser of every time the ``ml-connector`` command line takes (``--since``, ``--until``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ml_connector_provider.cli import TIME_FORMS, main, parse_time

NOW = datetime(2026, 5, 14, 15, 30, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-01", datetime(2026, 5, 1, tzinfo=UTC)),
        ("2026-05-01T08:30", datetime(2026, 5, 1, 8, 30, tzinfo=UTC)),
        ("2026-05-01 08:30:15", datetime(2026, 5, 1, 8, 30, 15, tzinfo=UTC)),
        ("2026-05-01T08:30:00Z", datetime(2026, 5, 1, 8, 30, tzinfo=UTC)),
        ("2026-05-01T08:30:00+02:00", datetime(2026, 5, 1, 6, 30, tzinfo=UTC)),
        ("2026-05-01T08:30:00.250-05:00", datetime(2026, 5, 1, 13, 30, 0, 250_000, tzinfo=UTC)),
        ("now", NOW),
        ("NOW", NOW),
        ("today", datetime(2026, 5, 14, tzinfo=UTC)),
        ("yesterday", datetime(2026, 5, 13, tzinfo=UTC)),
        (" yesterday ", datetime(2026, 5, 13, tzinfo=UTC)),
        ("45s", NOW - timedelta(seconds=45)),
        ("30m", NOW - timedelta(minutes=30)),
        ("12h", NOW - timedelta(hours=12)),
        ("1d", NOW - timedelta(days=1)),
        ("2w", NOW - timedelta(weeks=2)),
        ("0d", NOW),
        ("3 d", NOW - timedelta(days=3)),
    ],
)
def test_accepted_forms(text: str, expected: datetime) -> None:
    parsed = parse_time(text, now=NOW)
    assert parsed == expected
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == timedelta(0)


def test_now_in_another_zone_is_converted_to_utc() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=-10)))  # still 14 May in UTC, 13 May locally
    assert parse_time("today", now=local) == datetime(2026, 5, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterdy",
        "tomorrow",
        "1y",
        "-1d",
        "1.5h",
        "d",
        "2026-13-01",
        "2026-02-30",
        "2026/05/01",
        "05/01/2026",
        "2026-05-01T25:00",
        "1715700000",
        "2026-05",
        "9999999999999w",
    ],
)
def test_rejected_forms_name_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="invalid time") as info:
        parse_time(text, now=NOW)
    message = str(info.value)
    assert repr(text) in message
    assert "\n" not in message
    if "too far back" not in message:
        assert TIME_FORMS in message


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "--since", "yesterdy"],
        ["audit", "--until", "soon"],
        ["runs", "--since", "2026-13-01"],
        ["report", "--until", "1y"],
        ["dead-letters", "list", "--since", "last week"],
    ],
)
def test_a_bad_time_is_a_usage_error_naming_the_option(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    option = argv[2] if argv[0] == "dead-letters" else argv[1]
    assert f"error: argument {option}: invalid time {argv[-1]!r}" in err
    assert "Traceback" not in err


def test_until_before_since(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["runs", "--since", "1d", "--until", "2d", "--ledger-url", "sqlite://"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ml-connector runs: --until (")
    assert "must be after --since" in err
