"""Cells written for spreadsheets are never read as formulas."""

from __future__ import annotations

import pytest

from ml_connector_provider.formats.spreadsheet import safe_cell, safe_rows


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://evil.example","Click")', '\'=HYPERLINK("http://evil.example","Click")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("Keystone Freight Lines Inc.", "Keystone Freight Lines Inc."),
        ("101-110-61100-000-000", "101-110-61100-000-000"),
        ("A=B", "A=B"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_formula_leads_are_neutralised_and_nothing_else(value: object, expected: str) -> None:
    assert safe_cell(value) == expected


def test_every_cell_of_every_row() -> None:
    assert safe_rows([("Vendor", "Status"), ("=cmd", "Active")]) == [
        ["Vendor", "Status"],
        ["'=cmd", "Active"],
    ]
