"""Client-side rate limiting: keep a client under a server's request rate instead of drawing 429s.

:class:`RateLimiter` is a thread-safe GCRA limiter (the "generic cell rate algorithm", a token
bucket kept as one timestamp): requests are spaced ``1 / rate`` seconds apart, and up to ``burst``
may go at once after an idle spell. :meth:`RateLimiter.acquire` reserves the next free slot under
a lock and sleeps outside it, so threads queue in the order they asked and never wake up only to
find the slot taken. :func:`acquire_all` takes one slot from several limiters at the same instant
(a request that counts against two budgets, such as a search against both the global and the
search limit of an API).

Whatever the order in which slots are reserved, the requests a limiter lets through in any window
of ``L`` seconds number at most ``burst + rate * L``; in any half-open second at most
``burst - 1 + ceil(rate)``. A server counting "at most ``N`` requests in any sliding second" sees
that many plus whatever network jitter bunches together, so ``rate`` should stay a little below
``N``.

:func:`shared_limiter` is a process-wide registry: every caller asking for the same key (one API
account, say) gets the same limiter, so all hooks, streams and threads of one worker process share
one budget. Processes do not share limiters; several processes calling the same account need a
share of the limit each.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

__all__ = [
    "LimiterStats",
    "RateLimiter",
    "acquire_all",
    "clear_shared_limiters",
    "shared_limiter",
]


_EPSILON = 1e-9


@dataclass(frozen=True)
class LimiterStats:
    """What a :class:`RateLimiter` has let through so far.

    :param acquired: slots handed out (requests let through).
    :param delayed: how many of them had to wait for their slot.
    :param wait_seconds: total time callers spent waiting for their slots.
    """

    acquired: int = 0
    delayed: int = 0
    wait_seconds: float = 0.0


class RateLimiter:
    """A thread-safe limiter allowing ``rate`` requests per second, ``burst`` of them at once.

    The limiter keeps the theoretical arrival time (``tat``) of the next request: a request at time
    ``now`` may go at ``max(now, tat - (burst - 1) / rate)``, and each request moves ``tat`` on by
    ``1 / rate``. A limiter that sat idle for ``burst / rate`` seconds lets ``burst`` requests
    through at once; under sustained demand it spaces them exactly ``1 / rate`` apart.

    :param rate: requests per second, > 0.
    :param burst: requests allowed at the same instant after an idle spell, >= 1 (``1`` spaces
        every request, which is what a server counting requests in a sliding window wants).
    :param clock: monotonic clock in seconds (tests inject a fake one).
    :param sleep: called with the seconds to wait (tests inject one that advances the fake clock).
    :param name: what the limiter guards, for ``repr`` and logs; never a secret.
    :raises ValueError: ``rate`` not a positive finite number, or ``burst`` below 1.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        name: str = "",
    ) -> None:
        _check(rate, burst)
        self.clock = clock
        self.sleep = sleep
        self.name = name
        self._rate = float(rate)
        self._burst = int(burst)
        self._tat: float | None = None
        self._acquired = 0
        self._delayed = 0
        self._wait_seconds = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<RateLimiter{label} {self._rate:g}/s burst {self._burst}>"

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self._rate

    @property
    def burst(self) -> int:
        """Requests allowed at once after an idle spell."""
        return self._burst

    def acquire(self) -> float:
        """Block until the next request may go; returns the seconds waited (``0.0`` when none)."""
        return acquire_all((self,))

    def reserve(self) -> float:
        """Take the next slot without waiting for it; returns the seconds until it comes.

        The caller must not send before then: the slot is taken either way.
        """
        with self._lock:
            now = self.clock()
            start = self._earliest(now)
            self._commit(start, start - now)
        return max(0.0, start - now)

    def configure(self, rate: float, burst: int) -> None:
        """Change the rate and burst; slots already handed out stay where they are.

        :raises ValueError: as the constructor.
        """
        _check(rate, burst)
        with self._lock:
            self._rate = float(rate)
            self._burst = int(burst)

    def stats(self) -> LimiterStats:
        """A consistent copy of the counters."""
        with self._lock:
            return LimiterStats(self._acquired, self._delayed, self._wait_seconds)

    # -- under the lock -------------------------------------------------------------------------

    def _earliest(self, now: float) -> float:
        if self._tat is None:
            return now
        start = self._tat - (self._burst - 1) / self._rate
        # float sums drift by ~1e-13 s; a slot due within a nanosecond is due now
        return start if start - now > _EPSILON else now

    def _commit(self, start: float, wait: float) -> None:
        base = start if self._tat is None else max(self._tat, start)
        self._tat = base + 1.0 / self._rate
        self._acquired += 1
        if wait > 0:
            self._delayed += 1
            self._wait_seconds += wait

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


def _check(rate: float, burst: int) -> None:
    if isinstance(rate, bool) or not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"rate must be a positive number of requests per second, got {rate!r}")
    if isinstance(burst, bool) or int(burst) != burst or burst < 1:
        raise ValueError(f"burst must be an integer >= 1, got {burst!r}")


def acquire_all(limiters: Iterable[RateLimiter]) -> float:
    """Block until one request may go through every limiter at once; returns the seconds waited.

    The slot is the latest of the limiters' next free slots and is taken from each of them under
    all their locks (acquired in a fixed order, so concurrent callers cannot deadlock). The first
    limiter's clock and sleep are used.

    :param limiters: one or more limiters (duplicates are ignored).
    :raises ValueError: no limiter given.
    """
    unique = list({id(limiter): limiter for limiter in limiters}.values())
    if not unique:
        raise ValueError("acquire_all needs at least one limiter")
    first = unique[0]
    with contextlib.ExitStack() as stack:
        for limiter in sorted(unique, key=id):
            stack.enter_context(limiter._lock)
        now = first.clock()
        start = max(limiter._earliest(now) for limiter in unique)
        wait = max(0.0, start - now)
        for limiter in unique:
            limiter._commit(start, wait)
    if wait > 0:
        first.sleep(wait)
    return wait


# -- the process-wide registry ---------------------------------------------------------------------

_registry: dict[Hashable, RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(key: Hashable, rate: float, burst: int = 1, *, name: str = "") -> RateLimiter:
    """The process-wide limiter for ``key``, created on first use.

    Callers that agree on the key share one budget. When a later caller asks for a lower rate or
    burst than the limiter has, the limiter adopts the lower value (two settings for one budget:
    the stricter one holds); a higher value leaves it unchanged.

    :param key: what the budget belongs to, e.g. ``("stripe", api_base, account, key_fingerprint)``;
        never put a secret in it (keys show up in debuggers and reprs).
    :param rate: requests per second, > 0.
    :param burst: requests allowed at once after an idle spell, >= 1.
    :param name: label of a newly created limiter.
    :raises ValueError: invalid ``rate`` or ``burst``.
    """
    _check(rate, burst)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = RateLimiter(rate, burst, name=name)
        elif rate < limiter.rate or burst < limiter.burst:
            limiter.configure(min(rate, limiter.rate), min(burst, limiter.burst))
        return limiter


def clear_shared_limiters() -> None:
    """Forget every shared limiter (tests; limiters already handed out keep working on their own)."""
    with _registry_lock:
        _registry.clear()


def _reinit_after_fork() -> None:
    # A forked child inherits the limiters but not the threads that may have held their locks.
    global _registry_lock
    _registry_lock = threading.Lock()
    for limiter in _registry.values():
        limiter._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
