"""GL journals for Oracle Fusion: the FBDI ``GlInterface.csv`` file, its zip, and the import log.

Oracle Fusion has no REST resource that creates journals (``journalBatches`` is read, update and
delete only); journals are created by File-Based Data Import: a zip holding ``GlInterface.csv`` is
posted to ``erpintegrations`` (``importBulkData``) and the ESS job ``JournalImportLauncher`` loads
it into ``GL_INTERFACE`` and runs Journal Import (contract A5.7). This module is the pure part of
that flow — no I/O — so it can be tested exhaustively; the hook
(:meth:`~ml_connector_provider.hooks.oracle_fusion.OracleFusionHook.import_journals`) submits what it
builds.

The file (contract A5.7b, proven against a live pod):

* no header row, positional, **149 fields per row** (a shorter row, or an empty
  ``DATE_CREATED``, makes the load fail with zero rows imported);
* one row per journal line: ``STATUS`` ``NEW``, the ledger id and/or name, the accounting date
  (``YYYY/MM/DD``), the journal source (must equal the import's ``JournalSource`` parameter), the
  category, the currency, ``DATE_CREATED``, ``ACTUAL_FLAG`` ``A``, the account segments, the
  entered debit or credit, ``REFERENCE1`` (batch name), ``REFERENCE2`` (batch description),
  ``REFERENCE4`` (journal name), ``REFERENCE5`` (journal description), ``REFERENCE10`` (line
  description), a per-line reference at position 53, ``GROUP_ID`` (must equal the import's
  ``GroupId`` parameter), ``LEDGER_NAME`` and ``PERIOD_NAME``. See :class:`GlColumn`.

Rules the builder enforces before anything is sent (each a :class:`JournalError`, a
``ValueError``):

* every journal balances — the entered debits equal the entered credits
  (:class:`UnbalancedJournal` names the journal); Journal Import would otherwise reject it;
* a journal (batch name + journal name + currency) appears once, since Journal Import would merge
  two such journals into one;
* batch and journal names are 1–100 characters (the width of ``GL_INTERFACE.REFERENCE1`` and
  ``REFERENCE4`` and of the batch and journal name columns); descriptions and line references at
  most 240 characters. Journal Import may decorate the names it creates (Oracle E-Business Suite
  documents that it keeps only the first 50 characters of ``REFERENCE1`` and 25 of
  ``REFERENCE4`` when it builds default names; whether Fusion does so is UNCONFIRMED), so put
  the identifying part of a name first;
* amounts are :class:`~decimal.Decimal` (never ``float``), finite, with no more decimal places
  than the currency has (``JPY`` 0, ``USD`` 2, ``BHD`` 3; unknown codes 2); each line has a debit
  or a credit (or both);
* text fields hold no line breaks or other control characters, accounts 1–30 non-empty segments.

Amounts are written as plain decimal strings (``1053.75``, never ``1.05375E+3``).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import IntEnum
from typing import Any

from ml_connector_provider.formats.money import iso_minor_units

__all__ = [
    "BATCH_NAME_MAX",
    "DESCRIPTION_MAX",
    "GL_IMPORT_DOCUMENT_ACCOUNT",
    "GL_INTERFACE_CSV_NAME",
    "GL_INTERFACE_FIELD_COUNT",
    "GL_INTERFACE_ZIP_NAME",
    "JOURNAL_IMPORT_JOB",
    "JOURNAL_NAME_MAX",
    "LINE_REFERENCE_MAX",
    "MAX_SEGMENTS",
    "GlColumn",
    "Journal",
    "JournalError",
    "JournalLine",
    "UnbalancedJournal",
    "build_gl_interface_csv",
    "journal_import_parameters",
    "zip_gl_interface",
]

#: Fields in every ``GlInterface.csv`` row.
GL_INTERFACE_FIELD_COUNT = 149
#: The CSV's name inside the zip.
GL_INTERFACE_CSV_NAME = "GlInterface.csv"
#: The zip's file name sent as ``FileName``.
GL_INTERFACE_ZIP_NAME = "GlInterface.zip"
#: The ESS job that loads ``GlInterface.csv`` and runs Journal Import.
JOURNAL_IMPORT_JOB = "/oracle/apps/ess/financials/generalLedger/programs/common,JournalImportLauncher"
#: The UCM account of GL imports in the REST form (``fin/generalLedger/import`` is the other
#: spelling seen in public code; which one a pod wants is UNCONFIRMED).
GL_IMPORT_DOCUMENT_ACCOUNT = "fin$/generalLedger$/import$"
#: Account segments ``GL_INTERFACE`` can carry.
MAX_SEGMENTS = 30
#: Longest batch name (``REFERENCE1``).
BATCH_NAME_MAX = 100
#: Longest journal name (``REFERENCE4``).
JOURNAL_NAME_MAX = 100
#: Longest batch, journal or line description (``REFERENCE2``, ``REFERENCE5``, ``REFERENCE10``).
DESCRIPTION_MAX = 240
#: Longest per-line reference (position 53).
LINE_REFERENCE_MAX = 240

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class GlColumn(IntEnum):
    """1-based positions of the ``GlInterface.csv`` fields this module writes (contract A5.7b).

    ``SEGMENT1`` … ``SEGMENT30`` are positions 9–38 (:meth:`segment`). Positions 41–42, 45 and
    48–51 follow the FBDI template's order (accounted amounts, ``REFERENCE3``,
    ``REFERENCE6``–``REFERENCE9``); they are left empty.
    """

    STATUS = 1
    LEDGER_ID = 2
    ACCOUNTING_DATE = 3
    USER_JE_SOURCE_NAME = 4
    USER_JE_CATEGORY_NAME = 5
    CURRENCY_CODE = 6
    DATE_CREATED = 7
    ACTUAL_FLAG = 8
    SEGMENT1 = 9
    ENTERED_DR = 39
    ENTERED_CR = 40
    REFERENCE1 = 43
    REFERENCE2 = 44
    REFERENCE4 = 46
    REFERENCE5 = 47
    REFERENCE10 = 52
    LINE_REFERENCE = 53
    GROUP_ID = 67
    LEDGER_NAME = 92
    PERIOD_NAME = 95

    @staticmethod
    def segment(number: int) -> int:
        """The position of ``SEGMENT<number>`` (1–30)."""
        if not 1 <= number <= MAX_SEGMENTS:
            raise ValueError(f"segment number must be 1 to {MAX_SEGMENTS}, got {number}")
        return GlColumn.SEGMENT1 + number - 1


# -- errors ---------------------------------------------------------------------------------------


class JournalError(ValueError):
    """A journal cannot be written to ``GlInterface.csv`` (the message names it and the reason)."""


class UnbalancedJournal(JournalError):
    """A journal's entered debits and credits differ.

    :param batch_name: the journal's batch.
    :param journal_name: the journal.
    :param currency: its currency.
    :param debit: sum of the entered debits.
    :param credit: sum of the entered credits.
    """

    def __init__(self, batch_name: str, journal_name: str, currency: str, debit: Decimal, credit: Decimal):
        super().__init__(
            f"journal {journal_name!r} of batch {batch_name!r} does not balance: debits {debit} {currency} "
            f"≠ credits {credit} {currency} (difference {debit - credit})"
        )
        self.batch_name = batch_name
        self.journal_name = journal_name
        self.currency = currency
        self.debit = debit
        self.credit = credit


# -- the journal model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalLine:
    """One journal line.

    :param account: the account combination, either concatenated (``"101-000-11250-000-000"``,
        split on the ``segment_delimiter`` of :func:`build_gl_interface_csv`) or as segments
        (``("101", "000", "11250", "000", "000")``).
    :param debit: the entered debit (``Decimal``), or ``None``.
    :param credit: the entered credit (``Decimal``), or ``None``.
    :param description: the line description (``REFERENCE10``).
    :param reference: a per-line reference (position 53), e.g. the source record id.
    """

    account: str | tuple[str, ...]
    debit: Decimal | None = None
    credit: Decimal | None = None
    description: str = ""
    reference: str | None = None


@dataclass(frozen=True)
class Journal:
    """One journal (``REFERENCE4``) of a batch (``REFERENCE1``).

    :param batch_name: the batch name; journals with the same batch name form one batch.
    :param batch_description: the batch description.
    :param journal_name: the journal name, unique within its batch and currency.
    :param journal_description: the journal description.
    :param accounting_date: the accounting date; it must lie in an open period.
    :param currency: the ISO 4217 currency code of the entered amounts.
    :param category: the journal category (``Adjustment``, ``Receipts``…), as defined on the pod.
    :param lines: the lines; their debits and credits must balance.
    """

    batch_name: str
    batch_description: str
    journal_name: str
    journal_description: str
    accounting_date: date
    currency: str
    category: str
    lines: tuple[JournalLine, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))

    @property
    def total_debit(self) -> Decimal:
        """Sum of the entered debits."""
        return sum((line.debit for line in self.lines if line.debit is not None), Decimal(0))

    @property
    def total_credit(self) -> Decimal:
        """Sum of the entered credits."""
        return sum((line.credit for line in self.lines if line.credit is not None), Decimal(0))

    @property
    def is_balanced(self) -> bool:
        """Whether the debits equal the credits."""
        return self.total_debit == self.total_credit


# -- building the file -------------------------------------------------------------------------------


def build_gl_interface_csv(
    journals: Iterable[Journal],
    *,
    source: str,
    group_id: int,
    ledger_id: str | int | None,
    ledger_name: str | None,
    created: date,
    period_name: str | None = None,
    segment_delimiter: str = "-",
) -> bytes:
    """Write ``GlInterface.csv``: one 149-field row per journal line, UTF-8, no header.

    :param journals: the journals, in order.
    :param source: the journal source (``USER_JE_SOURCE_NAME``); the import's ``JournalSource``
        parameter must be the same.
    :param group_id: the interface group (``GROUP_ID``); the import's ``GroupId`` parameter must be
        the same. Use a new one per import: rows a failed import left behind with the same group
        are selected again by the next import of that group.
    :param ledger_id: the ledger id (``LEDGER_ID``); may be ``None`` when ``ledger_name`` is given.
    :param ledger_name: the ledger name (``LEDGER_NAME``); may be ``None`` when ``ledger_id`` is given.
    :param created: ``DATE_CREATED`` (required by the load).
    :param period_name: ``PERIOD_NAME`` for every row, or ``None`` to let Fusion derive the
        period from the accounting date.
    :param segment_delimiter: splits accounts given as one string.
    :raises UnbalancedJournal: a journal's debits and credits differ.
    :raises JournalError: anything else that Fusion would refuse (see the module docstring).
    """
    _text("source", source, required=True, limit=None)
    if "," in source:
        raise JournalError(f"source must not contain a comma (it is also a ParameterList value): {source!r}")
    if isinstance(group_id, bool) or not isinstance(group_id, int) or group_id <= 0:
        raise JournalError(f"group_id must be a positive integer, got {group_id!r}")
    ledger_id_text = "" if ledger_id is None else str(ledger_id).strip()
    ledger_name_text = _text("ledger_name", ledger_name or "", required=False, limit=None)
    if not ledger_id_text and not ledger_name_text:
        raise JournalError("a ledger_id or a ledger_name is required")
    if ledger_id_text and not ledger_id_text.isdigit():
        raise JournalError(f"ledger_id must be a number, got {ledger_id!r}")
    if not isinstance(created, date):
        raise JournalError(f"created must be a date, got {created!r}")
    period = _text("period_name", period_name or "", required=False, limit=None)
    if not segment_delimiter:
        raise JournalError("segment_delimiter must not be empty")

    rows: list[list[str]] = []
    seen: set[tuple[str, str, str]] = set()
    batch_descriptions: dict[str, str] = {}
    for journal in journals:
        where = f"journal {journal.journal_name!r} of batch {journal.batch_name!r}"
        batch = _text("batch name", journal.batch_name, required=True, limit=BATCH_NAME_MAX, where=where)
        name = _text("journal name", journal.journal_name, required=True, limit=JOURNAL_NAME_MAX, where=where)
        batch_description = _text(
            "batch description", journal.batch_description, required=False, limit=DESCRIPTION_MAX, where=where
        )
        description = _text(
            "journal description",
            journal.journal_description,
            required=False,
            limit=DESCRIPTION_MAX,
            where=where,
        )
        category = _text("category", journal.category, required=True, limit=None, where=where)
        currency = journal.currency
        if not isinstance(currency, str) or not _CURRENCY.match(currency):
            raise JournalError(f"{where}: currency must be an ISO 4217 code such as USD, got {currency!r}")
        if not isinstance(journal.accounting_date, date):
            raise JournalError(f"{where}: accounting_date must be a date, got {journal.accounting_date!r}")
        identity = (batch, name, currency)
        if identity in seen:
            raise JournalError(
                f"{where} appears twice in {currency}; Journal Import would merge the two into one journal"
            )
        seen.add(identity)
        known = batch_descriptions.setdefault(batch, batch_description)
        if known != batch_description:
            raise JournalError(
                f"{where}: batch {batch!r} is described both as {known!r} and as {batch_description!r}"
            )
        if not journal.lines:
            raise JournalError(f"{where} has no lines")
        places = iso_minor_units(currency)
        for number, line in enumerate(journal.lines, start=1):
            line_where = f"{where}, line {number}"
            segments = _segments(line.account, segment_delimiter, line_where)
            debit = _amount("debit", line.debit, places, currency, line_where)
            credit = _amount("credit", line.credit, places, currency, line_where)
            if debit is None and credit is None:
                raise JournalError(f"{line_where} has neither a debit nor a credit")
            row = [""] * GL_INTERFACE_FIELD_COUNT
            _put(row, GlColumn.STATUS, "NEW")
            _put(row, GlColumn.LEDGER_ID, ledger_id_text)
            _put(row, GlColumn.ACCOUNTING_DATE, _date(journal.accounting_date))
            _put(row, GlColumn.USER_JE_SOURCE_NAME, source)
            _put(row, GlColumn.USER_JE_CATEGORY_NAME, category)
            _put(row, GlColumn.CURRENCY_CODE, currency)
            _put(row, GlColumn.DATE_CREATED, _date(created))
            _put(row, GlColumn.ACTUAL_FLAG, "A")
            for index, value in enumerate(segments, start=1):
                _put(row, GlColumn.segment(index), value)
            _put(row, GlColumn.ENTERED_DR, _plain(debit))
            _put(row, GlColumn.ENTERED_CR, _plain(credit))
            _put(row, GlColumn.REFERENCE1, batch)
            _put(row, GlColumn.REFERENCE2, batch_description)
            _put(row, GlColumn.REFERENCE4, name)
            _put(row, GlColumn.REFERENCE5, description)
            _put(
                row,
                GlColumn.REFERENCE10,
                _text(
                    "line description",
                    line.description,
                    required=False,
                    limit=DESCRIPTION_MAX,
                    where=line_where,
                ),
            )
            _put(
                row,
                GlColumn.LINE_REFERENCE,
                _text(
                    "line reference",
                    line.reference or "",
                    required=False,
                    limit=LINE_REFERENCE_MAX,
                    where=line_where,
                ),
            )
            _put(row, GlColumn.GROUP_ID, str(group_id))
            _put(row, GlColumn.LEDGER_NAME, ledger_name_text)
            _put(row, GlColumn.PERIOD_NAME, period)
            rows.append(row)
        debit_total, credit_total = journal.total_debit, journal.total_credit
        if debit_total != credit_total:
            raise UnbalancedJournal(batch, name, currency, debit_total, credit_total)
    if not rows:
        raise JournalError("there are no journals to write")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def zip_gl_interface(csv_bytes: bytes, *, csv_name: str = GL_INTERFACE_CSV_NAME) -> bytes:
    """The zip to upload: one deflated member ``GlInterface.csv`` with a fixed timestamp, so the
    same CSV always gives the same bytes.

    :param csv_bytes: the output of :func:`build_gl_interface_csv`.
    :param csv_name: the member's name.
    """
    if not csv_bytes:
        raise JournalError("the GlInterface.csv content is empty")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        member = zipfile.ZipInfo(csv_name, date_time=(2000, 1, 1, 0, 0, 0))
        member.compress_type = zipfile.ZIP_DEFLATED
        member.external_attr = 0o644 << 16
        archive.writestr(member, csv_bytes)
    return buffer.getvalue()


def journal_import_parameters(
    *,
    data_access_set_id: str | int,
    source: str,
    ledger_id: str | int,
    group_id: int | str,
    post_errors_to_suspense: bool = False,
    create_summary_journals: bool = False,
    import_descriptive_flexfields: bool = False,
) -> list[str]:
    """The seven ``ParameterList`` values of ``JournalImportLauncher``, in order (contract A5.7b).

    :param data_access_set_id: the data access set.
    :param source: the journal source; equals ``USER_JE_SOURCE_NAME`` of the rows.
    :param ledger_id: the ledger.
    :param group_id: the interface group; equals ``GROUP_ID`` of the rows (``ALL`` selects every group).
    :param post_errors_to_suspense: ``Y`` posts account errors to the suspense account (the ledger
        must allow suspense posting).
    :param create_summary_journals: ``Y`` summarises lines per account.
    :param import_descriptive_flexfields: ``Y`` imports the DFF columns.
    """
    values = [str(data_access_set_id).strip(), source, str(ledger_id).strip(), str(group_id).strip()]
    for name, value in zip(("data_access_set_id", "source", "ledger_id", "group_id"), values, strict=True):
        if not value.strip():
            raise ValueError(f"the Journal Import parameter {name} is required")
        if "," in value:
            raise ValueError(f"the Journal Import parameter {name} must not contain a comma: {value!r}")
    flags = (post_errors_to_suspense, create_summary_journals, import_descriptive_flexfields)
    return values + ["Y" if flag else "N" for flag in flags]


# -- the import log ---------------------------------------------------------------------------------

# -- helpers ----------------------------------------------------------------------------------------------


def _put(row: list[str], position: int, value: str) -> None:
    row[position - 1] = value


def _date(value: date) -> str:
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def _text(name: str, value: str, *, required: bool, limit: int | None, where: str | None = None) -> str:
    prefix = f"{where}: " if where else ""
    if not isinstance(value, str):
        raise JournalError(f"{prefix}{name} must be text, got {value!r}")
    if required and not value.strip():
        raise JournalError(f"{prefix}{name} is required")
    if _CONTROL.search(value):
        raise JournalError(f"{prefix}{name} contains a line break or another control character: {value!r}")
    if limit is not None and len(value) > limit:
        raise JournalError(f"{prefix}{name} is {len(value)} characters long; Fusion allows at most {limit}")
    return value


def _segments(account: str | tuple[str, ...], delimiter: str, where: str) -> list[str]:
    if isinstance(account, str):
        parts = account.strip().split(delimiter)
    elif isinstance(account, tuple | list):
        parts = [str(part) for part in account]
    else:
        raise JournalError(f"{where}: account must be a string or a tuple of segments, got {account!r}")
    parts = [part.strip() for part in parts]
    if not parts or len(parts) > MAX_SEGMENTS:
        raise JournalError(f"{where}: account {account!r} must have 1 to {MAX_SEGMENTS} segments")
    for part in parts:
        if not part:
            raise JournalError(f"{where}: account {account!r} has an empty segment")
        if _CONTROL.search(part):
            raise JournalError(f"{where}: account {account!r} contains a control character")
    return parts


def _amount(name: str, value: Any, places: int, currency: str, where: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise JournalError(f"{where}: {name} must be a Decimal (not {type(value).__name__}), got {value!r}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise JournalError(f"{where}: {name} {value} is not a finite amount")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        rounded = amount.quantize(Decimal(1).scaleb(-places))
        if rounded != amount:
            raise JournalError(
                f"{where}: {name} {amount} has more decimal places than {currency} allows ({places})"
            )
        amount = rounded
    return amount


def _plain(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value, "f")
    return "0" if text in ("-0", "-0.0", "-0.00", "-0.000") else text
