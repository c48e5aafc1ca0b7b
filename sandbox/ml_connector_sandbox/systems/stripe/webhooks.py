"""Signed webhook delivery of the stand-in's events (contract A6).

When ``settings.webhook_url`` is set, every emitted event is queued and POSTed to it by one
background thread, so a slow or dead receiver never holds up the API:

* body: the event as JSON (``json.dumps(event, indent=2)``, the exact bytes signed);
* headers: ``Content-Type: application/json; charset=utf-8``,
  ``User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)``, and
  ``Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` over ``f"{t}.{body}"`` keyed with the
  whole ``settings.webhook_secret`` (``whsec_`` prefix included); ``t`` is the sandbox clock when
  the request is sent, and the secret is the one configured at that moment;
* one attempt per queued delivery, ``settings.webhook_timeout`` seconds; a 2xx answer counts as
  delivered (the stored event's ``pending_webhooks`` drops to 0). Anything else — another status,
  a refused connection, a timeout — is recorded and nothing is retried automatically (Stripe
  retries for days; use :meth:`WebhookSender.redeliver`, admin
  ``POST /__sandbox__/stripe/webhooks/redeliver``, to send again).

Every attempt is recorded (:meth:`WebhookSender.deliveries`, admin
``GET /__sandbox__/stripe/webhooks/deliveries``); a failure never reaches the API or the server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from ml_connector_sandbox.systems.stripe.objects import clone

if TYPE_CHECKING:
    from ml_connector_sandbox.systems.stripe.system import StripeSandbox

__all__ = ["WEBHOOK_USER_AGENT", "WebhookSender", "sign_payload"]

log = logging.getLogger(__name__)

WEBHOOK_USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
"""The ``User-Agent`` of Stripe's webhook requests."""
MAX_RECORDED = 10_000
"""Delivery records kept (oldest dropped first)."""


def sign_payload(body: str, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value for ``body``: ``t=<timestamp>,v1=<hex HMAC-SHA256>``."""
    signature = hmac.new(secret.encode("utf-8"), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


@dataclass(frozen=True)
class _Job:
    event: dict[str, Any]
    url: str
    generation: int
    redelivery: bool


class WebhookSender:
    """Queues events and delivers them to ``settings.webhook_url`` from a daemon thread.

    :param system: the stand-in (settings, clock, stored events).
    """

    def __init__(self, system: StripeSandbox) -> None:
        self.system = system
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._outstanding = 0
        self._records: list[dict[str, Any]] = []
        self._sequence = 0

    # -- signing ---------------------------------------------------------------------------------

    def signed_delivery(
        self, event: Mapping[str, Any], *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers a delivery of ``event`` carries.

        :param secret: sign with this secret instead of ``settings.webhook_secret``.
        :param timestamp: the ``t`` to sign (default: the sandbox clock now).
        """
        body = json.dumps(event, indent=2)
        signed_at = int(self.system.clock.time()) if timestamp is None else int(timestamp)
        key = self.system.settings.webhook_secret if secret is None else secret
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": WEBHOOK_USER_AGENT,
            "Accept": "*/*; q=0.5, application/xml",
            "Cache-Control": "no-cache",
            "Stripe-Signature": sign_payload(body, key, signed_at),
        }
        return body.encode("utf-8"), headers

    # -- queueing --------------------------------------------------------------------------------

    def on_event(self, event: dict[str, Any]) -> None:
        """Event listener: queue ``event`` when a webhook URL is configured."""
        url = self.system.settings.webhook_url
        if url:
            self._enqueue(event, url, redelivery=False)

    def redeliver(self, *, times: int = 1, event_ids: Iterable[str] | None = None) -> int:
        """Queue every stored event (or those named), oldest first, ``times`` times over.

        :return: how many deliveries were queued.
        :raises ValueError: no webhook URL is configured, or ``times`` < 1.
        """
        url = self.system.settings.webhook_url
        if not url:
            raise ValueError("no webhook_url is configured")
        if times < 1:
            raise ValueError("times must be at least 1")
        wanted = set(event_ids) if event_ids is not None else None
        events = [e for e in self.system.events() if wanted is None or e["id"] in wanted]
        for _ in range(times):
            for event in events:
                self._enqueue(event, url, redelivery=True)
        return len(events) * times

    def _enqueue(self, event: dict[str, Any], url: str, *, redelivery: bool) -> None:
        with self._lock:
            job = _Job(clone(event), url, self._generation, redelivery)
            self._outstanding += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name=f"stripe-webhooks-{id(self):x}", daemon=True
                )
                self._thread.start()
        self._queue.put(job)

    def wait(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery was attempted; ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._outstanding:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def reset(self) -> None:
        """Drop queued deliveries and the records (a delivery in progress finishes unrecorded)."""
        with self._lock:
            self._generation += 1
            self._records.clear()

    # -- records ---------------------------------------------------------------------------------

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery attempt, oldest first: ``id``, ``event_id``, ``event_type``, ``url``,
        ``redelivery``, ``status`` (HTTP status or ``None``), ``ok``, ``error``, ``signed_at``,
        ``duration_ms``."""
        with self._lock:
            return [dict(record) for record in self._records]

    def accepted_event_ids(self) -> set[str]:
        """Ids of events some delivery got a 2xx for."""
        with self._lock:
            return {str(r["event_id"]) for r in self._records if r["ok"]}

    # -- the worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        session = requests.Session()
        session.trust_env = False  # a proxy from the environment must not intercept local receivers
        while True:
            job = self._queue.get()
            try:
                with self._lock:
                    current = job.generation == self._generation
                if current:
                    self._deliver(session, job)
            except Exception:  # never let one delivery stop the worker
                log.exception("Stripe sandbox webhook delivery of %s failed", job.event.get("id"))
            finally:
                with self._idle:
                    self._outstanding -= 1
                    self._idle.notify_all()

    def _deliver(self, session: requests.Session, job: _Job) -> None:
        settings = self.system.settings
        signed_at = int(self.system.clock.time())
        body, headers = self.signed_delivery(job.event, timestamp=signed_at)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            response = session.post(job.url, data=body, headers=headers, timeout=settings.webhook_timeout)
            status = response.status_code
            response.close()
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = error is None
        with self._lock:
            if job.generation != self._generation:
                return
            self._sequence += 1
            self._records.append(
                {
                    "id": f"whdel_{self._sequence}",
                    "event_id": job.event["id"],
                    "event_type": job.event["type"],
                    "url": job.url,
                    "redelivery": job.redelivery,
                    "status": status,
                    "ok": ok,
                    "error": error,
                    "signed_at": signed_at,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                }
            )
            del self._records[:-MAX_RECORDED]
        if ok:
            self.system.mark_event_delivered(str(job.event["id"]))
