"""Attribute types of the Oracle Fusion stand-in and the conversions between wire text and values.

Fusion (Oracle ADF Business Components REST) sends ids as JSON integers, amounts as JSON numbers,
dates as ``YYYY-MM-DD`` and timestamps as ISO 8601 with an offset (contract A4.3). The stand-in
stores timestamps in the canonical form ``YYYY-MM-DDTHH:MM:SS.sss+00:00`` and compares them as
aware datetimes, so a filter literal may be written in any of the lenient forms the contract asks
for (quoted or not, ``Z`` or ``+00:00``, with or without milliseconds, or a bare date).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

__all__ = [
    "AttrType",
    "InvalidValue",
    "coerce_input",
    "format_timestamp",
    "from_text",
    "json_number",
    "normalise",
    "parse_timestamp_text",
]

AttrType = Literal["string", "integer", "number", "boolean", "date", "datetime"]
"""The attribute types the stand-in understands (as reported by ``/describe``)."""

_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
    r"\s*(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?|\s\d{2}:?\d{2})?)?$"
)


class InvalidValue(ValueError):
    """A value does not fit its attribute's type."""


def parse_timestamp_text(text: str) -> datetime:
    """Parse a timestamp or date literal leniently into an aware UTC datetime.

    Accepts ``2026-01-01``, ``2026-01-01T10:00``, ``…:00Z``, ``…:00.123+00:00``, ``…+0000``,
    a space instead of ``T``, and a ``+`` that arrived as a space (``…00.000 00:00``, from a
    client that did not percent-encode it). A value without an offset is taken as UTC.

    :param text: the literal.
    :raises InvalidValue: the text is not a date or timestamp.
    """
    match = _TIMESTAMP.match(text.strip())
    if match is None:
        raise InvalidValue(f"'{text}' is not a valid date or timestamp")
    try:
        day = date.fromisoformat(match["date"])
    except ValueError:
        raise InvalidValue(f"'{text}' is not a valid date or timestamp") from None
    if match["h"] is None:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    frac = (match["frac"] or "0")[:6].ljust(6, "0")
    tz_text = (match["tz"] or "Z").strip()
    if tz_text in ("Z", "z"):
        tz: timezone = UTC
    else:
        sign = -1 if tz_text.startswith("-") else 1
        digits = tz_text.lstrip("+-").replace(":", "")
        if len(digits) == 2:
            digits += "00"
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        value = datetime(
            day.year,
            day.month,
            day.day,
            int(match["h"]),
            int(match["m"]),
            int(match["s"] or 0),
            int(frac),
            tzinfo=tz,
        )
    except ValueError:
        raise InvalidValue(f"'{text}' is not a valid date or timestamp") from None
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """The canonical wire form ``YYYY-MM-DDTHH:MM:SS.sss+00:00`` of an aware datetime."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


def json_number(value: Decimal) -> int | float:
    """The JSON number stored for an amount: an int when integral, else a float."""
    return int(value) if value == value.to_integral_value() else float(value)


def from_text(attr_type: AttrType, text: str) -> Any:
    """Convert filter literal text to a comparable value of ``attr_type``.

    :raises InvalidValue: the text does not fit the type.
    """
    if attr_type == "string":
        return text
    if attr_type == "integer":
        try:
            return int(text.strip())
        except ValueError:
            raise InvalidValue(f"'{text}' is not a valid integer") from None
    if attr_type == "number":
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            raise InvalidValue(f"'{text}' is not a valid number") from None
        if not number.is_finite():
            raise InvalidValue(f"'{text}' is not a valid number")
        return number
    if attr_type == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "y", "yes"):
            return True
        if lowered in ("false", "n", "no"):
            return False
        raise InvalidValue(f"'{text}' is not a valid boolean")
    if attr_type == "date":
        return parse_timestamp_text(text).date()
    return parse_timestamp_text(text)


def normalise(attr_type: AttrType, value: Any) -> Any:
    """Turn a stored attribute value into a comparable one (``None`` stays ``None``)."""
    if value is None:
        return None
    if attr_type == "datetime":
        return value if isinstance(value, datetime) else parse_timestamp_text(str(value))
    if attr_type == "date":
        if isinstance(value, datetime):
            return value.date()
        return value if isinstance(value, date) else parse_timestamp_text(str(value)).date()
    if attr_type == "number":
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if attr_type == "integer":
        return int(value)
    if attr_type == "boolean":
        return bool(value)
    return str(value)


def coerce_input(attr_type: AttrType, name: str, value: Any) -> Any:
    """Validate and convert a value from a POST/PATCH body to its stored JSON form.

    Ids become JSON integers, amounts JSON numbers (numeric strings are accepted), dates
    ``YYYY-MM-DD`` and timestamps the canonical ``…sss+00:00`` text.

    :raises InvalidValue: the value does not fit the type.
    """
    if value is None:
        return None
    problem = f"The value {value!r} of attribute {name} is not a valid {attr_type}."
    if attr_type == "string":
        if isinstance(value, dict | list):
            raise InvalidValue(problem)
        return value if isinstance(value, str) else str(value)
    if attr_type == "integer":
        if isinstance(value, bool):
            raise InvalidValue(problem)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        raise InvalidValue(problem)
    if attr_type == "number":
        if isinstance(value, bool):
            raise InvalidValue(problem)
        if isinstance(value, int | float):
            return value
        if isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                raise InvalidValue(problem) from None
            if number.is_finite():
                return json_number(number)
        raise InvalidValue(problem)
    if attr_type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidValue(problem)
    if not isinstance(value, str):
        raise InvalidValue(problem)
    if attr_type == "date":
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise InvalidValue(problem)
        return parse_timestamp_text(value).date().isoformat()
    return format_timestamp(parse_timestamp_text(value))
