"""Value types shared by the sync engine, the ledger and every integration.

They carry no I/O and import nothing from Airflow, so mappings and tests can use them freely.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Action(enum.StrEnum):
    """What happened to one source record in one run."""

    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"
    DEAD_LETTERED = "dead_lettered"
    UNCHANGED = "unchanged"


RECORD_KIND = "record"
"""The kind of a dead letter of one source record (the default)."""


@dataclass(frozen=True, order=True)
class StreamKey:
    """Identifies one stream of one integration of one tenant: the unit a cursor belongs to."""

    tenant: str
    integration: str
    stream: str

    def __str__(self) -> str:
        return f"{self.tenant}/{self.integration}/{self.stream}"


@dataclass(frozen=True)
class RunRef:
    """The Airflow run a piece of work belongs to (``manual`` for CLI-driven work)."""

    run_id: str
    try_number: int = 1
    dag_id: str | None = None
    task_id: str | None = None


@dataclass(frozen=True)
class Window:
    """A half-open interval ``[start, end)`` of source change timestamps (UTC-aware)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end < self.start:
            raise ValueError(
                f"window end {self.end.isoformat()} is before its start {self.start.isoformat()}"
            )

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class SourceRecord:
    """One changed record as read from a source system.

    :param id: the source system's stable primary key.
    :param version: a token that changes whenever the record changes (a change timestamp, an ETag,
        an event id). Two reads with the same version are the same content.
    :param changed_at: the change timestamp the cursor is based on (UTC-aware).
    :param data: the record itself, JSON-serialisable.
    :param label: a human-readable reference (invoice number, customer name) for the audit trail.
    """

    id: str
    version: str
    changed_at: datetime
    data: Mapping[str, Any]
    label: str | None = None


@dataclass(frozen=True)
class Write:
    """A mapping's verdict: post this payload to the target."""

    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Skip:
    """A mapping's verdict: nothing to post for this record, for a reason worth recording."""

    reason: str


@dataclass(frozen=True)
class DeadLetter:
    """A mapping's verdict: the record cannot be posted for a data reason.

    :param reason: what is wrong, in words an operator understands.
    :param field: the offending source field, when there is one.
    """

    reason: str
    field: str | None = None

    def describe(self) -> str:
        return f"{self.reason} (field {self.field})" if self.field else self.reason


MapResult = Write | Skip | DeadLetter


@dataclass(frozen=True)
class WriteItem:
    """One payload handed to a stream's target writer.

    :param record: the source record.
    :param payload: the mapped payload.
    :param idempotency_key: deterministic for (tenant, integration, stream, source id, payload);
        the same content always yields the same key, changed content a new one.
    :param target_id: the target id already linked to this source record, if any (update, not create).
    :param uncertain: ``True`` when an earlier attempt may have written this record without the
        ledger learning of it (a crash between the target write and the ledger commit, or a
        record dead-lettered after a partial write). A writer must then look the record up in the
        target before creating it.
    :param pending_since: when the oldest unconfirmed write intent of this record was recorded
        (set when ``uncertain``): nothing an earlier attempt created in the target is older.
    :param pending_key: the idempotency key of the latest unconfirmed intent (set when ``uncertain``).
    :param attempt: how many times this record has been dead-lettered without being resolved
        since. A target that caches the answer of an idempotency key (Stripe keeps it 24 hours)
        must derive fresh keys from it, so a retry after an operator fixed or deleted what the
        failed attempt left behind is a new request, not a replay of the failure.
    """

    record: SourceRecord
    payload: Mapping[str, Any]
    idempotency_key: str
    target_id: str | None = None
    uncertain: bool = False
    pending_since: datetime | None = None
    pending_key: str | None = None
    attempt: int = 0


@dataclass(frozen=True)
class PendingIntent:
    """An unconfirmed write intent kept in the ledger.

    :param idempotency_key: the key of the first write attempted for the record.
    :param since: when the first of the record's unconfirmed intents was recorded.
    """

    idempotency_key: str
    since: datetime


@dataclass(frozen=True)
class WriteResult:
    """What the target did with one :class:`WriteItem`.

    ``action`` is :attr:`Action.CREATED`, :attr:`Action.UPDATED`, :attr:`Action.SKIPPED`
    (already there, e.g. found by a dedup look-up and linked) or :attr:`Action.DEAD_LETTERED`
    (the target refused the record for a data reason given in ``reason``).
    """

    source_id: str
    action: Action
    target_id: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """The ledger's view of one record's fate in a batch: link, audit row and dead letter in one."""

    record: SourceRecord
    action: Action
    source_system: str
    target_system: str
    target_id: str | None = None
    reason: str | None = None
    payload_hash: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Link:
    """A cross-system link: this source record is that target record."""

    key: StreamKey
    source_system: str
    source_id: str
    target_system: str
    target_id: str
    source_version: str | None
    payload_hash: str | None
    updated_at: datetime


@dataclass(frozen=True)
class DeadLetterRow:
    """An open (or resolved) dead letter, as stored in the ledger."""

    id: int
    key: StreamKey
    source_id: str
    source_version: str | None
    reason: str
    record: Mapping[str, Any]
    attempts: int
    next_retry_at: datetime | None
    status: str
    created_at: datetime
    updated_at: datetime
    #: ``record`` for one source record; otherwise the kind of a larger unit a stream rejected
    #: as a whole (``file``), named by ``source_id`` ``"<kind>:<name>"``.
    kind: str = RECORD_KIND

    @property
    def name(self) -> str:
        """The record's id, or the rejected unit's name (a file name) without its kind prefix."""
        prefix = f"{self.kind}:"
        if self.kind != RECORD_KIND and self.source_id.startswith(prefix):
            return self.source_id[len(prefix) :]
        return self.source_id


@dataclass(frozen=True)
class RejectedUnit:
    """A unit bigger than a record that a stream rejected as a whole in a run (a file moved to
    an error directory), to become a dead letter of its own kind.

    :param kind: what it is (``file``); never ``record``. Lower-case letters and ``_``.
    :param name: its name for people (the file name); with ``kind`` it identifies the dead letter
        of the stream (``source_id`` ``"<kind>:<name>"``): the same name rejected again re-opens it.
    :param reason: why it was rejected, in full (the same text people find next to it).
    :param details: what a retry needs to take it again, JSON-serialisable (the file's checksum
        and where it was moved); kept as the dead letter's ``record``. No secrets.
    """

    kind: str
    name: str
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind == RECORD_KIND or not self.kind or not all(c.islower() or c == "_" for c in self.kind):
            raise ValueError(f"a rejected unit's kind must be lower-case letters and '_', not {self.kind!r}")
        if not self.name:
            raise ValueError(f"a rejected {self.kind} needs a name")
        if not self.reason.strip():
            raise ValueError(f"the rejected {self.kind} {self.name!r} needs a reason")

    @property
    def source_id(self) -> str:
        """The id of its dead letter: ``"<kind>:<name>"``."""
        return f"{self.kind}:{self.name}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, non-JSON values rendered with ``str``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def payload_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def idempotency_key(key: StreamKey, source_id: str, content_hash: str) -> str:
    """A deterministic key for one write: same tenant, stream, record and content → same key.

    The content hash is part of the key because targets such as Stripe cache the outcome of a key
    (including a failure) for 24 hours: a corrected payload must not be answered with the old result.
    """
    digest = hashlib.sha256(
        "\x1f".join((key.tenant, key.integration, key.stream, source_id, content_hash)).encode()
    ).hexdigest()
    return f"mlc-{digest[:40]}"


def record_to_json(record: SourceRecord) -> dict[str, Any]:
    """The form a source record is stored in (dead letters) and replayed from."""
    return {
        "id": record.id,
        "version": record.version,
        "changed_at": record.changed_at.isoformat(),
        "label": record.label,
        "data": json.loads(canonical_json(record.data)),
    }


def record_from_json(value: Mapping[str, Any]) -> SourceRecord:
    return SourceRecord(
        id=str(value["id"]),
        version=str(value["version"]),
        changed_at=datetime.fromisoformat(value["changed_at"]),
        data=dict(value.get("data") or {}),
        label=value.get("label"),
    )
