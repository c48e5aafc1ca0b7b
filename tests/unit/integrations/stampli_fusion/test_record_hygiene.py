"""What the Stampli stream keeps and logs of an export's invoices: flagged formula cells travel
with the record and are logged with their invisible characters escaped; ids read from Fusion are
whole numbers in the digits 0-9."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from ml_connector_provider.integrations.stampli_fusion.csv_export import parse_export
from ml_connector_provider.integrations.stampli_fusion.mapping import (
    MappingError,
    group_to_record,
    supplier_from_fusion,
)
from ml_connector_provider.integrations.stampli_fusion.settings import FileTemplate
from tests.unit.integrations.stampli_fusion.helpers import FILE, csv_bytes
from tests.unit.integrations.stampli_fusion.test_csv_export import line2, row

CHANGED = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def test_flagged_cells_are_kept_in_the_record_and_logged_escaped(caplog: pytest.LogCaptureFixture) -> None:
    content = csv_bytes(
        [
            row(**{"Invoice Number": "=1+1\u202e", "Line Description": "@SUM(A1)"}),
            line2(**{"Invoice Number": "=1+1\u202e"}),
            row(**{"Invoice Number": "INV-2", "Invoice Amount": "60.00"}),
        ]
    )
    groups = list(parse_export(content, file_name=FILE, template=FileTemplate()))
    flagged, clean = groups[0], groups[1]
    # The bidi control in the invoice number is a problem; the formula leads are warnings.
    assert [p.column for p in flagged.problems] == ["Invoice Number"]
    with caplog.at_level(logging.WARNING):
        record = group_to_record(flagged, changed_at=CHANGED, file_checksum="ab" * 32)
        plain = group_to_record(clean, changed_at=CHANGED, file_checksum="ab" * 32)
    assert record.data["warnings"] == [w.describe() for w in flagged.warnings]
    assert [w.split(": ", 1)[0] for w in record.data["warnings"]] == [
        f"{FILE} row 2, column 'Line Description'",
    ]
    assert "warnings" not in plain.data
    [logged] = [r.getMessage() for r in caplog.records]
    assert logged.startswith(
        "=1+1\\u202E (Vendor ID V100): " + f"{FILE} row 2, column 'Line Description': '@SUM(A1)'"
    )
    assert "\u202e" not in logged


def test_a_formula_lead_in_the_grouping_key_is_flagged_too() -> None:
    content = csv_bytes([row(**{"Vendor ID": "-V100", "Invoice Amount": "60.00"})])
    [group] = parse_export(content, file_name=FILE, template=FileTemplate())
    assert group.invoice is not None
    assert [(w.row, w.column) for w in group.warnings] == [(2, "Vendor ID")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("300000047", 300000047), (300000047, 300000047), (" 42 ", 42), (None, None), ("", None)],
)
def test_fusion_ids_are_whole_numbers(value: object, expected: int | None) -> None:
    supplier = supplier_from_fusion({"SupplierNumber": "1", "Supplier": "S", "SupplierId": value})
    assert supplier.supplier_id == expected


@pytest.mark.parametrize("value", ["٣٠٠", "３００", "3²", True, 1.5, "1e3", "9" * 5000, ["1"]])
def test_fusion_ids_refuse_anything_else(value: object) -> None:
    with pytest.raises(MappingError, match=r"SupplierId .* is not an id"):
        supplier_from_fusion({"SupplierNumber": "1", "Supplier": "S", "SupplierId": value})
