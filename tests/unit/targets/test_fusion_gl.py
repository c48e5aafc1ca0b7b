"""FusionJournalWriter against a pod-like fake Fusion (no HTTP): names, isolation of bad journals,
settling earlier attempts, held requests; and the pure rules (REFERENCE1, batch names, bisect)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ml_connector_provider.engine.types import Action, SourceRecord, WriteItem
from ml_connector_provider.hooks.oracle_fusion import EssRequest, EssTree, FusionEssHeld
from ml_connector_provider.ledger import Ledger
from ml_connector_provider.targets.fusion_gl import (
    STABLE_NAME_MAX,
    FusionJournalWriter,
    JournalImportFailed,
    match_batch_name,
    plan_retry,
    reference1,
    stable_name,
)

T0 = datetime(2026, 11, 3, 10, tzinfo=UTC)
BAD_ACCOUNT = "101-000-99999-000-000"


# -- pure rules ------------------------------------------------------------------------------------


def test_reference1_and_batch_names() -> None:
    assert reference1("Stripe pi_1", 42) == "Stripe pi_1 G42;"
    source = "Spreadsheet"
    assert match_batch_name("Stripe pi_1 G42; Spreadsheet A 42 10070490 N", "Stripe pi_1", source) == (
        True,
        42,
    )
    assert match_batch_name("Stripe pi_1 G42;", "Stripe pi_1", source) == (True, 42)
    assert match_batch_name("Stripe pi_1 Spreadsheet A 238 10070490 N", "Stripe pi_1", source) == (True, 238)
    assert match_batch_name("Stripe pi_1", "Stripe pi_1", source) == (True, None)
    assert match_batch_name("Stripe pi_12 G42;", "Stripe pi_1", source) == (False, None)
    assert match_batch_name("Stripe pi_1 G42", "Stripe pi_1", source) == (False, None)
    assert match_batch_name("Stripe pi_1 Gx;", "Stripe pi_1", source) == (False, None)


def test_long_batch_names_stay_distinct() -> None:
    assert stable_name({"batch_name": " Stripe pi_1 "}) == "Stripe pi_1"
    first = stable_name({"batch_name": "Stripe " + "x" * 100 + "a"})
    second = stable_name({"batch_name": "Stripe " + "x" * 100 + "b"})
    assert len(first) == len(second) == STABLE_NAME_MAX
    assert not first.startswith(second)
    assert not second.startswith(first)
    assert first == stable_name({"batch_name": "Stripe " + "x" * 100 + "a"})


def test_plan_retry() -> None:
    assert plan_retry([], named=False) == []
    assert plan_retry([1, 2, 3], named=True) == [[1, 2, 3]]
    assert plan_retry([1, 2, 3, 4, 5], named=False) == [[1, 2, 3], [4, 5]]
    assert plan_retry([1], named=False) is None


# -- a pod-like Fusion ------------------------------------------------------------------------------


@dataclass
class Attempt:
    load: str
    group: int
    refs: list[str]
    bad: list[str]
    tree: EssTree


class PodFusion:
    """Journal Import as A5.7c describes it: a load request, then Import Journals and its child;
    one bad line rejects the whole group; batch names extended; the child's report names the bad
    journals (unless ``report`` is false)."""

    def __init__(self, *, report: bool = True, hold: bool = False, lose_answer: bool = False) -> None:
        self.report = report
        self.hold = hold
        self.lose_answer = lose_answer
        self.batches: list[dict[str, Any]] = []
        self.attempts: list[Attempt] = []
        self.next_id = 10070485

    # what the writer calls
    def submit_journal_import(self, document: bytes, *, group_id: int, **_: Any) -> str:
        import csv
        import io
        import zipfile

        rows = list(
            csv.reader(io.StringIO(zipfile.ZipFile(io.BytesIO(document)).read("GlInterface.csv").decode()))
        )
        group = group_id
        refs = list(dict.fromkeys(row[42] for row in rows))
        bad = sorted({row[42] for row in rows if "-".join(row[8:13]) == BAD_ACCOUNT})
        load, launcher, child = (str(self.next_id + k) for k in (0, 4, 5))
        self.next_id += 10
        child_state = "WARNING" if bad else "SUCCEEDED"
        tree = EssTree(
            EssRequest(load, "SUCCEEDED"),
            (
                EssRequest(launcher, child_state, "Import Journals"),
                EssRequest(child, child_state, "Import Journals: Child"),
            ),
        )
        if not bad:
            for ref in refs:
                self.batches.append(
                    {
                        "JeBatchId": str(len(self.batches) + 1),
                        "BatchName": f"{ref} Spreadsheet A {group} {child} N",
                    }
                )
        self.attempts.append(Attempt(load, group, refs, bad, tree))
        if self.lose_answer:
            self.lose_answer = False
            raise ConnectionError("answer lost")
        return load

    def wait_for_ess_tree(
        self, load: str, *, on_request: Callable[[EssRequest], None], hold_timeout: float, **_: Any
    ) -> EssTree:
        attempt = next(a for a in self.attempts if a.load == load)
        for request in attempt.tree.requests:
            on_request(request)
        if self.hold:
            raise FusionEssHeld(
                attempt.tree.descendants[0].request_id, "HOLD", attempt.tree.request_ids, hold_timeout
            )
        return attempt.tree

    def find_by_prefix(
        self, resource: str, attribute: str, prefixes: Sequence[str], **_: Any
    ) -> tuple[list[dict[str, Any]], str]:
        return [b for b in self.batches if b["BatchName"].startswith(tuple(prefixes))], "filter"

    def ess_job_log(self, request_id: str, *, file_type: str = "LOG") -> str:
        attempt = next(a for a in self.attempts if request_id in a.tree.request_ids)
        if file_type != "OUT" or not self.report:
            return "SHRD0079: Number of records inserted into the gl_je_lines table: 5."
        rows = "\n".join(f"{attempt.group}  {ref:<40}  1  EF04" for ref in attempt.bad)
        return (
            f"Error Lines\n{rows}\n\n===== Error Key =====\nEF04  FLEX-VALUE DOES NOT EXIST (VALUE=99999)\n"
        )


@dataclass(frozen=True)
class Gl:
    ledger_id: str = "300000046975971"
    ledger_name: str = "US Primary Ledger"
    data_access_set_id: str = "300000046975980"
    journal_source: str = "Spreadsheet"
    segment_delimiter: str = "-"
    import_timeout: int = 600
    poll_interval: float = 10.0
    hold_timeout: int = 900


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    store = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.migrate()
    yield store
    store.dispose()


def item(key: str, *, bad: bool = False) -> WriteItem:
    payload = {
        "batch_name": f"Stripe {key}",
        "journal_name": f"Payment {key}",
        "accounting_date": "2026-11-03",
        "currency": "USD",
        "category": "Receipts",
        "lines": [
            {"account": "101-000-11250-000-000", "debit": "10.00"},
            {"account": BAD_ACCOUNT if bad else "101-000-12100-000-000", "credit": "10.00"},
        ],
    }
    return WriteItem(SourceRecord(key, "v1", T0, {}), payload, f"k-{key}")


def writer(fusion: PodFusion, ledger: Ledger, **options: Any) -> FusionJournalWriter:
    return FusionJournalWriter(
        fusion,  # type: ignore[arg-type]
        Gl(),
        ledger,
        tenant="acme",
        integration="fusion_stripe",
        stream="payments",
        **options,
    )


def journals(count: int, bad: Sequence[int]) -> list[WriteItem]:
    return [item(f"pi_{n:02d}", bad=n in bad) for n in range(count)]


@pytest.mark.parametrize(
    ("bad", "report", "imports"),
    [
        ((), True, 1),
        ((7,), True, 2),
        ((2, 9, 15), True, 2),
        ((7,), False, 9),
        ((2, 9, 15), False, 21),
    ],
)
def test_bad_journals_never_hold_back_good_ones(
    ledger: Ledger, bad: tuple[int, ...], report: bool, imports: int
) -> None:
    fusion = PodFusion(report=report)
    w = writer(fusion, ledger)
    results = w.write(journals(20, bad))
    dead = {r.source_id for r in results if r.action is Action.DEAD_LETTERED}
    assert dead == {f"pi_{n:02d}" for n in bad}
    assert sum(r.action is Action.CREATED for r in results) == 20 - len(bad)
    assert w.imports == imports
    # each journal is in Fusion at most once, and every attempt used a fresh group
    stables = [re.sub(r" G\d+;.*", "", b["BatchName"]) for b in fusion.batches]
    assert len(stables) == len(set(stables)) == 20 - len(bad)
    assert len({a.group for a in fusion.attempts}) == len(fusion.attempts)
    if report and bad:
        reason = next(r.reason for r in results if r.action is Action.DEAD_LETTERED)
        assert reason is not None
        assert "EF04 (FLEX-VALUE DOES NOT EXIST (VALUE=99999))" in reason


def test_a_lone_journal_rejected_without_reason_is_dead_lettered_with_the_requests(ledger: Ledger) -> None:
    [result] = writer(PodFusion(report=False), ledger).write([item("pi_X", bad=True)])
    assert result.action is Action.DEAD_LETTERED
    assert result.reason is not None
    assert "in a group of its own (requests 10070485 SUCCEEDED" in result.reason


def test_a_failed_load_fails_the_task(ledger: Ledger) -> None:
    fusion = PodFusion(report=False)
    original = fusion.wait_for_ess_tree

    def failed(load: str, **options: Any) -> EssTree:
        original(load, **options)
        return EssTree(EssRequest(load, "ERROR"), ())

    fusion.wait_for_ess_tree = failed  # type: ignore[method-assign]
    with pytest.raises(JournalImportFailed, match="load request 10070485 ended ERROR"):
        writer(fusion, ledger).write([item("pi_X", bad=True)])


def test_imported_batches_are_linked_not_imported_again(ledger: Ledger) -> None:
    fusion = PodFusion()
    first = writer(fusion, ledger).write(journals(3, ()))
    again = writer(fusion, ledger)
    results = again.write(journals(3, ()))
    assert again.imports == 0
    assert [r.target_id for r in results] == [r.target_id for r in first]
    assert all(r.action is Action.SKIPPED for r in results)


def test_held_attempt_is_never_resubmitted(ledger: Ledger) -> None:
    fusion = PodFusion(hold=True)
    with pytest.raises(FusionEssHeld):
        writer(fusion, ledger).write(journals(2, ()))
    with pytest.raises(FusionEssHeld):
        writer(fusion, ledger).write(journals(2, ()))
    assert len(fusion.attempts) == 1
    [row] = ledger.files_in_progress("acme", "fusion_stripe")
    assert row.state is not None
    assert set(row.state["requests"]) == set(fusion.attempts[0].tree.request_ids)


def test_lost_answer_is_settled_by_its_batches(ledger: Ledger) -> None:
    fusion = PodFusion(lose_answer=True)
    with pytest.raises(ConnectionError):
        writer(fusion, ledger).write(journals(2, ()))
    [row] = ledger.files_in_progress("acme", "fusion_stripe")
    assert row.state is not None
    assert row.state["load_request_id"] is None
    assert row.state["group_id"] == fusion.attempts[0].group
    again = writer(fusion, ledger)
    results = again.write(journals(2, ()))
    assert again.imports == 0
    assert all(r.action is Action.SKIPPED for r in results)
    assert ledger.files_in_progress("acme", "fusion_stripe") == []


def test_lost_answer_without_batches_waits_until_the_deadline(ledger: Ledger) -> None:
    fusion = PodFusion(lose_answer=True)
    with pytest.raises(ConnectionError):
        writer(fusion, ledger).write(journals(1, (0,)))
    now = [datetime.now(UTC)]
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += timedelta(seconds=seconds)

    again = writer(fusion, ledger, clock=lambda: now[0], sleep=sleep)
    results = again.write(journals(1, (0,)))
    assert sum(waited) >= Gl().import_timeout - 5
    assert again.imports == 1
    assert results[0].action is Action.DEAD_LETTERED
