"""The Stripe stand-in where real Stripe is stricter than a naive fake (contract Appendix S, A4, A5,
A8), driven over HTTP with the real ``stripe`` SDK.

Past due dates, search lag and deleted customers in search, metadata and fields unset with ``""``,
idempotency keys expiring after 24 hours, ``add_lines``, the per-account and search rate limiters
and the request counters; plus the search index and position-based list paging at scale.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import stripe
from ml_connector_sandbox.systems.stripe import StripeSandbox, StripeSandboxSettings
from ml_connector_sandbox.systems.stripe.billing import MAX_INVOICE_ITEMS, PAST_DUE_DATE_MESSAGE
from ml_connector_sandbox.systems.stripe.customers import CUSTOMER_SEARCH_FIELDS
from ml_connector_sandbox.systems.stripe.objects import customer_object, new_id
from ml_connector_sandbox.systems.stripe.search import parse_search_query
from ml_connector_sandbox.systems.stripe.searchindex import SearchIndex

DAY = 86400


@pytest.fixture
def sdk(base_url: str, stripe_system: StripeSandbox) -> stripe.StripeClient:
    """A plain ``stripe.StripeClient`` pointed at the stand-in (no retries)."""
    return stripe.StripeClient(stripe_system.secret_key, base_addresses={"api": base_url})


@pytest.fixture
def customer(sdk: stripe.StripeClient) -> Any:
    return sdk.v1.customers.create(params={"name": "Acme Ltd", "email": "ap@acme.test"})


def draft(sdk: stripe.StripeClient, customer_id: str, **params: Any) -> Any:
    fields = {"customer": customer_id, "collection_method": "send_invoice", "days_until_due": 30, **params}
    return sdk.v1.invoices.create(params=fields)


def search_ids(sdk: stripe.StripeClient, query: str) -> list[str]:
    return [c.id for c in sdk.v1.customers.search(params={"query": query}).auto_paging_iter()]


def event_types(system: StripeSandbox, since: int = 0) -> list[str]:
    return [event["type"] for event in system.events()[since:]]


# -- due dates (Appendix S) --------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-DAY, -1, 0])
def test_invoice_create_refuses_a_due_date_not_in_the_future(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any, offset: int
) -> None:
    due = stripe_system.timestamp() + offset
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.invoices.create(
            params={"customer": customer.id, "collection_method": "send_invoice", "due_date": due}
        )
    assert refused.value.http_status == 400
    assert refused.value.param == "due_date"
    assert refused.value.user_message == PAST_DUE_DATE_MESSAGE
    assert refused.value.user_message == "Invalid timestamp: must be an integer Unix timestamp in the future."
    assert refused.value.error is not None
    assert refused.value.error.type == "invalid_request_error"
    assert stripe_system.invoices() == []


def test_invoice_create_and_update_accept_future_due_dates_and_refuse_past_ones(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any
) -> None:
    future = stripe_system.timestamp() + 3600
    invoice = sdk.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "due_date": future}
    )
    assert invoice.due_date == future
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.invoices.update(invoice.id, params={"due_date": stripe_system.timestamp() - 60})
    assert refused.value.param == "due_date"
    assert refused.value.user_message == PAST_DUE_DATE_MESSAGE
    assert stripe_system.invoices()[0]["due_date"] == future
    later = future + DAY
    assert sdk.v1.invoices.update(invoice.id, params={"due_date": later}).due_date == later


def test_a_refused_due_date_is_not_stored_for_idempotent_replay(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any
) -> None:
    base = {"customer": customer.id, "collection_method": "send_invoice"}
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.invoices.create(
            params={**base, "due_date": stripe_system.timestamp() - 5}, options={"idempotency_key": "k-due"}
        )
    # contract A4: nothing is saved when parameters fail validation, so the key is still free
    fixed = sdk.v1.invoices.create(
        params={**base, "due_date": stripe_system.timestamp() + DAY}, options={"idempotency_key": "k-due"}
    )
    assert fixed.last_response.headers.get("Idempotent-Replayed") is None
    assert [i["id"] for i in stripe_system.invoices()] == [fixed.id]


def test_refuse_past_due_date_false_turns_the_rule_off(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any
) -> None:
    assert StripeSandboxSettings().refuse_past_due_date is True
    stripe_system.settings.refuse_past_due_date = False
    past = stripe_system.timestamp() - DAY
    invoice = sdk.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "due_date": past}
    )
    assert invoice.due_date == past
    sdk.v1.invoice_items.create(params={"customer": customer.id, "invoice": invoice.id, "amount": 100})
    assert sdk.v1.invoices.finalize_invoice(invoice.id).status == "open"


@pytest.mark.parametrize("refuse_on_finalize", [True, False])
def test_finalizing_a_draft_whose_due_date_passed(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any, refuse_on_finalize: bool
) -> None:
    """UNCONFIRMED (``refuse_past_due_date_on_finalize``, default True): both answers."""
    assert StripeSandboxSettings().refuse_past_due_date_on_finalize is True
    stripe_system.settings.refuse_past_due_date_on_finalize = refuse_on_finalize
    due = stripe_system.timestamp() + 3600
    invoice = sdk.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "due_date": due}
    )
    sdk.v1.invoice_items.create(params={"customer": customer.id, "invoice": invoice.id, "amount": 100})
    stripe_system.clock.advance(2 * 3600)
    before = len(stripe_system.events())
    if refuse_on_finalize:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            sdk.v1.invoices.finalize_invoice(invoice.id, options={"idempotency_key": "k-fin"})
        assert refused.value.param == "due_date"
        assert refused.value.user_message == PAST_DUE_DATE_MESSAGE
        assert stripe_system.invoices()[0]["status"] == "draft"
        assert event_types(stripe_system, before) == []
        # not stored: once the due date is fixed, the same key finalizes
        sdk.v1.invoices.update(invoice.id, params={"due_date": stripe_system.timestamp() + DAY})
        finalized = sdk.v1.invoices.finalize_invoice(invoice.id, options={"idempotency_key": "k-fin"})
        assert finalized.status == "open"
    else:
        finalized = sdk.v1.invoices.finalize_invoice(invoice.id)
        assert finalized.status == "open"
        assert finalized.due_date == due


def test_days_until_due_drafts_finalize_whatever_the_clock_says(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any
) -> None:
    invoice = draft(sdk, customer.id, days_until_due=0)
    sdk.v1.invoice_items.create(params={"customer": customer.id, "invoice": invoice.id, "amount": 100})
    stripe_system.clock.advance(10 * DAY)
    finalized = sdk.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.due_date == finalized.status_transitions.finalized_at


# -- search lag and deleted customers (Appendix S) --------------------------------------------------


def test_search_lag_defaults_to_about_a_minute_for_creates_and_updates(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox
) -> None:
    assert StripeSandboxSettings().search_lag == 60.0
    assert stripe_system.settings.search_lag == 60.0
    created = sdk.v1.customers.create(params={"name": "Fresh", "metadata": {"erp_id": "1"}})
    assert search_ids(sdk, "metadata['erp_id']:'1'") == []
    stripe_system.clock.advance(30)
    assert search_ids(sdk, "metadata['erp_id']:'1'") == []
    stripe_system.clock.advance(31)
    assert search_ids(sdk, "metadata['erp_id']:'1'") == [created.id]

    sdk.v1.customers.update(created.id, params={"metadata": {"erp_id": "2"}, "name": "Renamed"})
    # until the update reaches the index, search shows the previous version
    [stale] = sdk.v1.customers.search(params={"query": "metadata['erp_id']:'1'"}).data
    assert (stale.id, stale.name) == (created.id, "Fresh")
    assert search_ids(sdk, "metadata['erp_id']:'2'") == []
    stripe_system.clock.advance(61)
    assert search_ids(sdk, "metadata['erp_id']:'1'") == []
    assert search_ids(sdk, "metadata['erp_id']:'2'") == [created.id]


def test_deleted_customer_is_still_found_by_search_as_a_normal_customer(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox
) -> None:
    stripe_system.settings.search_lag = 0
    assert StripeSandboxSettings().search_delete_lag == 3600.0
    customer = sdk.v1.customers.create(params={"name": "Gone", "metadata": {"erp_id": "7"}})
    last_live = sdk.v1.customers.update(customer.id, params={"description": "last words"}).to_dict()
    deleted = sdk.v1.customers.delete(customer.id)
    assert deleted.to_dict() == {"id": customer.id, "object": "customer", "deleted": True}

    [hit] = sdk.v1.customers.search(params={"query": "metadata['erp_id']:'7'"}).data
    assert isinstance(hit, stripe.Customer)
    assert hit.to_dict() == last_live
    assert "deleted" not in hit
    # retrieve by id tells the truth; lists never show deleted customers
    retrieved = sdk.v1.customers.retrieve(customer.id)
    assert retrieved.to_dict() == {"id": customer.id, "object": "customer", "deleted": True}
    assert [c.id for c in sdk.v1.customers.list().auto_paging_iter()] == []
    assert stripe_system.find_customers("erp_id", "7") == []

    stripe_system.clock.advance(3600 - 60)
    assert search_ids(sdk, "metadata['erp_id']:'7'") == [customer.id]
    stripe_system.clock.advance(61)
    assert search_ids(sdk, "metadata['erp_id']:'7'") == []


@pytest.mark.parametrize("delete_lag", [0.0, 3600.0])
def test_search_delete_lag_is_separate_from_search_lag(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, delete_lag: float
) -> None:
    """UNCONFIRMED (``search_delete_lag``, default 3600 s): both a prompt and a slow delete."""
    stripe_system.settings.search_lag = 0
    stripe_system.settings.search_delete_lag = delete_lag
    customer = sdk.v1.customers.create(params={"name": "Gone", "metadata": {"erp_id": "8"}})
    sdk.v1.customers.delete(customer.id)
    expected = [] if delete_lag == 0 else [customer.id]
    assert search_ids(sdk, "metadata['erp_id']:'8'") == expected
    stripe_system.clock.advance(delete_lag + 1)
    assert search_ids(sdk, "metadata['erp_id']:'8'") == []


def test_a_customer_created_and_deleted_within_the_lag_shows_up_until_the_delete_arrives(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox
) -> None:
    customer = sdk.v1.customers.create(params={"name": "Brief", "metadata": {"erp_id": "9"}})
    sdk.v1.customers.delete(customer.id)
    assert search_ids(sdk, "metadata['erp_id']:'9'") == []
    stripe_system.clock.advance(61)
    assert search_ids(sdk, "metadata['erp_id']:'9'") == [customer.id]
    stripe_system.clock.advance(3600)
    assert search_ids(sdk, "metadata['erp_id']:'9'") == []


# -- the search index --------------------------------------------------------------------------------


def _doc(object_id: str, created: int, **fields: Any) -> dict[str, Any]:
    return {"id": object_id, "object": "customer", "created": created, "metadata": {}, **fields}


def _query(text: str) -> Any:
    return parse_search_query(text, CUSTOMER_SEARCH_FIELDS)


def test_search_index_shows_the_last_written_visible_version() -> None:
    index = SearchIndex({"customer": CUSTOMER_SEARCH_FIELDS})
    index.put("customer", "cus_1", _doc("cus_1", 1, metadata={"k": "old"}), visible_at=10)
    index.put("customer", "cus_1", _doc("cus_1", 1, metadata={"k": "slow"}), visible_at=100)
    index.put("customer", "cus_1", _doc("cus_1", 1, metadata={"k": "new"}), visible_at=50)
    assert index.search("customer", _query("metadata['k']:'old'"), now=5) == []
    assert [d["metadata"] for d in index.search("customer", _query("metadata['k']:'old'"), now=20)] == [
        {"k": "old"}
    ]
    # the lag was shortened: the newest write is visible before an older one, and wins for good
    assert index.search("customer", _query("metadata['k']:'new'"), now=60)[0]["metadata"] == {"k": "new"}
    assert index.search("customer", _query("metadata['k']:'slow'"), now=200) == []
    assert index.search("customer", _query("metadata['k']:'new'"), now=200)[0]["id"] == "cus_1"
    assert index.search("customer", _query("metadata['k']:'old'"), now=200) == []


def test_search_index_answers_every_query_shape_newest_first() -> None:
    index = SearchIndex({"customer": CUSTOMER_SEARCH_FIELDS})
    docs = [
        _doc("cus_a", 100, email="A@x.test", name="Acme", metadata={"erp": "1", "region": "EU"}),
        _doc("cus_b", 200, email="b@x.test", name="Acme", metadata={"erp": "2", "region": "EU"}),
        _doc("cus_c", 200, email="c@x.test", name="Globex", metadata={"erp": "3"}),
    ]
    for doc in docs:
        index.put("customer", doc["id"], doc, visible_at=0)

    def ids(text: str) -> list[str]:
        return [d["id"] for d in index.search("customer", _query(text), now=1)]

    assert ids("metadata['region']:'EU'") == ["cus_b", "cus_a"]
    assert ids("email:'a@X.TEST'") == ["cus_a"]  # string fields: case-insensitive
    assert ids("metadata['erp']:'1' OR name:'globex'") == ["cus_c", "cus_a"]
    assert ids("name:'Acme' AND created>150") == ["cus_b"]
    assert ids("created>=100 OR metadata['erp']:'3'") == [
        "cus_c",
        "cus_b",
        "cus_a",
    ]  # same second: last first
    assert ids("metadata['region']:'UK'") == []
    index.put("customer", "cus_b", None, visible_at=0)
    assert ids("metadata['region']:'EU'") == ["cus_a"]
    assert [d["id"] for d in index.visible("customer", now=1)] == ["cus_a", "cus_c"]


def _preload(system: StripeSandbox, count: int) -> list[str]:
    """Store ``count`` customers in process, as if they had been created over the API."""
    now = system.timestamp()
    ids = []
    with system.state as db:
        for n in range(count):
            customer = customer_object(
                new_id("cus"),
                now,
                {"name": f"Customer {n}", "email": f"c{n}@example.test", "metadata": {"erp_id": f"E-{n}"}},
            )
            db["customers"][customer["id"]] = customer
            system.index_for_search("customer", customer["id"], customer)
            ids.append(customer["id"])
    return ids


def test_search_and_lists_stay_fast_with_many_customers(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    """20,000 customers: searches are index look-ups and list pages are found by position (a
    generous bound: copying every customer per request would take minutes)."""
    stripe_system.settings.search_lag = 0
    ids = _preload(stripe_system, 20_000)
    http.get(f"{base_url}/v1/customers/search", params={"query": "metadata['erp_id']:'E-0'"})  # settles
    started = time.perf_counter()
    for n in range(0, 20_000, 200):
        found = http.get(f"{base_url}/v1/customers/search", params={"query": f"metadata['erp_id']:'E-{n}'"})
        assert [c["id"] for c in found.json()["data"]] == [ids[n]]
    cursor = None
    seen: list[str] = []
    for _ in range(20):
        params: dict[str, Any] = {"limit": 100, **({"starting_after": cursor} if cursor else {})}
        page = http.get(f"{base_url}/v1/customers", params=params).json()
        seen += [c["id"] for c in page["data"]]
        cursor = page["data"][-1]["id"]
    assert seen == ids[::-1][:2000]
    for n in range(0, 20_000, 1000):
        by_email = http.get(f"{base_url}/v1/customers", params={"email": f"c{n}@example.test"}).json()
        assert [c["id"] for c in by_email["data"]] == [ids[n]]
    assert time.perf_counter() - started < 20


# -- list paging by position -------------------------------------------------------------------------


def test_list_pages_the_same_with_a_clock_moved_backwards(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox
) -> None:
    """Creation order and ``created`` disagree once the clock went back: lists still sort by
    ``created`` (the stand-in falls back from position paging to sorting)."""
    stripe_system.clock.advance(1000)
    first = [sdk.v1.customers.create(params={"name": f"late {n}"}).id for n in range(3)]
    stripe_system.clock.set_offset(0)
    second = [sdk.v1.customers.create(params={"name": f"early {n}"}).id for n in range(2)]
    listed = [c.id for c in sdk.v1.customers.list(params={"limit": 2}).auto_paging_iter()]
    assert listed == first[::-1] + second[::-1]


def test_list_cursors_and_filters_by_position(sdk: stripe.StripeClient, stripe_system: StripeSandbox) -> None:
    ids = []
    for n in range(6):
        ids.append(sdk.v1.customers.create(params={"name": f"C{n}", "email": f"c{n % 2}@x.test"}).id)
        stripe_system.clock.advance(10)
    sdk.v1.customers.delete(ids[4])
    created = {c["id"]: c["created"] for c in stripe_system.customers()}
    newest_first = [i for i in reversed(ids) if i != ids[4]]

    page = sdk.v1.customers.list(params={"limit": 2, "starting_after": ids[5]})
    assert ([c.id for c in page.data], page.has_more) == ([ids[3], ids[2]], True)
    page = sdk.v1.customers.list(params={"limit": 2, "ending_before": ids[1]})
    assert ([c.id for c in page.data], page.has_more) == ([ids[3], ids[2]], True)
    page = sdk.v1.customers.list(params={"limit": 3, "ending_before": ids[2]})
    assert ([c.id for c in page.data], page.has_more) == ([ids[5], ids[3]], False)
    walked = [c.id for c in sdk.v1.customers.list(params={"limit": 1}).auto_paging_iter()]
    assert walked == newest_first
    window = sdk.v1.customers.list(params={"created": {"gt": created[ids[1]], "lte": created[ids[3]]}})
    assert [c.id for c in window.data] == [ids[3], ids[2]]
    assert [c.id for c in sdk.v1.customers.list(params={"email": "c1@x.test"}).data] == [
        ids[5],
        ids[3],
        ids[1],
    ]

    sdk.v1.customers.update(ids[3], params={"email": "moved@x.test"})
    assert [c.id for c in sdk.v1.customers.list(params={"email": "c1@x.test"}).data] == [ids[5], ids[1]]
    assert [c.id for c in sdk.v1.customers.list(params={"email": "moved@x.test"}).data] == [ids[3]]
    assert sdk.v1.customers.list(params={"email": "c0@x.test", "limit": 1}).data[0].id == ids[2]
    for cursor in (ids[4], ids[3]):  # deleted, or not matching the email filter
        with pytest.raises(stripe.InvalidRequestError) as refused:
            sdk.v1.customers.list(params={"email": "c0@x.test", "starting_after": cursor})
        assert refused.value.param == "starting_after"
        assert refused.value.user_message == f"No such customer: '{cursor}'"


# -- "" unsets (contract A2) --------------------------------------------------------------------------


def test_empty_strings_unset_customer_fields_and_metadata(sdk: stripe.StripeClient) -> None:
    customer = sdk.v1.customers.create(
        params={
            "name": "Acme",
            "email": "ap@acme.test",
            "phone": "+1 555 0100",
            "description": "Key account",
            "address": {"line1": "1 Main St", "country": "US"},
            "metadata": {"erp_id": "1", "region": "EU", "tier": "gold"},
        }
    )
    updated = sdk.v1.customers.update(
        customer.id,
        params={"email": "", "phone": "", "description": "", "address": "", "metadata": {"region": ""}},
    )
    assert (updated.email, updated.phone, updated.description, updated.address) == (None, None, None, None)
    assert updated.name == "Acme"
    assert updated.metadata.to_dict() == {"erp_id": "1", "tier": "gold"}
    cleared = sdk.v1.customers.update(customer.id, params={"metadata": ""})
    assert cleared.metadata.to_dict() == {}
    assert sdk.v1.customers.retrieve(customer.id).metadata.to_dict() == {}


def test_empty_strings_unset_invoice_metadata(sdk: stripe.StripeClient, customer: Any) -> None:
    invoice = draft(sdk, customer.id, metadata={"po": "PO-1", "erp": "AR-1"})
    updated = sdk.v1.invoices.update(invoice.id, params={"metadata": {"po": ""}})
    assert updated.metadata.to_dict() == {"erp": "AR-1"}
    assert sdk.v1.invoices.update(invoice.id, params={"metadata": ""}).metadata.to_dict() == {}


# -- idempotency keys expire (A4, Appendix S) -----------------------------------------------------------


def test_idempotency_keys_replay_for_24_hours_then_expire(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, base_url: str
) -> None:
    params = {"name": "Initech", "metadata": {"erp_id": "42"}}
    first = sdk.v1.customers.create(params=params, options={"idempotency_key": "erp:cust:42:v1"})
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    stripe_system.clock.advance(23 * 3600)
    again = sdk.v1.customers.create(params=params, options={"idempotency_key": "erp:cust:42:v1"})
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"

    # the sandbox clock moves over the admin HTTP API too
    moved = requests.post(f"{base_url}/__sandbox__/clock", json={"advance": 3600 + 1}, timeout=5)
    assert moved.status_code == 200
    assert moved.json()["offset"] == pytest.approx(24 * 3600 + 1)
    later = sdk.v1.customers.create(params=params, options={"idempotency_key": "erp:cust:42:v1"})
    assert later.last_response.headers.get("Idempotent-Replayed") is None
    assert later.id != first.id
    assert [c["id"] for c in stripe_system.customers()] == [first.id, later.id]


def test_expired_idempotency_keys_are_pruned(sdk: stripe.StripeClient, stripe_system: StripeSandbox) -> None:
    for n in range(5):
        sdk.v1.customers.create(params={"name": f"C{n}"})
    assert len(stripe_system.idempotency) == 5
    stripe_system.clock.advance(stripe_system.settings.idempotency_ttl)
    sdk.v1.customers.create(params={"name": "after"})
    assert len(stripe_system.idempotency) == 1


# -- add_lines (A8) -------------------------------------------------------------------------------------


def test_add_lines_creates_invoice_items_and_answers_the_updated_invoice(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any
) -> None:
    product = sdk.v1.products.create(params={"name": "Widget"})
    price = sdk.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 250})
    invoice = draft(sdk, customer.id, metadata={"erp": "AR-1"})
    before = len(stripe_system.events())
    updated = sdk.v1.invoices.add_lines(
        invoice.id,
        params={
            "lines": [
                {
                    "amount": 1000,
                    "description": "Set-up",
                    "metadata": {"erp_line": "1"},
                    "period": {"start": 1_700_000_000, "end": 1_700_086_400},
                    "discountable": False,
                },
                {"pricing": {"price": price.id}, "quantity": 3, "metadata": {"erp_line": "2"}},
                {
                    "price_data": {"currency": "usd", "product": product.id, "unit_amount": 40},
                    "quantity": 2,
                    "description": "Inline",
                },
            ],
            "invoice_metadata": {"po": "PO-9", "erp": ""},
        },
    )
    assert isinstance(updated, stripe.Invoice)
    assert updated.id == invoice.id
    assert (updated.subtotal, updated.total, updated.amount_due) == (1830, 1830, 1830)
    assert updated.metadata.to_dict() == {"po": "PO-9"}
    assert [line.amount for line in updated.lines.data] == [1000, 750, 80]
    assert updated.lines.url == f"/v1/invoices/{invoice.id}/lines"

    lines = list(sdk.v1.invoices.line_items.list(invoice.id).auto_paging_iter())
    assert [line.metadata.to_dict() for line in lines] == [{"erp_line": "1"}, {"erp_line": "2"}, {}]
    assert lines[0].period.to_dict() == {"start": 1_700_000_000, "end": 1_700_086_400}
    assert lines[0].discountable is False
    assert lines[1].pricing.price_details.price == price.id
    assert lines[2].description == "Inline"
    items = stripe_system.invoice_items()
    assert [item["invoice"] for item in items] == [invoice.id] * 3
    assert [line.parent.invoice_item_details.invoice_item for line in lines] == [i["id"] for i in items]

    assert event_types(stripe_system, before) == [
        "invoiceitem.created",
        "invoiceitem.created",
        "invoiceitem.created",
        "invoice.updated",
    ]
    changed = stripe_system.events("invoice.updated")[-1]["data"]["previous_attributes"]
    assert changed["total"] == 0
    assert changed["metadata"] == {"erp": "AR-1", "po": None}

    finalized = sdk.v1.invoices.finalize_invoice(invoice.id)
    assert (finalized.status, finalized.amount_due) == ("open", 1830)


def test_add_lines_replays_with_its_idempotency_key(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any
) -> None:
    invoice = draft(sdk, customer.id)
    params = {"lines": [{"amount": 500, "description": "Once"}]}
    first = sdk.v1.invoices.add_lines(invoice.id, params=params, options={"idempotency_key": "k-lines"})
    again = sdk.v1.invoices.add_lines(invoice.id, params=params, options={"idempotency_key": "k-lines"})
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.to_dict() == first.to_dict()
    assert len(stripe_system.invoice_items()) == 1
    with pytest.raises(stripe.IdempotencyError):
        sdk.v1.invoices.add_lines(
            invoice.id, params={"lines": [{"amount": 501}]}, options={"idempotency_key": "k-lines"}
        )


def test_add_lines_is_all_or_nothing(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any
) -> None:
    invoice = draft(sdk, customer.id)
    before = len(stripe_system.events())
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.invoices.add_lines(
            invoice.id, params={"lines": [{"amount": 100}, {"pricing": {"price": "price_missing"}}]}
        )
    assert refused.value.param == "lines[1][pricing][price]"
    assert refused.value.user_message == "No such price: 'price_missing'"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.invoices.add_lines(
            invoice.id, params={"lines": [{"amount": 100}, {"period": {"start": 9, "end": 1}}]}
        )
    assert refused.value.param == "lines[1][period][start]"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 100, "tax_rates": ["txr_1"]}]})
    assert refused.value.param == "lines[0][tax_rates]"
    assert stripe_system.invoice_items() == []
    assert stripe_system.invoices()[0]["total"] == 0
    assert event_types(stripe_system, before) == []


def test_add_lines_needs_lines_and_a_draft(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any
) -> None:
    invoice = draft(sdk, customer.id)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        sdk.v1.invoices.add_lines(invoice.id, params={"invoice_metadata": {"a": "b"}})
    assert missing.value.user_message == "Missing required param: lines."
    sdk.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 100}]})
    sdk.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 100}]})
    assert refused.value.http_status == 400
    assert "draft" in refused.value.user_message
    assert len(stripe_system.invoice_items()) == 1
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        sdk.v1.invoices.add_lines("in_missing", params={"lines": [{"amount": 1}]})
    assert unknown.value.http_status == 404


def test_add_lines_stops_at_250_items_per_invoice(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any
) -> None:
    invoice = draft(sdk, customer.id)
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        sdk.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 1}] * (MAX_INVOICE_ITEMS + 1)})
    assert too_many.value.param == "lines"
    full = sdk.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 1}] * (MAX_INVOICE_ITEMS - 1)})
    assert full.total == MAX_INVOICE_ITEMS - 1
    assert len(full.lines.data) == 10
    assert full.lines.has_more is True
    sdk.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 1}]})
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 1}]})
    assert len(stripe_system.invoice_items()) == MAX_INVOICE_ITEMS


def test_add_lines_assigns_a_pending_invoice_item(
    sdk: stripe.StripeClient, stripe_system: StripeSandbox, customer: Any
) -> None:
    pending = sdk.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 700, "currency": "usd", "metadata": {"a": "1"}}
    )
    invoice = draft(sdk, customer.id)
    updated = sdk.v1.invoices.add_lines(
        invoice.id,
        params={"lines": [{"invoice_item": pending.id, "metadata": {"b": "2"}}, {"amount": 300}]},
    )
    assert updated.total == 1000
    item = sdk.v1.invoice_items.retrieve(pending.id)
    assert (item.invoice, item.metadata.to_dict()) == (invoice.id, {"a": "1", "b": "2"})
    with pytest.raises(stripe.InvalidRequestError) as twice:
        sdk.v1.invoices.add_lines(invoice.id, params={"lines": [{"invoice_item": pending.id}]})
    assert twice.value.param == "lines[0][invoice_item]"
    with pytest.raises(stripe.InvalidRequestError) as mixed:
        sdk.v1.invoices.add_lines(invoice.id, params={"lines": [{"invoice_item": pending.id, "amount": 5}]})
    assert mixed.value.param == "lines[0][amount]"


# -- rate limits and counters (A5) ---------------------------------------------------------------------


@pytest.fixture
def stats_url(base_url: str) -> str:
    return f"{base_url}/__sandbox__/stripe/stats"


def _search(http: requests.Session, base_url: str, account: str | None = None) -> requests.Response:
    headers = {"Stripe-Account": account} if account else {}
    return http.get(
        f"{base_url}/v1/customers/search", params={"query": "metadata['k']:'v'"}, headers=headers, timeout=5
    )


def test_search_rate_limit_is_counted_separately(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    assert StripeSandboxSettings().search_rate_limit is None
    stripe_system.settings.search_rate_limit = 2
    statuses = [_search(http, base_url).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = _search(http, base_url)
    assert limited.json()["error"]["code"] == "rate_limit"
    assert limited.headers["Stripe-Rate-Limited-Reason"] == "endpoint-rate"
    assert limited.headers["Stripe-Should-Retry"] == "true"
    assert http.get(f"{base_url}/v1/balance").status_code == 200  # other routes are not limited
    with pytest.raises(stripe.RateLimitError):
        stripe.StripeClient(stripe_system.secret_key, base_addresses={"api": base_url}).v1.customers.search(
            params={"query": "name:'x'"}
        )


def test_a_search_counts_against_both_limits_and_refusals_count_against_none(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    stripe_system.settings.rate_limit = 3
    stripe_system.settings.search_rate_limit = 1
    assert _search(http, base_url).status_code == 200  # global 1, search 1
    assert _search(http, base_url).status_code == 429  # refused by search: global stays 1
    assert http.get(f"{base_url}/v1/balance").status_code == 200
    assert http.get(f"{base_url}/v1/balance").status_code == 200
    refused = http.get(f"{base_url}/v1/balance")
    assert refused.status_code == 429
    assert refused.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    time.sleep(1.05)  # a sliding one-second window
    assert _search(http, base_url).status_code == 200


def test_rate_limits_apply_per_account(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    stripe_system.settings.rate_limit = 1
    assert http.get(f"{base_url}/v1/balance").status_code == 200
    connected = {"Stripe-Account": "acct_1Connected"}
    assert http.get(f"{base_url}/v1/balance", headers=connected).status_code == 200
    assert http.get(f"{base_url}/v1/balance", headers=connected).status_code == 429
    assert http.get(f"{base_url}/v1/balance").status_code == 429


def test_stats_count_requests_routes_and_429s(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox, stats_url: str
) -> None:
    empty = requests.get(stats_url, timeout=5).json()
    assert empty == {
        "requests": 0,
        "by_route": {},
        "by_status": {},
        "rate_limited": 0,
        "rate_limited_by_limit": {},
        "first_request_at": None,
        "last_request_at": None,
        "elapsed": None,
    }
    started = time.time()
    stripe_system.settings.search_rate_limit = 1
    customer = http.post(f"{base_url}/v1/customers", data={"name": "A"}).json()
    http.post(f"{base_url}/v1/customers/{customer['id']}", data={"name": "B"})
    _search(http, base_url)
    _search(http, base_url)
    http.get(f"{base_url}/v1/customers/cus_missing")
    stats = requests.get(stats_url, timeout=5).json()
    assert stats["requests"] == 5
    assert stats["by_route"] == {
        "GET /v1/customers/search": 2,
        "GET /v1/customers/{id}": 1,
        "POST /v1/customers": 1,
        "POST /v1/customers/{id}": 1,
    }
    assert stats["by_status"] == {"200": 3, "404": 1, "429": 1}
    assert stats["rate_limited"] == 1
    assert stats["rate_limited_by_limit"] == {"search": 1}
    assert started <= stats["first_request_at"] <= stats["last_request_at"] <= time.time()
    assert stats["elapsed"] == pytest.approx(stats["last_request_at"] - stats["first_request_at"])

    assert requests.post(f"{stats_url}/reset", timeout=5).json()["requests"] == 0
    http.get(f"{base_url}/v1/balance")
    assert requests.get(stats_url, timeout=5).json()["by_route"] == {"GET /v1/balance": 1}
    requests.post(f"{base_url}/__sandbox__/reset", timeout=5)
    assert requests.get(stats_url, timeout=5).json()["requests"] == 0
