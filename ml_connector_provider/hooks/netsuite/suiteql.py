"""SuiteQL text: literals that cannot break a query, and the small queries the look-ups need.

SuiteQL (contract ``oracle_fusion_netsuite.md`` B6) is Oracle-flavoured SQL sent as one string
(``{"q": "SELECT …"}``); bind parameters are seen only in public client tests, not in Oracle's
documentation (UNCONFIRMED), so the hook writes every value into the text as a literal made by
:func:`ql_literal`:

* a string becomes ``'…'`` with each ``'`` doubled (SQL's only escape inside a string literal;
  a backslash is an ordinary character in Oracle SQL);
* a string holding NUL, another control character, a lone surrogate or a line/paragraph
  separator is refused with :class:`~ml_connector_provider.hooks.netsuite.errors.NetSuiteValueError`
  naming the value: no escaping is documented for them, and a value from a record (a Stripe
  product id, a customer's name) that holds one is a data error of that record;
* an ``int`` is written as digits, a finite ``Decimal`` or ``float`` in plain decimal notation, a
  ``bool`` as ``'T'``/``'F'`` (NetSuite's checkbox values), a ``date`` as
  ``TO_DATE('YYYY-MM-DD', 'YYYY-MM-DD')`` and a ``datetime`` as
  ``TO_TIMESTAMP('YYYY-MM-DD HH24:MI:SS', …)`` (the function forms of B6);
* ``None`` is refused: ``= NULL`` is never true in SQL, a caller means ``IS NULL``.

Table and column names are checked by :func:`ql_identifier` (letters, digits and ``_``, starting
with a letter, optionally ``alias.column``) and never quoted.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from ml_connector_provider.hooks.netsuite.errors import NetSuiteValueError

__all__ = [
    "MAX_IN_LIST",
    "MAX_LITERAL_LENGTH",
    "chunked",
    "in_list",
    "ql_identifier",
    "ql_literal",
    "select_where_equals",
    "select_where_in",
]

#: Values per ``IN (…)`` list: Oracle SQL allows at most 1000 expressions in a list.
MAX_IN_LIST = 1000

#: Longest string written as a literal (Oracle's ``VARCHAR2`` limit in SQL is 4000 bytes;
#: NetSuite's text fields are shorter). A longer value is refused rather than truncated.
MAX_LITERAL_LENGTH = 4000

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}(?:\.[A-Za-z][A-Za-z0-9_]{0,127})?")


def _refusal(value: str) -> str | None:
    """Why a string cannot be written as a SuiteQL literal, or ``None``."""
    if len(value) > MAX_LITERAL_LENGTH:
        return f"longer than {MAX_LITERAL_LENGTH} characters"
    for position, char in enumerate(value):
        if char == "\x00":
            return f"it holds a NUL character at position {position}"
        category = unicodedata.category(char)
        if category == "Cc":
            return f"it holds the control character U+{ord(char):04X} at position {position}"
        if category in ("Zl", "Zp"):
            return f"it holds the line/paragraph separator U+{ord(char):04X} at position {position}"
        if category == "Cs":
            return f"it holds a lone surrogate U+{ord(char):04X} at position {position}"
    return None


def ql_literal(value: object) -> str:
    """``value`` as a SuiteQL literal (see the module docstring for each type).

    :param value: a ``str``, ``int``, ``Decimal``, ``float``, ``bool``, ``date`` or ``datetime``.
    :raises NetSuiteValueError: the value cannot be written safely (a control character, too long,
        not finite, ``None``, an unsupported type); the message shows the value and the reason.
    """
    if isinstance(value, bool):
        return "'T'" if value else "'F'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise NetSuiteValueError("a SuiteQL value", value, "not a finite number")
        return format(value, "f")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NetSuiteValueError("a SuiteQL value", value, "not a finite number")
        return format(Decimal(repr(value)), "f")
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo is not None else value
        return f"TO_TIMESTAMP('{moment:%Y-%m-%d %H:%M:%S}', 'YYYY-MM-DD HH24:MI:SS')"
    if isinstance(value, date):
        return f"TO_DATE('{value:%Y-%m-%d}', 'YYYY-MM-DD')"
    if isinstance(value, str):
        reason = _refusal(value)
        if reason is not None:
            raise NetSuiteValueError("a SuiteQL value", value, reason)
        return "'" + value.replace("'", "''") + "'"
    if value is None:
        raise NetSuiteValueError("a SuiteQL value", value, "None has no literal; write IS NULL instead")
    raise NetSuiteValueError("a SuiteQL value", value, f"unsupported type {type(value).__name__}")


def ql_identifier(name: str) -> str:
    """``name`` if it is a plain table or column name (``customer``, ``custentity_stripe_id``,
    ``t.externalid``).

    :raises NetSuiteValueError: anything else (quotes, spaces, operators, empty).
    """
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise NetSuiteValueError(
            "a SuiteQL table or column name",
            name,
            "only letters, digits and '_' starting with a letter (optionally alias.column)",
        )
    return name


def chunked(values: Iterable[object], size: int = MAX_IN_LIST) -> Iterator[list[object]]:
    """The distinct values in order of first appearance, in lists of at most ``size``.

    :raises ValueError: ``size`` is not between 1 and :data:`MAX_IN_LIST`.
    """
    if not 1 <= size <= MAX_IN_LIST:
        raise ValueError(f"an IN list holds 1 to {MAX_IN_LIST} values, got size {size}")
    chunk: list[object] = []
    for value in dict.fromkeys(values):
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def in_list(values: Sequence[object]) -> str:
    """``(v1, v2, …)`` of literals; at most :data:`MAX_IN_LIST` values.

    :raises ValueError: no value, or too many.
    :raises NetSuiteValueError: a value cannot be written.
    """
    if not values:
        raise ValueError("an IN list needs at least one value")
    if len(values) > MAX_IN_LIST:
        raise ValueError(f"an IN list holds at most {MAX_IN_LIST} values, got {len(values)}")
    return "(" + ", ".join(ql_literal(value) for value in values) + ")"


def _columns(columns: Sequence[str]) -> str:
    if not columns:
        raise ValueError("a SELECT needs at least one column")
    return ", ".join(ql_identifier(column) for column in columns)


def select_where_equals(table: str, columns: Sequence[str], column: str, value: object) -> str:
    """``SELECT <columns> FROM <table> WHERE <column> = <literal> ORDER BY id``.

    :param table: the table (``customer``, ``item``, ``transaction``).
    :param columns: the columns to read.
    :param column: the column compared (``externalid``, a custom field).
    :param value: the value it must equal.
    """
    # every name passes ql_identifier and every value ql_literal
    select = f"SELECT {_columns(columns)} FROM {ql_identifier(table)} "  # noqa: S608
    return f"{select}WHERE {ql_identifier(column)} = {ql_literal(value)} ORDER BY id"


def select_where_in(
    table: str,
    columns: Sequence[str],
    column: str,
    values: Iterable[object],
    *,
    chunk_size: int = MAX_IN_LIST,
) -> list[str]:
    """One ``SELECT <columns> FROM <table> WHERE <column> IN (…) ORDER BY id`` per chunk of
    ``chunk_size`` distinct values (none for no value).

    :raises NetSuiteValueError: a name or a value cannot be written.
    """
    # every name passes ql_identifier and every value ql_literal (in_list)
    head = f"SELECT {_columns(columns)} FROM {ql_identifier(table)} WHERE {ql_identifier(column)} IN "  # noqa: S608
    return [f"{head}{in_list(chunk)} ORDER BY id" for chunk in chunked(values, chunk_size)]
