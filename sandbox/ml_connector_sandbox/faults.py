"""Fault injection for sandbox servers.

A :class:`FaultRule` says *which* requests misbehave (method, path regex, optional query regex,
how many to let through first, how many to hit) and *how* (``status``, ``delay``, ``timeout`` or
``drop``). A :class:`FaultInjector` holds the rules of one system and decides, request by request,
which rule applies. :class:`FaultMiddleware` is the pure ASGI middleware that applies the
decision and records every request; it wraps the whole application, so streaming routes are
faulted like any other, and never touches the admin API under ``/__sandbox__/``.

Rules can be changed while the server runs, in process (``system.faults.add(FaultRule(...))``)
or over HTTP (``POST /__sandbox__/faults``).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ADMIN_PREFIX",
    "DEFAULT_TIMEOUT_SECONDS",
    "FaultInjector",
    "FaultKind",
    "FaultMiddleware",
    "FaultRule",
    "RequestRecord",
]

ADMIN_PREFIX = "/__sandbox__"
"""Path prefix of the admin API; requests under it are never faulted nor logged."""

DEFAULT_TIMEOUT_SECONDS = 30.0
"""How long a ``timeout`` fault holds a request when the rule gives no ``seconds``."""

FaultKind = Literal["status", "delay", "timeout", "drop"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DROP_FILLER = b'{"object":"list","data":[' + b'{"id":"filler"},' * 64 + b"]}"
_BODYLESS_STATUSES = frozenset({204, 205, 304})

# Set while a request is being dropped on purpose, so the server's complaint about the
# unfinished response is not logged as an error (see _DropLogFilter).
_dropping: contextvars.ContextVar[bool] = contextvars.ContextVar("sandbox_dropping", default=False)


class FaultRule(BaseModel):
    """One fault: which requests it hits and what happens to them.

    :param kind: ``status`` answers with ``status``/``body``/``headers`` instead of the route;
        ``delay`` waits ``seconds`` then serves normally (slow responses, slow pages);
        ``timeout`` holds the request ``seconds`` (default 30) so the client times out, then serves it;
        ``drop`` starts a response with a ``Content-Length`` and closes the connection half-way,
        so clients see a connection reset mid-response.
    :param path: regular expression searched (``re.search``) in the request path; anchor it
        (``^/v1/customers$``) to match one route exactly.
    :param method: HTTP method to match (any when ``None``).
    :param query: optional regular expression searched in the raw query string.
    :param skip: let the first ``skip`` matching requests through untouched.
    :param times: fault the next ``times`` matching requests, then stop; ``None`` means forever.
        Defaults to 1, so a forgotten rule cannot break a whole test run.
    :param status: status code for ``status`` (default 503) and ``drop`` (default 200).
    :param body: response body for ``status`` (and the synthetic body of ``drop``): a ``str`` is
        sent as ``text/plain``, anything else as JSON; ``None`` sends an empty body.
    :param headers: extra response headers (``Retry-After``, ``WWW-Authenticate``, ...).
    :param content_type: overrides the content type derived from ``body``.
    :param seconds: wait before acting: required for ``delay``, the hold time for ``timeout``,
        an optional extra latency for ``status`` and ``drop``.
    :param process: for ``status`` and ``drop``: run the real route first (its side effects
        happen, e.g. the object is created) and only then replace or cut its response; this is
        how a test loses the response of a write that did succeed.
    :param id: identifier used to list and delete the rule; generated when not given.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FaultKind
    path: str = ".*"
    method: str | None = None
    query: str | None = None
    skip: int = Field(default=0, ge=0)
    times: int | None = Field(default=1, ge=1)
    status: int | None = Field(default=None, ge=100, le=599)
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    content_type: str | None = None
    seconds: float | None = Field(default=None, ge=0)
    process: bool = False
    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12], min_length=1, max_length=64)

    @field_validator("path", "query")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
        return value

    @field_validator("method")
    @classmethod
    def _upper_method(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    @model_validator(mode="after")
    def _kind_fields(self) -> FaultRule:
        if self.kind == "delay" and self.seconds is None:
            raise ValueError("a 'delay' fault needs 'seconds'")
        if self.process and self.kind not in ("status", "drop"):
            raise ValueError("'process' only applies to 'status' and 'drop' faults")
        return self

    # -- convenience constructors -------------------------------------------------------------

    @classmethod
    def error(
        cls,
        status: int,
        *,
        path: str = ".*",
        body: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> FaultRule:
        """Answer matching requests with ``status`` (and ``body``/``headers``)."""
        return cls(kind="status", status=status, path=path, body=body, headers=headers or {}, **kwargs)

    @classmethod
    def rate_limit(
        cls,
        *,
        path: str = ".*",
        retry_after: float | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> FaultRule:
        """A 429; with a ``Retry-After`` header when ``retry_after`` is given."""
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = _format_seconds(retry_after)
        return cls.error(429, path=path, body=body, headers=all_headers, **kwargs)

    @classmethod
    def unavailable(
        cls,
        *,
        path: str = ".*",
        body: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> FaultRule:
        """A 503 Service Unavailable."""
        return cls.error(503, path=path, body=body, headers=headers, **kwargs)

    @classmethod
    def slow(cls, seconds: float, *, path: str = ".*", **kwargs: Any) -> FaultRule:
        """Serve normally after ``seconds``."""
        return cls(kind="delay", seconds=seconds, path=path, **kwargs)

    @classmethod
    def hang(cls, seconds: float = DEFAULT_TIMEOUT_SECONDS, *, path: str = ".*", **kwargs: Any) -> FaultRule:
        """Hold the request long enough for the client to time out."""
        return cls(kind="timeout", seconds=seconds, path=path, **kwargs)

    @classmethod
    def disconnect(cls, *, path: str = ".*", **kwargs: Any) -> FaultRule:
        """Cut the connection in the middle of the response."""
        return cls(kind="drop", path=path, **kwargs)

    def matches(self, method: str, path: str, query: str = "") -> bool:
        """Whether a request with this method, path and raw query string is targeted."""
        if self.method is not None and self.method != method.upper():
            return False
        if not re.search(self.path, path):
            return False
        return self.query is None or re.search(self.query, query) is not None


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass
class _Entry:
    rule: FaultRule
    matched: int = 0
    applied: int = 0

    def status(self) -> dict[str, Any]:
        remaining = None if self.rule.times is None else max(self.rule.times - self.applied, 0)
        return {
            **self.rule.model_dump(mode="json"),
            "matched": self.matched,
            "applied": self.applied,
            "remaining": remaining,
        }


class FaultInjector:
    """The fault rules of one sandbox system, safe to change from any thread.

    Rules are tried in the order they were added; the first one that matches a request and
    still has faults left is applied. A request counts towards a rule's ``skip`` only when it
    reaches that rule (an earlier rule did not claim it). Exhausted rules stay listed, with
    ``remaining: 0``, until they are removed or cleared.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []
        self._released = threading.Event()

    def add(self, rule: FaultRule) -> FaultRule:
        """Add ``rule``; a rule with the id of an existing one replaces it (and its counters)."""
        with self._lock:
            self._entries = [e for e in self._entries if e.rule.id != rule.id]
            self._entries.append(_Entry(rule))
        return rule

    def extend(self, rules: Iterable[FaultRule]) -> list[FaultRule]:
        """Add several rules, in order."""
        return [self.add(rule) for rule in rules]

    def remove(self, rule_id: str) -> bool:
        """Remove one rule by id; returns whether it existed."""
        with self._lock:
            before = len(self._entries)
            self._entries = [e for e in self._entries if e.rule.id != rule_id]
            return len(self._entries) != before

    def clear(self) -> int:
        """Remove every rule; returns how many there were."""
        with self._lock:
            count = len(self._entries)
            self._entries = []
            return count

    def rules(self) -> list[FaultRule]:
        """The current rules, in evaluation order."""
        with self._lock:
            return [e.rule for e in self._entries]

    def status(self) -> list[dict[str, Any]]:
        """JSON-ready rules with their ``matched``/``applied``/``remaining`` counters."""
        with self._lock:
            return [e.status() for e in self._entries]

    def get(self, rule_id: str) -> dict[str, Any] | None:
        """The status of one rule, or ``None``."""
        with self._lock:
            for entry in self._entries:
                if entry.rule.id == rule_id:
                    return entry.status()
        return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def match(self, method: str, path: str, query: str = "") -> FaultRule | None:
        """Pick the rule to apply to a request (updating the counters), or ``None``."""
        with self._lock:
            for entry in self._entries:
                rule = entry.rule
                if not rule.matches(method, path, query):
                    continue
                entry.matched += 1
                if entry.matched <= rule.skip:
                    continue
                if rule.times is not None and entry.applied >= rule.times:
                    continue
                entry.applied += 1
                return rule
        return None

    # -- waits --------------------------------------------------------------------------------

    def release_waits(self) -> None:
        """End every ongoing and future fault wait at once (used when a server stops)."""
        self._released.set()

    def rearm(self) -> None:
        """Make fault waits wait again (used when a server starts)."""
        self._released.clear()

    async def sleep(self, seconds: float) -> None:
        """Sleep without blocking the event loop, cut short by :meth:`release_waits`."""
        deadline = time.monotonic() + seconds
        while not self._released.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await anyio.sleep(min(remaining, 0.05))


@dataclass(frozen=True)
class RequestRecord:
    """One request as seen by a sandbox server (the entries of the request log)."""

    at: datetime
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    status: int | None
    duration_ms: float
    fault_id: str | None = None
    fault_kind: str | None = None
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as served by ``GET /__sandbox__/requests``."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": dict(self.headers),
            "body": self.body,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "fault": None if self.fault_id is None else {"id": self.fault_id, "kind": self.fault_kind},
        }


class _DropLogFilter(logging.Filter):
    """Hide the server's error about an unfinished response when the drop was intended."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _dropping.get()


_drop_filter = _DropLogFilter()
_filter_lock = threading.Lock()


def install_drop_log_filter() -> None:
    """Attach the filter to uvicorn's error logger (idempotent)."""
    with _filter_lock:
        error_logger = logging.getLogger("uvicorn.error")
        if _drop_filter not in error_logger.filters:
            error_logger.addFilter(_drop_filter)


def _encode_body(body: Any, content_type: str | None) -> tuple[bytes, str | None]:
    if body is None:
        return b"", content_type
    if isinstance(body, bytes):
        return body, content_type or "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), content_type or "text/plain; charset=utf-8"
    return json.dumps(body).encode(), content_type or "application/json"


class FaultMiddleware:
    """Pure ASGI middleware applying a :class:`FaultInjector` and recording every request.

    :param app: the wrapped ASGI application.
    :param injector: where the rules live.
    :param now: the clock used to time-stamp records.
    :param record: called with a :class:`RequestRecord` when a request finishes.
    :param exempt_prefix: requests under this path are neither faulted nor recorded.
    :param max_logged_body: request bodies are recorded up to this many bytes.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        injector: FaultInjector,
        now: Callable[[], datetime],
        record: Callable[[RequestRecord], object] | None = None,
        exempt_prefix: str = ADMIN_PREFIX,
        max_logged_body: int = 65536,
    ) -> None:
        self.app = app
        self.injector = injector
        self.now = now
        self.record = record
        self.exempt_prefix = exempt_prefix.rstrip("/")
        self.max_logged_body = max_logged_body
        install_drop_log_filter()

    def _exempt(self, path: str) -> bool:
        return path == self.exempt_prefix or path.startswith(self.exempt_prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._exempt(scope["path"]):
            await self.app(scope, receive, send)
            return

        method: str = scope["method"]
        path: str = scope["path"]
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        at = self.now()
        started = time.perf_counter()
        body = bytearray()
        sent_status: list[int] = []

        async def logged_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                room = self.max_logged_body - len(body)
                if room > 0:
                    body.extend(bytes(message.get("body", b""))[:room])
            return message

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent_status.append(int(message["status"]))
            await send(message)

        rule = self.injector.match(method, path, query)
        try:
            if rule is None:
                await self.app(scope, logged_receive, logged_send)
            else:
                await self._apply(rule, scope, logged_receive, logged_send)
        finally:
            if self.record is not None:
                headers = {
                    bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1")
                    for k, v in scope.get("headers", [])
                }
                self.record(
                    RequestRecord(
                        at=at,
                        method=method,
                        path=path,
                        query=query,
                        headers=headers,
                        body=body.decode("utf-8", errors="replace"),
                        status=sent_status[0] if sent_status else None,
                        duration_ms=(time.perf_counter() - started) * 1000.0,
                        fault_id=rule.id if rule else None,
                        fault_kind=rule.kind if rule else None,
                    )
                )

    async def _apply(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        if rule.kind == "timeout":
            await self.injector.sleep(DEFAULT_TIMEOUT_SECONDS if rule.seconds is None else rule.seconds)
            await self.app(scope, receive, send)
            return
        if rule.seconds:
            await self.injector.sleep(rule.seconds)
        if rule.kind == "delay":
            await self.app(scope, receive, send)
        elif rule.kind == "status":
            if rule.process:
                await self._run_captured(scope, receive)
            await self._send_status(rule, send)
        else:
            await self._drop(rule, scope, receive, send)

    async def _run_captured(self, scope: Scope, receive: Receive) -> tuple[Message | None, bytes]:
        start: list[Message] = []
        chunks = bytearray()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.append(message)
            elif message["type"] == "http.response.body":
                chunks.extend(bytes(message.get("body", b"")))

        await self.app(scope, receive, capture)
        return (start[0] if start else None), bytes(chunks)

    @staticmethod
    async def _send_status(rule: FaultRule, send: Send) -> None:
        payload, content_type = _encode_body(rule.body, rule.content_type)
        headers: list[tuple[bytes, bytes]] = []
        if content_type:
            headers.append((b"content-type", content_type.encode("latin-1")))
        headers.append((b"content-length", str(len(payload)).encode()))
        headers.extend(
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in rule.headers.items()
            if name.lower() not in ("content-length", "content-type")
        )
        await send({"type": "http.response.start", "status": rule.status or 503, "headers": headers})
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    async def _drop(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        status = rule.status or 200
        headers: list[tuple[bytes, bytes]] = []
        if rule.process:
            start, payload = await self._run_captured(scope, receive)
            if start is not None:
                status = int(start["status"])
                headers = [
                    (bytes(k), bytes(v))
                    for k, v in start.get("headers", [])
                    if bytes(k).lower() not in (b"content-length", b"transfer-encoding")
                ]
        else:
            payload, content_type = _encode_body(rule.body, rule.content_type)
            if content_type:
                headers.append((b"content-type", content_type.encode("latin-1")))
        if not payload:
            payload = _DROP_FILLER
        if status in _BODYLESS_STATUSES or status < 200:
            status = 200
        headers.extend(
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in rule.headers.items()
        )
        # Announce the whole body, send only part of it, then end the exchange: the server
        # closes the connection and the client sees it reset in the middle of the response.
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True})
        _dropping.set(True)
