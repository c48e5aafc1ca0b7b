"""Declarative parameter checking for Stripe routes (pure functions).

A route describes the parameters it accepts as a mapping of name → :class:`Spec`; :func:`validate`
walks the parsed form (see :mod:`.forms`), coerces the strings to the declared types and answers
like Stripe does: ``Received unknown parameter: address[foo]``, ``Invalid integer: abc``, with
``param`` set. The empty string follows Stripe's convention: it *unsets* a field (coerced to
``None``), and an empty metadata value unsets that key.

Every error raised here is a validation error (:func:`.errors.invalid_request`), which the
idempotency layer does not store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ml_connector_sandbox.systems.stripe.errors import (
    invalid_request,
    missing_param,
    unknown_parameter,
)

__all__ = [
    "EXPAND",
    "METADATA_MAX_KEYS",
    "METADATA_MAX_KEY_LENGTH",
    "METADATA_MAX_VALUE_LENGTH",
    "PAGING",
    "RETRIEVE",
    "Arr",
    "Bool",
    "Currency",
    "Dec",
    "Enum",
    "Int",
    "Metadata",
    "Obj",
    "Range",
    "Spec",
    "Str",
    "exclusive",
    "merge_metadata",
    "require",
    "validate",
]

METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500


class Spec:
    """The type of one parameter; subclasses implement :meth:`coerce`.

    :param empty_unsets: whether ``""`` is accepted and means "unset" (coerced to ``None``).
    """

    def __init__(self, *, empty_unsets: bool = True) -> None:
        self.empty_unsets = empty_unsets

    def check(self, value: Any, name: str) -> Any:
        """Coerce ``value`` (a string, dict or list from the form) or raise a 400."""
        if value == "" and self.empty_unsets and not isinstance(self, Str):
            return None
        return self.coerce(value, name)

    def coerce(self, value: Any, name: str) -> Any:
        """Coerce a non-empty value; override."""
        raise NotImplementedError


class Str(Spec):
    """A string, optionally bounded.

    :param max_length: longest accepted value.
    :param pattern_check: extra check returning an error message, or ``None`` when valid.
    """

    def __init__(
        self,
        *,
        max_length: int | None = 5000,
        empty_unsets: bool = True,
        pattern_check: Any = None,
    ) -> None:
        super().__init__(empty_unsets=empty_unsets)
        self.max_length = max_length
        self.pattern_check = pattern_check

    def coerce(self, value: Any, name: str) -> Any:
        if not isinstance(value, str):
            raise invalid_request(f"Invalid string: {_show(value)}", param=name)
        if value == "":
            if self.empty_unsets:
                return None
            raise invalid_request(f"You passed an empty string for '{name}'.", param=name)
        if self.max_length is not None and len(value) > self.max_length:
            raise invalid_request(
                f"Invalid string: {value[:20]}...; must be at most {self.max_length} characters",
                param=name,
            )
        if self.pattern_check is not None:
            problem = self.pattern_check(value)
            if problem:
                raise invalid_request(problem, param=name)
        return value


class Int(Spec):
    """An integer, optionally bounded."""

    def __init__(self, *, minimum: int | None = None, maximum: int | None = None, empty_unsets: bool = True):
        super().__init__(empty_unsets=empty_unsets)
        self.minimum = minimum
        self.maximum = maximum

    def coerce(self, value: Any, name: str) -> Any:
        if not isinstance(value, str) or not _is_int(value):
            raise invalid_request(f"Invalid integer: {_show(value)}", param=name)
        number = int(value)
        if self.minimum is not None and number < self.minimum:
            raise invalid_request(f"This value must be greater than or equal to {self.minimum}.", param=name)
        if self.maximum is not None and number > self.maximum:
            raise invalid_request(f"This value must be less than or equal to {self.maximum}.", param=name)
        return number


class Bool(Spec):
    """``true`` / ``false``."""

    def coerce(self, value: Any, name: str) -> Any:
        if value in ("true", "false"):
            return value == "true"
        raise invalid_request(f"Invalid boolean: {_show(value)}", param=name)


class Dec(Spec):
    """A decimal string (``unit_amount_decimal``, ``quantity_decimal``) → :class:`~decimal.Decimal`.

    :param max_places: most digits after the decimal point (Stripe allows 12).
    :param minimum: smallest accepted value.
    """

    def __init__(
        self, *, max_places: int = 12, minimum: Decimal | None = None, empty_unsets: bool = True
    ) -> None:
        super().__init__(empty_unsets=empty_unsets)
        self.max_places = max_places
        self.minimum = minimum

    def coerce(self, value: Any, name: str) -> Any:
        if not isinstance(value, str) or not _DECIMAL_RE.match(value):
            raise invalid_request(f"Invalid decimal: {_show(value)}", param=name)
        try:
            number = Decimal(value)
        except InvalidOperation as exc:  # pragma: no cover - the pattern already refused it
            raise invalid_request(f"Invalid decimal: {value}", param=name) from exc
        places = -int(number.as_tuple().exponent)
        if places > self.max_places:
            raise invalid_request(
                f"Invalid decimal: {value}; must have at most {self.max_places} decimal places", param=name
            )
        if self.minimum is not None and number < self.minimum:
            raise invalid_request(f"This value must be greater than or equal to {self.minimum}.", param=name)
        return number


class Currency(Spec):
    """A three-letter ISO currency code, stored lower case as Stripe returns it."""

    def coerce(self, value: Any, name: str) -> Any:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
            raise invalid_request(f"Invalid currency: {_show(value)}", param=name)
        return value.lower()


class Enum(Spec):
    """One of fixed strings."""

    def __init__(self, *values: str, empty_unsets: bool = True) -> None:
        super().__init__(empty_unsets=empty_unsets)
        self.values = values

    def coerce(self, value: Any, name: str) -> Any:
        if value not in self.values:
            raise invalid_request(f"Invalid {name}: must be one of {', '.join(self.values)}", param=name)
        return value


class Obj(Spec):
    """A hash with declared fields (unknown fields are refused)."""

    def __init__(self, fields: Mapping[str, Spec], *, empty_unsets: bool = True) -> None:
        super().__init__(empty_unsets=empty_unsets)
        self.fields = fields

    def coerce(self, value: Any, name: str) -> Any:
        if not isinstance(value, dict):
            raise invalid_request("Invalid hash", param=name)
        return validate(value, self.fields, prefix=name)


class Arr(Spec):
    """An array (``a[0]=``/``a[]=``) of one item type."""

    def __init__(self, item: Spec, *, max_items: int | None = None, empty_unsets: bool = True) -> None:
        super().__init__(empty_unsets=empty_unsets)
        self.item = item
        self.max_items = max_items

    def coerce(self, value: Any, name: str) -> Any:
        if not isinstance(value, list):
            raise invalid_request("Invalid array", param=name)
        if self.max_items is not None and len(value) > self.max_items:
            raise invalid_request(f"This array must have at most {self.max_items} items.", param=name)
        return [self.item.check(item, f"{name}[{index}]") for index, item in enumerate(value)]


class Range(Spec):
    """A timestamp filter: ``created=123`` or ``created[gt|gte|lt|lte]=123`` → ``{op: int}``."""

    OPERATORS = ("gt", "gte", "lt", "lte")

    def coerce(self, value: Any, name: str) -> Any:
        if isinstance(value, str):
            return {"eq": Int().coerce(value, name)}
        if not isinstance(value, dict):
            raise invalid_request("Invalid hash", param=name)
        result: dict[str, int] = {}
        for op, bound in value.items():
            if op not in self.OPERATORS:
                raise unknown_parameter(f"{name}[{op}]")
            result[op] = Int().coerce(bound, f"{name}[{op}]")
        return result


class Metadata(Spec):
    """Stripe metadata: ≤ 40-character keys without brackets, string values ≤ 500 characters.

    The result maps keys to their new value, or to ``None`` for keys being unset; the whole
    metadata posted as ``""`` coerces to ``None`` (unset every key). The 50-key limit applies to
    the merged result (see :func:`merge_metadata`).
    """

    def coerce(self, value: Any, name: str) -> Any:
        if not isinstance(value, dict):
            raise invalid_request("Invalid hash", param=name)
        result: dict[str, str | None] = {}
        for key, item in value.items():
            if "[" in key or "]" in key:
                raise invalid_request(
                    f"Metadata keys cannot contain square brackets ('[' or ']'), but you passed in '{key}'.",
                    param=name,
                )
            if len(key) > METADATA_MAX_KEY_LENGTH:
                raise invalid_request(
                    f"Metadata keys can have up to {METADATA_MAX_KEY_LENGTH} characters, but you passed in "
                    f"a key with {len(key)} characters: '{key}'.",
                    param=name,
                )
            if not isinstance(item, str):
                raise invalid_request(
                    "Invalid metadata value: values must be strings.", param=f"{name}[{key}]"
                )
            if len(item) > METADATA_MAX_VALUE_LENGTH:
                raise invalid_request(
                    f"Metadata values can have up to {METADATA_MAX_VALUE_LENGTH} characters, but you passed "
                    f"in a value with {len(item)} characters.",
                    param=f"{name}[{key}]",
                )
            result[key] = item if item != "" else None
        return result


def merge_metadata(
    current: Mapping[str, str] | None, changes: Mapping[str, str | None] | None, *, param: str = "metadata"
) -> dict[str, str]:
    """Apply posted metadata to the stored one and enforce the key-count limit.

    :param changes: the coerced posted value (``None`` = unset all; a ``None`` value unsets a key).
    """
    merged = {} if changes is None else dict(current or {})
    for key, value in (changes or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > METADATA_MAX_KEYS:
        raise invalid_request(
            f"Metadata can have up to {METADATA_MAX_KEYS} keys, but you passed in {len(merged)} keys.",
            param=param,
        )
    return merged


def validate(params: Mapping[str, Any], fields: Mapping[str, Spec], *, prefix: str = "") -> dict[str, Any]:
    """Check and coerce ``params`` against ``fields``; keys not given stay absent.

    :param prefix: the enclosing parameter, for error ``param`` names (``address`` → ``address[city]``).
    :raises StripeAPIError: 400 for an unknown parameter or a bad value.
    """
    result: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        spec = fields.get(key)
        if spec is None:
            raise unknown_parameter(name)
        result[key] = spec.check(value, name)
    return result


_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def exclusive(params: Mapping[str, Any], *names: str) -> str | None:
    """The one of ``names`` present in ``params`` (or ``None``); two or more → 400.

    The message follows Stripe's ``You may only specify one of these parameters: a, b.``
    """
    given = [name for name in names if params.get(name) is not None]
    if len(given) > 1:
        raise invalid_request(
            f"You may only specify one of these parameters: {', '.join(given)}.", param=given[1]
        )
    return given[0] if given else None


def _is_int(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return body.isdigit() and body.isascii()


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "an object" if isinstance(value, dict) else "an array" if isinstance(value, list) else repr(value)


def require(params: Mapping[str, Any], name: str) -> Any:
    """The value of a required parameter, or a 400 ``Missing required param: <name>.``."""
    if name not in params or params[name] in (None, ""):
        raise missing_param(name)
    return params[name]


EXPAND = Arr(Str())
"""``expand[]``: the paths to expand."""
RETRIEVE: Mapping[str, Spec] = {"expand": EXPAND}
"""The parameters of every retrieve route."""
PAGING: Mapping[str, Spec] = {
    "created": Range(),
    "ending_before": Str(),
    "expand": EXPAND,
    "limit": Int(),
    "starting_after": Str(),
}
"""The parameters every list route shares (``created`` filter, cursors, ``limit``, ``expand[]``)."""
