"""Text from outside: only the digits 0-9 in numbers, invisible characters made visible, and no
line people open that a spreadsheet would run as a formula."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_connector_provider.formats.spreadsheet import FORMULA_LEADS
from ml_connector_provider.formats.text import char_name, escape_invisible, foreign_digit, lines_for_people


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("١٢٣", (0, "\u0661")),  # Arabic-Indic
        ("12٣", (2, "\u0663")),
        ("１２.50", (0, "\uff11")),  # full-width
        ("1۲", (1, "\u06f2")),  # extended Arabic-Indic (Persian)
        ("१०", (0, "\u0967")),  # Devanagari
        ("10²", (2, "\u00b2")),  # superscript: isdigit() but not decimal
        ("𝟏0", (0, "\U0001d7cf")),  # mathematical bold digit
        ("-1234.50", None),
        ("", None),
        ("ABC", None),
        ("½", None),  # numeric, not a digit: no number parser reads it either
    ],
)
def test_foreign_digit_finds_the_first_digit_outside_0_to_9(text: str, found: tuple[int, str] | None) -> None:
    assert foreign_digit(text) == found


def test_python_reads_the_digits_foreign_digit_finds() -> None:
    # Why the check exists: the standard parsers accept these digits silently.
    assert int("١٢٣") == 123
    assert Decimal("１２.5") == Decimal("12.5")


def test_char_name_names_the_code_point() -> None:
    assert char_name("\u0661") == "U+0661 ARABIC-INDIC DIGIT ONE"
    assert char_name("\x1b") == "U+001B CONTROL"
    assert char_name("\U0001d7cf") == "U+1D7CF MATHEMATICAL BOLD DIGIT ONE"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\u202eb", "a\\u202Eb"),
        ("\x1b[31mred", "\\u001B[31mred"),
        ("tab\there", "tab\\u0009here"),
        ("two\nlines\r\n", "two\\u000Alines\\u000D\\u000A"),
        ("nel\x85csi\x9b", "nel\\u0085csi\\u009B"),
        ("\u2066isolate\u2069 \u200fmark \u2028sep", "\\u2066isolate\\u2069 \\u200Fmark \\u2028sep"),
        ("Société Générale – ½ €", "Société Générale – ½ €"),
        ("back\\slash", "back\\slash"),
    ],
)
def test_escape_invisible(text: str, expected: str) -> None:
    assert escape_invisible(text) == expected


def test_escape_invisible_can_keep_line_feeds_but_never_carriage_returns() -> None:
    assert escape_invisible("a\r\nb\u202e", keep_newlines=True) == "a\\u000D\nb\\u202E"


def test_lines_for_people_escapes_and_neutralises_each_line() -> None:
    text = 'x.csv row 2: fine\n=HYPERLINK("http://evil.example")\n\t+1\n@SUM(A1)\r\n-2+3 \u202etxt.exe\n'
    assert lines_for_people(text) == (
        "x.csv row 2: fine\n"
        '\'=HYPERLINK("http://evil.example")\n'
        "\\u0009+1\n"
        "'@SUM(A1)\\u000D\n"
        "'-2+3 \\u202Etxt.exe\n"
    )


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(st.text())
def test_no_line_for_people_holds_a_control_or_starts_a_formula(text: str) -> None:
    written = lines_for_people(text)
    assert written.endswith("\n")
    for line in written[:-1].split("\n"):
        assert not line.startswith(FORMULA_LEADS)
        assert escape_invisible(line) == line  # nothing invisible is left
