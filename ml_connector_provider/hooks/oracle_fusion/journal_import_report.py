"""The Journal Import execution report: which journals Fusion rejected, and why (pure, no I/O).

Journal Import (*Import Journals: Child*, contract A5.7c) writes a fixed-width text report —
``erpintegrations?finder=ESSJobExecutionDetailsRF;requestId=<child id>,fileType=LOG|OUT``: an
**Error Lines** table (group, batch and journal references, line, error code) and then an
**Error Key** legend mapping each code (``EF04``, ``EU02``, ``WU01`` …) to its text. The load job's
log says nothing about rejected rows.

No verbatim public copy of that report was found, so the parser does not depend on column
positions or headings beyond the words "Error Key" (sources: public Fusion clients that strip the
"Error Key" legend before counting codes in "Error Lines" rows, and notes from live pods quoting
``EF04 FLEX-VALUE DOES NOT EXIST (SEGMENT=Account) (VALUESET=Corporate Account) (VALUE=99999)`` and
the texts of ``EU02``/``WU01``; contract A5.7b/A5.7c). It reads:

* **error rows** — every line before the legend that carries an error code (two capital letters
  and two digits, standing alone: ``EF04``, ``EF04,EC03``), with the indented lines right under
  it that carry none (the row's ``STATUS_DESCRIPTION``, e.g. ``FLEX-VALUE DOES NOT EXIST …
  (VALUE=99999)``: the only place naming the bad value); a row belongs to a journal when it
  names one of the journal's references (its ``REFERENCE1``, its journal name, its source id — as
  whole words, so ``pi_1`` does not match ``pi_12``);
* **the legend** — after a line containing "Error Key", lines starting with a code give its text;
  indented lines that follow continue it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["JournalImportReport", "parse_journal_import_report"]

_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}\d{2})(?![A-Za-z0-9])")
_LEGEND_HEADING = re.compile(r"error\s+key", re.IGNORECASE)
_LEGEND_ENTRY = re.compile(r"^\s*([A-Z]{2}\d{2})(?![A-Za-z0-9])[\s:.\-]+(\S.*)$")
_RULE = re.compile(r"^[\s=\-_*]*$")


@dataclass(frozen=True)
class JournalImportReport:
    """What a Journal Import report says.

    :param error_rows: the report lines that carry error codes (blanks collapsed), in order.
    :param legend: error code → its text from the Error Key.
    """

    error_rows: tuple[str, ...] = ()
    legend: Mapping[str, str] = field(default_factory=dict)

    def rejections(self, references: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        """The reasons given for each journal.

        :param references: journal key → the texts that name it in a report (e.g. its
            ``REFERENCE1``, journal name, source record id). Empty texts are ignored.
        :returns: journal key → one reason per error row naming it, e.g.
            ``"EF04 (Invalid account segment value): 4711 Stripe pi_9 G4711; … EF04
            FLEX-VALUE DOES NOT EXIST … (VALUE=99999)"``; journals not named are left out.
        """
        patterns = {
            key: [
                re.compile(rf"(?<![\w]){re.escape(text)}(?![\w])") for text in texts if text and text.strip()
            ]
            for key, texts in references.items()
        }
        found: dict[str, list[str]] = {}
        for row in self.error_rows:
            named = [key for key, compiled in patterns.items() if any(p.search(row) for p in compiled)]
            if not named:
                continue
            codes = list(dict.fromkeys(_CODE.findall(row)))
            meaning = "; ".join(f"{code} ({self.legend[code]})" for code in codes if code in self.legend)
            reason = f"{meaning}: {row}" if meaning else row
            for key in named:
                found.setdefault(key, []).append(reason)
        return found

    def codes(self) -> list[str]:
        """Every error code the error rows carry, in order of appearance."""
        return list(dict.fromkeys(code for row in self.error_rows for code in _CODE.findall(row)))


def parse_journal_import_report(text: str) -> JournalImportReport:
    """Read the error rows and the Error Key legend of a Journal Import report (see the module).

    :param text: the report (LOG and/or OUT text; several reports may be concatenated — each
        "Error Key" heading starts a legend and the next error rows end it).
    """
    if not isinstance(text, str) or not text.strip():
        return JournalImportReport()
    rows: list[str] = []
    legend: dict[str, str] = {}
    in_legend = False
    current: str | None = None
    # The last error row may go on over indented lines without a code (its description).
    continuing = False
    for raw in text.splitlines():
        line = raw.rstrip()
        if _LEGEND_HEADING.search(line) and not _CODE.search(line):
            in_legend, current, continuing = True, None, False
            continue
        if in_legend:
            entry = _LEGEND_ENTRY.match(line)
            if entry:
                current = entry.group(1)
                legend[current] = " ".join(entry.group(2).split())
                continue
            if not line.strip() or _RULE.match(line):
                current = None if not line.strip() else current
                continue
            if current is not None and raw[:1].isspace():
                legend[current] = f"{legend[current]} {' '.join(line.split())}"
                continue
            # Anything else ends the legend (e.g. the next report's rows).
            in_legend, current = False, None
        if _CODE.search(line):
            rows.append(" ".join(line.split()))
            continuing = True
        elif continuing and raw[:1].isspace() and not _RULE.match(line):
            rows[-1] = f"{rows[-1]} {' '.join(line.split())}"
        else:
            continuing = False
    return JournalImportReport(tuple(rows), legend)
