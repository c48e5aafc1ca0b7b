"""Count the HTTP calls a process makes, by system and route, from inside that process.

:func:`install` wraps ``requests.Session.send``, which both the Stripe SDK (``RequestsClient``)
and the Fusion hook's transport go through, so every attempt is counted (retries included) with
its status and the time spent waiting for it. The counters are aggregates (a ``Counter`` keyed by
system, method, route and status), so their size does not grow with the number of records and
does not disturb a memory measurement. Nothing here depends on the hooks or the stand-ins beyond
their base URLs.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

_DIGITS = re.compile(r"^\d+$")
_FUSION_REST = re.compile(r"^/fscmRestApi/resources/[^/]+/")


def stripe_route(path: str) -> str:
    """``/v1/invoices/in_123/finalize`` → ``/v1/invoices/{id}/finalize``: in Stripe's v1 paths
    every other segment after the collection is an object id (``search`` excepted)."""
    parts = path.strip("/").split("/")
    templated = [
        "{id}" if index >= 2 and index % 2 == 0 and part != "search" else part
        for index, part in enumerate(parts)
    ]
    return "/" + "/".join(templated)


def fusion_route(path: str, query: str = "") -> str:
    """``/fscmRestApi/resources/11.13.18.05/receivablesInvoices/300001`` → ``receivablesInvoices/{id}``
    (numeric segments become ``{id}``; an ESS finder is named: ``erpintegrations?finder=ESSJobStatusRF``)."""
    rest = _FUSION_REST.sub("", path)
    route = "/".join("{id}" if _DIGITS.match(part) else part for part in rest.strip("/").split("/"))
    finder = parse_qs(query).get("finder")
    if finder:
        route += f"?finder={finder[0].split(';')[0]}"
    return route


@dataclass
class CallStats:
    """Counts and waiting time of the HTTP calls, by system."""

    calls: Counter[tuple[str, str, str, int]] = field(default_factory=Counter)
    """(system, method, route, status) → calls; status 0 = no answer (connection error)."""
    wait: dict[str, float] = field(default_factory=dict)
    """system → seconds spent waiting for answers."""

    def copy(self) -> CallStats:
        return CallStats(Counter(self.calls), dict(self.wait))

    def since(self, earlier: CallStats) -> CallStats:
        """What happened after the snapshot ``earlier``."""
        calls = Counter(self.calls)
        calls.subtract(earlier.calls)
        wait = {k: v - earlier.wait.get(k, 0.0) for k, v in self.wait.items()}
        return CallStats(+calls, {k: v for k, v in wait.items() if v > 0})

    def total(self, system: str, *, status: int | None = None) -> int:
        return sum(
            n
            for (s, _, _, code), n in self.calls.items()
            if s == system and (status is None or code == status)
        )

    def count(self, system: str, method: str, route: str, *, status: int | None = None) -> int:
        return sum(
            n
            for (s, m, r, code), n in self.calls.items()
            if (s, m, r) == (system, method, route) and (status is None or code == status)
        )

    def by_route(self, system: str) -> dict[str, int]:
        """``"POST /v1/customers": calls`` for one system, every status together, most called first."""
        routes: Counter[str] = Counter()
        for (s, method, route, _), n in self.calls.items():
            if s == system:
                routes[f"{method} {route}"] += n
        return dict(routes.most_common())

    def statuses(self, system: str) -> dict[str, int]:
        codes: Counter[str] = Counter()
        for (s, _, _, code), n in self.calls.items():
            if s == system:
                codes[str(code)] += n
        return dict(sorted(codes.items()))

    def as_dict(self, system: str) -> dict[str, Any]:
        return {
            "calls": self.total(system),
            "by_route": self.by_route(system),
            "statuses": self.statuses(system),
            "wait_s": round(self.wait.get(system, 0.0), 3),
        }


def server_times(log: Iterable[Mapping[str, Any]], system: str) -> dict[str, dict[str, float]]:
    """Calls and time the stand-in spent answering, by route, from its request log entries
    (``GET /__sandbox__/requests``; ``duration_ms`` is measured inside the stand-in)."""
    calls: Counter[str] = Counter()
    total: dict[str, float] = {}
    for entry in log:
        if system == "stripe":
            route = stripe_route(entry["path"])
        else:
            route = fusion_route(entry["path"], entry.get("query") or "")
        key = f"{entry['method']} {route}"
        calls[key] += 1
        total[key] = total.get(key, 0.0) + float(entry["duration_ms"])
    return {
        key: {"calls": n, "mean_ms": round(total[key] / n, 3), "total_s": round(total[key] / 1000, 3)}
        for key, n in calls.most_common()
    }


class _Counter:
    def __init__(self, systems: Mapping[str, str]) -> None:
        # base URL (scheme://host:port) → system name
        self.systems = {_origin(url): name for name, url in systems.items()}
        self.stats = CallStats()
        self.lock = threading.Lock()

    def record(self, method: str, url: str, status: int, seconds: float) -> None:
        parts = urlsplit(url)
        system = self.systems.get(f"{parts.scheme}://{parts.netloc}", "other")
        if system == "stripe":
            route = stripe_route(parts.path)
        elif system == "fusion":
            route = fusion_route(parts.path, parts.query)
        else:
            route = parts.path
        with self.lock:
            self.stats.calls[(system, method, route, status)] += 1
            self.stats.wait[system] = self.stats.wait.get(system, 0.0) + seconds


_installed: _Counter | None = None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def install(systems: Mapping[str, str]) -> None:
    """Count every ``requests`` call of this process from now on.

    :param systems: system name → base URL (``{"stripe": "http://127.0.0.1:4242", ...}``).
    """
    global _installed
    import requests

    if _installed is not None:
        _installed.systems = {_origin(url): name for name, url in systems.items()}
        return
    counter = _installed = _Counter(systems)
    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        started = time.perf_counter()
        status = 0
        try:
            response = original(self, request, **kwargs)
            status = response.status_code
            return response
        finally:
            counter.record(str(request.method), str(request.url), status, time.perf_counter() - started)

    requests.Session.send = send  # type: ignore[method-assign]


def snapshot() -> CallStats:
    """A copy of the counters so far (empty when :func:`install` was not called)."""
    if _installed is None:
        return CallStats()
    with _installed.lock:
        return _installed.stats.copy()
