"""The Stripe stand-in (``stripe`` in the sandbox registry).

Modules:

* :mod:`.system` — :class:`StripeSandbox`: state, events, search index, settings, resources;
* :mod:`.api` — the request pipeline (auth, rate limit, form parsing, idempotency, errors);
* :mod:`.forms` — bracket-nested form decoding; :mod:`.params` — parameter checking;
* :mod:`.listing` — list and search envelopes; :mod:`.search` — the search query language;
* :mod:`.searchindex` — what search sees, behind the writes by a lag; :mod:`.cursor` — list pages
  found by position;
* :mod:`.objects` — ids and object shapes; :mod:`.errors` — Stripe's error answers;
* :mod:`.customers` — the customer and balance routes;
* :mod:`.catalog` — products and prices; :mod:`.billing` — invoice items and invoices;
* :mod:`.payments` — payment intents, charges, balance transactions, invoice payments, refunds;
* :mod:`.subscriptions` — subscriptions and their billing cycles;
* :mod:`.events` — the Events API; :mod:`.webhooks` — signed webhook delivery;
* :mod:`.store` — collections, ``expand[]`` and multi-object writes shared by those resources;
* :mod:`.permissions` — restricted keys and Stripe's 403 for a missing permission;
* :mod:`.settings` — every tunable, including the contract's UNCONFIRMED details.
"""

from __future__ import annotations

from ml_connector_sandbox.systems.stripe.api import StripeApi, StripeRequest, StripeResponse
from ml_connector_sandbox.systems.stripe.errors import StripeAPIError
from ml_connector_sandbox.systems.stripe.settings import (
    DEFAULT_SECRET_KEY,
    DEFAULT_WEBHOOK_SECRET,
    StripeSandboxSettings,
)
from ml_connector_sandbox.systems.stripe.system import EventListener, StripeSandbox
from ml_connector_sandbox.systems.stripe.webhooks import WebhookSender

__all__ = [
    "DEFAULT_SECRET_KEY",
    "DEFAULT_WEBHOOK_SECRET",
    "EventListener",
    "StripeAPIError",
    "StripeApi",
    "StripeRequest",
    "StripeResponse",
    "StripeSandbox",
    "StripeSandboxSettings",
    "WebhookSender",
]
