"""AdaptivePacer: overload answers slow every later request down; successes speed it up again."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ml_connector_provider.transport import AdaptivePacer, HttpTransport, RetryPolicy

if TYPE_CHECKING:
    from tests.unit.transport.conftest import ScriptedServer


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_pacer(t: FakeTime, **kwargs: float) -> AdaptivePacer:
    return AdaptivePacer(sleep=t.sleep, clock=t.clock, **kwargs)


def test_no_delay_until_the_server_complains() -> None:
    t = FakeTime()
    pacer = make_pacer(t)
    for _ in range(5):
        pacer.before_request()
        pacer.observe(200)
    assert t.sleeps == []
    assert pacer.delay == 0.0


def test_overloads_grow_the_delay_multiplicatively_up_to_the_cap() -> None:
    t = FakeTime()
    pacer = make_pacer(t, initial_delay=0.5, max_delay=3.0)
    delays = []
    for _ in range(5):
        pacer.before_request()
        pacer.observe(503)
        delays.append(pacer.delay)
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    # Each request after the first waited for the delay in force when it was made.
    assert t.sleeps == [0.5, 1.0, 2.0, 3.0]
    assert pacer.overloads == 5


def test_successes_shrink_the_delay_back_to_zero() -> None:
    t = FakeTime()
    pacer = make_pacer(t, initial_delay=1.0)
    pacer.observe(429)
    pacer.observe(429)
    assert pacer.delay == 2.0
    pacer.observe(200)
    assert pacer.delay == 1.0
    pacer.observe(201)
    assert pacer.delay == 0.5
    pacer.observe(200)
    assert pacer.delay == 0.0  # below a quarter of the initial delay: back to full speed


def test_time_already_spent_counts_towards_the_delay() -> None:
    t = FakeTime()
    pacer = make_pacer(t, initial_delay=2.0)
    pacer.before_request()
    pacer.observe(503)
    t.now += 1.5  # the caller did other work meanwhile
    pacer.before_request()
    assert t.sleeps == [pytest.approx(0.5)]


@pytest.mark.parametrize(
    "kwargs", [{"initial_delay": 0}, {"initial_delay": 5, "max_delay": 1}, {"increase": 1}, {"decrease": 1}]
)
def test_invalid_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="AdaptivePacer needs"):
        AdaptivePacer(**kwargs)


def test_the_transport_paces_every_attempt(server: ScriptedServer) -> None:
    t = FakeTime()
    pacer = make_pacer(t, initial_delay=1.0)
    server.enqueue(503)
    server.enqueue(503)
    server.enqueue(200)
    server.enqueue(200)
    transport = HttpTransport(
        server.url,
        retry=RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0),
        pacer=pacer,
        sleep=lambda _s: None,
    )
    transport.get("a")
    # Two overloads then a success: 1.0 → 2.0 → 1.0.
    assert pacer.overloads == 2
    assert pacer.delay == 1.0
    transport.get("b")
    assert t.sleeps == [1.0, 2.0, 1.0]
    assert pacer.delay == 0.5
