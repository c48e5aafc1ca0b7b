"""Stampli (SFTP CSV exports) → Oracle Fusion AP: the integration's declaration and tenant settings.

Stampli has no public API: approved invoices arrive as CSV files in an SFTP outbound directory
whose layout each customer agrees with Stampli. :class:`FileTemplate` describes that layout; its
defaults are the documented template of ``docs/integrations/stampli_fusion.md``.
"""

from __future__ import annotations

import posixpath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Ignored in header names: a byte order mark and the zero-width characters (U+200B to U+200D,
# U+2060), which a spreadsheet or an earlier step may leave, unseen, before a column name.
_INVISIBLE = str.maketrans("", "", "\u200b\u200c\u200d\u2060\ufeff")


def fold_header(header: str) -> str:
    """A column name as it is compared: without byte order marks and zero-width characters, runs
    of blanks as one space, trimmed and case-folded (``"\\ufeffInvoice  date "`` → ``"invoice date"``).
    """
    return " ".join(header.translate(_INVISIBLE).split()).casefold()


def _remote_directory(value: str) -> str:
    value = value.strip()
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must be an absolute path on the SFTP server")
    return posixpath.normpath(value)


class StampliColumns(BaseModel):
    """The header text of each column of a Stampli export (matched as :func:`fold_header` folds them:
    case-insensitively, blanks trimmed, byte order marks and zero-width characters ignored).

    Columns typed ``str`` are required: a file without one of them is refused as a whole.
    Columns typed ``str | None`` are optional: ``None`` means the tenant's files do not have
    them, and a file may also simply leave an optional column out.
    """

    model_config = ConfigDict(extra="forbid")

    invoice_number: str = "Invoice Number"
    vendor_id: str = "Vendor ID"
    vendor_name: str | None = "Vendor"
    vendor_site: str | None = "Vendor Site"
    invoice_date: str = "Invoice Date"
    due_date: str | None = "Due Date"
    currency: str = "Currency"
    invoice_amount: str = "Invoice Amount"
    po_number: str | None = "PO Number"
    description: str | None = "Description"
    payment_terms: str | None = "Payment Terms"
    stampli_invoice_id: str | None = "Stampli Invoice ID"
    line_number: str = "Line Number"
    line_description: str | None = "Line Description"
    line_amount: str = "Line Amount"
    gl_account: str = "GL Account"
    cost_center: str | None = "Cost Center"

    @model_validator(mode="after")
    def _distinct(self) -> StampliColumns:
        seen: dict[str, str] = {}
        for name, header in self.model_dump().items():
            if header is None:
                continue
            folded = fold_header(str(header))
            if not folded:
                raise ValueError(f"column {name} must not be blank (use null for an absent optional column)")
            if folded in seen:
                raise ValueError(f"columns {seen[folded]} and {name} both use the header {header!r}")
            seen[folded] = name
        return self


class FileTemplate(BaseModel):
    """How a tenant's Stampli export files are laid out.

    One row per invoice line, the invoice's header fields repeated on each of its rows; rows are
    grouped into invoices by vendor id and invoice number.
    """

    model_config = ConfigDict(extra="forbid")

    columns: StampliColumns = Field(default_factory=StampliColumns)
    date_formats: list[str] = Field(
        default_factory=lambda: ["%Y-%m-%d", "%m/%d/%Y"],
        min_length=1,
        description="strptime formats tried in order for invoice and due dates.",
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    thousands_separator: Literal[",", " ", "'"] | None = Field(
        default=None,
        description="Accept amounts such as 1,234.50 with this separator; by default they are errors.",
    )
    max_rows: int = Field(
        default=200_000, ge=1, description="A file with more data rows is refused (protects the worker)."
    )
    formula_cells: Literal["accept", "flag", "refuse"] = Field(
        default="flag",
        description=(
            "Text cells starting with '=', '+', '-', '@', a tab or a carriage return (a spreadsheet "
            "runs them as formulas; plain numbers such as -12.50 excepted): 'flag' posts the invoice "
            "and reports the cell as a warning, 'refuse' makes it a problem of the invoice (dead "
            "letter), 'accept' passes it silently."
        ),
    )

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if value in ('"', "\r", "\n") or value.isalnum():
            raise ValueError(f"{value!r} cannot separate CSV fields (use ',', ';', '|' or a tab)")
        return value


class StampliSftpSettings(BaseModel):
    """Where the export files are on the Stampli SFTP server and when a file counts as complete."""

    model_config = ConfigDict(extra="forbid")

    outbound_dir: str = Field(default="/outbound", description="Directory Stampli exports invoices to.")
    archive_dir: str = Field(default="/archive", description="Processed files are moved here.")
    error_dir: str = Field(
        default="/error", description="Files that cannot be read are moved here, with a reason file."
    )
    file_pattern: str = Field(default="*.csv", min_length=1, description="fnmatch pattern of export files.")
    marker_suffix: str | None = Field(
        default=None,
        description=(
            "When set (for example '.done'), a file is complete only once '<file name><suffix>' "
            "exists next to it; the marker is archived with the file."
        ),
    )
    min_file_age: int = Field(
        default=60,
        ge=0,
        le=86400,
        description=(
            "Seconds since a file's last modification before it is read; a file whose size or "
            "modification time changes while it is read is left for the next run."
        ),
    )

    max_file_bytes: int = Field(
        default=256 * 2**20,
        ge=1,
        description=(
            "Largest export file read, in bytes (default 256 MiB). A bigger file is moved to the "
            "error directory, with a reason file, without being downloaded; the other files are "
            "still read."
        ),
    )

    _absolute = field_validator("outbound_dir", "archive_dir", "error_dir")(_remote_directory)

    @field_validator("marker_suffix")
    @classmethod
    def _suffix(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or "/" in value):
            raise ValueError("marker_suffix must be a non-empty file-name suffix such as '.done'")
        return value

    @model_validator(mode="after")
    def _distinct_dirs(self) -> StampliSftpSettings:
        dirs = {
            "outbound_dir": self.outbound_dir,
            "archive_dir": self.archive_dir,
            "error_dir": self.error_dir,
        }
        if len(set(dirs.values())) != len(dirs):
            raise ValueError("outbound_dir, archive_dir and error_dir must be three different directories")
        return self


class ReferenceDataSettings(BaseModel):
    """Export of Fusion master data to Stampli's inbound SFTP directory (Stampli's look-ups)."""

    model_config = ConfigDict(extra="forbid")

    inbound_dir: str = Field(default="/inbound", description="Stampli's inbound (import) directory.")
    vendors_file: str | None = Field(
        default="vendors.csv", description="Active Fusion suppliers; null: not exported."
    )
    gl_accounts_file: str | None = Field(
        default="gl_accounts.csv", description="Enabled account combinations; null: not exported."
    )
    cost_centers_file: str | None = Field(
        default="cost_centers.csv", description="Cost-centre segment values in use; null: not exported."
    )

    _absolute = field_validator("inbound_dir")(_remote_directory)

    @field_validator("vendors_file", "gl_accounts_file", "cost_centers_file")
    @classmethod
    def _file_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or "/" in value or value.startswith(".")):
            raise ValueError(f"{value!r} must be a plain file name")
        return value


class StampliFusionSettings(BaseModel):
    """Tenant settings of the ``stampli_fusion`` integration."""

    model_config = ConfigDict(extra="forbid")

    business_unit: str = Field(min_length=1, description="Fusion business unit the invoices are entered in.")
    sftp: StampliSftpSettings = Field(default_factory=StampliSftpSettings)
    template: FileTemplate = Field(default_factory=FileTemplate)
    vendor_map: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Stampli vendor id → Fusion supplier number. Vendor ids not listed are looked up in "
            "Fusion's suppliers by supplier number (vendor id = supplier number)."
        ),
    )
    supplier_sites: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Fusion supplier number → pay site used when the file names none; otherwise the "
            "supplier's only active pay site in the business unit is used."
        ),
    )
    account_map: dict[str, str] = Field(
        default_factory=dict,
        description="Stampli GL account → Fusion account combination; unlisted values are taken as combinations.",
    )
    segment_delimiter: Literal["-", "."] = "-"
    segment_count: int = Field(default=5, ge=1, le=30, description="Segments of the chart of accounts.")
    cost_center_segment: int | None = Field(
        default=2,
        ge=1,
        le=30,
        description="1-based segment the file's cost centre fills (null: cost centres are ignored).",
    )
    invoice_source: str | None = Field(
        default=None,
        max_length=80,
        description="Fusion InvoiceSource of created invoices (Fusion's default when null).",
    )
    invoice_group: str | None = Field(
        default=None, max_length=80, description="Fusion InvoiceGroup of created invoices."
    )
    default_payment_terms: str | None = Field(
        default=None,
        description="PaymentTerms when the file gives none (Fusion's supplier-site default when null).",
    )
    post_attempts: int = Field(
        default=3, ge=1, le=10, description="Attempts per invoice create when Fusion answers 429/503."
    )
    reference_data: ReferenceDataSettings | None = Field(
        default=None,
        description="Export Fusion vendors, GL accounts and cost centres to Stampli; required by reference_data.",
    )

    @model_validator(mode="after")
    def _segments(self) -> StampliFusionSettings:
        if self.cost_center_segment is not None and self.cost_center_segment > self.segment_count:
            raise ValueError(
                f"cost_center_segment {self.cost_center_segment} is beyond segment_count {self.segment_count}"
            )
        return self
