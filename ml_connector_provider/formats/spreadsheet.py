"""Cells of CSV files people open in a spreadsheet: formula injection neutralised.

A spreadsheet evaluates a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and a
leading tab or carriage return can hide such a character. Values the connector writes for people
(supplier names, for instance, can come from a supplier's self-registration) are prefixed with an
apostrophe when they start that way, so they are shown as text, never run (OWASP's advice for
CSV injection).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["FORMULA_LEADS", "safe_cell", "safe_rows"]

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
"""First characters a spreadsheet may read as the start of a formula."""


def safe_cell(value: object) -> str:
    """``value`` as text, with an apostrophe in front when a spreadsheet would read a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_LEADS) else text


def safe_rows(rows: Iterable[Sequence[object]]) -> list[list[str]]:
    """Every cell of ``rows`` through :func:`safe_cell`."""
    return [[safe_cell(cell) for cell in row] for row in rows]
