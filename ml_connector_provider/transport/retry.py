"""The one retry policy of the provider: how many attempts, how long to wait between them, and
how far to follow a server's ``Retry-After``.

:class:`RetryPolicy` holds the numbers; :class:`RetryRunner` runs a callable under them. Callers
bring what only they know: which failures are worth another attempt (``retry_if``) and where a
failure carries the server's requested delay (``retry_after``). The
:class:`~ml_connector_provider.transport.http.HttpTransport` runs every request through a runner;
hooks built on a vendor SDK (Stripe) run their SDK calls through one, with their own predicate.

Waits: the server's ``Retry-After`` when the failure carries one (capped at
``max_retry_after``), otherwise exponential backoff with full jitter: the ``n``-th wait is drawn
uniformly from ``[0, min(max_delay, base_delay * 2 ** (n - 1))]``.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, TypeVar

import tenacity
from tenacity.wait import wait_base

__all__ = [
    "RetryAfterWait",
    "RetryAttempt",
    "RetryPolicy",
    "RetryRunner",
    "parse_retry_after",
]

T = TypeVar("T")


def _as_status_set(values: Iterable[int] | str) -> frozenset[int]:
    if isinstance(values, str):
        values = [int(v) for v in values.replace(";", ",").split(",") if v.strip()]
    return frozenset(int(v) for v in values)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call is retried.

    :param attempts: total attempts per call, the first one included (``1`` disables retries).
    :param base_delay: backoff window of the first retry, in seconds; the window doubles per retry
        and the actual sleep is drawn uniformly from it ("full jitter").
    :param max_delay: largest backoff window, in seconds.
    :param max_retry_after: a server's ``Retry-After`` is honoured up to this many seconds.
    :param retry_statuses: response statuses that :class:`HttpTransport` retries.
    :param unprocessed_statuses: the subset of ``retry_statuses`` that means the server did not
        process the request, so that even a non-idempotent request is retried.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    retry_statuses: Collection[int] = frozenset({429, 502, 503, 504})
    unprocessed_statuses: Collection[int] = frozenset({429, 503})

    def __post_init__(self) -> None:
        object.__setattr__(self, "retry_statuses", _as_status_set(self.retry_statuses))
        object.__setattr__(self, "unprocessed_statuses", _as_status_set(self.unprocessed_statuses))
        if int(self.attempts) != self.attempts or self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be a positive integer, got {self.attempts!r}")
        for name in ("base_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"RetryPolicy.{name} must be a finite number >= 0, got {value!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], prefix: str = "retry_") -> RetryPolicy:
        """Build a policy from connection extras such as ``{"retry_attempts": "3"}``.

        Values may be strings (URI-style connection extras); statuses may be a list or a
        comma-separated string. Missing keys keep the defaults.

        :param values: the mapping to read, e.g. ``conn.extra_dejson``.
        :param prefix: prefix of the keys: ``<prefix>attempts``, ``<prefix>base_delay``,
            ``<prefix>max_delay``, ``<prefix>max_retry_after``, ``<prefix>statuses``,
            ``<prefix>unprocessed_statuses``.
        """
        kwargs: dict[str, Any] = {}
        for name, cast in (
            ("attempts", int),
            ("base_delay", float),
            ("max_delay", float),
            ("max_retry_after", float),
        ):
            raw = values.get(prefix + name)
            if raw is not None and raw != "":
                kwargs[name] = cast(raw)
        statuses = values.get(prefix + "statuses")
        if statuses is not None and statuses != "":
            kwargs["retry_statuses"] = _as_status_set(statuses)
        unprocessed = values.get(prefix + "unprocessed_statuses")
        if unprocessed is not None and unprocessed != "":
            kwargs["unprocessed_statuses"] = _as_status_set(unprocessed)
        return cls(**kwargs)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header, or ``None`` when absent or invalid.

    :param value: the header value: delta-seconds (decimals tolerated) or an HTTP-date.
    :param now: the current time as a POSIX timestamp (for HTTP-dates).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _no_retry_after(error: BaseException) -> float | None:
    del error
    return None


class RetryAfterWait(wait_base):
    """Tenacity wait strategy: the server's ``Retry-After`` when the failure carries one (capped at
    ``policy.max_retry_after``), otherwise exponential backoff with full jitter.

    :param policy: the retry policy supplying the delays.
    :param retry_after: returns the seconds a failure asks to wait, or ``None``; by default no
        failure carries one.
    """

    def __init__(
        self, policy: RetryPolicy, retry_after: Callable[[BaseException], float | None] = _no_retry_after
    ) -> None:
        self._policy = policy
        self._retry_after = retry_after
        self._backoff = tenacity.wait_random_exponential(multiplier=policy.base_delay, max=policy.max_delay)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None and outcome.failed else None
        requested = self._retry_after(failure) if failure is not None else None
        if requested is not None:
            return min(requested, self._policy.max_retry_after)
        return float(self._backoff(retry_state))


@dataclass(frozen=True)
class RetryAttempt:
    """A failed attempt that is about to be retried, as reported to a runner's listener.

    :param error: the failure.
    :param attempt: the number of the attempt that failed (the first is ``1``).
    :param attempts: the policy's total number of attempts.
    :param delay: the seconds the runner sleeps before the next attempt.
    """

    error: BaseException
    attempt: int
    attempts: int
    delay: float


class RetryRunner:
    """Calls a function until it succeeds, fails for good, or the policy's attempts are used up.

    A failure for which ``retry_if`` is false propagates at once; after the last attempt the last
    failure propagates unchanged. Neither is wrapped: callers keep handling their own exceptions.

    :param policy: attempts and delays.
    :param retry_if: whether a failure is worth another attempt.
    :param retry_after: the seconds a failure asks to wait (a server's ``Retry-After``), or
        ``None`` to back off; by default no failure carries one.
    :param sleep: called with the seconds to wait between attempts (tests inject a recorder).
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        retry_if: Callable[[BaseException], bool],
        retry_after: Callable[[BaseException], float | None] = _no_retry_after,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self._retry_if = retry_if
        self._wait = RetryAfterWait(policy, retry_after)
        self._sleep = sleep

    def call(self, fn: Callable[[], T], *, on_retry: Callable[[RetryAttempt], None] | None = None) -> T:
        """Run ``fn`` under the policy and return its result.

        :param fn: the call to make; it is repeated as it is, so it must be safe to repeat.
        :param on_retry: told about every failed attempt before the wait that follows it (for
            logs and counters).
        :raises BaseException: whatever ``fn`` raised last.
        """

        def before_sleep(state: tenacity.RetryCallState) -> None:
            if on_retry is None or state.outcome is None:
                return
            error = state.outcome.exception()
            if error is None:  # pragma: no cover - only failures are retried
                return
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            on_retry(RetryAttempt(error, state.attempt_number, self.policy.attempts, delay))

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.policy.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(self._retry_if),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(fn)
