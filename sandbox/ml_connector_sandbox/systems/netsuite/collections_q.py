"""The ``q`` filter of record collections, as far as contract B5 documents it.

``?q=<field> <OPERATOR> <value>`` joined with ``AND``/``OR`` (no parentheses here: refused as not
supported by the stand-in). Operators: ``IS``/``IS_NOT`` (booleans, strings), ``EQUAL``/``EQUAL_NOT``,
``ANY_OF`` (comma-separated), ``START_WITH``, ``CONTAIN``, ``END_WITH`` (+``_NOT``), ``EMPTY``/
``EMPTY_NOT``, and on date fields ``AFTER``, ``BEFORE``, ``ON``, ``ON_OR_AFTER``, ``ON_OR_BEFORE``
with the date formats of B5 (``MM/DD/YYYY``, ``M/D/YYYY``, ``MM/DD/YY hh:mm AM``, ``YYYY-MM-DD``);
an ISO date-time is refused with ``INVALID_PARAMETER`` "Unparseable date" as B5 suggests.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ml_connector_sandbox.systems.netsuite.errors import NetSuiteError

__all__ = ["compile_q"]

_DATE_FIELDS = {"lastmodifieddate", "datecreated", "createddate", "trandate", "duedate"}
_DATE_FORMATS = ("%m/%d/%Y", "%m/%d/%y %I:%M %p", "%m/%d/%Y %I:%M %p", "%Y-%m-%d")


def _bad(detail: str) -> NetSuiteError:
    return NetSuiteError(400, "INVALID_PARAMETER", detail, query_param="q")


def _parse_date(text: str) -> datetime:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise _bad(f'Unparseable date: "{text}"')


def _stored_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _field_value(record: dict[str, Any], field: str) -> Any:
    for key, value in record.items():
        if key.lower() == field.lower():
            if isinstance(value, dict) and "id" in value:
                return value["id"]
            return value
    return None


def _condition(field: str, op: str, value: str | None) -> Callable[[dict[str, Any]], bool]:
    base, negate = (op[:-4], True) if op.endswith("_NOT") and op not in ("IS_NOT",) else (op, False)
    if op == "IS_NOT":
        base, negate = "IS", True
    is_date = field.lower() in _DATE_FIELDS
    if base in ("EMPTY",):
        return lambda r: (_field_value(r, field) in (None, "")) != negate
    if value is None:
        raise _bad(f"The operator {op} needs a value (q: {field} {op}).")
    if is_date and base in ("AFTER", "BEFORE", "ON", "ON_OR_AFTER", "ON_OR_BEFORE"):
        bound = _parse_date(value)
        day_only = bound.hour == 0 and bound.minute == 0 and not re.search(r"\d:\d", value)

        def dated(record: dict[str, Any]) -> bool:
            stored = _stored_date(_field_value(record, field))
            if stored is None:
                return False
            left: Any = stored.date() if day_only else stored
            right: Any = bound.date() if day_only else bound
            result = {
                "AFTER": left > right,
                "BEFORE": left < right,
                "ON": left == right,
                "ON_OR_AFTER": left >= right,
                "ON_OR_BEFORE": left <= right,
            }[base]
            return result != negate

        return dated
    if base in ("IS", "EQUAL"):
        wanted = value

        def equal(record: dict[str, Any]) -> bool:
            stored = _field_value(record, field)
            if isinstance(stored, bool):
                return (stored == (wanted.lower() in ("true", "t"))) != negate
            return (str(stored) == wanted if stored is not None else False) != negate

        return equal
    if base == "ANY_OF":
        options = {part.strip() for part in value.split(",")}
        return lambda r: (str(_field_value(r, field)) in options) != negate
    text_ops: dict[str, Callable[[str, str], bool]] = {
        "START_WITH": lambda s, v: s.lower().startswith(v.lower()),
        "END_WITH": lambda s, v: s.lower().endswith(v.lower()),
        "CONTAIN": lambda s, v: v.lower() in s.lower(),
    }
    if base in text_ops:
        test = text_ops[base]
        return lambda r: (
            (_field_value(r, field) is not None and test(str(_field_value(r, field)), value)) != negate
        )
    raise _bad(f"The operator {op} is not supported by the NetSuite stand-in (q: {field} {op} {value}).")


def compile_q(q: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate over stored records for the ``q`` parameter; raises a 400 ``INVALID_PARAMETER``."""
    if "(" in q or ")" in q:
        raise _bad(f"Parentheses in q are not supported by the NetSuite stand-in (q: {q}).")
    try:
        words = shlex.split(q, posix=True)
    except ValueError as exc:
        raise _bad(f"Invalid q: {exc} (q: {q}).") from exc
    groups: list[list[Callable[[dict[str, Any]], bool]]] = [[]]
    index = 0
    while index < len(words):
        if len(words) - index < 2:
            raise _bad(f"Invalid q: expected '<field> <OPERATOR> <value>' (q: {q}).")
        field, op = words[index], words[index + 1].upper()
        index += 2
        value: str | None = None
        if op not in ("EMPTY", "EMPTY_NOT"):
            if index >= len(words):
                raise _bad(f"Invalid q: {field} {op} needs a value (q: {q}).")
            value = words[index]
            index += 1
        groups[-1].append(_condition(field, op, value))
        if index < len(words):
            joiner = words[index].upper()
            index += 1
            if joiner == "OR":
                groups.append([])
            elif joiner != "AND":
                raise _bad(f"Invalid q: expected AND or OR, got {words[index - 1]!r} (q: {q}).")
    if not groups[-1]:
        raise _bad(f"Invalid q: a condition is missing after AND/OR (q: {q}).")
    return lambda record: any(all(c(record) for c in group) for group in groups)
