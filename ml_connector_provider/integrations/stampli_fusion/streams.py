"""Stampli → Oracle Fusion AP: the streams of the ``stampli_fusion`` integration.

``invoices``
    Reads the complete export files of the tenant's SFTP outbound directory, in pages of at most
    500 invoices (a file larger than ``sftp.max_file_bytes`` is quarantined without being
    downloaded), and posts each invoice to Fusion payables once. A file is acknowledged only after
    every batch read from it is committed to the ledger (:meth:`Stream.finish`): it is then moved to
    the archive directory, or to the error directory with a reason file when it could not be read
    at all. Its checksum is recorded in the ledger, so a re-upload of the same content is archived
    without being posted again. A file moved to the error directory is a dead letter of kind
    ``file`` (named by the file name); ``ml-connector dead-letters retry`` on it moves it back to
    the outbound directory at the start of the next run, which reads it again (the invoices it
    posted before are linked in the ledger and not posted twice).

``reference_data``
    Writes Fusion's active suppliers, enabled account combinations and cost centres to Stampli's
    inbound directory as CSV files, each only when its content changed.

The mapping is pure (:mod:`ml_connector_provider.integrations.stampli_fusion.mapping`); this module does the
I/O around it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import posixpath
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ml_connector_provider.engine.stream import Stream
from ml_connector_provider.engine.types import (
    Action,
    DeadLetter,
    DeadLetterRow,
    Link,
    MapResult,
    RejectedUnit,
    SourceRecord,
    StreamKey,
    Window,
    Write,
    WriteItem,
    WriteResult,
    utcnow,
)
from ml_connector_provider.formats.spreadsheet import safe_rows
from ml_connector_provider.formats.text import lines_for_people
from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings
from ml_connector_provider.targets.fusion_ap import FusionApInvoiceWriter

if TYPE_CHECKING:
    from ml_connector_provider.engine.context import StreamContext
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
    from ml_connector_provider.hooks.stampli import RemoteFile, StampliHook
    from ml_connector_provider.integrations.stampli_fusion.mapping import AccountStatus, ApLookups, Supplier
    from ml_connector_provider.ledger import Ledger

log = logging.getLogger(__name__)

SUPPLIERS_RESOURCE = "suppliers"
ACCOUNTS_RESOURCE = "accountCombinationsLOV"
#: Suffix of the reason file written next to a file moved to the error directory.
REASON_SUFFIX = ".reason.txt"
#: Suffix of the file listing an archived file's invoices that had problems.
PROBLEMS_SUFFIX = ".problems.txt"


#: Lines of a ``.problems.txt`` file at most (one invoice a line); the rest are counted.
MAX_PROBLEM_LINES = 10_000


@dataclass
class _FileAction:
    """What to do with one file once the run's batches are committed."""

    file: RemoteFile
    checksum: str | None  # None: the file was not downloaded (too large)
    destination: str
    # "processed" / "failed"; None: nothing to record in the ledger (a re-upload, already finished
    # there, or a file too large to be downloaded)
    outcome: str | None
    detail: str
    reason: str | None = None  # written next to the moved file
    reason_suffix: str = REASON_SUFFIX
    rejected: bool = False  # moved to the error directory: a dead letter of kind "file"


class _ProblemList:
    """The lines of a ``.problems.txt`` file, the first :data:`MAX_PROBLEM_LINES` kept in memory
    and the others only counted (a file may hold hundreds of thousands of invoices)."""

    def __init__(self) -> None:
        self.limit = MAX_PROBLEM_LINES
        self.lines: list[str] = []
        self.left_out = 0

    def add(self, line: str) -> None:
        if len(self.lines) < self.limit:
            self.lines.append(line)
        else:
            self.left_out += 1

    def text(self) -> str | None:
        """The file's content, ``None`` when no invoice had problems."""
        if not self.lines:
            return None
        text = "\n".join(self.lines)
        if self.left_out:
            text += (
                f"\n… and {self.left_out} more invoice(s) with problems, not listed here; each is a "
                "dead letter of the run, with its problems"
            )
        return text


class StampliInvoicesToFusion(Stream):
    """Approved Stampli invoices (CSV files on SFTP) → Oracle Fusion payables invoices.

    :param sftp: the Stampli SFTP hook.
    :param fusion: the Oracle Fusion hook (its transport paces itself on 429/503).
    :param settings: the tenant's settings.
    :param ledger: the ledger (processed-file state).
    :param key: the stream's key (tenant and integration of the file records).
    :param clock: POSIX time now (the age of files is measured against it).
    """

    source_system = "stampli"
    target_system = "fusion"
    #: Invoices per page read from a file (the engine batches them further).
    page_size = 500

    @classmethod
    def from_context(cls, ctx: StreamContext) -> StampliInvoicesToFusion:
        from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
        from ml_connector_provider.hooks.stampli import StampliHook
        from ml_connector_provider.transport import AdaptivePacer

        settings = ctx.settings_as(StampliFusionSettings)
        fusion = OracleFusionHook(
            ctx.connections["fusion"], pacer=AdaptivePacer(), retry_attempts=settings.post_attempts
        )
        return cls(StampliHook(ctx.connections["stampli"]), fusion, settings, ctx.ledger, ctx.key)

    def __init__(
        self,
        sftp: StampliHook,
        fusion: OracleFusionHook,
        settings: StampliFusionSettings,
        ledger: Ledger,
        key: StreamKey,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sftp = sftp
        self.fusion = fusion
        self.settings = settings
        self.ledger = ledger
        self.key = key
        self.clock = clock
        self._writer = FusionApInvoiceWriter(fusion)
        self._actions: list[_FileAction] = []
        self._rejected: list[RejectedUnit] = []
        self._suppliers: dict[str, Supplier | None] = {}
        # Supplier numbers that cannot be looked up (no q filter can hold them, or Fusion's record
        # of them is malformed), with the reason their invoices are dead-lettered with.
        self._unusable: dict[str, str] = {}
        self._accounts: dict[str, AccountStatus] = {}
        self._connection = contextlib.ExitStack()
        self._connected = False

    # -- SFTP ------------------------------------------------------------------------------------

    def _sftp(self) -> StampliHook:
        """The hook, with one SSH connection kept open for the whole run."""
        if not self._connected:
            self._connection.enter_context(self.sftp.get_managed_conn())
            self._connected = True
        return self.sftp

    # -- reading ---------------------------------------------------------------------------------

    def read(self, window: Window) -> Iterable[Sequence[SourceRecord]]:
        """The invoices of every complete export file in the outbound directory, oldest file first,
        in pages of at most :attr:`page_size` invoices (a page never mixes two files).

        The window is not used: the outbound directory is a queue, and a file leaves it only
        once its invoices are committed (:meth:`finish`).
        """
        from ml_connector_provider.hooks.stampli import not_ready_reasons, ready_files

        sftp_settings = self.settings.sftp
        listing = self._sftp().list_files(sftp_settings.outbound_dir)
        rule: dict[str, Any] = {
            "pattern": sftp_settings.file_pattern,
            "now": self.clock(),
            "min_age": sftp_settings.min_file_age,
            "marker_suffix": sftp_settings.marker_suffix,
        }
        ready = ready_files(listing, **rule)
        waiting = not_ready_reasons(listing, **rule)
        if waiting:
            log.info(
                "%s: %d file(s) in %s not complete yet, left for a later run: %s",
                self.key,
                len(waiting),
                sftp_settings.outbound_dir,
                "; ".join(f"{name} ({why})" for name, why in list(waiting.items())[:20]),
            )
        log.info("%s: %d complete export file(s) in %s", self.key, len(ready), sftp_settings.outbound_dir)
        for remote in ready:
            yield from self._read_file(remote)

    def _read_file(self, remote: RemoteFile) -> Iterator[list[SourceRecord]]:
        """The invoices of one file, a page at a time.

        The whole file is parsed before the first page (so a file refused as a whole posts
        nothing); its groups are then read back from disk a page at a time. The file's action
        (archive, or quarantine) is registered once its last page has been taken, and carried out
        by :meth:`finish` once every batch is committed.
        """
        from ml_connector_provider.engine.core import describe_error
        from ml_connector_provider.integrations.stampli_fusion.csv_export import FileRejected, parse_export
        from ml_connector_provider.integrations.stampli_fusion.mapping import group_to_record

        sftp_settings = self.settings.sftp
        limit = sftp_settings.max_file_bytes
        if remote.size > limit:
            reason = (
                f"{remote.name}: the file has {remote.size} bytes, more than the {limit} allowed "
                "(sftp.max_file_bytes); it was not read (ask for smaller exports or raise the limit)"
            )
            log.error("%s: %s is too large: %s", self.key, remote.path, reason)
            self._quarantine(remote, None, reason)
            return
        sftp = self._sftp()
        downloaded = sftp.download(remote.path)
        try:
            if downloaded.changed_during_download or (downloaded.size, downloaded.mtime) != (
                remote.size,
                remote.mtime,
            ):
                log.warning(
                    "%s: %s changed while it was read (still being written?); left for a later run",
                    self.key,
                    remote.path,
                )
                return
            checksum = downloaded.sha256
            tenant, integration = self.key.tenant, self.key.integration
            known = self.ledger.file_by_checksum(tenant, integration, checksum)
            if known is not None and known.outcome == "failed":
                # The same content was rejected before: rejected again, visibly, not archived.
                reason = (
                    f"{remote.name}: the same content (sha256 {checksum[:12]}…) as {known.path}, which was "
                    f"rejected: {known.detail or 'see its dead letter'}"
                )
                log.error("%s: %s", self.key, reason)
                self._quarantine(remote, checksum, reason, record=False)
                return
            if known is not None and known.outcome != "processing":
                log.warning(
                    "%s: %s has the same content (sha256 %s…) as %s, already %s; archived without posting",
                    self.key,
                    remote.path,
                    checksum[:12],
                    known.path,
                    known.outcome,
                )
                self._actions.append(
                    _FileAction(
                        remote,
                        checksum,
                        sftp_settings.archive_dir,
                        outcome=None,
                        detail=f"re-upload of {known.path} (already {known.outcome})",
                    )
                )
                return
            if known is not None:
                log.info(
                    "%s: %s was being processed by an earlier run; reading it again", self.key, remote.path
                )
            self.ledger.begin_file(
                tenant, integration, path=remote.path, size=downloaded.size, checksum=checksum
            )
            changed_at = datetime.fromtimestamp(remote.mtime, UTC)
            # Whatever goes wrong in reading one file's content quarantines that file alone; the
            # other files of the listing are still posted in this run.
            try:
                groups = parse_export(downloaded.data, file_name=remote.name, template=self.settings.template)
            except FileRejected as rejected:
                reason = rejected.problem.describe()
                log.error("%s: %s cannot be read: %s", self.key, remote.path, reason)
                self._quarantine(remote, checksum, reason)
                return
            except (OSError, MemoryError):
                raise  # this worker's disk or memory, not the file: the task fails, the file stays
            except Exception as error:
                reason = (
                    f"{remote.name}: the file could not be read ({describe_error(error)}); an "
                    "unexpected error, whose traceback is in the task log"
                )
                log.error("%s: %s cannot be read", self.key, remote.path, exc_info=True)
                self._quarantine(remote, checksum, reason)
                return
            # The groups are on disk now: the download's spool is no longer needed.
            downloaded.data.close()
            with groups:
                detail = f"{len(groups)} invoice(s), {groups.with_problems} with problems"
                self.ledger.note_file(tenant, integration, checksum=checksum, detail=f"{detail}; posting")
                log.info("%s: %s: %s", self.key, remote.path, detail)
                problems = _ProblemList()
                page: list[SourceRecord] = []
                for group in groups:
                    page.append(group_to_record(group, changed_at=changed_at, file_checksum=checksum))
                    if group.problems:
                        problems.add(f"{group.label}: " + "; ".join(p.describe() for p in group.problems))
                    elif group.warnings:
                        # Posted, but a person should look (template.formula_cells: flag).
                        problems.add(
                            f"{group.label}: posted, with warnings: "
                            + "; ".join(w.describe() for w in group.warnings)
                        )
                    if len(page) >= self.page_size:
                        yield page
                        page = []
                if page:
                    yield page
            self._actions.append(
                _FileAction(
                    remote,
                    checksum,
                    sftp_settings.archive_dir,
                    outcome="processed",
                    detail=detail,
                    reason=problems.text(),
                    reason_suffix=PROBLEMS_SUFFIX,
                )
            )
        finally:
            downloaded.data.close()

    def _quarantine(
        self, remote: RemoteFile, checksum: str | None, reason: str, *, record: bool = True
    ) -> None:
        """Move ``remote`` to the error directory with ``reason`` next to it once the run's
        batches are committed (:meth:`finish`); the ledger records the file as failed (a file
        that was not downloaded, ``checksum`` ``None``, has no ledger record: the ledger knows
        files by the checksum of their content). ``record=False``: the ledger's record of this
        content belongs to an earlier file and is left as it is."""
        self._actions.append(
            _FileAction(
                remote,
                checksum,
                self.settings.sftp.error_dir,
                outcome="failed" if checksum is not None and record else None,
                detail=reason,
                reason=reason,
                rejected=True,
            )
        )

    def finish(self) -> None:
        """Move every file read in this run out of the outbound directory (never deleting anything).

        The reason and problems files are written for people: control and text-direction
        characters are escaped as ``\\uXXXX`` and a line a spreadsheet would run as a formula is
        prefixed with an apostrophe (:func:`~ml_connector_provider.formats.text.lines_for_people`).
        """
        sftp = self._sftp() if self._actions else None
        marker = self.settings.sftp.marker_suffix
        for action in self._actions:
            assert sftp is not None
            moved = sftp.move(action.file.path, action.destination)
            if marker:
                marker_path = action.file.path + marker
                if sftp.stat(marker_path) is not None:
                    sftp.move(marker_path, action.destination, name=posixpath.basename(moved) + marker)
            reason_text = lines_for_people(action.reason) if action.reason else None
            if reason_text is not None:
                # The text quotes cells and file names: people open it, maybe in a spreadsheet.
                sftp.write_text(moved + action.reason_suffix, reason_text)
            log.info("%s: %s → %s (%s)", self.key, action.file.path, moved, action.detail)
            if action.rejected:
                self._rejected.append(
                    RejectedUnit(
                        kind="file",
                        name=action.file.name,
                        reason=reason_text or action.detail,
                        details={
                            "checksum": action.checksum,
                            "size": action.file.size,
                            "path": moved,
                            "from": action.file.path,
                        },
                    )
                )
            if action.outcome is not None and action.checksum is not None:
                self.ledger.finish_file(
                    self.key.tenant,
                    self.key.integration,
                    checksum=action.checksum,
                    outcome=action.outcome,
                    detail=f"{action.detail}; moved to {moved}",
                )
        self._actions = []

    def rejected_units(self) -> Sequence[RejectedUnit]:
        """The files this run moved to the error directory (each becomes a dead letter of kind
        ``file``, with the text of its reason file)."""
        rejected, self._rejected = self._rejected, []
        return rejected

    def take_again(self, dead_letters: Sequence[DeadLetterRow]) -> Mapping[int, str]:
        """Move files an operator asked to retry from the error directory back to the outbound
        directory (with their marker file, when the tenant uses markers), so this run reads them.

        The ledger's record of the file's content is made ``processing`` again first, so the
        file is read rather than taken for a re-upload of a failed file; a crash between the two
        steps leaves the dead letter due, and the next run does both again. The invoices the file
        posted before are linked in the ledger: reading them again posts nothing twice.
        """
        taken: dict[int, str] = {}
        sftp_settings = self.settings.sftp
        marker = sftp_settings.marker_suffix
        for dead_letter in dead_letters:
            if dead_letter.kind != "file":
                continue
            record = dead_letter.record
            path = str(record.get("path") or "")
            name = str(record.get("name") or dead_letter.name)
            sftp = self._sftp()
            if not path or sftp.stat(path) is None:
                taken[dead_letter.id] = (
                    f"{name} is no longer at {path or 'its error-directory path'}; nothing to take again"
                )
                continue
            checksum = record.get("checksum")
            known = (
                self.ledger.file_by_checksum(self.key.tenant, self.key.integration, checksum)
                if isinstance(checksum, str) and checksum
                else None
            )
            if known is not None and known.outcome == "failed":
                # Content processed since (another copy was retried first) stays processed: the
                # file is then archived as a re-upload.
                self.ledger.reopen_file(
                    self.key.tenant,
                    self.key.integration,
                    checksum=known.checksum,
                    detail=f"taken again from {path} (dead letter {dead_letter.id})",
                )
            moved = sftp.move(path, sftp_settings.outbound_dir, name=name)
            if marker:
                new_marker = moved + marker
                if sftp.stat(path + marker) is not None:
                    sftp.move(path + marker, sftp_settings.outbound_dir, name=posixpath.basename(new_marker))
                else:
                    sftp.write_text(new_marker, "")
            taken[dead_letter.id] = f"moved back from {path} to {moved} to be read again"
            log.info("%s: %s moved back to %s to be read again", self.key, path, moved)
        return taken

    # -- mapping ---------------------------------------------------------------------------------

    def prepare(self, records: Sequence[SourceRecord], links: Mapping[str, Link]) -> ApLookups:
        """Look up the batch's suppliers and account combinations in Fusion (cached for the run)."""
        from ml_connector_provider.hooks.oracle_fusion import FusionFilterValueError
        from ml_connector_provider.integrations.stampli_fusion.mapping import (
            AccountStatus,
            ApLookups,
            MappingError,
            account_status_from_fusion,
            lookup_keys,
            supplier_from_fusion,
        )

        numbers, combinations = lookup_keys(records, self.settings)
        missing: list[str] = []
        for number in sorted(n for n in numbers if n not in self._suppliers and n not in self._unusable):
            try:
                self.fusion.check_lookup_value("SupplierNumber", number)
            except FusionFilterValueError as refused:
                # Only this supplier's invoices are dead-lettered; the rest of the batch is looked up.
                self._unusable[number] = str(refused)
                continue
            missing.append(number)
        if missing:
            found = self.fusion.find_by_attribute(
                SUPPLIERS_RESOURCE, "SupplierNumber", missing, expand="sites"
            )
            for item in found:
                try:
                    supplier = supplier_from_fusion(item)
                except MappingError as malformed:
                    log.warning(
                        "%s: Fusion supplier %s is unusable: %s", self.key, item.get("SupplierId"), malformed
                    )
                    listed = item.get("SupplierNumber")
                    if isinstance(listed, str) and listed in missing:
                        self._unusable[listed] = f"Fusion's supplier record is unusable ({malformed})"
                    continue
                self._suppliers[supplier.number] = supplier
            for number in missing:
                if number not in self._unusable:
                    self._suppliers.setdefault(number, None)
        settings = self.settings
        for combination in sorted(c for c in combinations if c not in self._accounts):
            segments = combination.split(settings.segment_delimiter)
            criteria = {f"Segment{n}": value for n, value in enumerate(segments, start=1)}
            try:
                for attribute, value in criteria.items():
                    self.fusion.check_lookup_value(attribute, value)
            except FusionFilterValueError as refused:
                self._accounts[combination] = AccountStatus(
                    combination=combination, exists=False, unusable=str(refused)
                )
                continue
            items = self.fusion.find_matching(ACCOUNTS_RESOURCE, criteria)
            statuses = [
                account_status_from_fusion(
                    item, delimiter=settings.segment_delimiter, segment_count=settings.segment_count
                )
                for item in items
            ]
            match = next((s for s in statuses if s.combination == combination), None)
            self._accounts[combination] = match or AccountStatus(combination=combination, exists=False)
        return ApLookups(
            suppliers={n: self._suppliers.get(n) for n in numbers},
            accounts={c: self._accounts[c] for c in combinations},
            unusable_suppliers={n: self._unusable[n] for n in numbers if n in self._unusable},
        )

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        from ml_connector_provider.integrations.stampli_fusion.mapping import map_invoice

        return map_invoice(record, lookups, self.settings)

    # -- writing ---------------------------------------------------------------------------------

    def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        return self._writer.write(items)

    def close(self) -> None:
        self._connection.close()
        self._connected = False
        self.fusion.close()


# -- reference data ------------------------------------------------------------------------------

#: Columns of the reference files written to Stampli's inbound directory.
VENDOR_COLUMNS = ("Vendor ID", "Vendor", "Vendor Site", "Status")
GL_ACCOUNT_COLUMNS = ("GL Account", "Account Type")
COST_CENTER_COLUMNS = ("Cost Center",)


class FusionReferenceDataToStampli(Stream):
    """Fusion suppliers, account combinations and cost centres → CSV files for Stampli's look-ups.

    Each file is one record (``vendors``, ``gl_accounts``, ``cost_centers``) whose version is the
    checksum of its content, so a file is uploaded again only when Fusion's data changed. Files
    are written atomically (a temporary name, then a rename).

    Only suppliers with a supplier number are listed, inactive ones flagged; only enabled account
    combinations; cost centres are the distinct values of the cost-centre segment of those.
    """

    source_system = "fusion"
    target_system = "stampli"

    @classmethod
    def from_context(cls, ctx: StreamContext) -> FusionReferenceDataToStampli:
        from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
        from ml_connector_provider.hooks.stampli import StampliHook

        return cls(
            StampliHook(ctx.connections["stampli"]),
            OracleFusionHook(ctx.connections["fusion"]),
            ctx.settings_as(StampliFusionSettings),
        )

    def __init__(
        self,
        sftp: StampliHook,
        fusion: OracleFusionHook,
        settings: StampliFusionSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if settings.reference_data is None:
            raise ValueError(
                "the stampli_fusion stream 'reference_data' needs the tenant's settings.reference_data "
                "block; see docs/integrations/stampli_fusion.md, or disable the stream"
            )
        self.sftp = sftp
        self.fusion = fusion
        self.settings = settings
        self.reference = settings.reference_data
        self.clock = clock
        self._contents: dict[str, bytes] = {}

    def read(self, window: Window) -> Iterable[Sequence[SourceRecord]]:
        now = self.clock()
        records = [self._record(name, rows, now) for name, rows in self._datasets()]
        yield records

    def fetch(self, ids: Sequence[str]) -> Iterable[SourceRecord]:
        """The named files (``vendors.csv``…), rebuilt from Fusion as it is now."""
        wanted = set(ids)
        now = self.clock()
        return [self._record(name, rows, now) for name, rows in self._datasets() if name in wanted]

    def _datasets(self) -> Iterator[tuple[str, list[Sequence[str]]]]:
        reference = self.reference
        if reference.vendors_file:
            yield reference.vendors_file, [VENDOR_COLUMNS, *self._vendor_rows()]
        if reference.gl_accounts_file or reference.cost_centers_file:
            accounts = self._account_rows()
            if reference.gl_accounts_file:
                yield reference.gl_accounts_file, [GL_ACCOUNT_COLUMNS, *accounts]
            if reference.cost_centers_file:
                yield reference.cost_centers_file, [COST_CENTER_COLUMNS, *self._cost_center_rows(accounts)]

    def _vendor_rows(self) -> list[Sequence[str]]:
        from ml_connector_provider.integrations.stampli_fusion.mapping import (
            MappingError,
            supplier_from_fusion,
        )

        reverse = {number: vendor for vendor, number in self.settings.vendor_map.items()}
        rows: list[Sequence[str]] = []
        for page in self.fusion.iter_collection(
            SUPPLIERS_RESOURCE, expand="sites", order_by=("SupplierNumber",)
        ):
            for item in page:
                if not item.get("SupplierNumber"):
                    continue
                try:
                    supplier = supplier_from_fusion(item)
                except MappingError as malformed:
                    log.warning(
                        "Fusion supplier %s left out of the vendors file: %s",
                        item.get("SupplierId"),
                        malformed,
                    )
                    continue
                vendor_id = reverse.get(supplier.number, supplier.number)
                status = "Active" if supplier.active else "Inactive"
                site_names = [s.name for s in supplier.sites if s.pay] or [""]
                for site_name in site_names:
                    rows.append((vendor_id, supplier.name, site_name, status))
        return rows

    def _account_rows(self) -> list[tuple[str, str]]:
        count = self.settings.segment_count
        delimiter = self.settings.segment_delimiter
        rows: list[tuple[str, str]] = []
        for item in self.fusion.find_matching(ACCOUNTS_RESOURCE, {"EnabledFlag": "Y"}):
            segments = [str(item.get(f"Segment{n}") or "") for n in range(1, count + 1)]
            if all(segments):
                rows.append((delimiter.join(segments), str(item.get("AccountType") or "")))
        rows.sort()
        return rows

    def _cost_center_rows(self, accounts: Sequence[Sequence[str]]) -> list[Sequence[str]]:
        position = self.settings.cost_center_segment
        if position is None:
            return []
        values = {row[0].split(self.settings.segment_delimiter)[position - 1] for row in accounts}
        return [(value,) for value in sorted(values)]

    def _record(self, name: str, rows: list[Sequence[str]], now: datetime) -> SourceRecord:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        # People open these files in a spreadsheet: no cell may be read as a formula there.
        writer.writerows(safe_rows(rows))
        content = buffer.getvalue().encode("utf-8")
        checksum = hashlib.sha256(content).hexdigest()
        self._contents[name] = content
        path = posixpath.join(self.reference.inbound_dir, name)
        return SourceRecord(
            id=name,
            version=checksum,
            changed_at=now,
            data={"path": path, "rows": len(rows) - 1, "sha256": checksum},
            label=f"{name} ({len(rows) - 1} rows)",
        )

    def map(self, record: SourceRecord, lookups: Any) -> MapResult:
        if record.id not in self._contents:
            return DeadLetter(f"{record.id} was not built in this run; it is rebuilt on the next one")
        return Write(dict(record.data))

    def write(self, items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        results: list[WriteResult] = []
        with self.sftp.get_managed_conn():
            for item in items:
                path = str(item.payload["path"])
                self.sftp.write_bytes(path, self._contents[item.record.id])
                action = Action.UPDATED if item.target_id else Action.CREATED
                results.append(
                    WriteResult(item.record.id, action, path, details={"rows": item.payload["rows"]})
                )
        return results

    def close(self) -> None:
        self.fusion.close()
