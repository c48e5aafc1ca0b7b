"""RateLimiter, acquire_all and the shared registry, on a fake clock (no real sleeps)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import pytest

from ml_connector_provider.transport import (
    LimiterStats,
    RateLimiter,
    acquire_all,
    clear_shared_limiters,
    shared_limiter,
)


class FakeTime:
    """A clock that only moves when something sleeps (thread-safe, for the threaded test)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture
def t() -> FakeTime:
    return FakeTime()


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    clear_shared_limiters()
    yield
    clear_shared_limiters()


def limiter(t: FakeTime, rate: float, burst: int = 1) -> RateLimiter:
    return RateLimiter(rate, burst, clock=t.clock, sleep=t.sleep)


def max_in_window(times: list[float], width: float) -> int:
    """The most entries of ``times`` inside any half-open window ``(x - width, x]``."""
    ordered = sorted(times)
    best = 0
    for i, end in enumerate(ordered):
        inside = [s for s in ordered[: i + 1] if s > end - width + 1e-9]
        best = max(best, len(inside))
    return best


# -- rate and burst ----------------------------------------------------------------------------------


def test_first_request_goes_at_once_then_requests_are_spaced_by_the_rate(t: FakeTime) -> None:
    rl = limiter(t, rate=10)
    sent = []
    for _ in range(5):
        rl.acquire()
        sent.append(t.now)
    assert sent == pytest.approx([1000.0, 1000.1, 1000.2, 1000.3, 1000.4])
    assert t.sleeps == pytest.approx([0.1] * 4)


def test_sustained_rate_is_the_configured_rate(t: FakeTime) -> None:
    rl = limiter(t, rate=23)
    start = t.now
    for _ in range(231):
        rl.acquire()
    assert (t.now - start) == pytest.approx(230 / 23)


def test_burst_lets_that_many_through_after_an_idle_spell(t: FakeTime) -> None:
    rl = limiter(t, rate=5, burst=3)
    waits = [rl.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.2, 0.2])
    t.advance(10)  # idle: the burst is back, but never more than `burst`
    waits = [rl.acquire() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.2])


def test_slow_callers_never_wait(t: FakeTime) -> None:
    rl = limiter(t, rate=10)
    for _ in range(5):
        assert rl.acquire() == 0.0
        t.advance(0.25)  # each request takes longer than the spacing
    assert t.sleeps == []


@pytest.mark.parametrize(("rate", "burst"), [(23, 1), (20, 3), (92, 1), (7.5, 2)])
def test_no_sliding_second_ever_holds_more_than_burst_minus_one_plus_the_rate(
    t: FakeTime, rate: float, burst: int
) -> None:
    rl = limiter(t, rate=rate, burst=burst)
    sent = []
    for i in range(400):
        if i % 37 == 0:
            t.advance(0.9)  # idle spells refill the burst
        rl.acquire()
        sent.append(t.now)
    assert max_in_window(sent, 1.0) <= burst - 1 + math.ceil(rate)


def test_reserve_takes_the_slot_without_sleeping(t: FakeTime) -> None:
    rl = limiter(t, rate=4)
    assert rl.reserve() == 0.0
    assert rl.reserve() == pytest.approx(0.25)
    assert rl.reserve() == pytest.approx(0.5)
    assert t.sleeps == []
    assert rl.acquire() == pytest.approx(0.75)


def test_stats_count_slots_delays_and_waiting_time(t: FakeTime) -> None:
    rl = limiter(t, rate=2)
    assert rl.stats() == LimiterStats()
    for _ in range(3):
        rl.acquire()
    stats = rl.stats()
    assert stats.acquired == 3
    assert stats.delayed == 2
    assert stats.wait_seconds == pytest.approx(1.0)


def test_configure_changes_the_spacing_of_later_requests(t: FakeTime) -> None:
    rl = limiter(t, rate=10)
    rl.acquire()
    rl.acquire()
    rl.configure(2, 1)
    assert (rl.rate, rl.burst) == (2.0, 1)
    assert rl.acquire() == pytest.approx(0.1)  # the slot already promised at the old rate
    assert rl.acquire() == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("rate", "burst"), [(0, 1), (-1, 1), (float("inf"), 1), (float("nan"), 1), (5, 0), (5, 1.5), (True, 1)]
)
def test_invalid_settings_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        RateLimiter(rate, burst)


def test_threads_share_the_budget_and_every_slot_is_distinct(t: FakeTime) -> None:
    rl = limiter(t, rate=20)
    reserved: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(50):
            wait = rl.reserve()
            with lock:
                reserved.append(wait)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # the clock never moved: 200 reservations are exactly the slots 0, 0.05, ..., 9.95 s ahead
    assert sorted(reserved) == pytest.approx([i / 20 for i in range(200)])
    assert rl.stats().acquired == 200


# -- several limiters at once ------------------------------------------------------------------------


def test_a_request_through_two_limiters_takes_a_slot_from_both(t: FakeTime) -> None:
    everything = limiter(t, rate=10)
    search = limiter(t, rate=2)
    sent = []
    for _ in range(3):
        acquire_all((everything, search))
        sent.append(t.now)
    assert sent == pytest.approx([1000.0, 1000.5, 1001.0])  # the stricter limiter sets the pace
    assert everything.stats().acquired == search.stats().acquired == 3
    # the global limiter counted the searches: a plain request now waits for the global slot only
    assert everything.acquire() == pytest.approx(0.1)
    assert search.stats().acquired == 3


def test_searches_and_plain_requests_never_exceed_either_budget(t: FakeTime) -> None:
    everything = limiter(t, rate=23)
    search = limiter(t, rate=18)
    all_sent: list[float] = []
    searches: list[float] = []
    for i in range(300):
        if i % 3 == 0:
            everything.acquire()
        else:
            acquire_all((everything, search))
            searches.append(t.now)
        all_sent.append(t.now)
    assert max_in_window(all_sent, 1.0) <= 23
    assert max_in_window(searches, 1.0) <= 18


def test_acquire_all_needs_a_limiter_and_ignores_duplicates(t: FakeTime) -> None:
    rl = limiter(t, rate=1)
    with pytest.raises(ValueError, match="at least one"):
        acquire_all(())
    acquire_all((rl, rl))
    assert rl.stats().acquired == 1


def test_acquire_all_from_threads_in_opposite_orders_does_not_deadlock(t: FakeTime) -> None:
    a, b = limiter(t, rate=1000), limiter(t, rate=1000)

    def work(order: tuple[RateLimiter, RateLimiter]) -> None:
        for _ in range(200):
            acquire_all(order)

    threads = [threading.Thread(target=work, args=(order,)) for order in ((a, b), (b, a))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert a.stats().acquired == b.stats().acquired == 400


# -- the shared registry -----------------------------------------------------------------------------


def test_same_key_same_limiter_other_key_other_limiter() -> None:
    first = shared_limiter(("api", "acct_1"), 25)
    assert shared_limiter(("api", "acct_1"), 25) is first
    assert shared_limiter(("api", "acct_2"), 25) is not first


def test_the_stricter_setting_of_two_callers_holds() -> None:
    rl = shared_limiter("k", 25, 3)
    assert shared_limiter("k", 10, 5) is rl
    assert (rl.rate, rl.burst) == (10.0, 3)
    shared_limiter("k", 100, 10)
    assert (rl.rate, rl.burst) == (10.0, 3)


def test_shared_limiter_refuses_invalid_settings() -> None:
    with pytest.raises(ValueError, match="rate"):
        shared_limiter("k", 0)


def test_clear_forgets_the_limiters() -> None:
    rl = shared_limiter("k", 5, name="label")
    assert "label" in repr(rl)
    clear_shared_limiters()
    assert shared_limiter("k", 5) is not rl


def test_threads_asking_at_once_get_one_limiter() -> None:
    found: list[RateLimiter] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        found.append(shared_limiter("race", 25))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(rl) for rl in found}) == 1
