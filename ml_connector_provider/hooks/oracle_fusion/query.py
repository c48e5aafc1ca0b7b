"""Fusion timestamps and ``q`` filters, in both dialects; pure functions, no I/O.

The ``REST-Framework-Version`` header selects the ``q`` dialect (contract A4.2):

* version 1 — query-by-example: ``Attr>=value;Attr<value``, conditions joined by ``;``, values
  unquoted (so some values cannot be written at all, see :func:`v1_value`);
* version 2 and later — expressions: ``Attr >= 'value' and Attr < 'value'``, text single-quoted
  with ``'`` doubled, numbers bare, ``in (…)`` lists. Inside the quotes ``;``, ``"``, ``,``,
  ``=``, ``<`` and non-ASCII text are plain characters (the query string is percent-encoded as
  UTF-8 by the transport). Contract A4.2 says text literals are single-quoted but not how a quote
  inside one is written: doubling it is the SQL convention ADF expressions follow, and the
  stand-in's parser does the same (UNCONFIRMED against a pod; answers are filtered on the client
  to exact equality either way, see below).

Values taken from records are checked before any request (:func:`check_filter_value`): one the
dialect cannot express, one holding control characters, or one longer than
:data:`MAX_FILTER_VALUE` raises :class:`~.errors.FusionFilterValueError` naming the attribute and
the value, a data error of the record; a filter is never silently changed.

Every builder takes the version and writes the matching dialect; callers filter the answers on
the client with :func:`comparable` to an exact match, so a server that compares case-insensitively
or treats ``%`` as a wildcard cannot add rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from ml_connector_provider.hooks.oracle_fusion.errors import FusionFilterValueError

__all__ = [
    "IN_CHUNK",
    "MAX_FILTER_LENGTH",
    "MAX_FILTER_VALUE",
    "PREFIX_CHUNK",
    "ceil_millis",
    "check_attribute",
    "check_filter_value",
    "comparable",
    "equality_filter",
    "floor_millis",
    "format_timestamp",
    "in_filters",
    "parse_timestamp",
    "prefix_filters",
    "query_literal",
    "v1_value",
    "window_filter",
]

#: Values per ``in (…)`` condition written by :func:`in_filters`.
IN_CHUNK = 100
#: Prefixes per filter written by :func:`prefix_filters` (each is one ``LIKE`` condition).
PREFIX_CHUNK = 20
#: Longest text value looked up in a filter. Fusion's longest text attributes hold 4,000
#: characters; a longer value cannot match and would only make the URL too long for the gateway.
MAX_FILTER_VALUE = 4000
#: Longest ``in (…)`` filter written by :func:`in_filters` before it starts another one, so the
#: request URL stays well below the 8 KiB many gateways accept (UNCONFIRMED for Fusion's).
MAX_FILTER_LENGTH = 4000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
    r"\s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?$"
)
_ATTRIBUTE = re.compile(r"[A-Za-z_][\w.]*")
_V1_UNSAFE = re.compile(r"\s(?:and|or)\s*(?:>=|<=|!=|<>|=|>|<)", re.IGNORECASE)


# -- timestamps ----------------------------------------------------------------------------------


def parse_timestamp(value: str | datetime | date) -> datetime:
    """Parse a Fusion date or timestamp into an aware UTC :class:`~datetime.datetime`.

    Accepts what Fusion and its documentation show (contract A4.3): ``2026-01-01T10:00:00+00:00``,
    ``2026-01-01T10:00:00.123+00:00``, ``…Z``, ``…+0000``, ``…+01``, any number of fraction digits
    (truncated to microseconds), a space instead of ``T``, no seconds, no offset (taken as UTC) and
    a bare date ``2026-01-01`` (midnight UTC). Datetimes are converted to UTC (naive ones are
    taken as UTC); dates become midnight UTC.

    :param value: the attribute value.
    :raises ValueError: the value is not a date or timestamp.
    """
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a Fusion timestamp: {value!r}")
    match = _TIMESTAMP.match(value.strip())
    if match is None:
        raise ValueError(f"not a Fusion timestamp: {value!r}")
    try:
        day = date.fromisoformat(match["date"])
        if match["h"] is None:
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        offset = UTC
        tz_text = match["tz"]
        if tz_text and tz_text not in ("Z", "z"):
            digits = tz_text[1:].replace(":", "").ljust(4, "0")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            offset = timezone(-delta if tz_text[0] == "-" else delta)
        parsed = datetime(
            day.year,
            day.month,
            day.day,
            int(match["h"]),
            int(match["m"]),
            int(match["s"] or 0),
            int((match["frac"] or "0")[:6].ljust(6, "0")),
            tzinfo=offset,
        )
    except ValueError:
        raise ValueError(f"not a Fusion timestamp: {value!r}") from None
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime the way Fusion writes timestamps: ``2026-01-01T10:00:00.000+00:00``.

    Microseconds are truncated to milliseconds (use :func:`ceil_millis` first for a lower bound).

    :param value: an aware datetime.
    :raises ValueError: ``value`` is naive.
    """
    if value.tzinfo is None:
        raise ValueError("Fusion timestamps need a timezone-aware datetime")
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


def ceil_millis(value: datetime) -> datetime:
    """``value`` rounded up to a whole millisecond (Fusion's resolution)."""
    rest = value.microsecond % 1000
    return value if rest == 0 else value + timedelta(microseconds=1000 - rest)


def floor_millis(value: datetime) -> datetime:
    """``value`` rounded down to a whole millisecond."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


# -- values --------------------------------------------------------------------------------------


def check_attribute(attribute: str) -> str:
    """Return ``attribute`` if it is an attribute name (``Attr`` or ``Child.Attr``).

    :raises ValueError: it is not (it would otherwise be written into a filter as it is).
    """
    if not _ATTRIBUTE.fullmatch(attribute or ""):
        raise ValueError(f"not an attribute name: {attribute!r}")
    return attribute


def check_filter_value(attribute: str, value: Any, *, version: int) -> None:
    """Refuse a value that cannot be written into a filter of the dialect without changing its
    meaning (see :func:`v1_value` for version 1), that holds control characters (line breaks,
    NUL…), or that is longer than :data:`MAX_FILTER_VALUE`.

    :param attribute: the attribute the value is for.
    :param value: the value, as taken from a record.
    :param version: the REST framework version (selects the dialect).
    :raises FusionFilterValueError: the value cannot be used (a ``ValueError``).
    """
    if isinstance(value, bool):
        raise FusionFilterValueError(attribute, value, "a boolean is not looked up by attribute")
    if isinstance(value, float | Decimal) and not Decimal(str(value)).is_finite():
        raise FusionFilterValueError(attribute, value, "it is not a finite number")
    if isinstance(value, str):
        if _CONTROL.search(value):
            raise FusionFilterValueError(attribute, value, "it holds control characters (a line break, NUL…)")
        if len(value) > MAX_FILTER_VALUE:
            raise FusionFilterValueError(
                attribute,
                value,
                f"it is longer than {MAX_FILTER_VALUE} characters, longer than any Fusion text",
            )
    if version < 2:
        v1_value(attribute, value)


def query_literal(value: Any) -> str:
    """A value as a literal of the version 2 ``q`` dialect: text always quoted, numbers bare."""
    if isinstance(value, bool):
        raise ValueError(f"cannot look up the boolean {value!r} by attribute")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(str(value))
        if not number.is_finite():
            raise ValueError(f"cannot look up {value!r}")
        return format(number, "f")
    if isinstance(value, datetime):
        text = format_timestamp(value) if value.tzinfo is not None else value.isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text.replace("'", "''") + "'"


def v1_value(attribute: str, value: Any) -> str:
    """A value of the version 1 (query-by-example) dialect, which has no quoting.

    :raises FusionFilterValueError: the dialect cannot express the value: a ``;``, surrounding
        quotes or blanks, an ``and``/``or`` followed by an operator, or an empty text.
    """
    if isinstance(value, bool):
        raise FusionFilterValueError(attribute, value, "a boolean is not looked up by attribute")
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float | Decimal):
        text = query_literal(value)
    else:  # dates and timestamps: their quoted version 2 literal without the quotes
        text = query_literal(value)[1:-1]
    if (
        not text
        or text != text.strip()
        or ";" in text
        or (len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"")
        or _V1_UNSAFE.search(text)
    ):
        raise FusionFilterValueError(
            attribute,
            text,
            "it cannot be written in the REST framework version 1 q dialect, which has no quoting (a "
            "';', surrounding quotes or blanks, or 'and'/'or' before an operator); use "
            "rest_framework_version 2 or later",
        )
    return text


def comparable(value: Any) -> Any:
    """A form of an attribute value in which a stored value and the value looked for compare equal."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(str(value))
        return format(number.normalize(), "f") if number.is_finite() else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


# -- filters -------------------------------------------------------------------------------------


def window_filter(
    attribute: str, lower: datetime, upper: datetime, extra: str | None, *, version: int
) -> str:
    """``lower <= attribute < upper``, ANDed with ``extra`` (a condition in the same dialect).

    :param attribute: a timestamp attribute, e.g. ``LastUpdateDate``.
    :param lower: inclusive lower bound (aware; written to the millisecond).
    :param upper: exclusive upper bound (aware).
    :param extra: another condition, or ``None``.
    :param version: the REST framework version (selects the dialect).
    """
    low, high = format_timestamp(lower), format_timestamp(upper)
    if version >= 2:
        text = f"{attribute} >= '{low}' and {attribute} < '{high}'"
        return f"{text} and ({extra})" if extra else text
    text = f"{attribute}>={low};{attribute}<{high}"
    return f"{text};{extra}" if extra else text


def in_filters(attribute: str, values: Iterable[Any], *, version: int) -> list[str]:
    """Filters that together match the items whose ``attribute`` equals one of ``values``.

    Version 2 and later: one ``attribute in ('a', 'b', …)`` per :data:`IN_CHUNK` values (fewer
    when the filter would pass :data:`MAX_FILTER_LENGTH` characters). The version 1 dialect has
    no ``in``: one ``attribute=value`` per value.

    :param attribute: a queryable attribute.
    :param values: the values (``None`` and repeats are dropped); none gives no filter.
    :param version: the REST framework version (selects the dialect).
    :raises ValueError: a bad attribute name.
    :raises FusionFilterValueError: a value that cannot be used (see :func:`check_filter_value`).
    """
    check_attribute(attribute)
    wanted = list(dict.fromkeys(value for value in values if value is not None))
    for value in wanted:
        check_filter_value(attribute, value, version=version)
    if version < 2:
        return [f"{attribute}={v1_value(attribute, value)}" for value in wanted]
    filters: list[str] = []
    chunk: list[str] = []
    length = 0
    for literal in (query_literal(value) for value in wanted):
        if chunk and (len(chunk) >= IN_CHUNK or length + len(literal) + 2 > MAX_FILTER_LENGTH):
            filters.append(f"{attribute} in ({', '.join(chunk)})")
            chunk, length = [], 0
        chunk.append(literal)
        length += len(literal) + 2
    if chunk:
        filters.append(f"{attribute} in ({', '.join(chunk)})")
    return filters


def equality_filter(criteria: Mapping[str, Any], *, version: int) -> str:
    """One filter matching the items whose attributes equal all of ``criteria``.

    ``a = 'x' and b = 'y'`` with version 2 and later, ``a=x;b=y`` with version 1.

    :param criteria: attribute → value.
    :param version: the REST framework version (selects the dialect).
    :raises ValueError: a bad attribute name, a ``None`` value, or a value the dialect cannot
        express.
    """
    for attribute, value in criteria.items():
        check_attribute(attribute)
        if value is None:
            raise ValueError(f"cannot look up {attribute} = null")
        check_filter_value(attribute, value, version=version)
    if version >= 2:
        return " and ".join(f"{attribute} = {query_literal(value)}" for attribute, value in criteria.items())
    return ";".join(f"{attribute}={v1_value(attribute, value)}" for attribute, value in criteria.items())


def prefix_filters(attribute: str, prefixes: Iterable[str], *, version: int) -> list[str] | None:
    """Filters that together match the items whose ``attribute`` starts with one of ``prefixes``.

    Version 2 and later: ``(attribute LIKE 'p1%' or attribute LIKE 'p2%' …)``, :data:`PREFIX_CHUNK`
    prefixes per filter. ``%`` and ``_`` in a prefix are wildcards of ``LIKE`` and are not escaped
    (whether Fusion honours an escape is UNCONFIRMED), so a filter may match more than asked:
    callers check the answers on the client. The version 1 dialect has no ``LIKE``: ``None``.

    :param attribute: a queryable text attribute.
    :param prefixes: the prefixes (repeats and empty ones are dropped).
    :param version: the REST framework version (selects the dialect).
    :raises ValueError: a bad attribute name.
    """
    check_attribute(attribute)
    wanted = list(dict.fromkeys(prefix for prefix in prefixes if prefix))
    if version < 2:
        return None
    return [
        "("
        + " or ".join(
            f"{attribute} LIKE {query_literal(prefix + '%')}"
            for prefix in wanted[start : start + PREFIX_CHUNK]
        )
        + ")"
        for start in range(0, len(wanted), PREFIX_CHUNK)
    ]
