"""Record types, internal ids and external ids as they go into NetSuite's REST paths.

* A record type (``invoice``, ``customerPayment``, ``creditMemo``…) is letters, digits and ``_``,
  starting with a letter (B3; NetSuite matches it case-insensitively, B1).
* An internal id is what NetSuite returned in a ``Location`` (``647``, B3): letters, digits,
  ``_``, ``.`` or ``-``, so it can never leave its path segment.
* An external id goes into the path as ``eid:<externalId>`` (B3). Neither the contract nor
  Oracle's documentation states which characters or how many NetSuite accepts there
  (UNCONFIRMED), so the hook accepts a conservative set and refuses the rest before any request:
  1 to :data:`MAX_EXTERNAL_ID` characters of ASCII letters, digits, ``_``, ``-``, ``.`` and
  ``:`` (``stripe:in_1P2x``, ``STRIPE-ch_3N…``), not starting with a punctuation mark. A value
  outside the set raises :class:`~ml_connector_provider.hooks.netsuite.errors.NetSuiteValueError`,
  a data error of the record that holds it.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from ml_connector_provider.hooks.netsuite.errors import NetSuiteValueError

__all__ = [
    "MAX_EXTERNAL_ID",
    "check_external_id",
    "check_internal_id",
    "check_record_type",
    "id_from_location",
    "record_path",
]

#: Longest external id the hook sends (UNCONFIRMED limit; conservative).
MAX_EXTERNAL_ID = 100

_RECORD_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
_INTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*")


def check_record_type(record_type: str) -> str:
    """``record_type`` if it can be a record type in a path.

    :raises ValueError: it cannot (a programming error, not a data error).
    """
    if not isinstance(record_type, str) or not _RECORD_TYPE.fullmatch(record_type):
        raise ValueError(f"not a NetSuite record type: {record_type!r}")
    return record_type


def check_internal_id(record_type: str, internal_id: str | int) -> str:
    """``internal_id`` as text if it can be an internal id in a path.

    :raises NetSuiteValueError: it cannot.
    """
    text = (
        str(internal_id)
        if isinstance(internal_id, int) and not isinstance(internal_id, bool)
        else internal_id
    )
    if not isinstance(text, str) or not _INTERNAL_ID.fullmatch(text):
        raise NetSuiteValueError(
            f"the internal id of a {record_type}", internal_id, "letters, digits, '_', '.' or '-' only"
        )
    return text


def check_external_id(record_type: str, external_id: str) -> str:
    """``external_id`` if the hook sends it (see the module docstring).

    :raises NetSuiteValueError: it is empty, too long, or holds another character.
    """
    what = f"the externalId of a {record_type}"
    if not isinstance(external_id, str) or not external_id:
        raise NetSuiteValueError(what, external_id, "an external id is a non-empty string")
    if len(external_id) > MAX_EXTERNAL_ID:
        raise NetSuiteValueError(what, external_id, f"longer than {MAX_EXTERNAL_ID} characters")
    if not _EXTERNAL_ID.fullmatch(external_id):
        bad = next((c for c in external_id if not re.fullmatch(r"[A-Za-z0-9_.:\-]", c)), external_id[0])
        raise NetSuiteValueError(
            what,
            external_id,
            f"the character {bad!r} is not one of the letters, digits, '_', '-', '.' and ':' the "
            "connector sends (and the first must be a letter or digit)",
        )
    return external_id


def record_path(record_type: str, ref: str | None = None) -> str:
    """``record/v1/<type>`` or ``record/v1/<type>/<ref>`` (``ref`` already checked; ``:`` kept)."""
    path = f"record/v1/{check_record_type(record_type)}"
    return path if ref is None else f"{path}/{quote(ref, safe=':')}"


def id_from_location(location: str | None) -> str | None:
    """The internal id at the end of a ``Location`` (``…/record/v1/customer/647`` → ``647``, B3),
    or ``None`` when there is no usable one."""
    if not location:
        return None
    segment = urlsplit(location.strip()).path.rstrip("/").rsplit("/", 1)[-1]
    return segment if _INTERNAL_ID.fullmatch(segment) else None
