"""Pure mappings of the ``stampli_fusion`` integration: Stampli export invoices → Fusion AP invoices.

No I/O here. The stream reads an export file with
:func:`~ml_connector_provider.integrations.stampli_fusion.csv_export.parse_export`, turns each invoice group into a
:class:`~ml_connector_provider.engine.types.SourceRecord` with :func:`group_to_record`, asks
:func:`lookup_keys` which Fusion suppliers and account combinations to look up, and maps each
record with :func:`map_invoice` against those look-ups (:class:`ApLookups`).

Fusion attribute names follow the project's Fusion contract: the AP invoice create payload
(``invoices`` with ``invoiceLines`` and ``invoiceDistributions``) is documented by Oracle; the
supplier site attributes ``SitePurposePayFlag``, ``ProcurementBU``, ``InactiveDate`` and the
``accountCombinationsLOV`` attributes (``Segment1..n``, ``EnabledFlag``, ``StartDateActive``,
``EndDateActive``) are UNCONFIRMED, so their readers here are lenient.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ml_connector_provider.engine.types import DeadLetter, MapResult, SourceRecord, Write, canonical_json
from ml_connector_provider.formats.money import as_decimal, format_amount
from ml_connector_provider.formats.text import escape_invisible
from ml_connector_provider.integrations.stampli_fusion.csv_export import (
    ExportInvoice,
    ExportLine,
    InvoiceGroup,
    and_list,
)
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings

__all__ = [
    "AccountStatus",
    "ApLookups",
    "MappingError",
    "Supplier",
    "SupplierSite",
    "account_status_from_fusion",
    "fusion_combination",
    "group_to_record",
    "invoice_from_json",
    "invoice_to_json",
    "lookup_keys",
    "map_invoice",
    "supplier_from_fusion",
    "supplier_number_for",
]

log = logging.getLogger(__name__)

# Fusion Payables: invoice and line descriptions are 240 characters long at most.
MAX_DESCRIPTION = 240
# Dead-letter reasons listing several problems stop at about this many characters.
MAX_REASON = 2000
_TRUE = {"Y", "YES", "TRUE", "T", "1"}
_FALSE = {"N", "NO", "FALSE", "F", "0"}


class MappingError(ValueError):
    """A value that cannot be turned into what Fusion needs (the message says what was expected)."""


# -- source records -------------------------------------------------------------------------------


def group_to_record(group: InvoiceGroup, *, changed_at: datetime, file_checksum: str) -> SourceRecord:
    """The source record of one invoice group of an export file.

    :param group: the group, as returned by ``parse_export``.
    :param changed_at: when the file was exported or last modified (timezone-aware).
    :param file_checksum: the checksum of the whole file, kept for the audit trail.
    :returns: a record whose id is the group's source id (vendor id / invoice number) and whose
        version hashes only the group's raw rows, so the same invoice re-exported in another
        file has the same version. The group's warnings (formula-leading cells flagged under
        ``template.formula_cells: flag``) are kept in ``data["warnings"]`` (absent when there are
        none) and logged, once, as
        the stream turns the group into a record.
    :raises ValueError: when ``changed_at`` is naive.
    """
    if changed_at.tzinfo is None:
        raise ValueError("changed_at must be timezone-aware")
    for warning in group.warnings:
        log.warning("%s", escape_invisible(f"{group.label}: {warning.describe()}"))
    raw = [dict(row) for row in group.raw]
    problem_file = group.problems[0].file if group.problems else None
    file_name = group.invoice.file if group.invoice is not None else problem_file
    data: dict[str, Any] = {
        "file": file_name,
        "file_checksum": file_checksum,
        "rows": list(group.rows),
        "invoice": invoice_to_json(group.invoice) if group.invoice is not None else None,
        "problems": [problem.describe() for problem in group.problems],
        "problem_columns": [problem.column for problem in group.problems],
        "raw": raw,
    }
    if group.warnings:
        data["warnings"] = [warning.describe() for warning in group.warnings]
    return SourceRecord(
        id=group.source_id,
        version=hashlib.sha256(canonical_json(raw).encode()).hexdigest(),
        changed_at=changed_at,
        data=data,
        label=group.label,
    )


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def invoice_to_json(invoice: ExportInvoice) -> dict[str, Any]:
    """The invoice as JSON-safe values: dates as ISO strings, amounts as decimal strings."""
    return {
        "file": invoice.file,
        "rows": list(invoice.rows),
        "invoice_number": invoice.invoice_number,
        "vendor_id": invoice.vendor_id,
        "vendor_name": invoice.vendor_name,
        "vendor_site": invoice.vendor_site,
        "invoice_date": invoice.invoice_date.isoformat(),
        "due_date": _iso(invoice.due_date),
        "currency": invoice.currency,
        "amount": format_amount(invoice.amount),
        "po_number": invoice.po_number,
        "description": invoice.description,
        "payment_terms": invoice.payment_terms,
        "stampli_invoice_id": invoice.stampli_invoice_id,
        "lines": [
            {
                "row": line.row,
                "line_number": line.line_number,
                "description": line.description,
                "amount": format_amount(line.amount),
                "gl_account": line.gl_account,
                "cost_center": line.cost_center,
                "po_number": line.po_number,
            }
            for line in invoice.lines
        ],
    }


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def invoice_from_json(value: Mapping[str, Any]) -> ExportInvoice:
    """Rebuild an invoice from :func:`invoice_to_json`'s output (its exact inverse).

    :raises MappingError: when the value is not a stored invoice.
    """
    try:
        lines = tuple(
            ExportLine(
                row=int(line["row"]),
                line_number=int(line["line_number"]),
                description=_opt_str(line.get("description")),
                amount=as_decimal(line["amount"], what="line amount"),
                gl_account=str(line["gl_account"]),
                cost_center=_opt_str(line.get("cost_center")),
                po_number=_opt_str(line.get("po_number")),
            )
            for line in value["lines"]
        )
        due = value.get("due_date")
        return ExportInvoice(
            file=str(value["file"]),
            rows=tuple(int(row) for row in value["rows"]),
            invoice_number=str(value["invoice_number"]),
            vendor_id=str(value["vendor_id"]),
            vendor_name=_opt_str(value.get("vendor_name")),
            vendor_site=_opt_str(value.get("vendor_site")),
            invoice_date=date.fromisoformat(str(value["invoice_date"])),
            due_date=date.fromisoformat(str(due)) if due is not None else None,
            currency=str(value["currency"]),
            amount=as_decimal(value["amount"], what="invoice amount"),
            po_number=_opt_str(value.get("po_number")),
            description=_opt_str(value.get("description")),
            payment_terms=_opt_str(value.get("payment_terms")),
            stampli_invoice_id=_opt_str(value.get("stampli_invoice_id")),
            lines=lines,
        )
    except KeyError as error:
        raise MappingError(f"the stored invoice has no {error.args[0]!r}") from None
    except (TypeError, ValueError) as error:  # MoneyError is a ValueError
        raise MappingError(f"the stored invoice cannot be read: {error}") from None


# -- suppliers and account combinations -----------------------------------------------------------


def supplier_number_for(vendor_id: str, settings: StampliFusionSettings) -> str:
    """The Fusion supplier number of a Stampli vendor: ``vendor_map``'s entry, else the vendor id."""
    key = vendor_id.strip()
    return settings.vendor_map.get(key, key)


def fusion_combination(gl_account: str, cost_center: str | None, settings: StampliFusionSettings) -> str:
    """The Fusion account combination of a line's GL account and cost centre.

    The GL account goes through ``account_map`` (unlisted values are taken as combinations),
    must have ``segment_count`` non-blank segments separated by ``segment_delimiter``, and when
    ``cost_center_segment`` is set, a given cost centre replaces that segment.

    :raises MappingError: when the combination does not have the expected segments, or the cost
        centre contains the delimiter.
    """
    account = gl_account.strip()
    mapped = settings.account_map.get(account, account).strip()
    delimiter = settings.segment_delimiter
    segments = [segment.strip() for segment in mapped.split(delimiter)]
    count = settings.segment_count
    if len(segments) != count or not all(segments):
        example = delimiter.join(str(100 + i) for i in range(count))
        mapped_note = f" (account_map maps {account!r} to it)" if mapped != account else ""
        raise MappingError(
            f"{mapped!r}{mapped_note} is not a Fusion account combination: expected {count} non-blank "
            f"segments separated by {delimiter!r} (like {example}), found {len(segments)}; "
            "list the account in account_map if Stampli uses another code"
        )
    centre = (cost_center or "").strip()
    if settings.cost_center_segment is not None and centre:
        if delimiter in centre:
            raise MappingError(
                f"cost centre {centre!r} contains the segment delimiter {delimiter!r}; "
                f"it fills segment {settings.cost_center_segment} only"
            )
        segments[settings.cost_center_segment - 1] = centre
    return delimiter.join(segments)


def _flag(value: Any, *, default: bool, what: str) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().upper()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise MappingError(f"{what} {value!r} is not a yes/no value")


def _fusion_date(value: Any, what: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise MappingError(f"{what} {value!r} is not a date") from None


def _fusion_id(value: Any, what: str) -> int | None:
    """A Fusion id: an integer, or its text in the digits 0-9 (``int()`` alone would also take
    ``True``, ``1.5`` and Arabic-Indic or full-width digits)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value.strip() if isinstance(value, str) else None
    # Fusion ids are 64-bit integers: at most 19 digits (int() fails beyond 4,300 of them).
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 19:
        raise MappingError(f"{what} {value!r} is not an id (expected a whole number in the digits 0-9)")
    return int(text)


def _required_text(item: Mapping[str, Any], name: str, what: str) -> str:
    value = item.get(name)
    text = "" if value is None else str(value).strip()
    if not text:
        raise MappingError(f"the Fusion {what} has no {name}")
    return text


def _optional_text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    text = "" if value is None else str(value).strip()
    return text or None


@dataclass(frozen=True)
class SupplierSite:
    """A Fusion supplier site as the AP mapping needs it.

    :param pay: whether the site is a pay site (``SitePurposePayFlag``; UNCONFIRMED attribute,
        taken as ``True`` when Fusion does not return it).
    :param procurement_bu: the site's procurement business unit (``ProcurementBU``), when known.
    :param inactive_date: the date from which the site is inactive (``InactiveDate``), if any.
    """

    site_id: int | None
    name: str
    procurement_bu: str | None
    pay: bool
    inactive_date: date | None


@dataclass(frozen=True)
class Supplier:
    """A Fusion supplier with its sites."""

    supplier_id: int | None
    number: str
    name: str
    status: str | None
    sites: tuple[SupplierSite, ...]

    @property
    def active(self) -> bool:
        """``True`` unless Fusion gives a status other than ``ACTIVE``."""
        return self.status is None or self.status.upper() == "ACTIVE"


def _child_items(value: Any) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        value = value.get("items") or []
    if not isinstance(value, list):
        raise MappingError(f"the Fusion supplier's sites are not a list: {value!r}")
    return [item for item in value if isinstance(item, Mapping)]


def supplier_from_fusion(item: Mapping[str, Any]) -> Supplier:
    """Read a Fusion ``suppliers`` item fetched with ``expand=sites``.

    Optional attributes may be missing; flags may be booleans or ``"Y"``/``"N"``; dates may be
    ``YYYY-MM-DD`` or ISO timestamps. Expanded sites may be a list or a collection with ``items``.

    :raises MappingError: when ``SupplierNumber`` or ``Supplier`` (or a site's ``SupplierSite``)
        is missing, or a value has the wrong type.
    """
    sites = tuple(
        SupplierSite(
            site_id=_fusion_id(site.get("SupplierSiteId"), "SupplierSiteId"),
            name=_required_text(site, "SupplierSite", "supplier site"),
            procurement_bu=_optional_text(site, "ProcurementBU"),
            pay=_flag(site.get("SitePurposePayFlag"), default=True, what="SitePurposePayFlag"),
            inactive_date=_fusion_date(site.get("InactiveDate"), "InactiveDate"),
        )
        for site in _child_items(item.get("sites"))
    )
    return Supplier(
        supplier_id=_fusion_id(item.get("SupplierId"), "SupplierId"),
        number=_required_text(item, "SupplierNumber", "supplier"),
        name=_required_text(item, "Supplier", "supplier"),
        status=_optional_text(item, "Status"),
        sites=sites,
    )


@dataclass(frozen=True)
class AccountStatus:
    """What Fusion's chart of accounts says about one account combination.

    :param combination: the combination, segments joined by the tenant's delimiter.
    :param exists: ``False`` when Fusion has no such combination.
    :param enabled: ``EnabledFlag``.
    :param start: ``StartDateActive`` (first active day), if any.
    :param end: ``EndDateActive`` (last active day, inclusive), if any.
    """

    combination: str
    exists: bool
    enabled: bool = False
    start: date | None = None
    end: date | None = None
    #: Why the combination could not be looked up at all (a segment value no ``q`` filter can
    #: hold); ``None`` when it was looked up.
    unusable: str | None = None

    def problem_on(self, day: date) -> str | None:
        """``None`` when the combination can be used for an invoice dated ``day``, else why not."""
        if self.unusable is not None:
            return f"cannot be looked up in Fusion: {self.unusable}"
        if not self.exists:
            return "does not exist in Fusion's chart of accounts"
        if not self.enabled:
            return "is disabled in Fusion"
        if (self.start is not None and day < self.start) or (self.end is not None and day > self.end):
            if self.start is not None and self.end is not None:
                active = f"active {self.start.isoformat()} to {self.end.isoformat()}"
            elif self.start is not None:
                active = f"active from {self.start.isoformat()}"
            else:
                active = f"active until {self.end.isoformat() if self.end else ''}"
            return f"is not active on {day.isoformat()} ({active})"
        return None


def account_status_from_fusion(
    item: Mapping[str, Any], *, delimiter: str, segment_count: int
) -> AccountStatus:
    """Read an ``accountCombinationsLOV`` item (attribute names UNCONFIRMED).

    The combination is ``Segment1`` to ``Segment<segment_count>`` joined by ``delimiter``.
    ``EnabledFlag`` missing counts as enabled; ``StartDateActive``/``EndDateActive`` may be absent.

    :raises MappingError: when a segment is missing or a value has the wrong type.
    """
    segments = []
    for index in range(1, segment_count + 1):
        segments.append(_required_text(item, f"Segment{index}", "account combination"))
    return AccountStatus(
        combination=delimiter.join(segments),
        exists=True,
        enabled=_flag(item.get("EnabledFlag"), default=True, what="EnabledFlag"),
        start=_fusion_date(item.get("StartDateActive"), "StartDateActive"),
        end=_fusion_date(item.get("EndDateActive"), "EndDateActive"),
    )


@dataclass(frozen=True)
class ApLookups:
    """The Fusion data a batch of invoices is mapped against.

    :param suppliers: by Fusion supplier number; ``None`` means looked up and not found.
    :param accounts: by account combination; a combination missing here counts as not existing.
    :param unusable_suppliers: supplier numbers that could not be looked up at all (a value no
        ``q`` filter can hold), with the reason.
    """

    suppliers: Mapping[str, Supplier | None]
    accounts: Mapping[str, AccountStatus]
    unusable_suppliers: Mapping[str, str] = field(default_factory=dict)


def _stored_invoice(record: SourceRecord) -> ExportInvoice | None:
    if record.data.get("problems"):
        return None
    stored = record.data.get("invoice")
    if not isinstance(stored, Mapping):
        return None
    return invoice_from_json(stored)


def lookup_keys(
    records: Iterable[SourceRecord], settings: StampliFusionSettings
) -> tuple[set[str], set[str]]:
    """The supplier numbers and account combinations to look up in Fusion for a batch of records.

    Records with problems and lines whose combination cannot be built are left out (they are
    dead-lettered without a look-up).
    """
    suppliers: set[str] = set()
    combinations: set[str] = set()
    for record in records:
        try:
            invoice = _stored_invoice(record)
        except MappingError:
            continue
        if invoice is None:
            continue
        suppliers.add(supplier_number_for(invoice.vendor_id, settings))
        for line in invoice.lines:
            try:
                combinations.add(fusion_combination(line.gl_account, line.cost_center, settings))
            except MappingError:
                continue
    return suppliers, combinations


# -- the invoice ----------------------------------------------------------------------------------


def _where(file: str, rows: Sequence[int], column: str | None) -> str:
    where = f"{file} {'rows' if len(rows) > 1 else 'row'} {and_list([str(r) for r in rows])}"
    return where + (f", column '{column}'" if column else "")


def _capped(parts: Sequence[str], noun: str) -> str:
    kept: list[str] = []
    length = 0
    for index, part in enumerate(parts):
        if kept and length + 2 + len(part) > MAX_REASON:
            rest = len(parts) - index
            return "; ".join(kept) + f"; and {rest} more {noun}{'s' if rest > 1 else ''}"
        kept.append(part)
        length += len(part) + (2 if len(kept) > 1 else 0)
    return "; ".join(kept)


def _json_amount(amount: Decimal, what: str) -> int | float:
    """An amount as a JSON number that reads back as exactly the same decimal."""
    if amount == amount.to_integral_value():
        return int(amount)
    number = float(amount)
    if Decimal(repr(number)) != amount:
        raise MappingError(f"{what} {amount} cannot be sent as an exact JSON number")
    return number


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _description(invoice: ExportInvoice) -> str | None:
    suffix = ""
    if invoice.po_number:
        suffix += f" PO {invoice.po_number}"
    if invoice.stampli_invoice_id:
        suffix += f" (Stampli {invoice.stampli_invoice_id})"
    base = invoice.description or ""
    if not base:
        text = suffix.strip()
        return _clip(text, MAX_DESCRIPTION) if text else None
    if len(suffix) >= MAX_DESCRIPTION:
        return _clip(base + suffix, MAX_DESCRIPTION)
    return _clip(base, MAX_DESCRIPTION - len(suffix)) + suffix


def _site_issue(site: SupplierSite, day: date, business_unit: str) -> str | None:
    if not site.pay:
        return "not a pay site"
    if site.inactive_date is not None and site.inactive_date <= day:
        return f"inactive since {site.inactive_date.isoformat()}"
    if site.procurement_bu is not None and site.procurement_bu.casefold() != business_unit.strip().casefold():
        return f"procurement BU '{site.procurement_bu}', not '{business_unit}'"
    return None


def _choose_site(
    supplier: Supplier, invoice: ExportInvoice, settings: StampliFusionSettings, where: str
) -> SupplierSite | str:
    """The pay site the invoice goes to, or the reason no single site fits."""
    day = invoice.invoice_date
    bu = settings.business_unit
    columns = settings.template.columns
    how_to = (
        f"fill the '{columns.vendor_site}' column or set supplier_sites['{supplier.number}']"
        if columns.vendor_site
        else f"set supplier_sites['{supplier.number}']"
    )
    wanted = invoice.vendor_site
    origin = f"'{columns.vendor_site}' in the file" if wanted else ""
    if wanted is None and supplier.number in settings.supplier_sites:
        wanted = settings.supplier_sites[supplier.number]
        origin = f"supplier_sites['{supplier.number}']"
    supplier_text = f"supplier {supplier.number} ({supplier.name})"
    all_names = and_list([f"'{site.name}'" for site in supplier.sites]) or "none"

    if wanted is not None:
        named = [site for site in supplier.sites if site.name.casefold() == wanted.strip().casefold()]
        if not named:
            return f"{supplier_text} has no site '{wanted}' ({origin}; {where}); its sites: {all_names}"
        eligible = [site for site in named if _site_issue(site, day, bu) is None]
        if not eligible:
            issues = "; ".join(f"{_site_issue(site, day, bu)}" for site in named)
            return (
                f"site '{wanted}' ({origin}; {where}) of {supplier_text} cannot take an invoice dated "
                f"{day.isoformat()} in business unit '{bu}': {issues}"
            )
        if len(eligible) > 1:
            return f"{supplier_text} has {len(eligible)} eligible sites named '{wanted}' ({where}); {how_to}"
        return eligible[0]

    eligible = [site for site in supplier.sites if _site_issue(site, day, bu) is None]
    if len(eligible) == 1:
        return eligible[0]
    if not eligible:
        listed = (
            and_list([f"'{site.name}' ({_site_issue(site, day, bu)})" for site in supplier.sites]) or "none"
        )
        return (
            f"{supplier_text} has no pay site usable in business unit '{bu}' on {day.isoformat()} "
            f"({where}); its sites: {listed}; {how_to}"
        )
    names = and_list([f"'{site.name}'" for site in eligible])
    return f"{supplier_text} has several pay sites in business unit '{bu}': {names} ({where}); {how_to} to choose one"


def map_invoice(record: SourceRecord, lookups: ApLookups, settings: StampliFusionSettings) -> MapResult:
    """Map one invoice record to the body of a Fusion ``POST /invoices`` (with lines and distributions).

    :param record: a record made by :func:`group_to_record`.
    :param lookups: the Fusion suppliers and account combinations of the batch.
    :param settings: the tenant's settings.
    :returns: a :class:`Write` with the payload, or a :class:`DeadLetter` whose reason names the
        file, the rows and the column, and whose ``field`` is the column's header text.
    """
    columns = settings.template.columns
    problems = [str(p) for p in record.data.get("problems") or []]
    if problems:
        problem_columns = [c for c in record.data.get("problem_columns") or [] if c]
        return DeadLetter(_capped(problems, "problem"), field=problem_columns[0] if problem_columns else None)
    try:
        invoice = _stored_invoice(record)
    except MappingError as error:
        return DeadLetter(f"record {record.id}: {error}")
    if invoice is None:
        return DeadLetter(f"record {record.id} carries no invoice")

    # Supplier.
    number = supplier_number_for(invoice.vendor_id, settings)
    vendor_where = _where(invoice.file, invoice.rows, columns.vendor_id)
    unusable = lookups.unusable_suppliers.get(number)
    if unusable is not None:
        return DeadLetter(
            f"Stampli vendor '{invoice.vendor_id}' ({vendor_where}) cannot be looked up in Fusion: "
            f"{unusable}; correct the vendor id in Stampli or map it in vendor_map",
            field=columns.vendor_id,
        )
    supplier = lookups.suppliers.get(number)
    if supplier is None:
        vendor = f"Stampli vendor '{invoice.vendor_id}'"
        if invoice.vendor_name:
            vendor += f" ({invoice.vendor_name})"
        mapped = " (vendor_map)" if number != invoice.vendor_id.strip() else ""
        return DeadLetter(
            f"vendor not set up in Fusion: {vendor} has no Fusion supplier with supplier number "
            f"'{number}'{mapped} ({vendor_where}); create the supplier in Fusion or map the vendor "
            "in vendor_map",
            field=columns.vendor_id,
        )
    if not supplier.active:
        return DeadLetter(
            f"supplier {supplier.number} ({supplier.name}) is inactive in Fusion (status {supplier.status}; "
            f"Stampli vendor '{invoice.vendor_id}', {vendor_where})",
            field=columns.vendor_id,
        )

    # Site.
    site = _choose_site(supplier, invoice, settings, _where(invoice.file, invoice.rows, columns.vendor_site))
    if isinstance(site, str):
        return DeadLetter(site, field=columns.vendor_site)

    # Lines.
    ordered = sorted(invoice.lines, key=lambda line: line.line_number)
    combinations: dict[int, str] = {}
    bad: list[str] = []
    for line in ordered:
        where = f"line {line.line_number}, {_where(invoice.file, [line.row], columns.gl_account)}"
        try:
            combination = fusion_combination(line.gl_account, line.cost_center, settings)
        except MappingError as error:
            bad.append(f"GL account '{line.gl_account}' ({where}): {error}")
            continue
        status = lookups.accounts.get(combination) or AccountStatus(combination, exists=False)
        issue = status.problem_on(invoice.invoice_date)
        if issue is not None:
            source = "" if combination == line.gl_account else f", from '{line.gl_account}'"
            if line.cost_center and settings.cost_center_segment is not None:
                source += f" and {columns.cost_center or 'cost centre'} '{line.cost_center}'"
            bad.append(f"GL account combination {combination} ({where}{source}) {issue}")
            continue
        combinations[line.line_number] = combination
    if bad:
        return DeadLetter(_capped(bad, "line"), field=columns.gl_account)

    # Payload.
    try:
        invoice_amount = _json_amount(invoice.amount, "invoice amount")
        line_amounts = {
            line.line_number: _json_amount(line.amount, f"line {line.line_number} amount") for line in ordered
        }
    except MappingError as error:
        return DeadLetter(
            f"{error} ({_where(invoice.file, invoice.rows, columns.invoice_amount)})",
            field=columns.invoice_amount,
        )
    lines: list[dict[str, Any]] = []
    for line in ordered:
        combination = combinations[line.line_number]
        line_text = line.description or invoice.description
        lines.append(
            _without_none(
                {
                    "LineNumber": line.line_number,
                    "LineType": "Item",
                    "LineAmount": line_amounts[line.line_number],
                    "Description": _clip(line_text, MAX_DESCRIPTION) if line_text else None,
                    "DistributionCombination": combination,
                    "invoiceDistributions": [
                        {
                            "DistributionLineNumber": 1,
                            "DistributionLineType": "Item",
                            "DistributionAmount": line_amounts[line.line_number],
                            "DistributionCombination": combination,
                        }
                    ],
                }
            )
        )
    payload = _without_none(
        {
            "InvoiceNumber": invoice.invoice_number,
            "InvoiceCurrency": invoice.currency,
            "InvoiceAmount": invoice_amount,
            "InvoiceDate": invoice.invoice_date.isoformat(),
            "BusinessUnit": settings.business_unit,
            "Supplier": supplier.name,
            "SupplierNumber": supplier.number,
            "SupplierSite": site.name,
            "InvoiceType": "Standard",
            "Description": _description(invoice),
            "PaymentTerms": invoice.payment_terms or settings.default_payment_terms,
            "InvoiceSource": settings.invoice_source,
            "InvoiceGroup": settings.invoice_group,
            "invoiceLines": lines,
        }
    )
    return Write(payload)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
