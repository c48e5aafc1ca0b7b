"""Posting journals to the Oracle Fusion general ledger, exactly once, through FBDI Journal Import.

Fusion's REST API cannot create journals (``journalBatches`` is read-only): journals go in as a
``GlInterface.csv`` file, zipped and handed to ``erpintegrations`` ``importBulkData``.
:class:`FusionJournalWriter` is the write side of every stream that posts journals. What Journal
Import really does (contract A5.7c) shapes it:

* ``importBulkData`` answers with the id of *Load Interface File for Import* only; *Import
  Journals* and *Import Journals: Child* run later as separate ESS requests. The writer waits for
  the whole request tree (:meth:`~ml_connector_provider.hooks.oracle_fusion.OracleFusionHook.wait_for_ess_tree`)
  and records every request id in the ledger as soon as it is known.
* Journal Import extends the batch name: ``<REFERENCE1> <source> A <GROUP_ID> <child request> N``.
  Batches are therefore looked up by **prefix**. ``REFERENCE1`` is
  ``<journal-stable name> G<GROUP_ID>;`` (:func:`reference1`): the journal-stable part (e.g.
  ``Stripe <payment id>``) finds a batch whichever attempt imported it, the group tells which
  attempt did, and the fixed ``;`` keeps one journal's name from being a prefix of another's.
* A single bad line makes Journal Import reject its whole ``GROUP_ID``, and Import Journals takes
  exactly one group (``ALL`` would import other users' pending journals). Journals of a write batch
  share a group; when the group is rejected, the journals the report names are dead-lettered and
  the rest re-imported together under a fresh group; when the report names none, the group is
  split in halves, each re-imported under a fresh group (:func:`plan_retry`). A good journal is
  never held back by a bad one, and a fresh ``GROUP_ID`` per attempt means rejected interface rows
  are never picked up twice.
* Rejection reasons come from the *Import Journals: Child* report (Error Lines + Error Key,
  :mod:`~ml_connector_provider.hooks.oracle_fusion.journal_import_report`).

Per write batch:

1. a journal already linked in the ledger is skipped (a posted journal is not edited);
2. every earlier attempt still unfinished in the ledger (the ``mlc_files`` row of its zip, whose
   ``state`` holds its ``GROUP_ID``, journals, load request id and descendant ids, written
   **before** the file was submitted) is settled first — see "Evidence" below;
3. journals whose batch is already in Fusion (any attempt's group) are linked, not imported;
4. the rest are imported as above; imported journals are linked by ``JeBatchId``; rejected ones
   become dead letters naming Fusion's codes and texts (``EF04 … FLEX-VALUE DOES NOT EXIST …
   (VALUE=99999)``); a job that failed without naming any journal fails the task with the request
   ids and a report excerpt, and nothing is imported again while the outcome is unclear.

Evidence used to settle an unfinished attempt (nothing is submitted again until it is settled):

* **its load request id is known** (the ``importBulkData`` answer came back): its request tree is
  waited for to the end; then its batches are looked up like any others (step 3). A tree left on
  ``HOLD`` fails the task after ``hold_timeout`` naming the request to release or cancel, and the
  attempt stays unfinished, so no later run submits those journals while it is held;
* **the answer was lost** (the POST may have reached Fusion): its batches, i.e. names with its
  journals' prefixes *and its* ``GROUP_ID`` — any one proves the attempt ran (a group is imported
  whole or not at all); without them, the writer keeps re-checking until the attempt's deadline
  (``import_timeout`` after it was recorded) before the journals may be imported again. Fusion's
  document look-ups by file name (``getDocumentIdsForFilePrefix``) are only documented for the
  SOAP ErpIntegrationService, not for REST, so they are not used. The residual risk is an attempt
  whose requests stay queued or held past its deadline without a request id to watch.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ml_connector_provider.engine.types import Action, WriteItem, WriteResult, utcnow
from ml_connector_provider.hooks.oracle_fusion import (
    ESS_SUCCESS_STATUSES,
    FusionBadRequest,
    OracleFusionError,
)
from ml_connector_provider.transport import ConnectionFailed, HttpStatusError, RetryExhausted

if TYPE_CHECKING:
    from ml_connector_provider.hooks.oracle_fusion import EssRequest, EssTree, OracleFusionHook
    from ml_connector_provider.hooks.oracle_fusion.fbdi import Journal
    from ml_connector_provider.ledger import Ledger
    from ml_connector_provider.ledger.files import FileRow

log = logging.getLogger(__name__)

T = TypeVar("T")


class JournalImportSettings(Protocol):
    """What the writer needs of a tenant's general-ledger settings (each integration that posts
    journals has its own settings model with these fields)."""

    @property
    def ledger_id(self) -> str: ...
    @property
    def ledger_name(self) -> str: ...
    @property
    def data_access_set_id(self) -> str: ...
    @property
    def journal_source(self) -> str: ...
    @property
    def segment_delimiter(self) -> str: ...
    @property
    def import_timeout(self) -> int: ...
    @property
    def poll_interval(self) -> float: ...
    @property
    def hold_timeout(self) -> int: ...


BATCHES_RESOURCE = "journalBatches"
FILE_PREFIX = "fusion-gl"
#: Journals in the first import attempt of a write batch (rejected groups are split further).
GROUP_SIZE = 50
#: Most ``journalBatches`` rows read when Fusion refuses a prefix filter.
BATCH_SCAN_LIMIT = 2000
#: ``kind`` of the ``mlc_files.state`` of an import attempt.
ATTEMPT_KIND = "journal-import"
#: Longest journal-stable batch name: REFERENCE1 holds 100 characters, `` G<group>;`` up to 12.
STABLE_NAME_MAX = 88
#: States of a Journal Import request that mean it rejected rows.
_REJECTING = frozenset({"WARNING", "ERROR"})


class JournalImportFailed(RuntimeError):
    """Journal Import failed, or its outcome is unclear, without naming the journals it refused."""


# -- names ------------------------------------------------------------------------------------------


def reference1(stable: str, group_id: int) -> str:
    """The ``REFERENCE1`` (batch name) of a journal in one import attempt:
    ``<stable> G<group_id>;``.

    :param stable: the journal's stable name (the same in every attempt, unique per journal,
        without a trailing blank).
    :param group_id: the attempt's ``GROUP_ID``.
    """
    return f"{stable} G{group_id};"


@dataclass(frozen=True)
class BatchMatch:
    """A ``journalBatches`` row that belongs to a journal.

    :param batch_id: its ``JeBatchId``.
    :param name: its ``BatchName``.
    :param group_id: the import attempt's ``GROUP_ID`` read from the name, ``None`` when the name
        does not carry one.
    """

    batch_id: str
    name: str
    group_id: int | None


def match_batch_name(name: str, stable: str, source: str) -> tuple[bool, int | None]:
    """Whether the batch ``name`` belongs to the journal with this stable name, and its group.

    Accepted forms: ``<stable> G<group>;`` followed by nothing or by Journal Import's suffix
    (this writer's names, any attempt); ``<stable> <source> <flag> <group> …`` (a batch imported
    under the bare stable name, extended by Journal Import); exactly ``<stable>``. Anything else —
    e.g. ``Stripe pi_12 …`` for ``Stripe pi_1`` — does not belong to it.

    :returns: ``(belongs, group id)`` — the group is ``None`` when the name carries none.
    """
    if not name.startswith(stable):
        return False, None
    rest = name[len(stable) :]
    if not rest:
        return True, None
    ours = re.match(r" G(\d+);(?: |$)", rest)
    if ours:
        return True, int(ours.group(1))
    extended = re.match(rf" {re.escape(source)} [A-Z] (\d+)(?: |$)", rest)
    if extended:
        return True, int(extended.group(1))
    return False, None


def stable_name(payload: Mapping[str, Any]) -> str:
    """The journal-stable part of the batch name: the mapping's ``batch_name``; one longer than
    :data:`STABLE_NAME_MAX` is cut and ends with a hash of the whole name, so two long names that
    share their first characters never share a prefix."""
    name = str(payload["batch_name"]).strip()
    if len(name) <= STABLE_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: STABLE_NAME_MAX - len(digest) - 1].rstrip()} {digest}"


def plan_retry(left: Sequence[T], *, named: bool) -> list[list[T]] | None:
    """How to re-import the journals of a rejected group that were neither imported nor named.

    :param left: those journals, in order.
    :param named: whether the group's report named at least one rejected journal (those are
        dead-lettered, so the rest are presumed good and go together).
    :returns: the next groups — ``[left]`` when ``named``, else the two halves; ``[]`` when
        nothing is left; ``None`` when a single journal was rejected on its own without a reason
        (it cannot be isolated further: it is the bad one).
    """
    if not left:
        return []
    if named:
        return [list(left)]
    if len(left) == 1:
        return None
    middle = (len(left) + 1) // 2
    return [list(left[:middle]), list(left[middle:])]


def journal_from_payload(payload: Mapping[str, Any]) -> Journal:
    """Build the :class:`~ml_connector_provider.hooks.oracle_fusion.fbdi.Journal` a mapping described."""
    from ml_connector_provider.hooks.oracle_fusion.fbdi import Journal, JournalLine

    def amount(value: Any) -> Decimal | None:
        return None if value in (None, "") else Decimal(str(value))

    return Journal(
        batch_name=str(payload["batch_name"]),
        batch_description=str(payload.get("batch_description") or ""),
        journal_name=str(payload["journal_name"]),
        journal_description=str(payload.get("journal_description") or ""),
        accounting_date=date.fromisoformat(str(payload["accounting_date"])),
        currency=str(payload["currency"]),
        category=str(payload["category"]),
        lines=tuple(
            JournalLine(
                account=str(line["account"]),
                debit=amount(line.get("debit")),
                credit=amount(line.get("credit")),
                description=str(line.get("description") or ""),
                reference=line.get("reference"),
            )
            for line in payload["lines"]
        ),
    )


# -- the writer -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    item: WriteItem
    stable: str
    journal: Journal

    @property
    def key(self) -> str:
        return self.item.record.id


@dataclass
class _Outcome:
    results: dict[str, WriteResult] = field(default_factory=dict)
    left: list[_Entry] = field(default_factory=list)
    named: bool = False
    failure: str = ""


class FusionJournalWriter:
    """Imports the journals of a batch of write items into Fusion, exactly once.

    :param fusion: the tenant's Fusion hook.
    :param gl: the tenant's general-ledger settings.
    :param ledger: the provider's ledger (import attempts, ``GROUP_ID`` sequence).
    :param tenant: tenant id.
    :param integration: integration id.
    :param stream: stream name (keeps each stream's import files apart).
    :param clock: current UTC time.
    :param sleep: pauses between checks of an attempt whose submission was not confirmed.
    :param group_size: journals in the first import attempt of a write batch.
    """

    def __init__(
        self,
        fusion: OracleFusionHook,
        gl: JournalImportSettings,
        ledger: Ledger,
        *,
        tenant: str,
        integration: str,
        stream: str,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        group_size: int = GROUP_SIZE,
    ) -> None:
        self.fusion = fusion
        self.gl = gl
        self.ledger = ledger
        self.tenant = tenant
        self.integration = integration
        self.stream = stream
        self.clock = clock
        self.sleep = sleep
        self.group_size = max(1, group_size)
        #: ``importBulkData`` submissions made by this writer (for measurements and logs).
        self.imports = 0

    @property
    def _prefix(self) -> str:
        return f"{FILE_PREFIX}/{self.stream}/"

    def write(self, items: Sequence[WriteItem]) -> list[WriteResult]:
        results: dict[str, WriteResult] = {}
        todo: list[_Entry] = []
        for item in items:
            if item.target_id is not None:
                results[item.record.id] = WriteResult(
                    item.record.id,
                    Action.SKIPPED,
                    item.target_id,
                    reason=(
                        f"already posted as Fusion journal batch {item.target_id}; a posted journal is "
                        "not changed (post a correction in Fusion if needed)"
                    ),
                )
            else:
                todo.append(_Entry(item, stable_name(item.payload), journal_from_payload(item.payload)))
        if todo:
            self.settle_unfinished_imports()
            existing = self._find_batches([entry.stable for entry in todo])
            fresh: list[_Entry] = []
            for entry in todo:
                found = existing.get(entry.stable)
                if found is None:
                    fresh.append(entry)
                    continue
                results[entry.key] = WriteResult(
                    entry.key,
                    Action.SKIPPED,
                    found.batch_id,
                    reason=(
                        f"journal batch {found.name} is already in Fusion (JeBatchId {found.batch_id}, "
                        f"group {found.group_id if found.group_id is not None else '?'}); linked"
                    ),
                )
            results.update(self._import_isolated(fresh))
        return [results[item.record.id] for item in items]

    # -- settling earlier attempts ------------------------------------------------------------

    def settle_unfinished_imports(self) -> None:
        """Settle every import attempt an earlier run left unfinished (see the module docstring).

        :raises FusionEssHeld: an attempt's requests are held in Fusion.
        :raises FusionEssTimeout: an attempt's requests did not finish in time.
        """
        for row in self.ledger.files_in_progress(self.tenant, self.integration, path_prefix=self._prefix):
            state = row.state
            if not state or state.get("kind") != ATTEMPT_KIND:
                self._settle_legacy(row)
                continue
            stables = [str(journal["stable"]) for journal in state.get("journals", [])]
            group_id = int(state["group_id"])
            load_id = state.get("load_request_id")
            if load_id:
                log.info(
                    "Waiting for journal import %s (group %s, ESS request %s) left by an earlier attempt",
                    row.path,
                    group_id,
                    load_id,
                )
                tree = self._wait_tree(str(load_id), state, row.checksum, stables)
                self.ledger.finish_file(
                    self.tenant,
                    self.integration,
                    checksum=row.checksum,
                    outcome="processed",
                    detail=f"settled by a later run: group {group_id}; requests {tree.summary()}",
                    state=state,
                )
                continue
            deadline = row.first_seen_at + timedelta(seconds=float(self.gl.import_timeout))
            log.warning(
                "Journal import %s (group %s) was recorded but its submission was never confirmed; looking "
                "for its batches in Fusion until %s before importing its journals again",
                row.path,
                group_id,
                deadline.isoformat(),
            )
            evidence = self._group_batches(stables, group_id)
            pause = float(self.gl.poll_interval)
            while not evidence and self.clock() < deadline:
                self.sleep(min(pause, max(0.0, (deadline - self.clock()).total_seconds())))
                pause = min(pause * 2, 60.0)
                evidence = self._group_batches(stables, group_id)
            if evidence:
                detail = f"submission unconfirmed; its batches are in Fusion ({', '.join(sorted(evidence))})"
            else:
                detail = (
                    f"submission unconfirmed; no batch of group {group_id} in Fusion by {deadline.isoformat()}: "
                    "taken as not imported"
                )
            self.ledger.finish_file(
                self.tenant,
                self.integration,
                checksum=row.checksum,
                outcome="processed" if evidence else "failed",
                detail=detail,
                state=state,
            )

    def _settle_legacy(self, row: FileRow) -> None:
        """A file recorded before attempts carried a state: wait for its request, if known."""
        detail = row.detail or ""
        request_id = detail.split()[1].rstrip(":") if detail.startswith("request ") else None
        status = "submission not confirmed"
        if request_id:
            status = self.fusion.wait_for_ess_job(
                request_id,
                timeout=float(self.gl.import_timeout),
                poll_interval=float(self.gl.poll_interval),
                hold_timeout=float(self.gl.hold_timeout),
            )
        self.ledger.finish_file(
            self.tenant,
            self.integration,
            checksum=row.checksum,
            outcome="processed" if status in ESS_SUCCESS_STATUSES else "failed",
            detail=f"request {request_id}: {status}" if request_id else status,
        )

    # -- batches --------------------------------------------------------------------------------

    def _find_batches(self, stables: Sequence[str]) -> dict[str, BatchMatch]:
        """The batch of each journal already in Fusion, whichever attempt imported it."""
        matches = self._batch_matches(stables)
        found: dict[str, BatchMatch] = {}
        for stable, batches in matches.items():
            batches.sort(key=lambda b: (len(b.batch_id), b.batch_id))
            if len(batches) > 1:
                log.error(
                    "Journal %s is in Fusion more than once: %s; linking JeBatchId %s — delete or reverse the others",
                    stable,
                    ", ".join(f"{b.name} (JeBatchId {b.batch_id})" for b in batches),
                    batches[0].batch_id,
                )
            found[stable] = batches[0]
        return found

    def _group_batches(self, stables: Sequence[str], group_id: int) -> dict[str, str]:
        """Batch name → ``JeBatchId`` of the batches one attempt (``group_id``) imported."""
        return {
            batch.name: batch.batch_id
            for batches in self._batch_matches(stables).values()
            for batch in batches
            if batch.group_id == group_id
        }

    def _batch_matches(self, stables: Sequence[str]) -> dict[str, list[BatchMatch]]:
        wanted = list(dict.fromkeys(stables))
        if not wanted:
            return {}
        rows, path = self.fusion.find_by_prefix(
            BATCHES_RESOURCE,
            "BatchName",
            wanted,
            scan_limit=BATCH_SCAN_LIMIT,
            scan_order="JeBatchId:desc",
        )
        log.info(
            "Looked %d journal(s) up in %s by name prefix (%s): %d batch(es)",
            len(wanted),
            BATCHES_RESOURCE,
            "server-side filter"
            if path == "filter"
            else f"client-side scan of at most {BATCH_SCAN_LIMIT} rows",
            len(rows),
        )
        found: dict[str, list[BatchMatch]] = {}
        source = self.gl.journal_source
        for row in rows:
            name, batch_id = row.get("BatchName"), row.get("JeBatchId")
            if not isinstance(name, str) or batch_id is None:
                continue
            for stable in wanted:
                belongs, group_id = match_batch_name(name, stable, source)
                if belongs:
                    batches = found.setdefault(stable, [])
                    if all(b.batch_id != str(batch_id) for b in batches):
                        batches.append(BatchMatch(str(batch_id), name, group_id))
        return found

    # -- importing ------------------------------------------------------------------------------

    def _import_isolated(self, entries: Sequence[_Entry]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        queue = [
            list(entries[start : start + self.group_size])
            for start in range(0, len(entries), self.group_size)
        ]
        while queue:
            outcome = self._attempt(queue.pop(0))
            results.update(outcome.results)
            following = plan_retry(outcome.left, named=outcome.named)
            if following is None:
                # Rejected on its own: the journal itself is bad, though the report gave no reason.
                [entry] = outcome.left
                results[entry.key] = WriteResult(entry.key, Action.DEAD_LETTERED, reason=outcome.failure)
                continue
            if following:
                log.info(
                    "Journal Import rejected a group; re-importing %d journal(s) in %d fresh group(s)",
                    len(outcome.left),
                    len(following),
                )
            queue[:0] = following
        return results

    def _attempt(self, entries: Sequence[_Entry]) -> _Outcome:
        """Import one group of journals, wait for its whole request tree, and sort the journals
        into imported, rejected (with Fusion's reasons) and left for another attempt."""
        from ml_connector_provider.hooks.oracle_fusion.fbdi import build_gl_interface_csv, zip_gl_interface

        group_id = self.ledger.next_control_number(self.tenant, "fusion-gl", "journal-import-group")
        journals = [
            replace(entry.journal, batch_name=reference1(entry.stable, group_id)) for entry in entries
        ]
        document = zip_gl_interface(
            build_gl_interface_csv(
                journals,
                source=self.gl.journal_source,
                group_id=group_id,
                ledger_id=self.gl.ledger_id,
                ledger_name=self.gl.ledger_name,
                created=self.clock().date(),
                segment_delimiter=self.gl.segment_delimiter,
            )
        )
        checksum = hashlib.sha256(document).hexdigest()
        path = f"{self._prefix}GlInterface-{group_id}.zip"
        state: dict[str, Any] = {
            "kind": ATTEMPT_KIND,
            "group_id": group_id,
            "journals": [{"record": e.key, "stable": e.stable} for e in entries],
            "load_request_id": None,
            "requests": {},
        }
        self.ledger.begin_file(
            self.tenant, self.integration, path=path, size=len(document), checksum=checksum, state=state
        )
        try:
            load_id = self.fusion.submit_journal_import(
                document,
                data_access_set_id=self.gl.data_access_set_id,
                source=self.gl.journal_source,
                ledger_id=self.gl.ledger_id,
                group_id=group_id,
            )
        except FusionBadRequest as exc:
            # Refused outright: nothing was submitted.
            self.ledger.finish_file(
                self.tenant,
                self.integration,
                checksum=checksum,
                outcome="failed",
                detail=f"refused: {exc}",
                state=state,
            )
            raise
        self.imports += 1
        state["load_request_id"] = load_id
        self.ledger.note_file(
            self.tenant, self.integration, checksum=checksum, detail=f"request {load_id}", state=state
        )
        log.info(
            "Submitted %d journal(s) to Journal Import: group %s, ESS request %s",
            len(entries),
            group_id,
            load_id,
        )
        stables = [entry.stable for entry in entries]
        tree = self._wait_tree(load_id, state, checksum, stables)
        imported = self._find_batches(stables)
        outcome = _Outcome()
        missing: list[_Entry] = []
        for entry in entries:
            found = imported.get(entry.stable)
            if found is not None:
                outcome.results[entry.key] = WriteResult(entry.key, Action.CREATED, found.batch_id)
            else:
                missing.append(entry)
        report_text = self._reports(tree) if missing else ""
        reasons = self._reasons(report_text, missing, group_id)
        for entry in missing:
            if entry.key in reasons:
                outcome.named = True
                outcome.results[entry.key] = WriteResult(
                    entry.key,
                    Action.DEAD_LETTERED,
                    reason=(
                        f"Fusion Journal Import rejected journal {reference1(entry.stable, group_id)} "
                        f"(ESS requests {', '.join(tree.request_ids)}): {'; '.join(reasons[entry.key])}"
                    ),
                )
            else:
                outcome.left.append(entry)
        rejected = sum(1 for r in outcome.results.values() if r.action is Action.DEAD_LETTERED)
        self.ledger.finish_file(
            self.tenant,
            self.integration,
            checksum=checksum,
            outcome="processed" if not missing else "failed",
            detail=(
                f"group {group_id}; requests {tree.summary()}; {len(entries) - len(missing)} imported, "
                f"{rejected} rejected, {len(outcome.left)} held back by the group"
            ),
            state=state,
        )
        if outcome.left:
            self._check_retry_allowed(tree, outcome, report_text)
        return outcome

    def _check_retry_allowed(self, tree: EssTree, outcome: _Outcome, report_text: str) -> None:
        """Raise unless the journals left over were held back by a rejected group: a load that
        failed, or a tree that says success without the batches, stops the task (re-importing
        could duplicate journals). Keeps the dead-letter reason of a lone journal rejected
        without a readable reason."""
        names = ", ".join(entry.stable for entry in outcome.left[:10])
        excerpt = report_text.strip()[-2000:] or "(no report)"
        requests = tree.summary()
        if tree.root.state not in ESS_SUCCESS_STATUSES | {"WARNING"}:
            raise JournalImportFailed(
                f"Fusion Journal Import load request {tree.root.request_id} ended {tree.root.state} "
                f"(requests {requests}); {len(outcome.left)} journal(s) not imported: {names}. "
                f"Report excerpt:\n{excerpt}"
            )
        if not any(request.state in _REJECTING for request in tree.requests):
            raise JournalImportFailed(
                f"Fusion Journal Import ended without rejecting anything (requests {requests}) but no batch "
                f"was found for {len(outcome.left)} journal(s): {names}. They are not imported again until "
                "their batches are checked in Fusion (journalBatches by name prefix). Report excerpt:\n"
                + excerpt
            )
        outcome.failure = (
            f"Fusion Journal Import rejected journal {names} in a group of its own (requests {requests}); "
            f"its report names no reason that could be read. Report excerpt:\n{excerpt[-1000:]}"
        )

    def _wait_tree(
        self, load_id: str, state: dict[str, Any], checksum: str, stables: Sequence[str]
    ) -> EssTree:
        requests: dict[str, str] = state.setdefault("requests", {})

        def on_request(request: EssRequest) -> None:
            requests[request.request_id] = request.name
            self.ledger.note_file(self.tenant, self.integration, checksum=checksum, state=state)

        def settled(tree: EssTree) -> bool:
            return len(self._find_batches(stables)) == len(set(stables))

        return self.fusion.wait_for_ess_tree(
            load_id,
            timeout=float(self.gl.import_timeout),
            poll_interval=float(self.gl.poll_interval),
            hold_timeout=float(self.gl.hold_timeout),
            on_request=on_request,
            settled=settled,
        )

    def _reports(self, tree: EssTree) -> str:
        """The text of the reports that name rejected rows (LOG and OUT of each)."""
        texts: list[str] = []
        for request in tree.journal_import_reports():
            for file_type in ("LOG", "OUT"):
                try:
                    text = self.fusion.ess_job_log(request.request_id, file_type=file_type)
                except (
                    OracleFusionError,
                    HttpStatusError,
                    RetryExhausted,
                    ConnectionFailed,
                    ValueError,
                ) as err:
                    # The report only explains the outcome; failing to read it must not hide it.
                    log.warning(
                        "Could not read the %s of ESS request %s: %s", file_type, request.request_id, err
                    )
                    continue
                if text.strip() and text not in texts:
                    texts.append(text)
        return "\n".join(texts)

    def _reasons(self, text: str, entries: Sequence[_Entry], group_id: int) -> dict[str, list[str]]:
        """Journal key → Fusion's reasons, from the *Import Journals: Child* report."""
        from ml_connector_provider.hooks.oracle_fusion.journal_import_report import (
            parse_journal_import_report,
        )

        if not text.strip() or not entries:
            return {}
        return parse_journal_import_report(text).rejections(
            {
                entry.key: (reference1(entry.stable, group_id), entry.journal.journal_name, entry.key)
                for entry in entries
            }
        )
