"""The Events API and signed webhooks of the Stripe stand-in, through StripeHook and the real SDK.

Filters (``type`` with wildcards, ``types`` up to 20, ``created`` ranges), paging both ways with
the SDK's auto-paging, retention on the sandbox clock, repeated events absorbed by
``events_between``, signatures checked by the hook and by ``stripe.Webhook``, and deliveries to a
real local HTTP receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import stripe
from ml_connector_sandbox import SandboxClient
from ml_connector_sandbox.systems.stripe import StripeSandbox

from ml_connector_provider.hooks.stripe import EVENT_RETENTION, StripeHook
from tests.integration.stripe.conftest import ConnectionFactory

DAY = 86400


def make_customers(hook: StripeHook, system: StripeSandbox, count: int, *, step: int = 10) -> list[str]:
    """``count`` customers (one ``customer.created`` event each), ``step`` seconds apart; oldest first."""
    ids = []
    for n in range(count):
        ids.append(hook.create_customer({"name": f"C{n}"}, idempotency_key=f"k-c{n}-{time.time_ns()}")["id"])
        system.clock.advance(step)
    return ids


def event_ids(system: StripeSandbox, type: str | None = None) -> list[str]:
    return [e["id"] for e in system.events(type)]


def mixed_events(hook: StripeHook, system: StripeSandbox) -> dict[str, Any]:
    """customer.created, invoice.created, invoiceitem.created, invoice.finalized, customer.updated."""
    customer = hook.create_customer({"name": "Mixed"}, idempotency_key="k-mixed")
    invoice = hook.create_invoice(
        {"customer": customer["id"], "collection_method": "send_invoice", "days_until_due": 30},
        idempotency_key="k-mixed-inv",
    )
    hook.create_invoice_item(
        {"customer": customer["id"], "invoice": invoice["id"], "amount": 100}, idempotency_key="k-mixed-ii"
    )
    hook.finalize_invoice(invoice["id"], idempotency_key="k-mixed-fin")
    hook.update_customer(customer["id"], {"name": "Mixed Ltd"}, idempotency_key="k-mixed-upd")
    return {"customer": customer, "invoice": invoice}


# -- filters -----------------------------------------------------------------------------------------


def test_type_wildcard_and_types_filters(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox
) -> None:
    mixed_events(hook, stripe_system)
    assert [e["type"] for e in stripe_system.events()] == [
        "customer.created",
        "invoice.created",
        "invoiceitem.created",
        "invoice.finalized",
        "customer.updated",
    ]
    invoices = client.v1.events.list(params={"type": "invoice.*"})
    assert invoices.url == "/v1/events"
    assert [e.type for e in invoices.data] == ["invoice.finalized", "invoice.created"]
    assert [e.type for e in client.v1.events.list(params={"type": "invoice*"}).data] == [
        "invoice.finalized",
        "invoiceitem.created",
        "invoice.created",
    ]
    assert [e.type for e in client.v1.events.list(params={"type": "customer.created"}).data] == [
        "customer.created"
    ]
    picked = client.v1.events.list(params={"types": ["customer.updated", "invoiceitem.created"]})
    assert [e.type for e in picked.data] == ["customer.updated", "invoiceitem.created"]

    assert [e["type"] for e in hook.iter_events(types=["invoice.*"])] == [
        "invoice.finalized",
        "invoice.created",
    ]
    assert [e["type"] for e in hook.iter_events(types=["customer.created", "customer.updated"])] == [
        "customer.updated",
        "customer.created",
    ]
    assert len(list(hook.iter_events())) == 5


def test_types_limit_and_exclusive_type(
    hook: StripeHook, client: stripe.StripeClient, admin: SandboxClient, http: requests.Session, base_url: str
) -> None:
    twenty = [f"invoice.t{n}" for n in range(20)]
    assert client.v1.events.list(params={"types": twenty}).data == []
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        client.v1.events.list(params={"types": [*twenty, "invoice.t20"]})
    assert too_many.value.param == "types"
    with pytest.raises(stripe.InvalidRequestError) as both:
        client.v1.events.list(params={"type": "invoice.paid", "types": ["invoice.sent"]})
    assert str(both.value).endswith("You may only specify one of these parameters: type, types.")
    curl_style = http.get(f"{base_url}/v1/events?types[]=invoice.paid&types[]=invoice.sent")
    assert curl_style.status_code == 200

    admin.clear_request_log()
    with pytest.raises(ValueError, match="at most 20"):
        next(iter(hook.iter_events(types=[*twenty, "invoice.t20"])))
    with pytest.raises(ValueError, match="wildcard"):
        hook.iter_events(types=["invoice.*", "charge.refunded"])
    with pytest.raises(ValueError, match="page_size"):
        hook.iter_events(page_size=101)
    with pytest.raises(TypeError):
        hook.iter_events(types="invoice.paid")
    assert admin.request_log() == []


def test_created_ranges(hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox) -> None:
    ids = make_customers(hook, stripe_system, 4)
    created = [e["created"] for e in stripe_system.events()]

    def listed(created_filter: Any) -> list[str]:
        return [e.id for e in client.v1.events.list(params={"created": created_filter}).data]

    events = event_ids(stripe_system)
    assert listed(created[1]) == [events[1]]
    assert listed({"gt": created[1]}) == [events[3], events[2]]
    assert listed({"gte": created[1], "lt": created[3]}) == [events[2], events[1]]
    assert listed({"lte": created[0]}) == [events[0]]
    assert [e["id"] for e in hook.iter_events(created={"gte": created[2]})] == [events[3], events[2]]
    assert len(ids) == 4


def test_paging_both_directions_with_sdk_auto_paging(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox, admin: SandboxClient
) -> None:
    make_customers(hook, stripe_system, 7, step=1)
    events = event_ids(stripe_system)  # oldest first
    admin.clear_request_log()

    newest_first = [e.id for e in client.v1.events.list(params={"limit": 3}).auto_paging_iter()]
    assert newest_first == events[::-1]
    queries = [r["query"] for r in admin.request_log(path="^/v1/events$")]
    assert queries == [
        "limit=3",
        f"limit=3&starting_after={events[4]}",
        f"limit=3&starting_after={events[1]}",
    ]

    admin.clear_request_log()
    forward = [
        e.id
        for e in client.v1.events.list(params={"limit": 2, "ending_before": events[1]}).auto_paging_iter()
    ]
    assert forward == events[2:]
    queries = [r["query"] for r in admin.request_log(path="^/v1/events$")]
    assert queries[0] == f"limit=2&ending_before={events[1]}"
    assert queries[1] == f"limit=2&ending_before={events[3]}"

    page = client.v1.events.list(params={"limit": 2, "ending_before": events[1]})
    assert [e.id for e in page.data] == [events[3], events[2]]
    assert page.has_more is True
    assert [e["id"] for e in hook.iter_events(page_size=2)] == events[::-1]

    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.events.list(params={"starting_after": "evt_unknown000000"})
    assert (unknown.value.code, unknown.value.param) == ("resource_missing", "starting_after")
    with pytest.raises(stripe.InvalidRequestError) as limit:
        client.v1.events.list(params={"limit": 101})
    assert limit.value.param == "limit"


def test_cursor_need_not_match_the_filters(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox
) -> None:
    mixed_events(hook, stripe_system)
    events = stripe_system.events()
    customer_created = events[0]["id"]
    newer_invoices = client.v1.events.list(params={"type": "invoice.*", "ending_before": customer_created})
    assert [e.type for e in newer_invoices.data] == ["invoice.finalized", "invoice.created"]


def test_retrieve_event_and_retention_on_the_clock(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox
) -> None:
    [old] = make_customers(hook, stripe_system, 1)
    stripe_system.clock.advance(20 * DAY)
    [recent] = make_customers(hook, stripe_system, 1)
    old_event, recent_event = stripe_system.events()
    assert client.v1.events.retrieve(old_event["id"]).data.object.id == old

    stripe_system.clock.advance(10 * DAY + 60)  # the first event is now 30 days and a bit old
    assert [e.id for e in client.v1.events.list().data] == [recent_event["id"]]
    with pytest.raises(stripe.InvalidRequestError) as expired:
        client.v1.events.retrieve(old_event["id"])
    assert expired.value.http_status == 404
    assert expired.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as expired_cursor:
        client.v1.events.list(params={"starting_after": old_event["id"]})
    assert (expired_cursor.value.http_status, expired_cursor.value.param) == (400, "starting_after")
    assert client.v1.events.retrieve(recent_event["id"]).data.object.id == recent
    assert len(stripe_system.events()) == 2  # still there for tests

    stripe_system.settings.event_retention_days = 5
    assert client.v1.events.list().data == []
    assert timedelta(days=30) == EVENT_RETENTION


def test_events_between_orders_and_absorbs_repeats(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox
) -> None:
    start = datetime.fromtimestamp(stripe_system.timestamp(), UTC)  # a whole second: events are in seconds
    make_customers(hook, stripe_system, 3, step=0)  # three events in (almost) the same second
    stripe_system.clock.advance(5)
    mixed_events(hook, stripe_system)
    stripe_system.clock.advance(5)
    end = stripe_system.clock.now()
    stripe_system.clock.advance(5)
    make_customers(hook, stripe_system, 1)  # after the window

    stripe_system.settings.event_list_repeats = 2
    page = client.v1.events.list(params={"limit": 3})
    assert len(page.data) == 6
    assert [e.id for e in page.data][::2] == [e.id for e in page.data][1::2]
    repeated = list(hook.iter_events(types=["customer.created"]))
    assert len(repeated) == 2 * 5

    window = hook.events_between(["customer.created", "invoice.*"], start, end)
    expected = [
        e
        for e in stripe_system.events()
        if e["type"] in ("customer.created", "invoice.created", "invoice.finalized")
        and start.timestamp() <= e["created"] < end.timestamp()
    ]
    assert [e["id"] for e in window] == [
        e["id"] for e in sorted(expected, key=lambda e: (e["created"], e["id"]))
    ]
    assert len(window) == 6  # 3 + 1 customers created, invoice.created, invoice.finalized
    assert [(e["created"], e["id"]) for e in window] == sorted((e["created"], e["id"]) for e in window)

    everything = hook.events_between([], start, end)
    assert len(everything) == 3 + 5
    assert len({e["id"] for e in everything}) == len(everything)
    many = [f"charge.t{n}" for n in range(25)] + ["customer.updated"]
    assert [e["type"] for e in hook.events_between(many, start, end)] == ["customer.updated"]
    assert hook.events_between(["customer.created"], end, start) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        hook.events_between([], start.replace(tzinfo=None), end)


def test_events_between_bounds_are_half_open(hook: StripeHook, stripe_system: StripeSandbox) -> None:
    make_customers(hook, stripe_system, 3)
    created = [e["created"] for e in stripe_system.events()]
    ids = event_ids(stripe_system)
    start = datetime.fromtimestamp(created[0], UTC)
    end = datetime.fromtimestamp(created[2], UTC)
    assert [e["id"] for e in hook.events_between(["customer.created"], start, end)] == ids[:2]
    later = start + timedelta(milliseconds=500)
    assert [
        e["id"] for e in hook.events_between(["customer.created"], later, end + timedelta(seconds=1))
    ] == ids[1:]


def test_events_keep_the_object_as_it_was_and_their_request(
    hook: StripeHook, stripe_system: StripeSandbox, client: stripe.StripeClient
) -> None:
    made = mixed_events(hook, stripe_system)
    invoice_id = made["invoice"]["id"]
    hook.update_invoice(invoice_id, {"metadata": {"po": "PO-7"}}, idempotency_key="k-meta")
    stripe_system.pay_invoice(invoice_id)

    [created] = stripe_system.events("invoice.created")
    assert created["data"]["object"]["status"] == "draft"
    assert created["request"]["idempotency_key"] == "k-mixed-inv"
    assert created["request"]["id"].startswith("req_")
    [finalized] = stripe_system.events("invoice.finalized")
    assert finalized["data"]["object"]["status"] == "open"
    [updated] = stripe_system.events("invoice.updated")
    assert updated["data"]["previous_attributes"] == {"metadata": {"po": None}}
    assert "previous_attributes" not in finalized["data"]
    [paid] = stripe_system.events("invoice.paid")
    assert paid["data"]["object"]["status"] == "paid"
    assert paid["request"] == {"id": None, "idempotency_key": None}
    api_view = client.v1.events.retrieve(created["id"])
    assert api_view.data.object.status == "draft"
    assert isinstance(api_view.data.object, stripe.Invoice)


# -- webhook signatures ------------------------------------------------------------------------------


def test_signed_delivery_is_verified_by_the_hook_and_the_sdk(
    hook: StripeHook, stripe_system: StripeSandbox
) -> None:
    hook.create_customer({"name": "Signed"}, idempotency_key="k-signed")
    [event] = stripe_system.events()
    body, headers = stripe_system.signed_delivery(event)
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
    signature = headers["Stripe-Signature"]
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", signature)
    assert match is not None, signature
    signed_at = int(match.group(1))
    assert abs(signed_at - stripe_system.clock.time()) <= 2
    expected = hmac.new(
        stripe_system.settings.webhook_secret.encode(), f"{signed_at}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert match.group(2) == expected
    assert json.loads(body) == event

    verified = hook.construct_webhook_event(body, signature)
    assert verified == event
    assert hook.construct_webhook_event(body.decode(), signature) == event

    secret = stripe_system.settings.webhook_secret
    sdk_event = stripe.Webhook.construct_event(body, signature, secret)
    assert sdk_event.id == event["id"]
    assert isinstance(sdk_event.data.object, stripe.Customer)
    assert stripe.WebhookSignature.verify_header(body.decode(), signature, secret, tolerance=300) is True

    # while a secret is being rolled two v1 signatures are sent: any match is enough
    _, old_headers = stripe_system.signed_delivery(event, secret="whsec_previousSecret0000")
    old_v1 = old_headers["Stripe-Signature"].split(",v1=")[1]
    rolled = f"{signature},v1={old_v1}"
    assert hook.construct_webhook_event(body, rolled)["id"] == event["id"]
    reordered = f"{old_headers['Stripe-Signature']},v1={signature.split(',v1=')[1]}"
    assert hook.construct_webhook_event(body, reordered)["id"] == event["id"]


def test_tampered_body_wrong_secret_and_missing_secret_are_refused(
    hook: StripeHook, stripe_system: StripeSandbox, make_connection: ConnectionFactory
) -> None:
    hook.create_customer({"name": "Tamper"}, idempotency_key="k-tamper")
    [event] = stripe_system.events()
    body, headers = stripe_system.signed_delivery(event)
    secret = stripe_system.settings.webhook_secret
    tampered = body.replace(b'"Tamper"', b'"Tampered"')
    assert tampered != body
    with pytest.raises(stripe.SignatureVerificationError) as refused:
        hook.construct_webhook_event(tampered, headers["Stripe-Signature"])
    assert "No signatures found matching the expected signature" in str(refused.value)
    assert secret not in str(refused.value)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, headers["Stripe-Signature"], secret)
    with pytest.raises(stripe.SignatureVerificationError):
        hook.construct_webhook_event(body, headers["Stripe-Signature"], secret="whsec_someoneElse000")
    with pytest.raises(stripe.SignatureVerificationError, match="No signatures found with expected scheme"):
        hook.construct_webhook_event(body, "t=1,v0=abc")
    with pytest.raises(stripe.SignatureVerificationError, match="Unable to extract timestamp"):
        hook.construct_webhook_event(body, "garbage")

    no_secret = StripeHook(make_connection("stripe_no_whsec", webhook_secret=None))
    with pytest.raises(ValueError, match="stripe_no_whsec") as missing:
        no_secret.construct_webhook_event(body, headers["Stripe-Signature"])
    assert "whsec_" not in str(missing.value)
    assert (
        no_secret.construct_webhook_event(body, headers["Stripe-Signature"], secret=secret)["id"]
        == event["id"]
    )

    not_event = json.dumps({"object": "customer", "id": "cus_x"})
    with pytest.raises(ValueError, match="not a Stripe event"):
        hook.construct_webhook_event(
            not_event, stripe.WebhookSignature.generate_signature_header(not_event, secret)
        )


def test_stale_timestamp_is_refused(hook: StripeHook, stripe_system: StripeSandbox) -> None:
    hook.create_customer({"name": "Stale"}, idempotency_key="k-stale")
    [event] = stripe_system.events()
    stale_at = int(time.time()) - 600
    body, headers = stripe_system.signed_delivery(event, timestamp=stale_at)
    with pytest.raises(stripe.SignatureVerificationError, match="Timestamp outside the tolerance zone"):
        hook.construct_webhook_event(body, headers["Stripe-Signature"])
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            body, headers["Stripe-Signature"], stripe_system.settings.webhook_secret
        )
    assert hook.construct_webhook_event(body, headers["Stripe-Signature"], tolerance=900)["id"] == event["id"]
    assert hook.construct_webhook_event(body, headers["Stripe-Signature"], tolerance=0)["id"] == event["id"]


# -- webhook delivery --------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A local HTTP endpoint recording every POST (headers and raw body)."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0

    def event_ids(self) -> list[str]:
        return [json.loads(body)["id"] for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if state.delay:
                time.sleep(state.delay)
            with lock:
                state.received.append((dict(self.headers.items()), body))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/stripe/webhook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_events_are_posted_signed_to_the_webhook_url(
    hook: StripeHook, stripe_system: StripeSandbox, receiver: Receiver, base_url: str
) -> None:
    changed = requests.post(
        f"{base_url}/__sandbox__/stripe/settings", json={"webhook_url": receiver.url}, timeout=5
    )
    assert changed.json()["webhook_url"] == receiver.url
    mixed_events(hook, stripe_system)
    assert stripe_system.wait_for_webhooks(10)

    assert sorted(receiver.event_ids()) == sorted(event_ids(stripe_system))
    for headers, body in receiver.received:
        assert headers["User-Agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        event = hook.construct_webhook_event(body, headers["Stripe-Signature"])
        assert event["object"] == "event"
        assert event["pending_webhooks"] == 1
        assert (
            stripe.Webhook.construct_event(body, headers["Stripe-Signature"], hook.webhook_secret).id
            == event["id"]
        )

    deliveries = requests.get(f"{base_url}/__sandbox__/stripe/webhooks/deliveries", timeout=5).json()
    assert len(deliveries) == 5
    assert {(d["ok"], d["status"], d["url"], d["redelivery"]) for d in deliveries} == {
        (True, 200, receiver.url, False)
    }
    assert {e["pending_webhooks"] for e in stripe_system.events()} == {0}
    delivered = hook.client.v1.events.list(params={"delivery_success": True})
    assert len(delivered.data) == 5


def test_slow_receiver_never_blocks_the_api(
    hook: StripeHook, stripe_system: StripeSandbox, receiver: Receiver
) -> None:
    receiver.delay = 0.4
    stripe_system.settings.webhook_url = receiver.url
    started = time.monotonic()
    make_customers(hook, stripe_system, 4, step=0)
    assert time.monotonic() - started < 1.0  # four deliveries would take 1.6 s
    assert stripe_system.wait_for_webhooks(10)
    assert len(receiver.received) == 4


def test_failed_deliveries_are_recorded_and_harmless(
    hook: StripeHook, client: stripe.StripeClient, stripe_system: StripeSandbox, receiver: Receiver
) -> None:
    receiver.status = 500
    stripe_system.settings.webhook_url = receiver.url
    make_customers(hook, stripe_system, 1)
    stripe_system.settings.webhook_url = "http://127.0.0.1:9/nobody-listens"
    stripe_system.settings.webhook_timeout = 2
    make_customers(hook, stripe_system, 1)
    assert stripe_system.wait_for_webhooks(10)

    refused, unreachable = stripe_system.webhook_deliveries()
    assert (refused["ok"], refused["status"], refused["error"]) == (False, 500, "HTTP 500")
    assert (unreachable["ok"], unreachable["status"]) == (False, None)
    assert unreachable["error"].startswith("ConnectionError")
    assert {e["pending_webhooks"] for e in stripe_system.events()} == {1}
    pending = client.v1.events.list(params={"delivery_success": False})
    assert len(pending.data) == 2
    assert client.v1.events.list(params={"delivery_success": True}).data == []
    assert len(list(hook.iter_customers())) == 2  # the API kept working


def test_redelivery_sends_every_event_again(
    hook: StripeHook, stripe_system: StripeSandbox, receiver: Receiver, base_url: str
) -> None:
    refused = requests.post(f"{base_url}/__sandbox__/stripe/webhooks/redeliver", json={"times": 2}, timeout=5)
    assert refused.status_code == 400  # no webhook URL yet
    stripe_system.settings.webhook_url = receiver.url
    make_customers(hook, stripe_system, 2)
    assert stripe_system.wait_for_webhooks(10)
    assert len(receiver.received) == 2

    queued = requests.post(f"{base_url}/__sandbox__/stripe/webhooks/redeliver", json={"times": 2}, timeout=5)
    assert queued.json() == {"queued": 4}
    assert stripe_system.wait_for_webhooks(10)
    ids = receiver.event_ids()
    assert len(ids) == 6
    assert {ids.count(event_id) for event_id in event_ids(stripe_system)} == {3}
    for headers, body in receiver.received:
        hook.construct_webhook_event(body, headers["Stripe-Signature"])
    records = stripe_system.webhook_deliveries()
    assert [r["redelivery"] for r in records] == [False, False, True, True, True, True]
    assert stripe_system.redeliver_webhooks(event_ids=[ids[0]]) == 1
    assert stripe_system.wait_for_webhooks(10)
    assert len(receiver.received) == 7


def test_reset_forgets_deliveries_and_the_webhook_url(
    hook: StripeHook, stripe_system: StripeSandbox, receiver: Receiver
) -> None:
    stripe_system.settings.webhook_url = receiver.url
    make_customers(hook, stripe_system, 1)
    assert stripe_system.wait_for_webhooks(10)
    assert len(stripe_system.webhook_deliveries()) == 1
    stripe_system.reset(state=False)  # settings and deliveries go with the state only
    assert (stripe_system.settings.webhook_url, len(stripe_system.webhook_deliveries())) == (receiver.url, 1)
    stripe_system.reset()
    assert stripe_system.webhook_deliveries() == []
    assert stripe_system.settings.webhook_url is None
    make_customers(hook, stripe_system, 1)
    assert stripe_system.wait_for_webhooks(10)
    assert len(receiver.received) == 1
