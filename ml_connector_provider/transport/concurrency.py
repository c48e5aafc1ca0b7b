"""Client-side concurrency limits: keep a client under a server's limit on requests in flight.

Some servers limit how many requests of one account may be *in flight at once* rather than how
many arrive per second (NetSuite: a concurrency limit per account, shared by every integration
and every protocol, contract ``oracle_fusion_netsuite.md`` B9). A :class:`ConcurrencyLimiter` is a
counting semaphore: :meth:`ConcurrencyLimiter.slot` blocks while ``limit`` requests are already
in flight and lets the next caller in, in the order they asked, as soon as one of them is answered.

:func:`shared_concurrency_limiter` is a process-wide registry, like
:func:`~ml_connector_provider.transport.ratelimit.shared_limiter`: every caller naming the same key
(one account) gets the same limiter, so every hook, stream and thread of one worker process shares
one limit. Processes do not share limiters; several processes calling one account need a share of
its limit each.

:class:`~ml_connector_provider.transport.http.HttpTransport` holds a slot for each exchange it puts
on the wire (its ``concurrency`` argument), never while it sleeps between retries.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Hashable, Iterator
from dataclasses import dataclass

__all__ = [
    "ConcurrencyLimiter",
    "ConcurrencyStats",
    "clear_shared_concurrency_limiters",
    "shared_concurrency_limiter",
]


@dataclass(frozen=True)
class ConcurrencyStats:
    """What a :class:`ConcurrencyLimiter` has let through so far.

    :param acquired: slots handed out (requests let through).
    :param delayed: how many of them had to wait for their slot.
    :param peak: the most slots held at the same time.
    :param in_flight: slots held now.
    """

    acquired: int = 0
    delayed: int = 0
    peak: int = 0
    in_flight: int = 0


def _check(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"a concurrency limit must be an integer >= 1, got {limit!r}")


class ConcurrencyLimiter:
    """A thread-safe, first-come first-served limit of ``limit`` callers holding a slot at once.

    :param limit: slots, >= 1.
    :param name: what the limiter guards, for ``repr`` and logs; never a secret.
    :raises ValueError: ``limit`` is not an integer >= 1.
    """

    def __init__(self, limit: int, *, name: str = "") -> None:
        _check(limit)
        self.name = name
        self._limit = limit
        self._in_flight = 0
        self._peak = 0
        self._acquired = 0
        self._delayed = 0
        self._queue: collections.deque[object] = collections.deque()
        self._cond = threading.Condition()

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<ConcurrencyLimiter{label} limit {self._limit}>"

    @property
    def limit(self) -> int:
        """Slots that may be held at once."""
        return self._limit

    def acquire(self) -> None:
        """Block until a slot is free and take it; callers are served in the order they asked."""
        ticket = object()
        with self._cond:
            waited = False
            self._queue.append(ticket)
            while self._queue[0] is not ticket or self._in_flight >= self._limit:
                waited = True
                self._cond.wait()
            self._queue.popleft()
            self._in_flight += 1
            self._acquired += 1
            self._delayed += int(waited)
            self._peak = max(self._peak, self._in_flight)
            # the next in line may be able to go as well
            self._cond.notify_all()

    def release(self) -> None:
        """Give a slot back.

        :raises RuntimeError: no slot is held.
        """
        with self._cond:
            if self._in_flight <= 0:
                raise RuntimeError(f"{self!r}: release() without a slot held")
            self._in_flight -= 1
            self._cond.notify_all()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for the ``with`` block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def configure(self, limit: int) -> None:
        """Change the limit; slots already held stay held.

        :raises ValueError: as the constructor.
        """
        _check(limit)
        with self._cond:
            self._limit = limit
            self._cond.notify_all()

    def stats(self) -> ConcurrencyStats:
        """A consistent copy of the counters."""
        with self._cond:
            return ConcurrencyStats(self._acquired, self._delayed, self._peak, self._in_flight)

    def _after_fork(self) -> None:
        self._cond = threading.Condition()
        self._queue.clear()
        self._in_flight = 0


_registry: dict[Hashable, ConcurrencyLimiter] = {}
_registry_lock = threading.Lock()


def shared_concurrency_limiter(key: Hashable, limit: int, *, name: str = "") -> ConcurrencyLimiter:
    """The process-wide concurrency limiter for ``key``, created on first use.

    When a later caller asks for a lower limit than the limiter has, the limiter adopts it (two
    settings for one account: the stricter one holds); a higher one leaves it unchanged.

    :param key: what the limit belongs to, e.g. ``("netsuite", "1234567_SB1")``; never a secret.
    :param limit: slots, >= 1.
    :param name: label of a newly created limiter.
    :raises ValueError: ``limit`` is not an integer >= 1.
    """
    _check(limit)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = ConcurrencyLimiter(limit, name=name)
        elif limit < limiter.limit:
            limiter.configure(limit)
        return limiter


def clear_shared_concurrency_limiters() -> None:
    """Forget every shared concurrency limiter (tests; limiters handed out keep working)."""
    with _registry_lock:
        _registry.clear()


def _reinit_after_fork() -> None:
    # A forked child inherits the limiters but none of the threads that held their slots.
    global _registry_lock
    _registry_lock = threading.Lock()
    for limiter in _registry.values():
        limiter._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
