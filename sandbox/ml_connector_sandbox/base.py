"""The common base of every sandbox system.

A sandbox system is a local stand-in for an external API (Oracle Fusion, Stripe, ...): a
FastAPI app that follows the real wire contract, with in-memory state, expiring tokens, fault
injection and a request log. Adding one is a subclass::

    class WidgetSandbox(SandboxSystem):
        name = "widgets"
        clients: ClassVar[Mapping[str, str]] = {"widget-client": "widget-secret"}

        def seed(self) -> Mapping[str, Any]:
            return {"widgets": [{"id": 1, "name": "first"}]}

        def register_routes(self, app: FastAPI) -> None:
            self.add_token_endpoint(app, "/oauth/token")
            auth = self.require_bearer()

            @app.get("/api/widgets")
            def list_widgets(principal: Principal = Depends(auth)) -> dict[str, Any]:
                with self.state as db:
                    return {"items": list(db["widgets"])}

        def connection(self, base_url: str) -> dict[str, Any]:
            return {"conn_type": "http", "host": base_url, "login": "widget-client",
                    "password": "widget-secret", "extra": {}}

Routes defined inside ``register_routes`` must take dependencies as default values
(``= Depends(auth)``) or through ``dependencies=[...]``: with postponed annotations FastAPI
cannot see a local variable inside ``Annotated[..., Depends(auth)]`` and silently turns the
parameter into a query parameter.

Every system also serves the admin API under ``/__sandbox__/`` (see :func:`admin_router`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from fastapi import APIRouter, Body, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, model_validator

from ml_connector_sandbox.auth import (
    OAuthError,
    Principal,
    ResponseError,
    TokenIssuer,
    UnauthorizedFactory,
    bearer_dependency,
    token_endpoint,
)
from ml_connector_sandbox.faults import (
    ADMIN_PREFIX,
    FaultInjector,
    FaultMiddleware,
    FaultRule,
    RequestRecord,
)

__all__ = [
    "ADMIN_PREFIX",
    "RequestLog",
    "SandboxClock",
    "SandboxState",
    "SandboxSystem",
    "admin_router",
]


class SandboxClock:
    """Wall-clock time plus an adjustable offset, shared by everything in one system.

    Tests move it forward to expire tokens, age events past a retention window, etc.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._offset = float(offset)

    @property
    def offset(self) -> float:
        """Seconds added to the wall clock."""
        with self._lock:
            return self._offset

    def time(self) -> float:
        """Current sandbox time as epoch seconds."""
        return time.time() + self.offset

    def now(self) -> datetime:
        """Current sandbox time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds``; returns the new :meth:`now`."""
        with self._lock:
            self._offset += float(seconds)
        return self.now()

    def set_offset(self, seconds: float) -> datetime:
        """Set the offset from the wall clock; returns the new :meth:`now`."""
        with self._lock:
            self._offset = float(seconds)
        return self.now()

    def reset(self) -> None:
        """Back to wall-clock time."""
        self.set_offset(0.0)


class SandboxState:
    """Thread-safe in-memory state of a system, rebuilt from its seed on :meth:`reset`.

    Use it as a context manager to hold the lock around a read-modify-write; it yields the
    underlying dict::

        with system.state as db:
            db["widgets"].append(widget)

    Do not ``await`` while holding it. Single reads and writes (``state["x"]``) lock on their own.

    :param seed: returns a fresh seed dict; called lazily on first use and on every reset
        (the result is deep-copied, so returning module constants is safe).
    """

    def __init__(self, seed: Callable[[], Mapping[str, Any]]) -> None:
        self._seed = seed
        self._lock = threading.RLock()
        self._data: dict[str, Any] | None = None
        self._counters: dict[str, int] = {}

    @property
    def lock(self) -> threading.RLock:
        """The re-entrant lock guarding the state."""
        return self._lock

    @property
    def data(self) -> dict[str, Any]:
        """The live state dict (hold :attr:`lock` while mutating it)."""
        with self._lock:
            if self._data is None:
                self._data = copy.deepcopy(dict(self._seed()))
            return self._data

    def __enter__(self) -> dict[str, Any]:
        self._lock.acquire()
        try:
            return self.data
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    def __getitem__(self, key: str) -> Any:
        with self._lock:
            return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            self.data[key] = value

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        """``dict.get`` under the lock."""
        with self._lock:
            return self.data.get(key, default)

    def next_id(self, sequence: str, start: int = 1) -> int:
        """Next number of a named sequence (``start``, ``start + 1``, ...); reset with the state."""
        with self._lock:
            value = self._counters.get(sequence, start)
            self._counters[sequence] = value + 1
            return value

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the current state."""
        with self._lock:
            return copy.deepcopy(self.data)

    def reset(self) -> None:
        """Restore the seed and restart every sequence."""
        with self._lock:
            self._data = None
            self._counters.clear()


class RequestLog:
    """A bounded, thread-safe log of the requests a system served (admin API excluded).

    :param maxlen: oldest entries are dropped beyond this many.
    """

    def __init__(self, maxlen: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[RequestRecord] = deque(maxlen=maxlen)
        self._seq = 0

    def record(self, entry: RequestRecord) -> RequestRecord:
        """Append ``entry``, numbering it; returns the stored record."""
        with self._lock:
            self._seq += 1
            stored = dataclasses.replace(entry, seq=self._seq)
            self._entries.append(stored)
            return stored

    def entries(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        since: int | None = None,
    ) -> list[RequestRecord]:
        """Logged requests, oldest first.

        :param method: keep only this method.
        :param path: keep only paths where this regular expression is found.
        :param since: keep only entries with ``seq`` greater than this.
        """
        pattern = re.compile(path) if path else None
        with self._lock:
            items = list(self._entries)
        return [
            e
            for e in items
            if (method is None or e.method == method.upper())
            and (pattern is None or pattern.search(e.path))
            and (since is None or e.seq > since)
        ]

    def clear(self) -> None:
        """Forget every entry (numbering continues)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class SandboxSystem:
    """Base class of the sandbox stand-ins.

    Subclasses set :attr:`name` and override:

    * :meth:`seed` — the initial state (a dict, deep-copied; :meth:`reset` restores it);
    * :meth:`register_routes` — add routes to the FastAPI app (decorators,
      ``app.include_router(router)``, :meth:`add_token_endpoint`, :meth:`require_bearer`);
    * :meth:`connection` — the Airflow connection that points a real hook at the stand-in;
    * optionally :meth:`lifespan` (start/stop background work) and :meth:`reset_state`.

    Routes that need their own public URL (``links``, ``Location``, ``instance_url``) should
    derive it from ``request.base_url``, which is the address the client used.

    :param clock: share a clock between systems (default: a new one).
    :param token_ttl: token lifetime override (default :attr:`token_ttl`).
    :param clients: OAuth clients override (default :attr:`clients`).
    """

    name: ClassVar[str] = ""
    """Registry name, also the runner's key (``fusion``, ``stripe``, ...)."""
    title: ClassVar[str] = ""
    """Human-readable name (defaults to :attr:`name`)."""
    conn_type: ClassVar[str] = "http"
    """Airflow connection type used by the default :meth:`connection`."""
    default_conn_id: ClassVar[str | None] = None
    """Connection id suggested by the CLI (default ``sandbox_<name>``)."""
    token_ttl: ClassVar[float] = 3600.0
    """Lifetime of issued tokens, seconds."""
    token_prefix: ClassVar[str] = ""
    """Prefix of issued tokens."""
    sliding_tokens: ClassVar[bool] = False
    """Whether token lifetimes slide with use (idle timeout)."""
    clients: ClassVar[Mapping[str, str]] = {}
    """OAuth clients registered at start (id → secret)."""
    request_log_size: ClassVar[int] = 10_000
    """How many requests the log keeps."""

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        token_ttl: float | None = None,
        clients: Mapping[str, str] | None = None,
    ) -> None:
        if not self.name:
            raise TypeError(f"{type(self).__name__} must set a class attribute 'name'")
        self.clock = clock or SandboxClock()
        self.tokens = TokenIssuer(
            self.clock,
            ttl=self.token_ttl if token_ttl is None else token_ttl,
            clients=self.clients if clients is None else clients,
            prefix=self.token_prefix,
            sliding=self.sliding_tokens,
        )
        self.faults = FaultInjector()
        self.requests = RequestLog(self.request_log_size)
        self.state = SandboxState(self.seed)
        self._app: FastAPI | None = None
        self._app_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- what subclasses provide ----------------------------------------------------------------

    def seed(self) -> Mapping[str, Any]:
        """The initial state; override. Called on first use and on every reset."""
        return {}

    def register_routes(self, app: FastAPI) -> None:
        """Add the system's routes to ``app``; override."""

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """Run code when the server starts and stops (background workers ...); override.

        Override it as an ``@contextlib.asynccontextmanager`` method that yields once.
        """
        yield

    def connection(self, base_url: str) -> dict[str, Any]:
        """The Airflow connection (JSON form) pointing a hook at this stand-in; override.

        The default is a ``conn_type`` connection on ``base_url`` with the first registered client
        as login/password.
        """
        clients = self.tokens.clients
        login, password = next(iter(clients.items()), (None, None))
        return {
            "conn_type": self.conn_type,
            "host": base_url,
            "login": login,
            "password": password,
            "extra": {},
        }

    # -- the app --------------------------------------------------------------------------------

    @property
    def app(self) -> FastAPI:
        """The FastAPI app, built on first access."""
        with self._app_lock:
            if self._app is None:
                self._app = self.build_app()
            return self._app

    def build_app(self) -> FastAPI:
        """Build the app: admin API, the system's routes, error handler, fault middleware."""
        app = FastAPI(
            title=f"{self.title or self.name} sandbox",
            docs_url=f"{ADMIN_PREFIX}/docs",
            redoc_url=None,
            openapi_url=f"{ADMIN_PREFIX}/openapi.json",
            lifespan=self.lifespan,
        )
        app.add_exception_handler(ResponseError, _response_error_handler)
        app.add_exception_handler(OAuthError, _oauth_error_handler)
        app.include_router(admin_router(self))
        self.register_routes(app)
        app.add_middleware(
            FaultMiddleware,
            injector=self.faults,
            now=self.clock.now,
            record=self.requests.record,
        )
        return app

    # -- helpers for subclasses -----------------------------------------------------------------

    @property
    def conn_id(self) -> str:
        """The suggested Airflow connection id."""
        return self.default_conn_id or f"sandbox_{self.name}"

    def now(self) -> datetime:
        """The system clock's current time (aware UTC)."""
        return self.clock.now()

    def require_bearer(
        self,
        *,
        basic: Mapping[str, str] | Callable[[str, str], bool] | None = None,
        accept_token: Callable[[str], str | None] | None = None,
        unauthorized: UnauthorizedFactory | None = None,
        realm: str | None = None,
    ) -> Callable[[Request], Principal]:
        """A FastAPI dependency requiring a valid bearer token of this system.

        See :func:`~ml_connector_sandbox.auth.bearer_dependency`.
        """
        return bearer_dependency(
            self.tokens, basic=basic, accept_token=accept_token, unauthorized=unauthorized, realm=realm
        )

    def add_token_endpoint(self, app: FastAPI | APIRouter, path: str, **options: Any) -> None:
        """Mount an OAuth 2.0 client-credentials token endpoint at ``path``.

        ``options`` go to :func:`~ml_connector_sandbox.auth.token_endpoint`.
        """
        app.add_route(path, token_endpoint(self.tokens, **options), methods=["POST"], include_in_schema=False)

    def reset(
        self,
        *,
        state: bool = True,
        tokens: bool = True,
        faults: bool = True,
        requests: bool = True,
        clock: bool = True,
    ) -> None:
        """Back to a fresh start: seed state, no tokens, no faults, empty log, wall clock.

        With ``state``, :meth:`reset_state` also runs (subclasses restore what they keep beside
        the state there).
        """
        if state:
            self.state.reset()
            self.reset_state()
        if tokens:
            self.tokens.reset()
        if faults:
            self.faults.clear()
        if requests:
            self.requests.clear()
        if clock:
            self.clock.reset()

    def reset_state(self) -> None:
        """Restore in-memory structures kept beside :attr:`state` (settings, caches ...); override.

        Called by :meth:`reset` right after the state went back to its seed.
        """


async def _response_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ResponseError)
    return exc.response


async def _oauth_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return exc.to_response()


class _ClockChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advance: float | None = None
    offset: float | None = None

    @model_validator(mode="after")
    def _one(self) -> _ClockChange:
        if (self.advance is None) == (self.offset is None):
            raise ValueError("give exactly one of 'advance' or 'offset'")
        return self


class _ResetOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: bool = True
    tokens: bool = True
    faults: bool = True
    requests: bool = True
    clock: bool = True


def _clock_view(system: SandboxSystem) -> dict[str, Any]:
    return {"now": system.clock.now().isoformat(), "offset": system.clock.offset}


def admin_router(system: SandboxSystem) -> APIRouter:
    """The admin API every system serves under ``/__sandbox__/`` (never faulted nor logged).

    * ``GET /health`` — ``{"status": "ok", "system": name}``
    * ``GET|POST|DELETE /faults``, ``GET|DELETE /faults/{id}`` — list, add (one rule or a
      list), clear, inspect or remove fault rules
    * ``POST /reset`` — optional JSON ``{"state", "tokens", "faults", "requests", "clock"}`` flags
    * ``POST /tokens/expire`` — ``{"expired": n}``; ``GET /tokens`` — token counters
    * ``GET|POST /clock`` — read, or ``{"advance": s}`` / ``{"offset": s}``
    * ``GET|DELETE /requests`` — request log, filters ``method``, ``path`` (regex), ``since``
    * ``GET /state`` — a JSON dump of the state
    """
    router = APIRouter(prefix=ADMIN_PREFIX, tags=["sandbox admin"])

    @router.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "system": system.name}

    @router.get("/faults")
    def list_faults() -> list[dict[str, Any]]:
        return system.faults.status()

    @router.post("/faults", status_code=201)
    def add_faults(
        rules: FaultRule | list[FaultRule] = Body(...),
    ) -> dict[str, Any] | list[dict[str, Any]]:
        added = system.faults.extend(rules if isinstance(rules, list) else [rules])
        views = [system.faults.get(rule.id) or {} for rule in added]
        return views if isinstance(rules, list) else views[0]

    @router.delete("/faults")
    def clear_faults() -> dict[str, Any]:
        return {"removed": system.faults.clear()}

    @router.get("/faults/{rule_id}")
    def get_fault(rule_id: str) -> dict[str, Any]:
        view = system.faults.get(rule_id)
        if view is None:
            raise HTTPException(status_code=404, detail=f"no fault rule {rule_id!r}")
        return view

    @router.delete("/faults/{rule_id}")
    def remove_fault(rule_id: str) -> dict[str, Any]:
        if not system.faults.remove(rule_id):
            raise HTTPException(status_code=404, detail=f"no fault rule {rule_id!r}")
        return {"removed": 1}

    @router.post("/reset")
    def reset(options: _ResetOptions | None = Body(default=None)) -> dict[str, Any]:
        chosen = options or _ResetOptions()
        system.reset(**chosen.model_dump())
        return {"reset": chosen.model_dump()}

    @router.get("/tokens")
    def tokens() -> dict[str, Any]:
        return {"issued": system.tokens.issued_count, "active": system.tokens.active_count()}

    @router.post("/tokens/expire")
    def expire_tokens() -> dict[str, Any]:
        return {"expired": system.tokens.expire_all()}

    @router.get("/clock")
    def read_clock() -> dict[str, Any]:
        return _clock_view(system)

    @router.post("/clock")
    def change_clock(change: _ClockChange) -> dict[str, Any]:
        if change.advance is not None:
            system.clock.advance(change.advance)
        elif change.offset is not None:
            system.clock.set_offset(change.offset)
        return _clock_view(system)

    @router.get("/requests")
    def list_requests(
        method: str | None = None, path: str | None = None, since: int | None = None
    ) -> list[dict[str, Any]]:
        try:
            entries = system.requests.entries(method=method, path=path, since=since)
        except re.error as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return [entry.to_dict() for entry in entries]

    @router.delete("/requests")
    def clear_requests() -> dict[str, Any]:
        system.requests.clear()
        return {"cleared": True}

    @router.get("/state")
    def dump_state() -> JSONResponse:
        return JSONResponse(jsonable_encoder(system.state.snapshot(), custom_encoder={bytes: repr}))

    return router
