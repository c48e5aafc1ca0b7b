"""The shared retry runner: attempts, predicate, Retry-After, backoff windows, what propagates."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest

from ml_connector_provider.transport import RetryAttempt, RetryPolicy, RetryRunner

if TYPE_CHECKING:
    from tests.unit.transport.conftest import Sleeps


class Throttled(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("throttled")
        self.retry_after = retry_after


class Refused(Exception):
    pass


class Script:
    """A callable that raises the scripted failures in order, then returns ``"done"``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def runner(sleeps: Sleeps, policy: RetryPolicy | None = None) -> RetryRunner:
    return RetryRunner(
        policy or RetryPolicy(attempts=4, base_delay=1.0, max_delay=4.0, max_retry_after=10.0),
        retry_if=lambda error: isinstance(error, Throttled),
        retry_after=lambda error: error.retry_after if isinstance(error, Throttled) else None,
        sleep=sleeps,
    )


def test_retries_what_the_predicate_accepts_until_success(sleeps: Sleeps) -> None:
    call = Script(Throttled(), Throttled())

    assert runner(sleeps).call(call) == "done"

    assert call.calls == 3
    assert len(sleeps) == 2


def test_a_failure_the_predicate_refuses_propagates_at_once_unchanged(sleeps: Sleeps) -> None:
    refused = Refused("bad request")
    call = Script(Throttled(), refused)

    with pytest.raises(Refused) as caught:
        runner(sleeps).call(call)

    assert caught.value is refused
    assert call.calls == 2
    assert len(sleeps) == 1


def test_after_the_last_attempt_the_last_failure_propagates_unchanged(sleeps: Sleeps) -> None:
    failures = [Throttled(0) for _ in range(4)]
    call = Script(*failures)

    with pytest.raises(Throttled) as caught:
        runner(sleeps).call(call)

    assert caught.value is failures[-1]
    assert call.calls == 4
    assert sleeps == [0.0, 0.0, 0.0]


def test_retry_after_is_honoured_and_capped(sleeps: Sleeps) -> None:
    call = Script(Throttled(3.5), Throttled(600))

    runner(sleeps).call(call)

    assert sleeps == [3.5, 10.0]


def test_without_retry_after_the_waits_use_full_jitter_in_doubling_windows(sleeps: Sleeps) -> None:
    policy = RetryPolicy(attempts=6, base_delay=0.5, max_delay=3.0)
    call = Script(*(Throttled() for _ in range(5)))

    random.seed(7)
    runner(sleeps, policy).call(call)
    random.seed(7)
    expected = [random.uniform(0, min(3.0, 0.5 * 2 ** (n - 1))) for n in range(1, 6)]

    assert sleeps == expected


def test_one_attempt_means_no_retry(sleeps: Sleeps) -> None:
    call = Script(Throttled(0))

    with pytest.raises(Throttled):
        runner(sleeps, RetryPolicy(attempts=1)).call(call)

    assert call.calls == 1
    assert sleeps == []


def test_the_listener_hears_each_retry_before_its_wait(sleeps: Sleeps) -> None:
    first, second = Throttled(2), Throttled(1)
    heard: list[RetryAttempt] = []

    def listen(attempt: RetryAttempt) -> None:
        heard.append(attempt)
        assert len(sleeps) == len(heard) - 1  # told before sleeping

    runner(sleeps).call(Script(first, second), on_retry=listen)

    assert heard == [
        RetryAttempt(error=first, attempt=1, attempts=4, delay=2.0),
        RetryAttempt(error=second, attempt=2, attempts=4, delay=1.0),
    ]


def test_a_runner_can_be_reused_for_independent_calls(sleeps: Sleeps) -> None:
    shared = runner(sleeps, RetryPolicy(attempts=2, base_delay=0.0))

    assert shared.call(Script(Throttled())) == "done"
    assert shared.call(Script(Throttled())) == "done"
    with pytest.raises(Throttled):
        shared.call(Script(Throttled(), Throttled()))
