"""Concurrency governance of the NetSuite stand-in (contract B9).

NetSuite limits **concurrent in-flight requests per account** (no per-minute rate limit); a request
over the limit is answered at once with ``CONCURRENCY_LIMIT_EXCEEDED`` — 429 (some accounts 400) and
no ``Retry-After`` (B8 table, B9). :class:`ConcurrencyGate` counts requests truly in flight: a slot is
taken when the request arrives and given back when its response is complete.

For tests the gate can *hold* admitted requests (they keep their slot until released), so a test can
fill the account's slots deterministically and see the next request refused, without timing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio

from ml_connector_sandbox.faults import ASGIApp, Receive, Scope, Send
from ml_connector_sandbox.systems.netsuite.errors import (
    CONCURRENCY_DETAIL_LONG,
    CONCURRENCY_DETAIL_SHORT,
    error_body,
)

__all__ = ["ConcurrencyGate", "ConcurrencyMiddleware"]

MAX_HOLD_SECONDS = 30.0
"""A held request is let go after this long even if nobody releases it."""


class ConcurrencyGate:
    """In-flight counter and statistics of one account; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Zero the statistics (not the in-flight count) and release held requests."""
        with self._lock:
            self.peak = self.in_flight
            self.admitted = 0
            self.refused = 0
            self.slot_seconds = 0.0
            self._changed_at: float | None = None
            self.first_at: float | None = None
            self.last_at: float | None = None
        self.release()

    def _account(self) -> float:
        """Add the slot time since the last change (hold the lock); returns now."""
        now = time.monotonic()
        if self._changed_at is not None:
            self.slot_seconds += self.in_flight * (now - self._changed_at)
        self._changed_at = now
        return now

    def try_enter(self, limit: int | None) -> bool:
        """Take a slot unless ``limit`` slots are taken."""
        with self._lock:
            if limit is not None and self.in_flight >= limit:
                self.refused += 1
                return False
            now = self._account()
            if self.first_at is None:
                self.first_at = now
            self.in_flight += 1
            self.admitted += 1
            self.peak = max(self.peak, self.in_flight)
            return True

    def leave(self) -> None:
        """Give a slot back."""
        with self._lock:
            self.last_at = self._account()
            self.in_flight -= 1

    def hold(self) -> None:
        """Make admitted requests wait (keeping their slot) until :meth:`release`."""
        self._released.clear()

    def release(self) -> None:
        """Let held requests proceed."""
        self._released.set()

    @property
    def holding(self) -> bool:
        """Whether admitted requests are being held."""
        return not self._released.is_set()

    async def wait_released(self) -> None:
        """Wait (without blocking the event loop) until released, at most :data:`MAX_HOLD_SECONDS`."""
        waited = 0.0
        while not self._released.is_set() and waited < MAX_HOLD_SECONDS:
            await anyio.sleep(0.01)
            waited += 0.01

    def snapshot(self) -> dict[str, Any]:
        """``in_flight``, ``peak``, ``admitted``, ``refused``, ``holding``, and for utilisation
        ``slot_seconds`` (the sum over time of the slots taken) and ``elapsed`` (wall seconds from the
        first admitted request to the last finished one): utilisation = slot_seconds / (limit × elapsed)."""
        with self._lock:
            self._account()
            elapsed = (
                (self.last_at - self.first_at)
                if self.first_at is not None and self.last_at is not None
                else 0.0
            )
            return {
                "in_flight": self.in_flight,
                "peak": self.peak,
                "admitted": self.admitted,
                "refused": self.refused,
                "holding": self.holding,
                "slot_seconds": round(self.slot_seconds, 6),
                "elapsed": round(max(elapsed, 0.0), 6),
            }


class ConcurrencyMiddleware:
    """Pure ASGI middleware applying a :class:`ConcurrencyGate` to the REST paths.

    :param app: the wrapped application.
    :param gate: the account's gate.
    :param settings: returns ``(limit, status, long_detail, latency)`` at each request, so setting
        changes apply at once.
    :param counted: whether a path counts (the REST services; not the token endpoint, not the
        admin API).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        gate: ConcurrencyGate,
        settings: Callable[[], tuple[int | None, int, bool, float]],
        counted: Callable[[str], bool],
    ) -> None:
        self.app = app
        self.gate = gate
        self.settings = settings
        self.counted = counted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.counted(scope["path"]):
            await self.app(scope, receive, send)
            return
        limit, status, long_detail, latency = self.settings()
        if not self.gate.try_enter(limit):
            await self._refuse(send, status, long_detail)
            return
        try:
            if latency:
                await anyio.sleep(latency)
            if self.gate.holding:
                await self.gate.wait_released()
            await self.app(scope, receive, send)
        finally:
            self.gate.leave()

    @staticmethod
    async def _refuse(send: Send, status: int, long_detail: bool) -> None:
        detail = CONCURRENCY_DETAIL_LONG if long_detail else CONCURRENCY_DETAIL_SHORT
        payload = json.dumps(error_body(status, "CONCURRENCY_LIMIT_EXCEEDED", detail)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload, "more_body": False})
