"""Oracle Fusion ESS (Enterprise Scheduler) requests: states, request trees, waits and logs.

An ESS request id comes from a job submission (``importBulkData``, see
:mod:`~ml_connector_provider.hooks.oracle_fusion.bulk_import`). What a submission starts is a tree
of requests, not one job (contract A5.7c): ``importBulkData`` answers with the id of *Load
Interface File for Import*; *Import Journals* and *Import Journals: Child* run later as separate
requests with higher ids, and only the child's report names rejected rows. :class:`FusionEssJobs`

* reads one request's state with the ``ESSJobStatusRF`` finder, normalised to the ESS ``State``
  enum's spelling (:func:`normalize_ess_state`: ``VALIDATION FAILED`` and ``VALIDATION_FAILED``
  are one state) and classed as terminal, running or held;
* lists the descendants of a request (:meth:`FusionEssJobs.ess_descendants`) through
  ``erpintegrations?finder=ESSExecutionDetailsRF;requestId=<id>`` or the ESS scheduler REST API
  ``GET /ess/rest/scheduler/v1/requests?q=absParentRequestId eq <id>`` — the connection's
  ``ess_descendants`` extra picks one, or ``auto`` tries both — and parses either answer
  tolerantly (:func:`parse_ess_requests`);
* waits for the whole tree (:meth:`FusionEssJobs.wait_for_ess_tree`), reporting each request id as
  soon as it is known, and gives up on a tree left on ``HOLD`` after a bounded time
  (:class:`~ml_connector_provider.hooks.oracle_fusion.errors.FusionEssHeld`, naming the request to
  release or cancel);
* reads a request's log or output with ``ESSJobExecutionDetailsRF``.

Submitting further kinds of ESS job (``submitESSJobRequest``) belongs here too.

Sources of the descendant answers' shapes (all UNCONFIRMED against a pod of this project):
Oracle's *REST API for Common Features* "Query job requests" / "Get job request information"
(``docs.oracle.com/en/cloud/saas/applications-common/25b/farca/op-ess-rest-scheduler-v1-requests-requestid-get.html``:
``requestId``, ``parentRequestId``, ``absParentRequestId``, ``state``, ``jobDefinitionId``; ``q``
in SCIM form with ``absParentRequestId`` queryable), and public Python clients of Fusion that read
``ESSExecutionDetailsRF`` as ``items[0].RequestStatus`` holding JSON text
``{"JOBS": {"JOBNAME", "JOBPATH", "REQUESTID", "STATUS", "CHILD": …}}`` and the scheduler answer
as ``items[].requestId/parentRequestId/name/state``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ml_connector_provider.hooks.oracle_fusion.errors import (
    FusionApiError,
    FusionEssHeld,
    FusionEssRequestNotFound,
    FusionEssTimeout,
    FusionResponseError,
)
from ml_connector_provider.hooks.oracle_fusion.rest import FusionRestClient
from ml_connector_provider.transport import ConnectionFailed, RetryExhausted

__all__ = [
    "DESCENDANT_SOURCES",
    "ERP_INTEGRATIONS",
    "ESS_HELD_STATUSES",
    "ESS_RUNNING_STATUSES",
    "ESS_SCHEDULER_REQUESTS",
    "ESS_STATES",
    "ESS_SUCCESS_STATUSES",
    "ESS_TERMINAL_STATUSES",
    "DescendantSource",
    "EssRequest",
    "EssTree",
    "FusionEssJobs",
    "ess_parameter",
    "normalize_ess_state",
    "parse_ess_requests",
]

#: The resource that runs FBDI imports and ESS jobs.
ERP_INTEGRATIONS = "erpintegrations"
#: Path of the ESS scheduler REST collection, relative to the pod URL (outside ``/fscmRestApi``).
ESS_SCHEDULER_REQUESTS = "ess/rest/scheduler/v1/requests"

#: Every state of the Oracle Enterprise Scheduler ``State`` enum (contract A5.7c), in the
#: underscore spelling :func:`normalize_ess_state` produces.
ESS_STATES: frozenset[str] = frozenset(
    {
        "WAIT",
        "READY",
        "RUNNING",
        "COMPLETED",
        "BLOCKED",
        "HOLD",
        "CANCELLING",
        "EXPIRED",
        "CANCELLED",
        "ERROR",
        "WARNING",
        "SUCCEEDED",
        "PAUSED",
        "PENDING_VALIDATION",
        "VALIDATION_FAILED",
        "SCHEDULE_ENDED",
        "FINISHED",
        "ERROR_AUTO_RETRY",
        "ERROR_MANUAL_RECOVERY",
        "UNKNOWN",
    }
)
#: States after which a request does not change any more. ``ERROR_MANUAL_RECOVERY`` waits for a
#: person and is final for a caller; ``HOLD`` is not final (see :data:`ESS_HELD_STATUSES`).
ESS_TERMINAL_STATUSES: frozenset[str] = frozenset(
    {
        "SUCCEEDED",
        "ERROR",
        "WARNING",
        "CANCELLED",
        "EXPIRED",
        "FINISHED",
        "VALIDATION_FAILED",
        "SCHEDULE_ENDED",
        "ERROR_MANUAL_RECOVERY",
    }
)
#: States of a request that is queued, running or about to change by itself. ``COMPLETED`` is the
#: short step between the job's end and its final state; ``UNKNOWN`` is polled on until the timeout.
ESS_RUNNING_STATUSES: frozenset[str] = frozenset(
    {
        "WAIT",
        "READY",
        "RUNNING",
        "COMPLETED",
        "BLOCKED",
        "CANCELLING",
        "PENDING_VALIDATION",
        "ERROR_AUTO_RETRY",
        "UNKNOWN",
    }
)
#: States of a request that waits for a person (``HOLD``: released or cancelled in Fusion) or for
#: its sub-requests (``PAUSED``). A held request can still run to completion later.
ESS_HELD_STATUSES: frozenset[str] = frozenset({"HOLD", "PAUSED"})
#: Terminal states that mean the job did its work without remarks. ``WARNING`` is not one: for
#: Journal Import it means rows were rejected, so its report must be read.
ESS_SUCCESS_STATUSES: frozenset[str] = frozenset({"SUCCEEDED", "FINISHED"})

#: How an ``oracle_fusion`` connection finds the requests an ESS request spawned
#: (``ess_descendants`` extra): ``execution_details`` (``erpintegrations`` finder
#: ``ESSExecutionDetailsRF``), ``scheduler`` (the ESS scheduler REST API) or ``auto`` (the first,
#: then the second).
DescendantSource = Literal["auto", "execution_details", "scheduler"]
DESCENDANT_SOURCES: tuple[str, ...] = ("auto", "execution_details", "scheduler")


def normalize_ess_state(value: Any) -> str:
    """An ESS state in the enum's spelling: upper case, words joined by ``_``.

    ``"Validation Failed"``, ``"VALIDATION FAILED"`` and ``"validation_failed"`` all give
    ``VALIDATION_FAILED``; ``CANCELED`` gives ``CANCELLED``; blank or non-text gives ``""``.
    """
    if not isinstance(value, str):
        return ""
    text = "_".join(value.replace("_", " ").replace("-", " ").split()).upper()
    return "CANCELLED" if text == "CANCELED" else text


@dataclass(frozen=True)
class EssRequest:
    """One ESS request of a request tree.

    :param request_id: its id.
    :param state: its state (:func:`normalize_ess_state`; ``""`` when the listing gave none).
    :param name: its job name or definition (``Import Journals: Child``, ``JournalImport`` …), may
        be empty.
    :param parent_id: the request that spawned it, when the listing says.
    """

    request_id: str
    state: str
    name: str = ""
    parent_id: str | None = None

    @property
    def terminal(self) -> bool:
        """Whether the request reached a final state."""
        return self.state in ESS_TERMINAL_STATUSES

    @property
    def is_journal_import(self) -> bool:
        """Whether it is an *Import Journals* request (launcher or child) by its name."""
        name = self.name.replace(" ", "").lower()
        return "journalimport" in name or "importjournals" in name

    @property
    def is_journal_import_child(self) -> bool:
        """Whether it is the *Import Journals: Child* request (the one whose report names rows)."""
        name = self.name.strip().lower()
        if "launcher" in name:
            return False
        return self.is_journal_import and ("child" in name or name.endswith("journalimport"))


@dataclass(frozen=True)
class EssTree:
    """An ESS request and the requests it spawned, as last read.

    :param root: the request submitted (e.g. *Load Interface File for Import*).
    :param descendants: the requests it spawned, in id order (empty when none appeared or none
        can be seen).
    :param visible: whether descendants can be listed on this pod at all; when not, the root is
        taken as the whole tree.
    """

    root: EssRequest
    descendants: tuple[EssRequest, ...] = ()
    visible: bool = True

    @property
    def requests(self) -> tuple[EssRequest, ...]:
        """The root and its descendants."""
        return (self.root, *self.descendants)

    @property
    def request_ids(self) -> list[str]:
        """Every request id of the tree, root first."""
        return [request.request_id for request in self.requests]

    def summary(self) -> str:
        """``"10070485 SUCCEEDED, 10070489 Import Journals SUCCEEDED, …"`` for messages."""
        return ", ".join(
            " ".join(part for part in (r.request_id, r.name, r.state or "?") if part) for r in self.requests
        )

    def held(self) -> EssRequest | None:
        """The request that holds the tree up, or ``None``.

        A request on ``HOLD`` always does. A ``PAUSED`` request does only while nothing else in the
        tree is queued or running (a parent pauses while its sub-requests run).
        """
        for request in self.requests:
            if request.state == "HOLD":
                return request
        if any(r.state in ESS_RUNNING_STATUSES for r in self.requests):
            return None
        return next((r for r in self.requests if r.state == "PAUSED"), None)

    @property
    def finished(self) -> bool:
        """Whether every request of the tree is terminal."""
        return all(request.terminal for request in self.requests)

    def journal_import_reports(self) -> list[EssRequest]:
        """The requests whose reports name rejected journal lines: the *Import Journals: Child*
        requests, else any *Import Journals* request, else (no descendants) the root."""
        children = [r for r in self.descendants if r.is_journal_import_child]
        if children:
            return children
        imports = [r for r in self.descendants if r.is_journal_import]
        return imports or list(self.descendants) or [self.root]


_ID_KEYS = ("requestid", "reqstid", "request_id", "essrequestid", "id")
_PARENT_KEYS = ("parentrequestid", "parent_request_id", "parentid", "instanceparentid")
_NAME_KEYS = (
    "jobname",
    "name",
    "jobdefinitionname",
    "jobdefname",
    "jobdefinitionid",
    "jobdefinition",
    "description",
    "jobpath",
)
_STATE_KEYS = ("status", "state", "requeststatus", "executionstate", "requeststate")
_CHILD_KEYS = ("child", "children", "childrequests", "jobs", "items", "requests", "subrequests")


def parse_ess_requests(body: Any, *, root_id: str) -> list[EssRequest]:
    """The requests an ESS listing describes, the root excluded, in id order.

    Tolerant of the shapes seen in public code and documentation (contract A5.7c; UNCONFIRMED on
    a given pod):

    * the ESS scheduler REST answer ``{"items": [{"requestId", "parentRequestId",
      "absParentRequestId", "name" | "jobDefinitionId", "state"}, …]}`` or a bare list;
    * the ``ESSExecutionDetailsRF`` answer, whose item's ``RequestStatus`` holds JSON text (or an
      object) ``{"JOBS": {"JOBNAME", "JOBPATH", "REQUESTID", "STATUS", "CHILD": [ … ]}}`` nested to
      any depth, ``JOBS``/``CHILD`` each an object or a list;
    * keys in any case, with or without underscores; ids as numbers or text.

    A node's parent is its ``parentRequestId`` when given, else the node it is nested in.
    Repeated ids are merged (the later non-empty values win).

    :param body: the decoded JSON answer.
    :param root_id: the request whose descendants are wanted (left out of the result).
    """
    found: dict[str, EssRequest] = {}

    def visit(node: Any, parent: str | None, depth: int) -> None:
        if depth > 20:
            return
        if isinstance(node, str):
            text = node.strip()
            if text[:1] in ("{", "["):
                try:
                    visit(json.loads(text), parent, depth + 1)
                except ValueError:
                    return
            return
        if isinstance(node, list):
            for entry in node:
                visit(entry, parent, depth + 1)
            return
        if not isinstance(node, Mapping):
            return
        keys = {_flat_key(key): value for key, value in node.items() if isinstance(key, str)}
        request_id = _first_id(keys, _ID_KEYS)
        state_value = next((keys[k] for k in _STATE_KEYS if k in keys), None)
        here = parent
        if request_id is not None:
            explicit_parent = _first_id(keys, _PARENT_KEYS)
            name = next(
                (keys[k].strip() for k in _NAME_KEYS if isinstance(keys.get(k), str) and keys[k].strip()), ""
            )
            state = "" if _nested(state_value) else normalize_ess_state(state_value)
            known = found.get(request_id)
            found[request_id] = EssRequest(
                request_id=request_id,
                state=state or (known.state if known else ""),
                name=name or (known.name if known else ""),
                parent_id=explicit_parent or parent or (known.parent_id if known else None),
            )
            here = request_id
        for key in _CHILD_KEYS:
            if key in keys:
                visit(keys[key], here, depth + 1)
        if _nested(state_value):
            # ESSExecutionDetailsRF puts the whole tree, as JSON text, in RequestStatus.
            visit(state_value, here, depth + 1)

    visit(body, None, 0)
    found.pop(root_id, None)
    return sorted(found.values(), key=lambda r: (int(r.request_id), r.request_id))


def _nested(value: Any) -> bool:
    if isinstance(value, Mapping | list):
        return True
    return isinstance(value, str) and value.strip()[:1] in ("{", "[")


#: HTTP statuses with which a pod refuses a way of listing descendants it does not offer.
_REFUSED = frozenset({400, 403, 404, 405})


def _flat_key(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def _first_id(keys: Mapping[str, Any], names: Sequence[str]) -> str | None:
    for name in names:
        value = keys.get(name.replace("_", ""))
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and value > 0:
            return str(value)
        if isinstance(value, str) and value.strip().isdigit() and int(value.strip()) > 0:
            return value.strip()
    return None


class FusionEssJobs(FusionRestClient):
    """Status, request trees, waits and logs of ESS requests (a part of the hook)."""

    @property
    def ess_descendant_source(self) -> DescendantSource:
        """Where descendants of a request are listed (the connection's ``ess_descendants``)."""
        raise NotImplementedError

    @property
    def ess_scheduler_url(self) -> str:
        """The absolute URL of the ESS scheduler's request collection on the pod."""
        raise NotImplementedError

    def ess_job_status(self, request_id: str | int) -> str:
        """The state of an ESS request: ``GET erpintegrations?finder=ESSJobStatusRF;requestId=<id>``.

        :param request_id: the ESS request id.
        :returns: ``RequestStatus`` normalised (:func:`normalize_ess_state`), e.g. ``WAIT``,
            ``RUNNING``, ``SUCCEEDED``, ``VALIDATION_FAILED``.
        :raises FusionEssRequestNotFound: Fusion answered no item for this id.
        :raises FusionResponseError: the item has no ``RequestStatus``.
        """
        rid = _request_id(request_id)
        items = self._ess_items(f"ESSJobStatusRF;requestId={rid}")
        if not items:
            raise FusionEssRequestNotFound(rid)
        status = normalize_ess_state(items[0].get("RequestStatus"))
        if not status:
            raise FusionResponseError(f"Oracle Fusion's status of ESS request {rid} has no RequestStatus")
        return status

    def ess_descendants(self, request_id: str | int) -> list[EssRequest] | None:
        """The requests an ESS request spawned (for an FBDI load: *Import Journals* and *Import
        Journals: Child*), or ``None`` when this pod lets no descendants be listed.

        Read as the connection's ``ess_descendants`` extra says (contract A5.7c):
        ``execution_details`` — ``GET erpintegrations?finder=ESSExecutionDetailsRF;requestId=<id>``;
        ``scheduler`` — ``GET <pod>/ess/rest/scheduler/v1/requests?q=absParentRequestId eq <id>``;
        ``auto`` — the first, and the second when Fusion refuses the first with 400, 403, 404 or
        405; the source that answered is remembered for the hook's life. With ``auto``, when both
        are refused, ``None`` is returned (and remembered): the request is then its own whole tree.
        With an explicit source, a refusal raises. Answers are parsed by :func:`parse_ess_requests`.

        :param request_id: the ESS request id (e.g. of the load).
        :raises FusionApiError: the configured source refused the request, or Fusion failed.
        """
        rid = _request_id(request_id)
        configured = self.ess_descendant_source
        if configured == "auto":
            remembered = self.__dict__.get("_ess_descendant_source_found")
            sources: tuple[str, ...] = (
                ("execution_details", "scheduler") if remembered is None else (remembered,)
            )
        else:
            sources = (configured,)
        for source in sources:
            if source == "none":
                return None
            try:
                body = (
                    self._execution_details(rid)
                    if source == "execution_details"
                    else self._scheduler_requests(rid)
                )
            except FusionApiError as exc:
                if configured != "auto" or exc.status not in _REFUSED:
                    raise
                self.log.info("Listing ESS descendants through %s was refused (%s)", source, exc)
                continue
            self.__dict__["_ess_descendant_source_found"] = source
            return parse_ess_requests(body, root_id=rid)
        self.log.warning(
            "This Fusion pod lets neither ESSExecutionDetailsRF nor the ESS scheduler REST API list the "
            "requests an ESS request spawns; each submitted request is taken as its whole tree"
        )
        self.__dict__["_ess_descendant_source_found"] = "none"
        return None

    def probe_descendant_sources(self, request_id: str | int = 1) -> dict[str, str | None]:
        """Ask each way of listing ESS descendants once, read-only, and say which the pod allows.

        :param request_id: any request id; it need not exist (an allowed source answers with no
            item, a refused one with 400, 403, 404 or 405).
        :returns: ``{"execution_details": None | "<why refused>", "scheduler": None | "<why>"}``,
            ``None`` meaning allowed.
        :raises FusionApiError: Fusion failed otherwise (5xx, 401).
        """
        rid = _request_id(request_id)
        found: dict[str, str | None] = {}
        for source, read in (
            ("execution_details", self._execution_details),
            ("scheduler", self._scheduler_requests),
        ):
            try:
                read(rid)
            except FusionApiError as exc:
                if exc.status not in _REFUSED:
                    raise
                found[source] = f"HTTP {exc.status}: {exc.detail}"
            else:
                found[source] = None
        return found

    def ess_request_tree(self, request_id: str | int, *, descendants: bool = True) -> EssTree:
        """Read an ESS request's state and, with ``descendants``, the requests it spawned.

        A descendant whose listing carries no state is read with :meth:`ess_job_status`.

        :param request_id: the ESS request id.
        :param descendants: list the descendants (:meth:`ess_descendants`).
        """
        rid = _request_id(request_id)
        root = EssRequest(rid, self.ess_job_status(rid))
        if not descendants:
            return EssTree(root, (), visible=False)
        listed = self.ess_descendants(rid)
        if listed is None:
            return EssTree(root, (), visible=False)
        filled = [
            request if request.state else replace(request, state=self.ess_job_status(request.request_id))
            for request in listed
        ]
        return EssTree(root, tuple(filled), visible=True)

    def wait_for_ess_tree(
        self,
        request_id: str | int,
        *,
        timeout: float = 1800,
        poll_interval: float = 10,
        max_poll_interval: float = 60,
        hold_timeout: float = 900,
        descendants: bool = True,
        on_request: Callable[[EssRequest], None] | None = None,
        settled: Callable[[EssTree], bool] | None = None,
    ) -> EssTree:
        """Poll an ESS request and its descendants until every one is terminal.

        The first poll is immediate; the pause starts at ``poll_interval`` and doubles up to
        ``max_poll_interval``. A poll that fails transiently even after the transport's retries
        (Fusion unreachable, throttling, a 5xx) is logged and the wait goes on; rejected
        credentials, a 4xx and an unknown request id end it.

        The tree is done when every request in it is terminal, except that a root that succeeded
        while none of its descendants has appeared yet is waited for further (its children run as
        separate, later requests), until ``settled`` says the tree's work is visible (e.g. every
        journal's batch is found). Where descendants cannot be listed on this pod, a caller that
        passes ``settled`` waits for it (up to ``timeout``: a load's success says nothing about the
        import that follows it); without ``settled`` the root is taken as the whole tree.

        A tree held up (:meth:`EssTree.held`: a request on ``HOLD``, or ``PAUSED`` with nothing
        running) for ``hold_timeout`` seconds raises :class:`FusionEssHeld`: the request can be
        released or cancelled in Fusion, and must not be submitted again meanwhile.

        :param request_id: the ESS request id.
        :param timeout: seconds to wait in all.
        :param poll_interval: first pause between polls, seconds.
        :param max_poll_interval: longest pause between polls, seconds.
        :param hold_timeout: seconds a tree may stay held before the wait gives up (0: at once).
        :param descendants: follow the descendants (``False``: the request alone).
        :param on_request: called once for each request id as soon as it is known (root first).
        :param settled: asked, when the root succeeded and no descendant has appeared, whether the
            work is done all the same.
        :returns: the tree as last read.
        :raises FusionEssTimeout: the tree did not finish within ``timeout`` (it may still finish).
        :raises FusionEssHeld: the tree stayed held for ``hold_timeout``.
        """
        rid = _request_id(request_id)
        for name, value in (("timeout", timeout), ("poll_interval", poll_interval)):
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if not isinstance(hold_timeout, int | float) or not math.isfinite(hold_timeout) or hold_timeout < 0:
            raise ValueError(f"hold_timeout must be zero or more seconds, got {hold_timeout!r}")
        ceiling = max(float(max_poll_interval), float(poll_interval))
        deadline = time.monotonic() + float(timeout)
        pause = float(poll_interval)
        announced: set[str] = set()
        held_since: float | None = None
        last_summary: str | None = None
        last_state: str | None = None
        polls = 0
        while True:
            polls += 1
            try:
                tree = self.ess_request_tree(rid, descendants=descendants)
            except (RetryExhausted, ConnectionFailed) as exc:
                self.log.warning("Polling ESS request %s failed (%s); polling again", rid, exc)
            except FusionApiError as exc:
                if exc.status < 500:
                    raise
                self.log.warning("Polling ESS request %s failed (%s); polling again", rid, exc)
            else:
                for request in tree.requests:
                    if request.request_id not in announced:
                        announced.add(request.request_id)
                        if on_request is not None:
                            on_request(request)
                summary = tree.summary()
                if summary != last_summary:
                    self.log.info("ESS request tree of %s: %s (poll %d)", rid, summary, polls)
                last_summary = summary
                last_state = tree.root.state
                if tree.finished and (
                    tree.descendants
                    or tree.root.state not in ESS_SUCCESS_STATUSES
                    or (settled is not None and settled(tree))
                    # Descendants cannot be listed on this pod: a caller that can tell the work is
                    # done (``settled``) keeps waiting for it; otherwise the root is the whole tree.
                    or (not tree.visible and settled is None)
                ):
                    return tree
                held = tree.held()
                if held is None:
                    held_since = None
                else:
                    now = time.monotonic()
                    held_since = now if held_since is None else held_since
                    if now - held_since >= hold_timeout:
                        raise FusionEssHeld(held.request_id, held.state, tree.request_ids, now - held_since)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FusionEssTimeout(rid, float(timeout), last_state)
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, ceiling)

    def wait_for_ess_job(
        self,
        request_id: str | int,
        *,
        timeout: float = 1800,
        poll_interval: float = 10,
        max_poll_interval: float = 60,
        hold_timeout: float = 900,
    ) -> str:
        """Poll one ESS request (not its descendants) until its state is terminal; see
        :meth:`wait_for_ess_tree`.

        :returns: the terminal state (check it against :data:`ESS_SUCCESS_STATUSES`; raise
            :class:`~ml_connector_provider.hooks.oracle_fusion.errors.FusionEssJobError` if failure
            should stop the caller).
        :raises FusionEssTimeout: no terminal state within ``timeout`` (the job may still finish).
        :raises FusionEssHeld: the request stayed on ``HOLD`` (or ``PAUSED``) for ``hold_timeout``.
        """
        tree = self.wait_for_ess_tree(
            request_id,
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            hold_timeout=hold_timeout,
            descendants=False,
        )
        return tree.root.state

    def _execution_details(self, rid: str) -> Any:
        response = self._call(
            "GET",
            ERP_INTEGRATIONS,
            ERP_INTEGRATIONS,
            params={"finder": f"ESSExecutionDetailsRF;requestId={rid}", "onlyData": "true"},
        )
        return self._json_any(response, ERP_INTEGRATIONS)

    def _scheduler_requests(self, rid: str) -> Any:
        response = self._call(
            "GET",
            "ESS scheduler requests",
            self.ess_scheduler_url,
            params={"q": f"absParentRequestId eq {rid}", "limit": 100},
        )
        return self._json_any(response, "ESS scheduler requests")

    def ess_job_log(self, request_id: str | int, *, file_type: str = "LOG") -> str:
        """The text of an ESS request's log (or output):
        ``GET erpintegrations?finder=ESSJobExecutionDetailsRF;requestId=<id>,fileType=LOG``.

        ``DocumentContent`` is base64; a zip is unpacked (its ``.log``/``.txt``/``.out`` members
        first, each decoded as UTF-8 with replacement characters), anything else decoded as text.
        Content that is not base64 is returned as it is. No item or no content gives ``""``.

        :param request_id: the ESS request id.
        :param file_type: ``LOG``, ``OUT`` or ``ALL``.
        """
        rid = _request_id(request_id)
        kind = file_type.strip().upper()
        if not re.fullmatch(r"[A-Z]+", kind):
            raise ValueError(f"file_type must be LOG, OUT or ALL, got {file_type!r}")
        items = self._ess_items(f"ESSJobExecutionDetailsRF;requestId={rid},fileType={kind}")
        texts = [_document_text(item.get("DocumentContent")) for item in items]
        return "\n".join(text for text in texts if text)

    def _ess_items(self, finder: str) -> list[dict[str, Any]]:
        body = self._get_collection(ERP_INTEGRATIONS, {"finder": finder, "onlyData": "true"})
        items: list[dict[str, Any]] = body["items"]
        return items


def _request_id(value: str | int) -> str:
    """An ESS request id as the digits Fusion expects.

    :raises ValueError: it is not a number.
    """
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise ValueError(f"an ESS request id is a number, got {value!r}")
    return text


def ess_parameter(value: str | None) -> str:
    """One value of an ESS ``ParameterList``: ``None`` or blank is sent as ``#NULL``.

    :raises ValueError: the value holds a comma (the list's separator, which has no escape).
    """
    if value is None:
        return "#NULL"
    text = str(value)
    if not text.strip():
        return "#NULL"
    if "," in text:
        raise ValueError(f"an ESS ParameterList value must not contain a comma: {text!r}")
    return text


def _document_text(content: Any) -> str:
    """Text of an ``erpintegrations`` ``DocumentContent``: base64 of a zip, of text, or plain text."""
    if not isinstance(content, str) or not content.strip():
        return ""
    try:
        raw = base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError):
        return content
    if raw.startswith(b"PK"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                members = [info for info in archive.infolist() if not info.is_dir()]
                members.sort(
                    key=lambda info: (
                        not info.filename.lower().endswith((".log", ".txt", ".out")),
                        info.filename,
                    )
                )
                parts = [archive.read(info).decode("utf-8", errors="replace") for info in members]
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError):
            pass
        else:
            return "\n".join(parts)
    return raw.decode("utf-8", errors="replace")
