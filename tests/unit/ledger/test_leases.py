"""Leases: takeover by a retry of the same owner, expiry, renewal, heartbeat and fencing tokens,
on SQLite and PostgreSQL, with a hand-moved clock."""

from __future__ import annotations

import logging
import re
import threading
import time
from contextlib import ExitStack
from datetime import timedelta

import pytest
import sqlalchemy as sa

from ml_connector_provider.engine.types import Action, RunRef, Window
from ml_connector_provider.ledger import Lease, LeaseHeld, LeaseLost, Ledger, LedgerError
from ml_connector_provider.ledger.schema import audit, cursors, leases, links, pending, runs, schema_version
from tests.unit.ledger.helpers import KEY, OTHER, RUN, T0, Clock, outcome, refusal, rows

TTL = timedelta(minutes=5)
OWNER = "mlc__acme__fusion_stripe.invoices/scheduled__2025-01-01"


def lease_row(store: Ledger) -> dict[str, object]:
    [row] = [r for r in rows(store, leases) if (r["tenant"], r["stream"]) == (KEY.tenant, KEY.stream)]
    return row


def test_a_retry_of_the_same_owner_takes_its_lease_back_at_once(
    ledger: Ledger, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    killed = ExitStack()  # try 1 dies holding the lease: its block never ends
    first = killed.enter_context(ledger.lease(KEY, owner=OWNER, ttl=TTL, try_number=1))
    clock.advance(timedelta(seconds=30))
    with (
        caplog.at_level(logging.INFO, logger="ml_connector_provider.ledger.runs"),
        ledger.lease(KEY, owner=OWNER, ttl=TTL, try_number=2) as second,
    ):
        assert second.token == first.token + 1
        assert second.took_over is not None
        assert (second.took_over.owner, second.took_over.try_number) == (OWNER, 1)
        # Any other owner is still refused while the retry holds it.
        held = refusal(ledger, KEY, "someone-else")
        assert (held.owner, held.expires_at) == (OWNER, clock.now + TTL)
        # Try 1, were it still alive, could not renew (nor write) under its old token.
        with pytest.raises(LeaseLost, match=re.escape(f"held by {OWNER!r} (try 2)")):
            ledger.renew_lease(first)
        row = lease_row(ledger)
        assert (row["try_number"], row["token"], row["released_at"]) == (2, second.token, None)
    [line] = [r for r in caplog.records if "took over" in r.getMessage()]
    assert line.levelno == logging.INFO
    assert f"try 2 of {OWNER} took over the lease of its earlier try 1" in line.getMessage()
    killed.close()  # the late exit of try 1 releases nothing: the lease is not its any more
    assert lease_row(ledger)["released_at"] == clock.now
    assert lease_row(ledger)["try_number"] == 2


def test_another_owner_waits_for_expiry_then_takes_over_with_a_warning(
    ledger: Ledger, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    dead = ExitStack()
    first = dead.enter_context(ledger.lease(KEY, owner="run-1", ttl=TTL, try_number=3))
    clock.advance(TTL - timedelta(seconds=1))
    held = refusal(ledger, KEY, "run-2")
    assert (held.owner, held.expires_at, held.key) == ("run-1", T0 + TTL, KEY)
    clock.advance(timedelta(seconds=1))
    with (
        caplog.at_level(logging.INFO, logger="ml_connector_provider.ledger.runs"),
        ledger.lease(KEY, owner="run-2", ttl=TTL) as second,
    ):
        assert second.token == first.token + 1
        assert second.took_over is not None
        assert second.took_over.owner == "run-1"
    [line] = [r for r in caplog.records if "took over" in r.getMessage()]
    assert line.levelno == logging.WARNING
    message = line.getMessage()
    assert "took over the lease of 'run-1' (try 3" in message
    assert f"expired at {(T0 + TTL).isoformat()}" in message
    dead.close()


def test_a_released_lease_is_taken_without_a_takeover(
    ledger: Ledger, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with ledger.lease(KEY, owner="run-1", ttl=TTL) as first:
        pass
    with (
        caplog.at_level(logging.INFO, logger="ml_connector_provider.ledger.runs"),
        ledger.lease(KEY, owner="run-2", ttl=TTL) as second,
    ):
        assert second.took_over is None
    assert not [r for r in caplog.records if "took over" in r.getMessage()]
    # Tokens only grow, across releases, owners and streams' own sequences.
    with ledger.lease(KEY, owner="run-1", ttl=TTL) as third:
        assert first.token < second.token < third.token
    with ledger.lease(OTHER, owner="run-1", ttl=TTL) as other:
        assert other.token == 1


def test_writes_and_checks_renew_the_lease_past_its_ttl(ledger: Ledger, clock: Clock) -> None:
    with ledger.lease(KEY, owner="long-run", ttl=TTL):
        for step in range(12):  # an hour, in steps shorter than the ttl
            clock.advance(timedelta(minutes=4))
            if step % 2:
                ledger.commit_batch(KEY, RUN, [outcome(f"r{step}", Action.CREATED, f"t{step}")])
            else:
                ledger.check_lease(KEY)
            assert refusal(ledger, KEY, "next-run").expires_at == clock.now + TTL
        assert ledger.get_cursor(KEY) is None
    assert len(rows(ledger, links)) == 6


def test_a_lease_that_lapsed_but_was_not_taken_is_renewed_by_its_holder(ledger: Ledger, clock: Clock) -> None:
    with ledger.lease(KEY, owner="slow", ttl=TTL):
        clock.advance(TTL * 3)
        assert ledger.advance_cursor(KEY, T0) is True  # nobody else wrote: the token is still newest
        assert refusal(ledger, KEY, "next-run").expires_at == clock.now + TTL


def test_a_holder_that_lost_its_lease_writes_nothing(ledger: Ledger, clock: Clock) -> None:
    ledger.claim_run_window(KEY, RUN, Window(T0, T0), mode="incremental", params={})
    before = {table.name: rows(ledger, table) for table in (audit, cursors, links, pending, runs)}
    with ledger.lease(KEY, owner="slow", ttl=TTL, try_number=1) as slow:
        clock.advance(TTL + timedelta(seconds=1))
        taken_at = clock.now

        taken, done = threading.Event(), threading.Event()

        def take_over() -> None:  # another worker, in its own thread
            with ledger.lease(KEY, owner="fast", ttl=TTL, try_number=1):
                ledger.advance_cursor(KEY, T0 - timedelta(days=1))  # fenced by its own lease: fine
                taken.set()
                done.wait(timeout=30)

        worker = threading.Thread(target=take_over)
        worker.start()
        assert taken.wait(timeout=30)
        clock.advance(timedelta(seconds=5))

        writes = {
            "commit_batch": lambda: ledger.commit_batch(KEY, RUN, [outcome("r1", Action.CREATED, "t1")]),
            "mark_pending": lambda: ledger.mark_pending(KEY, [("r1", "idem-1")]),
            "advance_cursor": lambda: ledger.advance_cursor(KEY, T0 + timedelta(days=1)),
            "finish_run": lambda: ledger.finish_run(KEY, RUN, {"read": 1}),
            "claim_run_window": lambda: ledger.claim_run_window(
                KEY, RunRef("other"), Window(T0, T0), mode="incremental", params={}
            ),
            "check_lease": lambda: ledger.check_lease(KEY),
        }
        for name, write in writes.items():
            with pytest.raises(LeaseLost) as lost:
                write()
            assert isinstance(lost.value, LedgerError), name
            assert (lost.value.key, lost.value.token, lost.value.holder) == (KEY, slow.token, "fast")
            assert lost.value.since == taken_at
            assert str(lost.value) == (
                f"lost the lease on {KEY} (token {slow.token}): it is held by 'fast' (try 1) since "
                f"{taken_at.isoformat()}; this worker writes nothing more"
            ), name
        assert slow.lost is not None
        done.set()
        worker.join()
        with pytest.raises(LeaseLost, match=re.escape(f"it is released since {clock.now.isoformat()};")):
            ledger.advance_cursor(KEY, T0 + timedelta(days=1))
    after = {table.name: rows(ledger, table) for table in (audit, cursors, links, pending, runs)}
    assert after["mlc_cursors"][0]["position"] == T0 - timedelta(days=1)  # the new holder's only
    after["mlc_cursors"] = before["mlc_cursors"]
    assert after == before
    # The slow holder's exit released nothing (the new holder had released it itself).
    assert (lease_row(ledger)["owner"], lease_row(ledger)["released_at"]) == ("fast", clock.now)


def test_writes_outside_the_lease_block_or_on_other_streams_are_not_fenced(
    ledger: Ledger, clock: Clock
) -> None:
    with ledger.lease(KEY, owner="a", ttl=TTL):
        ledger.check_lease(OTHER)  # no lease on OTHER here: nothing to check
    ledger.advance_cursor(KEY, T0)
    ledger.check_lease(KEY)


def test_heartbeat_renews_while_the_block_waits_and_stops_on_exit(ledger: Ledger, clock: Clock) -> None:
    with ledger.lease(KEY, owner="waiting", ttl=TTL, heartbeat=timedelta(milliseconds=10)) as held:
        clock.advance(timedelta(minutes=4))
        wait_for(lambda: lease_row(ledger)["expires_at"] == clock.now + TTL)
        clock.advance(timedelta(minutes=4))
        wait_for(lambda: lease_row(ledger)["expires_at"] == clock.now + TTL)
        thread = held._thread
        assert thread is not None
        assert thread.is_alive()
    assert not thread.is_alive()
    released = lease_row(ledger)
    clock.advance(timedelta(minutes=1))
    time.sleep(0.05)  # a stray beat after the exit would move expires_at
    assert lease_row(ledger) == released


def test_heartbeat_notices_a_takeover_and_the_next_check_fails_fast(ledger: Ledger, clock: Clock) -> None:
    with ledger.lease(KEY, owner="stuck", ttl=TTL, heartbeat=timedelta(milliseconds=10)) as held:
        with ledger.engine.begin() as conn:  # as another worker taking over would
            conn.execute(sa.update(leases).values(token=leases.c.token + 1, owner="other"))
        wait_for(lambda: held.lost is not None)
        assert held._thread is not None
        held._thread.join(timeout=5)
        assert not held._thread.is_alive()
        with pytest.raises(LeaseLost, match="held by 'other'"):
            ledger.check_lease(KEY)


def test_migration_3_adds_fencing_to_existing_leases(ledger: Ledger, clock: Clock) -> None:
    # A version-2 database with a lease row of the old shape (owner with a random suffix).
    with ledger.engine.begin() as conn:
        for column in ("token", "try_number", "released_at"):
            conn.execute(sa.text(f"ALTER TABLE mlc_leases DROP COLUMN {column}"))
        conn.execute(sa.text("ALTER TABLE mlc_dead_letters DROP COLUMN kind"))  # added by step 4
        conn.execute(sa.delete(schema_version).where(schema_version.c.version >= 3))
        conn.execute(
            sa.text(
                "INSERT INTO mlc_leases (tenant, integration, stream, owner, expires_at, acquired_at) "
                "VALUES (:t, :i, :s, 'run#1#abcd1234', :e, :a)"
            ).bindparams(
                sa.bindparam("e", type_=leases.c.expires_at.type),
                sa.bindparam("a", type_=leases.c.acquired_at.type),
            ),
            {"t": KEY.tenant, "i": KEY.integration, "s": KEY.stream, "e": T0 + TTL, "a": T0},
        )
    assert ledger.migrate() == 4
    row = lease_row(ledger)
    assert (row["owner"], row["token"], row["try_number"], row["released_at"]) == (
        "run#1#abcd1234",
        0,
        None,
        None,
    )
    assert refusal(ledger, KEY, "new").owner == "run#1#abcd1234"
    clock.advance(TTL)
    with ledger.lease(KEY, owner="new", ttl=TTL) as held:
        assert held.token == 1


def test_the_block_gets_its_lease(ledger: Ledger) -> None:
    with ledger.lease(KEY, owner="a") as held:
        assert isinstance(held, Lease)
        assert (held.key, held.owner, held.ttl) == (KEY, "a", timedelta(minutes=30))
    with ledger.lease(KEY, owner="a", ttl=TTL):
        assert isinstance(refusal(ledger, KEY, "b"), LeaseHeld)


def wait_for(condition: object, timeout: float = 10.0) -> None:
    """Poll ``condition`` (a callable) until true: the heartbeat runs on real time."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
