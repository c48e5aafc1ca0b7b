"""Adaptive pacing: slow down when a server says it is overloaded, speed up again when it recovers.

Retries with backoff (:class:`~ml_connector_provider.transport.http.RetryPolicy`) space out the
attempts of one request. A server that answers ``503`` or ``429`` is usually overloaded for longer
than one request, though, and the next record's request would hit it at full speed again. An
:class:`AdaptivePacer` shared by all requests of a client adds a delay before each request that
grows multiplicatively with every overload answer and shrinks with every success (AIMD, as TCP
congestion control does), so a long run settles at a rate the server accepts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Statuses that mean "too much, slow down".
OVERLOAD_STATUSES = frozenset({429, 503})


@dataclass
class AdaptivePacer:
    """A shared, thread-safe delay between requests that adapts to overload answers.

    :param initial_delay: the delay after the first overload answer, in seconds.
    :param max_delay: the largest delay between requests, in seconds.
    :param increase: factor applied to the delay on each overload answer.
    :param decrease: factor applied to the delay on each success; at or below ``initial_delay / 4``
        the delay drops to zero.
    :param sleep: called with the seconds to wait (tests inject a recorder).
    :param clock: monotonic clock, in seconds.
    """

    initial_delay: float = 0.5
    max_delay: float = 30.0
    increase: float = 2.0
    decrease: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    delay: float = field(default=0.0, init=False)
    overloads: int = field(default=0, init=False)
    _last_at: float | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial_delay <= self.max_delay:
            raise ValueError("AdaptivePacer needs 0 < initial_delay <= max_delay")
        if self.increase <= 1 or not 0 < self.decrease < 1:
            raise ValueError("AdaptivePacer needs increase > 1 and 0 < decrease < 1")

    def before_request(self) -> None:
        """Wait until the current pace allows the next request."""
        with self._lock:
            now = self.clock()
            wait = 0.0 if self._last_at is None else max(0.0, self._last_at + self.delay - now)
            self._last_at = now + wait
        if wait > 0:
            self.sleep(wait)

    def observe(self, status: int) -> None:
        """Adapt the pace to a response status."""
        with self._lock:
            if status in OVERLOAD_STATUSES:
                self.overloads += 1
                self.delay = min(self.max_delay, max(self.initial_delay, self.delay * self.increase))
            elif status < 500 and self.delay:
                self.delay *= self.decrease
                if self.delay <= self.initial_delay / 4:
                    self.delay = 0.0
