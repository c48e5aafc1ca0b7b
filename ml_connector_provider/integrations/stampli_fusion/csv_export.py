"""Reading one Stampli invoice export file: CSV decoding, header matching, grouping and validation.

Stampli exports approved invoices as CSV files whose layout each customer agrees with Stampli
(the layout is customer-defined and UNCONFIRMED: no public specification exists). The tenant's
:class:`~ml_connector_provider.integrations.stampli_fusion.FileTemplate` describes it: one row per
invoice line, the invoice's header fields repeated on every row of the invoice.

:func:`parse_export` takes the file's bytes and returns one :class:`InvoiceGroup` per invoice
(rows grouped by vendor id and invoice number), each either a valid :class:`ExportInvoice` or the
list of :class:`Problem` that stop it from being one. A file that cannot be read as a whole (not
UTF-8, broken quoting, missing columns, no rows) raises :class:`FileRejected`. Memory does not grow
with the file: it is decoded and parsed a chunk at a time, and its rows and groups are kept in a
temporary SQLite database on disk (:class:`ExportGroups`) rather than in memory; nothing else is
written anywhere.

Row numbers are CSV record numbers: the header row is row 1, a blank line counts as a row, and a
newline inside a quoted value does not start a new row (the numbering a spreadsheet shows).
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import json
import pickle
import re
import sqlite3
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any, overload

from ml_connector_provider.formats.money import (
    MoneyError,
    iso_currency,
    iso_minor_units,
    quantize_for_erp,
)
from ml_connector_provider.formats.spreadsheet import FORMULA_LEADS
from ml_connector_provider.formats.text import char_name, escape_invisible, foreign_digit
from ml_connector_provider.integrations.stampli_fusion.settings import (
    FileTemplate,
    StampliColumns,
    fold_header,
)

__all__ = [
    "MAX_CELL_CHARS",
    "ExportGroups",
    "ExportInvoice",
    "ExportLine",
    "FileRejected",
    "InvoiceGroup",
    "Problem",
    "parse_export",
]

_BOM = b"\xef\xbb\xbf"
# Example date shown in "is not a date" messages, rendered with each configured format.
_SAMPLE_DAY = date(2026, 11, 21)
# Amounts are limited to 15 digits before the decimal point: sums stay exact in Decimal's
# default context and the amounts are far beyond any real invoice anyway.
_MAX_INTEGER_DIGITS = 15
_MAX_LINE_NUMBER_DIGITS = 9
# The longest line-number cell read at all (leading zeros included).
_MAX_LINE_NUMBER_TEXT = 20
_MAX_SHOWN = 60
_CURRENCY = re.compile(r"[A-Za-z]{3}")
# Numbers are written with the ASCII digits only: Python's \d, int() and Decimal() would also take
# Arabic-Indic, full-width and every other Unicode digit.
_PLAIN_AMOUNT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_LINE_NUMBER = re.compile(r"[0-9]+")
_ANY_GROUPED = re.compile(r"-?[0-9]{1,3}(?:[,' ][0-9]{3})+(?:\.[0-9]+)?")
# A text cell that is a plain number: a spreadsheet reads "-12.50" as the number, not a formula.
_PLAIN_NUMBER = re.compile(r"[-+]?[0-9]+(?:\.[0-9]+)?")

# Field names of StampliColumns, in the template's order (the order problems are reported in);
# the columns typed ``str`` there are the required ones.
_FIELDS = tuple(StampliColumns.model_fields)
_REQUIRED = tuple(name for name, info in StampliColumns.model_fields.items() if info.annotation is str)
# Fields of one invoice line, read from every row.
_LINE_FIELDS = ("line_number", "line_description", "line_amount", "gl_account", "cost_center")
# Invoice-level fields repeated on every row of an invoice (the grouping key aside).
_HEADER_FIELDS = tuple(name for name in _FIELDS if name not in ("invoice_number", "vendor_id", *_LINE_FIELDS))
_FIELD_ORDER = {name: index for index, name in enumerate(_FIELDS)}
# Fields whose cells are passed on as text (the others are read as dates, amounts, codes or
# numbers, which a formula never is).
_TEXT_FIELDS = frozenset(_FIELDS) - {
    "invoice_date",
    "due_date",
    "currency",
    "invoice_amount",
    "line_number",
    "line_amount",
}
_LEAD_NAMES = {"\t": "a tab", "\r": "a carriage return"}


@dataclass(frozen=True)
class Problem:
    """Something wrong in an export file, located as precisely as possible.

    :param file: the file name as given to :func:`parse_export`.
    :param row: the CSV record number (the header row is row 1), ``None`` when the problem is
        about several rows or the whole file.
    :param column: the column's header text as configured in the template, ``None`` when the
        problem is not about one column.
    :param message: what is wrong.
    """

    file: str
    row: int | None
    column: str | None
    message: str

    def describe(self) -> str:
        """The problem as one line of text, e.g. ``"x.csv row 7, column 'Invoice Date': …"``."""
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


class FileRejected(ValueError):
    """The file cannot be read as a whole; no invoice of it is processed.

    :param problem: where and why; ``str(error)`` is ``problem.describe()``.
    """

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.describe())
        self.problem = problem


@dataclass(frozen=True)
class ExportLine:
    """One invoice line of an export file (one CSV row).

    :param row: the CSV record number of the line's row.
    :param line_number: the line number from the file (a positive integer, unique in the invoice).
    :param description: the line description, ``None`` when blank or not exported.
    :param amount: the line amount, non-zero, quantized to the currency's decimals.
    :param gl_account: the GL account as exported (a Fusion combination or a key of ``account_map``).
    :param cost_center: the cost centre, ``None`` when blank or not exported.
    :param po_number: the purchase order number on the row, ``None`` when blank.
    """

    row: int
    line_number: int
    description: str | None
    amount: Decimal
    gl_account: str
    cost_center: str | None
    po_number: str | None


@dataclass(frozen=True)
class ExportInvoice:
    """One valid invoice of an export file: its header fields and its lines (in line-number order).

    Text values are stripped; blank optional values are ``None``. Amounts are quantized to the
    currency's decimals (``100`` USD becomes ``Decimal("100.00")``).
    """

    file: str
    rows: tuple[int, ...]
    invoice_number: str
    vendor_id: str
    vendor_name: str | None
    vendor_site: str | None
    invoice_date: date
    due_date: date | None
    currency: str
    amount: Decimal
    po_number: str | None
    description: str | None
    payment_terms: str | None
    stampli_invoice_id: str | None
    lines: tuple[ExportLine, ...]


@dataclass(frozen=True)
class InvoiceGroup:
    """The rows of one invoice (same vendor id and invoice number) and what was found in them.

    :param source_id: ``"<vendor id>/<invoice number>"`` (``/`` and ``%`` in the vendor id escaped
        as ``%2F`` and ``%25``); for a row lacking either,
        ``"<file>#row<n>"``.
    :param label: a human reference for the audit trail, e.g. ``"INV-1001 (Vendor ID V100)"``.
    :param rows: the CSV record numbers of the group's rows, in file order.
    :param invoice: the invoice, ``None`` when any problem was found.
    :param problems: every problem found in the group's rows.
    :param raw: the rows as read, one mapping per row: configured field name → raw cell text
        (only the template's columns that the file has).
    :param warnings: findings that do not stop the invoice, located like problems: text cells a
        spreadsheet would run as formulas when ``template.formula_cells`` is ``"flag"``.
    """

    source_id: str
    label: str
    rows: tuple[int, ...]
    invoice: ExportInvoice | None
    problems: tuple[Problem, ...]
    raw: tuple[dict[str, str], ...]
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class _Row:
    number: int
    # The cells of the template's columns that the file has, as read.
    cells: dict[str, str]
    # How many cells the row has in all.
    width: int

    def text(self, field: str) -> str | None:
        """The cell stripped; ``None`` when blank or when the file lacks the column."""
        cell = self.cells.get(field)
        return (cell.strip() or None) if cell is not None else None


_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Characters a cell may not hold: C0 controls other than tab and line breaks (NUL included),
DEL, the C1 controls (U+0080 to U+009F: NEL, the 8-bit escape sequence introducers), and the
bidirectional embedding, override and isolate controls, which can make text read differently from
what it is (line breaks and tabs stay: a quoted description may span lines)."""


def _shown(text: str | None) -> str:
    """A cell quoted for a message: at most 60 characters, on one line, every control and
    text-direction character written as ``\\uXXXX`` (messages end up in logs, terminals and
    files people open)."""
    if text is None:
        return "(blank)"
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 1] + "…"
    return f"'{escape_invisible(text)}'"


def _digits_only(text: str, what: str) -> None:
    """Refuse ``text`` (an amount, a date, a line number) when it holds a digit other than 0-9."""
    foreign = foreign_digit(text)
    if foreign is not None:
        index, char = foreign
        raise _Invalid(
            f"{_shown(text)} is not {what}: only the digits 0-9 are accepted "
            f"(found {char_name(char)} at position {index + 1})"
        )


def _or_list(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def and_list(items: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# -- reading the file -----------------------------------------------------------------------------

MAX_CELL_CHARS = 128 * 1024
"""The longest value a cell may hold, in characters. No export writes one this long (Fusion's
longest text fields have 240 characters): a longer one means a broken file, typically a quote that
is not closed where it should be and swallows the rows after it, so the file is refused."""

_CSV_FIELD_LIMIT = 1024 * 1024
# The csv module's per-field limit while an export is read (its default is 128 KiB). Above
# MAX_CELL_CHARS, so that an overlong cell is reported with its column; a value longer than this
# stops the reader, and the file is refused naming only the row.
_CHUNK = 256 * 1024
# Recently seen grouping keys → group; rows of one invoice are usually next to each other.
_RECENT_KEYS = 4096
_INSERT_BATCH = 1000


def _fold(header: str) -> str:
    # A byte order mark left after the first one, or a zero-width character pasted before a name,
    # would otherwise make an optional column silently absent.
    return fold_header(header)


class _Slice(io.RawIOBase):
    """``length`` bytes of ``file`` from ``start`` (to its end when ``None``), then ``tail``.

    Reads go through the caller's file without ever closing it, and each slice keeps its own
    position, so the same file can be read again from the start.
    """

    def __init__(self, file: IO[bytes], start: int, length: int | None, tail: bytes = b"") -> None:
        super().__init__()
        self._file = file
        self._position = start
        self._left = length
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer)
        if self._left is None or self._left > 0:
            self._file.seek(self._position)
            chunk = self._file.read(want if self._left is None else min(want, self._left))
            if chunk:
                size = len(chunk)
                buffer[:size] = chunk
                self._position += size
                if self._left is not None:
                    self._left -= size
                return size
            self._left = 0
        chunk, self._tail = self._tail[:want], self._tail[want:]
        buffer[: len(chunk)] = chunk
        return len(chunk)


class _Content:
    """The export's bytes as a seekable binary file: ``size`` bytes from offset ``start``."""

    def __init__(self, data: IO[bytes] | bytes, max_bytes: int | None) -> None:
        self.owned: IO[bytes] | None = None
        self.complete = True
        if isinstance(data, bytes | bytearray | memoryview):
            self.file: IO[bytes] = io.BytesIO(data)
            self.start = 0
        else:
            probe = data.read(0)
            if not isinstance(probe, bytes | bytearray):
                raise TypeError("parse_export needs the file's bytes (open it in binary mode)")
            if data.seekable():
                self.file, self.start = data, data.tell()
            else:
                # A pipe or socket: copied to a spooled temporary file (on disk when big), no further
                # than one byte past the limit.
                spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=4 * _CHUNK)  # noqa: SIM115
                self.owned = spool
                left = None if max_bytes is None else max_bytes + 1
                while left is None or left > 0:
                    chunk = data.read(_CHUNK if left is None else min(_CHUNK, left))
                    if not chunk:
                        break
                    spool.write(chunk)
                    if left is not None:
                        left -= len(chunk)
                self.complete = left is None or left > 0
                self.file, self.start = spool, 0
        self.size = self.file.seek(0, io.SEEK_END) - self.start
        self.file.seek(self.start)

    def reader(self, skip: int = 0, length: int | None = None, tail: bytes = b"") -> io.BufferedReader:
        """A new binary reader of the content, from byte ``skip``."""
        return io.BufferedReader(_Slice(self.file, self.start + skip, length, tail), buffer_size=_CHUNK)

    def text(self) -> io.TextIOWrapper:
        """The content as text lines for the csv module (a leading BOM skipped)."""
        return io.TextIOWrapper(self.reader(), encoding="utf-8-sig", newline="")

    def byte_at(self, offset: int) -> bytes:
        with self.reader(offset, 1) as reader:
            return reader.read(1)

    def close(self) -> None:
        if self.owned is not None:
            self.owned.close()


def _reader(lines: Iterable[str], delimiter: str, *, strict: bool) -> Iterator[list[str]]:
    return csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=strict)


def _not_utf8(content: _Content, file_name: str, delimiter: str) -> FileRejected | None:
    """The rejection naming the first byte that is not UTF-8; ``None`` when every byte decodes.

    Reads the content again from its start, a chunk at a time.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset: int | None = None
    with content.reader() as reader:
        head = reader.read(len(_BOM))
        skipped = len(_BOM) if head == _BOM else 0
        chunks = itertools.chain([head[skipped:]], iter(functools.partial(reader.read, _CHUNK), b""))
        fed = 0
        for chunk in chunks:
            buffered = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                offset = fed - buffered + error.start
                break
            fed += len(chunk)
        else:
            buffered = len(decoder.getstate()[0])
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as error:
                offset = fed - buffered + error.start
    if offset is None:
        return None
    # Count the CSV records before the undecodable byte; a sentinel character stands in for it so
    # that the record it belongs to is counted too.
    row: int | None
    with io.TextIOWrapper(content.reader(skipped, offset, b"?"), encoding="utf-8", newline="") as prefix:
        try:
            row = sum(1 for _ in _reader(prefix, delimiter, strict=False))
        except csv.Error:
            row = None
    byte = content.byte_at(skipped + offset).hex().upper()
    return FileRejected(
        Problem(
            file_name,
            row,
            None,
            f"the file is not UTF-8 text: byte 0x{byte} at offset {offset + skipped} cannot be "
            "decoded (export the file as UTF-8)",
        )
    )


def _records(lines: Iterable[str], file_name: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = _reader(lines, delimiter, strict=True)
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            row = number + 1
            if "unexpected end of data" in str(error):
                message = "a quoted value is not closed: its opening '\"' has no closing '\"' before the end of the file"
            elif "field larger than field limit" in str(error):
                message = (
                    f"a value in this row is longer than {_CSV_FIELD_LIMIT} characters; no export writes "
                    "one this long (is a quote not closed where it should be?)"
                )
            else:
                message = f"the row is not valid CSV ({error}); a value containing quotes must be quoted with its quotes doubled"
            raise FileRejected(Problem(file_name, row, None, message)) from None
        number += 1
        yield number, cells


def _check_lengths(cells: list[str], number: int, columns: dict[int, str | None], file_name: str) -> None:
    """Refuse the file when a cell of the row is longer than :data:`MAX_CELL_CHARS`."""
    if not cells or max(map(len, cells)) <= MAX_CELL_CHARS:
        return
    index, cell = next((i, cell) for i, cell in enumerate(cells) if len(cell) > MAX_CELL_CHARS)
    raise FileRejected(
        Problem(
            file_name,
            number,
            columns.get(index),
            f"the value in column {index + 1} is longer than {MAX_CELL_CHARS} characters ({len(cell)}); "
            "no export writes one this long (is a quote not closed where it should be?)",
        )
    )


def _match_header(cells: list[str], configured: dict[str, str | None], file_name: str) -> dict[str, int]:
    wanted = {_fold(header): field for field, header in configured.items() if header is not None}
    positions: dict[str, int] = {}
    for index, cell in enumerate(cells):
        field = wanted.get(_fold(cell))
        if field is None:
            continue
        if field in positions:
            raise FileRejected(
                Problem(
                    file_name,
                    1,
                    configured[field],
                    f"the header row has this column twice (columns {positions[field] + 1} and {index + 1}); "
                    "it must appear once",
                )
            )
        positions[field] = index
    missing = [configured[field] for field in _REQUIRED if field not in positions]
    if missing:
        found = [f"'{c.strip()}'" for c in cells if c.strip()]
        shown = ", ".join(found[:30]) + (", …" if len(found) > 30 else "")
        raise FileRejected(
            Problem(
                file_name,
                1,
                None,
                f"the header row lacks the required column{'s' if len(missing) > 1 else ''} "
                f"{and_list([f'{m!r}' for m in missing])} (found: {shown or 'no column names'}); "
                "the template's column names are set in the tenant settings (template.columns)",
            )
        )
    return positions


# -- values ---------------------------------------------------------------------------------------


class _Invalid(ValueError):
    """A cell value that cannot be read; the message becomes a :class:`Problem`."""


class _Corrupt(Exception):
    """A cell value no export can hold (thousands of digits): the whole file is refused
    (:class:`FileRejected`, naming the row and column), not only the cell's invoice."""


@functools.lru_cache(maxsize=4096)
def _date_with(text: str, fmt: str) -> date | None:
    # strptime is slow and an export repeats the same few dates on thousands of rows.
    try:
        return datetime.strptime(text, fmt).date()
    except ValueError:
        return None


def _parse_date(text: str, formats: Sequence[str]) -> date:
    # strptime's %Y and %d read any Unicode digit.
    _digits_only(text, "a date")
    for fmt in formats:
        day = _date_with(text, fmt)
        if day is not None:
            return day
    examples = _or_list([_SAMPLE_DAY.strftime(fmt) for fmt in formats])
    raise _Invalid(f"{_shown(text)} is not a date (expected {examples})")


def _parse_amount(text: str, thousands: str | None) -> Decimal:
    _digits_only(text, "an amount")
    plain = text
    if _PLAIN_AMOUNT.fullmatch(text) is None:
        if thousands is not None and thousands in text:
            sep = re.escape(thousands)
            if re.fullmatch(rf"-?[0-9]{{1,3}}(?:{sep}[0-9]{{3}})+(?:\.[0-9]+)?", text) is None:
                raise _Invalid(
                    f"{_shown(text)} is not an amount (thousands separators {thousands!r} must "
                    f"group exactly three digits, e.g. 1{thousands}234{thousands}567.50)"
                )
            plain = text.replace(thousands, "")
        elif thousands is None and _ANY_GROUPED.fullmatch(text) is not None:
            raise _Invalid(
                f"{_shown(text)} is not an amount: thousands separators are not accepted "
                "(remove them from the export, or set template.thousands_separator)"
            )
        else:
            raise _Invalid(
                f"{_shown(text)} is not an amount (expected digits with an optional leading minus "
                "and decimal point, e.g. -1234.50)"
            )
    integer_digits = len(plain.lstrip("-").split(".")[0].lstrip("0"))
    if integer_digits > _MAX_INTEGER_DIGITS:
        raise _Invalid(
            f"{_shown(text)} is too large (at most {_MAX_INTEGER_DIGITS} digits before the decimal point)"
        )
    return Decimal(plain)


def _at_precision(amount: Decimal, text: str, currency: str) -> Decimal:
    """``amount`` at the ISO 4217 decimals of ``currency``: the invoice goes to Fusion AP, which
    books ISO minor units (an ISK amount has none, an IQD amount three)."""
    try:
        return quantize_for_erp(amount, currency)
    except MoneyError:
        places = iso_minor_units(currency)
        raise _Invalid(f"{_shown(text)} has more decimals than {currency} allows ({places})") from None


def _parse_currency(text: str) -> str:
    if _CURRENCY.fullmatch(text) is None:
        raise _Invalid(f"{_shown(text)} is not a currency code (expected three letters, e.g. USD)")
    try:
        return iso_currency(text)
    except MoneyError as error:
        raise _Invalid(f"{error}; check the invoice's currency in Stampli") from None


def _parse_line_number(text: str) -> int:
    expected = "expected a whole number from 1 to 999999999"
    # Bounded before any conversion: int() raises a bare ValueError for a string of more than
    # 4,300 digits, leading zeros included. No export writes a line number this long.
    if len(text) > _MAX_LINE_NUMBER_TEXT:
        raise _Corrupt(
            f"{_shown(text)} is not a line number: it has {len(text)} characters ({expected}); "
            "no export writes a value this long, so the file is refused as corrupt"
        )
    _digits_only(text, "a line number")
    digits = text.lstrip("0")
    if _LINE_NUMBER.fullmatch(text) is None or not digits or len(digits) > _MAX_LINE_NUMBER_DIGITS:
        raise _Invalid(f"{_shown(text)} is not a line number ({expected})")
    return int(digits)


# -- one group ------------------------------------------------------------------------------------


class _GroupCheck:
    """Validates the rows of one group and builds its invoice when nothing is wrong."""

    def __init__(
        self, file_name: str, template: FileTemplate, headers: dict[str, Any], width: int, rows: list[_Row]
    ) -> None:
        self.file = file_name
        self.template = template
        self.headers = headers
        self.width = width
        self.rows = rows
        # Each problem with its place in the report: by row (whole-invoice ones last), then column.
        self.found: list[tuple[tuple[bool, int, int], Problem]] = []
        # The PO number cell is read twice (for the invoice and for its line): reported once.
        self.reported: set[Problem] = set()
        self.flagged: dict[Problem, None] = {}
        self.line_amounts: list[Decimal | None] = []

    def problem(self, row: int | None, field: str | None, message: str) -> None:
        order = (row is None, row or 0, -1 if field is None else _FIELD_ORDER[field])
        problem = Problem(self.file, row, self.headers[field] if field else None, message)
        if problem not in self.reported:
            self.reported.add(problem)
            self.found.append((order, problem))

    def problems(self) -> tuple[Problem, ...]:
        """The problems found, in report order."""
        return tuple(problem for _, problem in sorted(self.found, key=lambda found: found[0]))

    def warnings(self) -> tuple[Problem, ...]:
        """The warnings found (formula-leading cells under ``formula_cells: flag``), in file order."""
        return tuple(self.flagged)

    def formula(self, row: _Row, field: str, text: str) -> bool:
        """Apply ``template.formula_cells`` to a text cell; ``False`` when it makes a problem.

        The cell counts as formula-leading when, as in the file or stripped, it starts with a
        character a spreadsheet starts a formula with, unless it is a plain number.
        """
        policy = self.template.formula_cells
        if policy == "accept":
            return True
        raw = row.cells.get(field, text)
        lead = raw if raw.startswith(FORMULA_LEADS) else text
        if not lead.startswith(FORMULA_LEADS) or _PLAIN_NUMBER.fullmatch(text) is not None:
            return True
        first = _LEAD_NAMES.get(lead[0], f"'{lead[0]}'")
        message = f"{_shown(lead)} starts with {first}, which a spreadsheet runs as a formula"
        if policy == "refuse":
            self.problem(
                row.number,
                field,
                f"{message}; such values are refused (template.formula_cells: refuse): correct the "
                "value in Stampli, or set template.formula_cells to 'flag' to post it as text",
            )
            return False
        flagged = Problem(
            self.file,
            row.number,
            self.headers[field],
            f"{message}; posted as text (template.formula_cells: flag)",
        )
        self.flagged.setdefault(flagged, None)
        return True

    def amount(self, text: str, currency: str | None) -> Decimal:
        """An amount at the currency's precision (as written while the currency is unknown)."""
        amount = _parse_amount(text, self.template.thousands_separator)
        return amount if currency is None else _at_precision(amount, text, currency)

    def value(self, row: _Row, field: str, parse: Callable[[str], Any]) -> tuple[bool, Any]:
        """Read one cell: (ok, value); blank required cells, cells holding control or
        text-direction characters, formula-leading text cells under ``formula_cells: refuse``,
        and unreadable values are problems."""
        # The cell as in the file: str.strip() would also remove the separators U+001C to U+001F.
        hidden = _FORBIDDEN.search(row.cells.get(field) or "")
        if hidden is not None:
            char = hidden.group()
            self.problem(
                row.number,
                field,
                f"contains the invisible character U+{ord(char):04X} ({unicodedata.name(char, 'control')}) "
                f"at position {hidden.start() + 1}; control and text-direction characters are not "
                "passed on to Fusion (remove it in Stampli)",
            )
            return False, None
        text = row.text(field)
        if text is None:
            if field in _REQUIRED:
                self.problem(row.number, field, "a value is required")
                return False, None
            return True, None
        if field in _TEXT_FIELDS and not self.formula(row, field, text):
            return False, None
        try:
            return True, parse(text)
        except _Invalid as error:
            self.problem(row.number, field, str(error))
            return False, None
        except _Corrupt as error:
            raise FileRejected(Problem(self.file, row.number, self.headers[field], str(error))) from None

    def run(self) -> ExportInvoice | None:
        first = self.rows[0]
        for row in self.rows:
            if row.width > self.width:
                self.problem(
                    row.number,
                    None,
                    f"the row has {row.width} cells but the header row has {self.width}; "
                    "a value containing the delimiter must be quoted",
                )
        # The grouping key: identical on every row by construction; blank only in a one-row group.
        _, invoice_number = self.value(first, "invoice_number", str)
        _, vendor_id = self.value(first, "vendor_id", str)

        header = self.header_values(first)
        currency: str | None = header["currency"]
        lines = [line for line in (self.line(row, currency) for row in self.rows) if line is not None]

        seen: dict[int, int] = {}
        for line in lines:
            if line.line_number in seen:
                self.problem(
                    line.row,
                    "line_number",
                    f"line number {line.line_number} is also on row {seen[line.line_number]} "
                    "(line numbers must be unique within an invoice)",
                )
            else:
                seen[line.line_number] = line.row

        invoice_date: date | None = header["invoice_date"]
        due_date: date | None = header["due_date"]
        if invoice_date is not None and due_date is not None and due_date < invoice_date:
            self.problem(
                first.number,
                "due_date",
                f"{_shown(first.text('due_date'))} is before the invoice date {invoice_date.isoformat()}",
            )

        amount: Decimal | None = header["invoice_amount"]
        line_amounts = [a for a in self.line_amounts if a is not None]
        # The sum is only meaningful for a whole invoice: a row without its key stands alone.
        complete = (
            invoice_number is not None and vendor_id is not None and len(line_amounts) == len(self.rows)
        )
        if complete and amount is not None and currency is not None:
            total = sum(line_amounts, Decimal(0))
            if total != amount:
                rows = ("rows " if len(self.rows) > 1 else "row ") + and_list(
                    [str(row.number) for row in self.rows]
                )
                self.problem(
                    None,
                    "invoice_amount",
                    f"the invoice amount is {amount:f} {currency} but the line amounts "
                    f"('{self.headers['line_amount']}', {rows}) add up to {total:f}",
                )
        if (
            self.found
            or invoice_number is None
            or vendor_id is None
            or invoice_date is None
            or currency is None
            or amount is None
        ):
            return None
        return ExportInvoice(
            file=self.file,
            rows=tuple(row.number for row in self.rows),
            invoice_number=invoice_number,
            vendor_id=vendor_id,
            vendor_name=header["vendor_name"],
            vendor_site=header["vendor_site"],
            invoice_date=invoice_date,
            due_date=due_date,
            currency=currency,
            amount=amount,
            po_number=header["po_number"],
            description=header["description"],
            payment_terms=header["payment_terms"],
            stampli_invoice_id=header["stampli_invoice_id"],
            lines=tuple(sorted(lines, key=lambda line: line.line_number)),
        )

    def header_values(self, first: _Row) -> dict[str, Any]:
        """Validate the invoice-level fields on the first row; other rows must carry the same values."""
        formats = self.template.date_formats

        def as_date(text: str) -> date:
            return _parse_date(text, formats)

        def as_text(text: str) -> str:
            return text

        parsers: dict[str, Any] = dict.fromkeys(_HEADER_FIELDS, as_text)
        parsers.update(invoice_date=as_date, due_date=as_date, currency=_parse_currency)
        values: dict[str, Any] = {}
        valid: dict[str, bool] = {}
        for field in _HEADER_FIELDS:
            if field == "invoice_amount":
                continue
            valid[field], values[field] = self.value(first, field, parsers[field])
        currency = values["currency"] if valid["currency"] else None

        def as_amount(text: str) -> Decimal:
            amount = self.amount(text, currency)
            if amount <= 0:
                raise _Invalid(
                    f"{_shown(text)} is not above zero: credit memos and zero-amount invoices are not "
                    "supported (only standard invoices with a positive amount)"
                )
            return amount

        valid["invoice_amount"], values["invoice_amount"] = self.value(first, "invoice_amount", as_amount)

        def comparable(field: str, text: str | None) -> Any:
            """The value two rows are compared by (dates and amounts by value); raises _Invalid."""
            if text is None:
                return None
            if field == "invoice_amount":
                return self.amount(text, None)
            if field == "currency":
                return text.upper()
            return parsers[field](text)

        for row in self.rows[1:]:
            for field in _HEADER_FIELDS:
                if field not in self.headers or self.headers[field] is None:
                    continue
                reference, text = first.text(field), row.text(field)
                if text == reference:
                    continue
                if valid[field] and reference is not None and text is not None:
                    try:
                        if comparable(field, text) == comparable(field, reference):
                            continue
                    except _Invalid:
                        pass
                self.problem(
                    row.number,
                    field,
                    f"{_shown(text)} differs from {_shown(reference)} on row {first.number} "
                    "(invoice fields must be the same on every row of an invoice)",
                )
        return {field: values[field] if valid[field] else None for field in _HEADER_FIELDS}

    def line(self, row: _Row, currency: str | None) -> ExportLine | None:
        ok_number, line_number = self.value(row, "line_number", _parse_line_number)

        def as_line_amount(text: str) -> Decimal:
            amount = self.amount(text, currency)
            if amount == 0:
                raise _Invalid(f"{_shown(text)} is zero (a line must have an amount)")
            return amount

        ok_amount, amount = self.value(row, "line_amount", as_line_amount)
        self.line_amounts.append(amount if ok_amount else None)
        ok_account, gl_account = self.value(row, "gl_account", str)
        # Free text is passed on as it is, but read through value() for its character checks.
        checked = [self.value(row, field, str) for field in ("line_description", "cost_center", "po_number")]
        ok_text = all(ok for ok, _ in checked)
        description, cost_center, po_number = (text for _, text in checked)
        if not (ok_number and ok_amount and ok_account and ok_text) or currency is None:
            return None
        return ExportLine(
            row=row.number,
            line_number=line_number,
            description=description,
            amount=amount,
            gl_account=gl_account,
            cost_center=cost_center,
            po_number=po_number,
        )


def _check_group(
    file_name: str, template: FileTemplate, headers: dict[str, Any], width: int, rows: list[_Row]
) -> InvoiceGroup:
    check = _GroupCheck(file_name, template, headers, width, rows)
    invoice = check.run()
    first = rows[0]
    invoice_number, vendor_id = first.text("invoice_number"), first.text("vendor_id")
    if invoice_number is not None and vendor_id is not None:
        # A "/" inside the vendor id is escaped, so "A/B" + "C" and "A" + "B/C" stay two invoices.
        source_id = f"{vendor_id.replace('%', '%25').replace('/', '%2F')}/{invoice_number}"
        label = f"{invoice_number} ({template.columns.vendor_id} {vendor_id})"
    else:
        source_id = f"{file_name}#row{first.number}"
        label = f"{file_name} row {first.number}"
    return InvoiceGroup(
        source_id=source_id,
        label=label,
        rows=tuple(row.number for row in rows),
        invoice=invoice,
        problems=check.problems(),
        raw=tuple(dict(row.cells) for row in rows),
        warnings=check.warnings(),
    )


# -- the file -------------------------------------------------------------------------------------


class ExportGroups(Sequence[InvoiceGroup]):
    """The invoice groups of one export file, in order of their first row (see :func:`parse_export`).

    The groups are kept in a private temporary SQLite database on disk, not in memory: iterating
    reads them back one at a time, so memory does not grow with the file. ``len()`` and indexing
    work as on a list (an index reads that one group); each iteration reads the groups afresh.

    Close it, or use it as a context manager, to delete the temporary database; it is also
    deleted when the object is garbage-collected.

    :param file_name: the file's name.
    :param with_problems: how many of the groups have problems.
    """

    def __init__(self, file_name: str, db: sqlite3.Connection, count: int, with_problems: int) -> None:
        self.file_name = file_name
        self.with_problems = with_problems
        self._db: sqlite3.Connection | None = db
        self._count = count

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError(f"the invoice groups of {self.file_name} are closed")
        return self._db

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> InvoiceGroup: ...

    @overload
    def __getitem__(self, index: slice) -> list[InvoiceGroup]: ...

    def __getitem__(self, index: int | slice) -> InvoiceGroup | list[InvoiceGroup]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        position = index + self._count if index < 0 else index
        if not 0 <= position < self._count:
            raise IndexError(f"group index {index} out of range ({self._count} groups)")
        row = self._open().execute("SELECT data FROM groups WHERE seq = ?", (position,)).fetchone()
        return _load(row[0])

    def __iter__(self) -> Iterator[InvoiceGroup]:
        for (data,) in self._open().execute("SELECT data FROM groups ORDER BY seq"):
            yield _load(data)

    def close(self) -> None:
        """Delete the temporary database (the groups can no longer be read)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> ExportGroups:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ExportGroups {self.file_name}: {self._count} group(s), {self.with_problems} with problems>"


def _load(data: bytes) -> InvoiceGroup:
    # Only ever bytes this process pickled into its own private temporary database.
    group: InvoiceGroup = pickle.loads(data)  # noqa: S301
    return group


class _Spill:
    """The rows of an export file in a private temporary SQLite database, keyed by group.

    An empty database name makes SQLite create a temporary file, deleted when the connection
    closes; the page cache is kept small, so what does not fit in it goes to that file.
    """

    def __init__(self) -> None:
        db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self.db = db
        for pragma in (
            "PRAGMA cache_size = -2048",  # KiB
            "PRAGMA temp_store = FILE",
            "PRAGMA journal_mode = OFF",
            "PRAGMA synchronous = OFF",
        ):
            db.execute(pragma)
        db.execute(
            "CREATE TABLE keys (vendor TEXT, invoice TEXT, grp INTEGER, PRIMARY KEY (vendor, invoice)) "
            "WITHOUT ROWID"
        )
        db.execute(
            "CREATE TABLE rows (grp INTEGER, number INTEGER, width INTEGER, cells TEXT, "
            "PRIMARY KEY (grp, number)) WITHOUT ROWID"
        )
        db.execute("CREATE TABLE groups (seq INTEGER PRIMARY KEY, data BLOB)")
        db.execute("BEGIN")
        self._recent: dict[tuple[str, str], int] = {}
        self._pending: list[tuple[int, int, int, str]] = []

    def group_of(self, key: tuple[str, str], number: int) -> int:
        """The group of a row with this (vendor id, invoice number): the first row that had it."""
        group = self._recent.get(key)
        if group is None:
            found = self.db.execute("SELECT grp FROM keys WHERE vendor = ? AND invoice = ?", key).fetchone()
            if found is None:
                self.db.execute("INSERT INTO keys VALUES (?, ?, ?)", (*key, number))
                group = number
            else:
                group = found[0]
            self._recent[key] = group
            if len(self._recent) > _RECENT_KEYS:
                del self._recent[next(iter(self._recent))]
        return group

    def add(self, group: int, number: int, width: int, cells: list[str]) -> None:
        self._pending.append((group, number, width, json.dumps(cells, ensure_ascii=False)))
        if len(self._pending) >= _INSERT_BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?)", self._pending)
            self._pending = []

    def grouped(self, fields: Sequence[str]) -> Iterator[list[_Row]]:
        """The rows, group by group in order of their first row."""
        self.flush()
        rows: list[_Row] = []
        current = None
        for group, number, width, cells in self.db.execute(
            "SELECT grp, number, width, cells FROM rows ORDER BY grp, number"
        ):
            if group != current and rows:
                yield rows
                rows = []
            current = group
            rows.append(
                _Row(number=number, cells=dict(zip(fields, json.loads(cells), strict=True)), width=width)
            )
        if rows:
            yield rows


def parse_export(
    data: IO[bytes] | bytes, *, file_name: str, template: FileTemplate, max_bytes: int | None = None
) -> ExportGroups:
    """Read one Stampli export file into invoice groups, in order of their first row.

    The file is read in two passes, neither of which holds the file or its rows in memory. The
    first decodes and parses it a chunk at a time, makes every whole-file check and spills the
    rows to a temporary SQLite database on disk; the second checks the invoices group by group
    and stores the results there too. So a file that is refused as a whole raises
    :class:`FileRejected` here, before any group can be used, and no group is ever read from a
    file that turns out broken further on.

    :param data: the file's content, as bytes or a binary file object (read from its current
        position to its end; it is not closed; a non-seekable one is first copied to a spooled
        temporary file).
    :param file_name: the file's name, used in every problem and in row-based source ids.
    :param template: the tenant's file layout.
    :param max_bytes: refuse a file larger than this many bytes (``None``: no limit).
    :returns: the groups (:class:`ExportGroups`, a read-only sequence backed by disk): one per
        (vendor id, invoice number) pair, plus one per row that lacks either. Each group has an
        invoice or the problems that prevent it. Close it when done.
    :raises FileRejected: when the file as a whole cannot be read: larger than ``max_bytes``, not
        UTF-8, a quoted value that is never closed, a value longer than :data:`MAX_CELL_CHARS`, a
        required column missing from the header row, a column appearing twice, no invoice rows,
        more than ``template.max_rows`` of them, or a line number longer than any export writes
        (20 characters; thousands of digits would otherwise make ``int()`` fail). A file that is
        not UTF-8 is reported as such whatever else is wrong with it.
    :raises TypeError: when ``data`` is a text file.
    """
    # Python's limit is process-wide: it is only ever raised, never lowered, here.
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    content = _Content(data, max_bytes)
    try:
        if max_bytes is not None and (content.size > max_bytes or not content.complete):
            # A stream that cannot seek was copied only up to the limit: its size is not known.
            size = (
                f"{content.size} bytes, more than the {max_bytes}"
                if content.complete
                else (f"more than the {max_bytes} bytes")
            )
            raise FileRejected(
                Problem(
                    file_name,
                    None,
                    None,
                    f"the file has {size} allowed (sftp.max_file_bytes); ask for smaller exports or raise "
                    "the limit",
                )
            )
        spill = _Spill()
        try:
            try:
                headers, fields, width = _spill_rows(content, file_name, template, spill)
            except UnicodeDecodeError:
                rejection = _not_utf8(content, file_name, template.delimiter)
                if rejection is None:  # pragma: no cover - the decoder failed on bytes that decode
                    raise
                raise rejection from None
            except FileRejected as rejected:
                # Whatever else is wrong, a file that is not UTF-8 is reported as such.
                rejection = _not_utf8(content, file_name, template.delimiter)
                if rejection is not None:
                    raise rejection from None
                raise rejected from None
            count = with_problems = 0
            stored: list[tuple[int, bytes]] = []
            for rows in spill.grouped(fields):
                group = _check_group(file_name, template, headers, width, rows)
                stored.append((count, pickle.dumps(group, protocol=pickle.HIGHEST_PROTOCOL)))
                count += 1
                with_problems += bool(group.problems)
                if len(stored) >= _INSERT_BATCH:
                    spill.db.executemany("INSERT INTO groups VALUES (?, ?)", stored)
                    stored = []
            spill.db.executemany("INSERT INTO groups VALUES (?, ?)", stored)
            spill.db.execute("COMMIT")
        except BaseException:
            spill.db.close()
            raise
    finally:
        content.close()
    return ExportGroups(file_name, spill.db, count, with_problems)


def _spill_rows(
    content: _Content, file_name: str, template: FileTemplate, spill: _Spill
) -> tuple[dict[str, Any], list[str], int]:
    """The first pass: every whole-file check, the rows to ``spill``.

    :returns: the configured headers, the template's fields the file has (in the order their
        cells are spilled) and the header row's width.
    """
    with content.text() as text:
        records = _records(text, file_name, template.delimiter)
        first = next(records, None)
        header_cells = first[1] if first is not None else []
        _check_lengths(header_cells, 1, {}, file_name)
        if not any(cell.strip() for cell in header_cells):
            if not any(cell.strip() for _, cells in records for cell in cells):
                raise FileRejected(
                    Problem(file_name, None, None, "the file is empty: no header row and no invoice rows")
                )
            raise FileRejected(
                Problem(file_name, 1, None, "the header row is blank (the first row must name the columns)")
            )
        headers = template.columns.model_dump()
        positions = _match_header(header_cells, headers, file_name)
        fields = list(positions)
        indexes = list(positions.values())
        columns: dict[int, str | None] = {index: headers[field] for field, index in positions.items()}
        vendor_at, invoice_at = positions["vendor_id"], positions["invoice_number"]

        data_rows = 0
        for number, cells in records:
            _check_lengths(cells, number, columns, file_name)
            if not any(cell.strip() for cell in cells):
                continue
            data_rows += 1
            if data_rows > template.max_rows:
                raise FileRejected(
                    Problem(
                        file_name,
                        number,
                        None,
                        f"the file has more than {template.max_rows} invoice rows (template.max_rows); "
                        "ask for smaller exports or raise the limit",
                    )
                )
            width = len(cells)
            vendor_id = cells[vendor_at].strip() if vendor_at < width else ""
            invoice_number = cells[invoice_at].strip() if invoice_at < width else ""
            group = (
                spill.group_of((vendor_id, invoice_number), number)
                if vendor_id and invoice_number
                else number
            )
            spill.add(group, number, width, [cells[i] if i < width else "" for i in indexes])
        if data_rows == 0:
            raise FileRejected(
                Problem(file_name, None, None, "the file has a header row but no invoice rows")
            )
    return headers, fields, len(header_cells)
