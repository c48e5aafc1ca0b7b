"""How a run with rejections ends: the end-of-task table and the ``on_dead_letters`` policy.

Both work on a finished run's :class:`~ml_connector_provider.engine.core.Summary`, after
everything good is committed (ledger, cursor, archive of good files): the table says what moved
and what was rejected, the policy says whether the rejections make the run fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ml_connector_provider.formats.text import escape_invisible

if TYPE_CHECKING:
    from ml_connector_provider.engine.core import Summary

SUCCEED = "succeed"
FAIL = "fail"

#: Dead-letter reasons shown in the end-of-task table at most.
REASONS_SHOWN = 3
#: Width a reason is cut to in the table (the full text is in ``ml-connector dead-letters list``).
REASON_WIDTH = 120


@dataclass(frozen=True)
class DeadLetterPolicy:
    """Whether a run whose records or files were rejected succeeds (``on_dead_letters``).

    ``succeed`` (the default): rejections never fail the run; ``fail``: any rejection does; a
    threshold: the run fails when its rejections exceed ``max_count``, or their share of what the
    run read exceeds ``max_ratio`` (either one when both are given).

    Rejections are the records this run dead-lettered among those it read (automatic retries of
    earlier dead letters that fail again are not counted) plus the files it rejected whole; the
    share is counted over the records read plus the files rejected.

    :param mode: ``succeed``, ``fail`` or ``threshold``.
    :param max_count: most rejections a run may have and still succeed (threshold).
    :param max_ratio: largest share (0–1) of rejections a run may have and still succeed (threshold).
    """

    mode: str = SUCCEED
    max_count: int | None = None
    max_ratio: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in (SUCCEED, FAIL, "threshold"):
            raise ValueError(f"mode {self.mode!r} is not succeed, fail or threshold")
        if self.mode == "threshold" and self.max_count is None and self.max_ratio is None:
            raise ValueError("a threshold needs max_count, max_ratio or both")
        if self.max_count is not None and self.max_count < 0:
            raise ValueError(f"max_count must not be negative, got {self.max_count}")
        if self.max_ratio is not None and not 0 <= self.max_ratio <= 1:
            raise ValueError(f"max_ratio must be between 0 and 1, got {self.max_ratio}")

    @classmethod
    def from_value(cls, value: Any) -> DeadLetterPolicy:
        """Read the policy as the tenant file writes it: ``succeed``, ``fail``, or a mapping with
        ``max_count`` and/or ``max_ratio``; ``None`` is ``succeed``.

        :raises ValueError: a value that is none of these, saying what is accepted.
        """
        if value is None or value == SUCCEED:
            return cls()
        if value == FAIL:
            return cls(FAIL)
        if isinstance(value, Mapping):
            unknown = sorted(str(k) for k in value if k not in ("max_count", "max_ratio"))
            if unknown:
                raise ValueError(f"unknown key(s) {', '.join(unknown)}; use max_count and/or max_ratio")
            count, ratio = value.get("max_count"), value.get("max_ratio")
            if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
                raise ValueError(f"max_count must be a whole number, got {count!r}")
            if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, int | float)):
                raise ValueError(f"max_ratio must be a number between 0 and 1, got {ratio!r}")
            return cls("threshold", count, None if ratio is None else float(ratio))
        raise ValueError(
            f"must be 'succeed', 'fail' or a threshold such as {{max_count: 10}} or "
            f"{{max_ratio: 0.05}}, got {value!r}"
        )

    def as_value(self) -> str | dict[str, Any]:
        """The policy as the tenant file writes it (the inverse of :meth:`from_value`)."""
        if self.mode != "threshold":
            return self.mode
        value: dict[str, Any] = {}
        if self.max_count is not None:
            value["max_count"] = self.max_count
        if self.max_ratio is not None:
            value["max_ratio"] = self.max_ratio
        return value

    def breach(self, summary: Summary) -> str | None:
        """Why the run must fail under this policy, ``None`` when it may succeed."""
        rejected = summary.rejections
        if self.mode == SUCCEED or rejected == 0:
            return None
        if self.mode == FAIL:
            return "on_dead_letters is 'fail'"
        reasons: list[str] = []
        if self.max_count is not None and rejected > self.max_count:
            reasons.append(f"more than max_count {self.max_count}")
        total = summary.read + sum(summary.rejected.values())
        ratio = rejected / total if total else 1.0
        if self.max_ratio is not None and ratio > self.max_ratio:
            reasons.append(f"{ratio:.1%} of {total}, more than max_ratio {self.max_ratio:g}")
        return "on_dead_letters threshold exceeded: " + "; ".join(reasons) if reasons else None


def list_command(summary: Summary) -> str:
    """The command that lists the run's open dead letters."""
    key = summary.key
    return (
        f"ml-connector dead-letters list --tenant {key.tenant} --integration {key.integration} "
        f"--stream {key.stream}"
    )


def failure_message(summary: Summary, why: str) -> str:
    """The message a run fails with under its ``on_dead_letters`` policy (counts, no record data)."""
    parts = [f"{summary.new_dead_letters} record(s) dead-lettered"]
    for kind, count in sorted(summary.rejected.items()):
        parts.append(f"{count} {kind}(s) rejected")
    return (
        f"{summary.key}: {' and '.join(parts)} in this run ({why}). Everything else was committed: "
        f"{summary.created} created, {summary.updated} updated, {summary.skipped} skipped. "
        f"A retry would not change the data; list them with: {list_command(summary)}"
    )


def _one_line(text: str, width: int = REASON_WIDTH) -> str:
    line = escape_invisible(" ".join(text.split()))
    return line if len(line) <= width else line[: width - 1] + "…"


def run_table(summary: Summary) -> str:
    """The end-of-task table: what moved and what was rejected, and the first dead-letter reasons.

    Counts only and the reasons of at most :data:`REASONS_SHOWN` dead letters, each on one line
    (invisible characters escaped, cut with ``…``), then how many more there are and the command
    that lists them all.
    """
    columns = [
        "stream",
        "read",
        "created",
        "updated",
        "skipped",
        "unchanged",
        "dead-lettered",
        "files rejected",
    ]
    values = [
        summary.key.stream,
        summary.read,
        summary.created,
        summary.updated,
        summary.skipped,
        summary.unchanged,
        summary.dead_lettered,
        summary.files_rejected,
    ]
    widths = [max(len(c), len(str(v))) for c, v in zip(columns, values, strict=True)]
    header = "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(columns, widths, strict=True))
    )
    row = "  ".join(
        str(v).ljust(w) if i == 0 else str(v).rjust(w)
        for i, (v, w) in enumerate(zip(values, widths, strict=True))
    )
    lines = [f"{summary.key.tenant}/{summary.key.integration}: what moved and what was rejected", header, row]
    total = summary.total_dead_letters
    if total:
        shown = summary.reasons[:REASONS_SHOWN]
        lines.append("dead letters:")
        id_width = max(len(_one_line(source_id, 60)) for source_id, _ in shown)
        for source_id, reason in shown:
            lines.append(f"  {_one_line(source_id, 60).ljust(id_width)}  {_one_line(reason)}")
        more = total - len(shown)
        if more > 0:
            lines.append(f"  {more} more: {list_command(summary)}")
        else:
            lines.append(f"  all of them: {list_command(summary)}")
    return "\n".join(lines)
