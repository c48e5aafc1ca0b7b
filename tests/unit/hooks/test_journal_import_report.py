"""The Journal Import execution report parser, on fixtures (their sources are in each file)."""

from __future__ import annotations

from pathlib import Path

from ml_connector_provider.hooks.oracle_fusion.journal_import_report import parse_journal_import_report

FIXTURES = Path(__file__).parent / "fixtures"


def read(name: str) -> str:
    """A fixture's report text, without its leading ``#`` lines (the note on its sources)."""
    return "\n".join(line for line in (FIXTURES / name).read_text().splitlines() if not line.startswith("#"))


def test_table_layout_names_each_rejected_journal_with_code_and_text() -> None:
    report = parse_journal_import_report(read("journal_import_report_table.txt"))
    assert report.legend["EF04"] == (
        "Invalid account combination: a segment value does not exist or is disabled."
    )
    assert report.codes() == ["EF04", "EU02"]
    reasons = report.rejections(
        {
            "pi_BAD1": ["Stripe pi_BAD1 G4711;", "pi_BAD1"],
            "pi_BAD2": ["Stripe pi_BAD2 G4711;"],
            "pi_GOOD": ["Stripe pi_GOOD G4711;", "pi_GOOD"],
        }
    )
    assert set(reasons) == {"pi_BAD1", "pi_BAD2"}
    assert reasons["pi_BAD1"][0].startswith("EF04 (Invalid account combination")
    assert "EU02 (The journal entry is unbalanced and suspense posting isn't allowed" in reasons["pi_BAD2"][0]
    # The row's description (the indented line under it) says which value is wrong.
    assert reasons["pi_BAD1"][0].endswith(
        "EF04 FLEX-VALUE DOES NOT EXIST (SEGMENT=Account) (VALUESET=Corporate Account) (VALUE=99999)"
    )
    assert "FLEX-VALUE" not in reasons["pi_BAD2"][0]
    # The legend's own codes are not error rows.
    assert not any("WU01" in row for row in report.error_rows)


def test_code_first_layout_and_whole_word_references() -> None:
    report = parse_journal_import_report(read("journal_import_report_code_first.txt"))
    reasons = report.rejections({"re_9Q": ["Stripe re_9Q G12;"], "pi_1": ["pi_1"], "pi_12": ["pi_12"]})
    assert set(reasons) == {"re_9Q", "pi_1"}
    assert reasons["re_9Q"][0].startswith(
        "EF04 (Invalid account segment value); EC03 (Invalid code combination)"
    )


def test_any_line_naming_the_journal_and_a_code_and_nothing() -> None:
    line = 'REJECTED batch="Stripe pi_X G3;" journal="P" line=2 status=EF04 description="FLEX-VALUE DOES NOT EXIST"'
    assert parse_journal_import_report(line).rejections({"x": ["Stripe pi_X G3;"]})["x"] == [
        " ".join(line.split())
    ]
    assert parse_journal_import_report("").rejections({"x": ["x"]}) == {}
    assert parse_journal_import_report("SHRD0079: Number of records inserted: 5").error_rows == ()


def test_description_lines_stay_with_their_error_row_only() -> None:
    text = "\n".join(
        [
            "Error Lines",
            "EF04   Stripe  2026-12-07  USD  7  Stripe pi_b G7;  Payment pi_b  4",
            "       FLEX-VALUE DOES NOT EXIST (SEGMENT=Account)",
            "       (VALUESET=Corporate Account) (VALUE=99999)",
            "EF03   Stripe  2026-12-07  USD  7  Stripe pi_c G7;  Payment pi_c  6",
            "",
            "       Totals: 2 rejected",
            "------ -------",
            "Error Key",
            "EF04   The account is not valid.",
        ]
    )
    reasons = parse_journal_import_report(text).rejections(
        {"b": ["Stripe pi_b G7;"], "c": ["Stripe pi_c G7;"]}
    )
    assert reasons["b"] == [
        "EF04 (The account is not valid.): EF04 Stripe 2026-12-07 USD 7 Stripe pi_b G7; Payment pi_b 4 "
        "FLEX-VALUE DOES NOT EXIST (SEGMENT=Account) (VALUESET=Corporate Account) (VALUE=99999)"
    ]
    assert reasons["c"] == ["EF03 Stripe 2026-12-07 USD 7 Stripe pi_c G7; Payment pi_c 6"]
