"""The NetSuite stand-in's record service (contract B3–B5, errors B8), over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from ml_connector_sandbox.systems.netsuite import NetSuiteSandbox

from tests.harness.sandbox import one_system_fixtures
from tests.sandbox.netsuite_support import RECORDS, bearer, error_code, internal_id

runner, netsuite, base_url, admin = one_system_fixtures(NetSuiteSandbox, system_fixture="netsuite")


class Api:
    """A minimal REST client for the tests."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.headers = bearer(base_url)

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return requests.request(
            method, f"{self.base}{RECORDS}{path}", json=body, headers=headers, timeout=10, **kwargs
        )

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.call("GET", path, params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def api(base_url: str) -> Api:
    return Api(base_url)


def invoice_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entity": {"id": "101"},
        "subsidiary": {"id": "1"},
        "currency": {"id": "1"},
        "tranDate": "2026-01-15",
        "memo": "Stripe charge ch_1",
        "custbody_stripe_object_id": "ch_1",
        "custbody_stripe_event_id": "evt_1",
        "item": {
            "items": [
                {"item": {"id": "201"}, "quantity": 2, "rate": 50.0, "amount": 100.0, "description": "Pro"}
            ]
        },
    }
    body.update(overrides)
    return body


def test_post_creates_and_answers_204_with_the_location_of_the_new_record(api: Api, base_url: str) -> None:
    response = api.call(
        "POST", "/customer", {"companyName": "Initech", "subsidiary": {"id": "1"}, "externalId": "cus_1"}
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["Location"].startswith(f"{base_url}{RECORDS}/customer/")
    record = api.get(f"/customer/{internal_id(response)}")
    assert record["companyName"] == "Initech"
    assert record["id"] == internal_id(response)
    assert record["subsidiary"]["refName"] == "Parent Company"
    assert record["subsidiary"]["id"] == "1"
    assert record["links"][0]["rel"] == "self"


def test_eid_upsert_twice_is_one_record_and_the_second_replaces_fields(
    api: Api, netsuite: NetSuiteSandbox
) -> None:
    first = api.call("PUT", "/invoice/eid:stripe-ch_1", invoice_body())
    second = api.call("PUT", "/invoice/eid:stripe-ch_1", invoice_body(memo="second delivery"))
    assert internal_id(first) == internal_id(second)
    invoices = netsuite.records("invoice")
    assert len(invoices) == 1
    assert invoices[0]["externalId"] == "stripe-ch_1"
    assert invoices[0]["memo"] == "second delivery"
    by_eid = api.get("/invoice/eid:stripe-ch_1")
    assert by_eid["id"] == internal_id(first)
    assert by_eid["custbody_stripe_event_id"] == "evt_1"


def test_an_invoice_reads_back_with_totals_status_and_expanded_lines(api: Api) -> None:
    invoice_id = internal_id(api.call("PUT", "/invoice/eid:stripe-ch_2", invoice_body()))
    plain = api.get(f"/invoice/{invoice_id}")
    assert set(plain["item"]) == {"links"}  # a sublist is a link unless expanded (B4)
    record = api.get(f"/invoice/{invoice_id}", expandSubResources="true")
    assert record["total"] == 100.0
    assert record["amountRemaining"] == 100.0
    assert record["status"]["refName"] == "Open"
    assert record["entity"] == {"links": record["entity"]["links"], "id": "101", "refName": "Acme Corp"}
    line = record["item"]["items"][0]
    assert line["item"]["id"] == "201"
    assert line["amount"] == 100.0
    assert record["item"]["totalResults"] == 1
    assert record["tranId"]


def test_post_with_an_external_id_already_taken_is_refused(api: Api) -> None:
    api.call("PUT", "/invoice/eid:stripe-ch_3", invoice_body())
    again = api.call("POST", "/invoice", invoice_body(externalId="stripe-ch_3"))
    assert again.status_code == 400
    assert error_code(again) == "DUP_RCRD"


def test_a_missing_record_is_404_nonexistent_id(api: Api) -> None:
    for path in ("/invoice/99999", "/invoice/eid:never-posted", "/customer/eid:nobody"):
        response = api.call("GET", path)
        assert response.status_code == 404
        assert error_code(response) == "NONEXISTENT_ID"
        assert response.json()["status"] == 404


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ({"entity": {"id": "424242"}}, "entity"),
        ({"currency": {"id": "99"}}, "currency"),
        ({"item": {"items": [{"item": {"id": "777"}, "amount": 5}]}}, "item.items[0].item"),
    ],
)
def test_a_reference_to_nothing_is_invalid_key_or_ref_with_its_path(
    api: Api, override: dict[str, Any], path: str
) -> None:
    response = api.call("POST", "/invoice", invoice_body(**override))
    assert response.status_code == 400
    detail = response.json()["o:errorDetails"][0]
    assert detail["o:errorCode"] == "INVALID_KEY_OR_REF"
    assert detail["o:errorPath"] == path


def test_a_currency_the_account_does_not_allow_is_refused(api: Api, base_url: str) -> None:
    requests.post(
        f"{base_url}/__sandbox__/netsuite/settings", json={"allowed_currencies": ["USD"]}, timeout=10
    )
    response = api.call("POST", "/invoice", invoice_body(currency={"id": "2"}))
    assert error_code(response) == "INVALID_KEY_OR_REF"


def test_jpy_amounts_are_whole_yen(api: Api) -> None:
    yen = invoice_body(
        entity={"id": "103"},
        subsidiary={"id": "3"},
        currency={"id": "3"},
        item={"items": [{"item": {"id": "201"}, "amount": 1500.5}]},
    )
    refused = api.call("POST", "/invoice", yen)
    assert refused.status_code == 400
    assert refused.json()["o:errorDetails"][0]["o:errorPath"] == "item.items[0].amount"
    yen["item"] = {"items": [{"item": {"id": "201"}, "amount": 1500}]}
    record = api.get(f"/invoice/{internal_id(api.call('POST', '/invoice', yen))}")
    assert record["total"] == 1500.0
    assert record["currency"]["refName"] == "Japanese Yen"


def test_a_payment_applied_to_the_invoice_closes_it(api: Api) -> None:
    invoice_id = internal_id(api.call("PUT", "/invoice/eid:stripe-ch_4", invoice_body()))
    payment = {
        "customer": {"id": "101"},
        "payment": 100.0,
        "account": {"id": "2"},
        "currency": {"id": "1"},
        "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": 100.0}]},
    }
    payment_id = internal_id(api.call("PUT", "/customerPayment/eid:stripe-pay-ch_4", payment))
    assert internal_id(api.call("PUT", "/customerpayment/eid:stripe-pay-ch_4", payment)) == payment_id
    invoice = api.get(f"/invoice/{invoice_id}")
    assert invoice["amountRemaining"] == 0.0
    assert invoice["status"]["refName"] == "Paid In Full"
    stored = api.get(f"/customerpayment/{payment_id}")
    assert (stored["applied"], stored["unapplied"]) == (100.0, 0.0)


def test_applying_more_than_is_open_is_refused(api: Api) -> None:
    invoice_id = internal_id(api.call("PUT", "/invoice/eid:stripe-ch_5", invoice_body()))
    too_much = {
        "customer": {"id": "101"},
        "payment": 150.0,
        "account": {"id": "2"},
        "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": 150.0}]},
    }
    response = api.call("POST", "/customerpayment", too_much)
    assert response.status_code == 400
    assert error_code(response) == "USER_ERROR"
    assert response.json()["o:errorDetails"][0]["o:errorPath"] == "apply.items[0].amount"
    other_customer = {
        "customer": {"id": "102"},
        "payment": 10.0,
        "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": 10.0}]},
    }
    assert api.call("POST", "/customerpayment", other_customer).status_code == 400
    not_positive = {"customer": {"id": "101"}, "payment": 0}
    assert api.call("POST", "/customerpayment", not_positive).status_code == 400


def test_a_partial_credit_memo_and_its_refund(api: Api) -> None:
    invoice_id = internal_id(api.call("PUT", "/invoice/eid:stripe-ch_6", invoice_body()))
    payment = {
        "customer": {"id": "101"},
        "payment": 100.0,
        "account": {"id": "2"},
        "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": 100.0}]},
    }
    api.call("PUT", "/customerpayment/eid:stripe-pay-ch_6", payment)
    memo = {
        "entity": {"id": "101"},
        "currency": {"id": "1"},
        "createdFrom": {"id": invoice_id},
        "item": {"items": [{"item": {"id": "201"}, "amount": 40.0}]},
    }
    memo_id = internal_id(api.call("PUT", "/creditmemo/eid:stripe-re_1", memo))
    refund = {
        "customer": {"id": "101"},
        "account": {"id": "2"},
        "apply": {"items": [{"doc": {"id": memo_id}, "apply": True, "amount": 40.0}]},
    }
    refund_id = internal_id(api.call("PUT", "/customerrefund/eid:stripe-re_1", refund))
    assert api.get(f"/creditmemo/{memo_id}")["amountRemaining"] == 0.0
    assert api.get(f"/customerrefund/{refund_id}")["total"] == 40.0
    twice = api.call("POST", "/customerrefund", refund)
    assert twice.status_code == 400  # the credit is used up


def test_a_credit_memo_can_apply_to_an_open_invoice(api: Api) -> None:
    invoice_id = internal_id(api.call("PUT", "/invoice/eid:stripe-ch_7", invoice_body()))
    memo = {
        "entity": {"id": "101"},
        "item": {"items": [{"item": {"id": "201"}, "amount": 30.0}]},
        "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": 30.0}]},
    }
    api.call("PUT", "/creditmemo/eid:stripe-re_2", memo)
    assert api.get(f"/invoice/{invoice_id}")["amountRemaining"] == 70.0


def test_patch_changes_only_the_fields_given(api: Api) -> None:
    invoice_id = internal_id(api.call("PUT", "/invoice/eid:stripe-ch_8", invoice_body()))
    response = api.call("PATCH", f"/invoice/{invoice_id}", {"memo": "patched"})
    assert response.status_code == 204
    record = api.get(f"/invoice/{invoice_id}")
    assert record["memo"] == "patched"
    assert record["total"] == 100.0
    assert (
        api.call("PATCH", "/customer/eid:stripe-cus_SeedAcme", {"email": "new@acme.example"}).status_code
        == 204
    )
    assert api.get("/customer/101")["email"] == "new@acme.example"


def test_put_without_eid_and_bodies_with_an_internal_id_are_refused(api: Api) -> None:
    assert api.call("PUT", "/invoice/5001", invoice_body()).status_code == 400
    with_id = api.call("PUT", "/invoice/eid:x", {**invoice_body(), "id": "5"})
    assert with_id.status_code == 400
    assert error_code(with_id) == "INVALID_CONTENT"


def test_record_types_in_paths_are_case_insensitive(api: Api) -> None:
    assert api.get("/CUSTOMER/101")["id"] == "101"
    assert api.get("/ServiceSaleItem/201")["itemId"] == "Pro Plan - Monthly"


def test_unknown_fields_are_dropped_or_refused_by_property_name_validation(api: Api) -> None:
    loose = api.call(
        "POST", "/customer", {"companyName": "Loose", "favouriteColour": "red", "custentity_unknown": "x"}
    )
    record = api.get(f"/customer/{internal_id(loose)}")
    assert "favouriteColour" not in record
    assert "custentity_unknown" not in record
    strict = api.call(
        "POST",
        "/customer",
        {"companyName": "Strict", "favouriteColour": "red"},
        headers={"X-NetSuite-PropertyNameValidation": "error"},
    )
    assert strict.status_code == 400
    assert error_code(strict) == "NONEXISTENT_FIELD"


def test_collections_page_by_aligned_offsets(api: Api, base_url: str) -> None:
    for n in range(5):
        api.call("POST", "/customer", {"companyName": f"Paged {n}"})
    first = api.get("/customer", limit=3)
    assert (first["count"], first["hasMore"], first["totalResults"], first["offset"]) == (3, True, 8, 0)
    assert set(first["items"][0]) == {"links", "id"}  # ids and links only (B5)
    next_link = next(link["href"] for link in first["links"] if link["rel"] == "next")
    last_page = requests.get(
        next_link.replace("offset=3", "offset=6"), headers=api.headers, timeout=10
    ).json()
    assert (last_page["count"], last_page["hasMore"]) == (2, False)
    assert all(link["rel"] != "next" for link in last_page["links"])
    unaligned = api.call("GET", "/customer", params={"limit": 3, "offset": 2})
    assert unaligned.status_code == 400
    assert error_code(unaligned) == "INVALID_PARAMETER"
    over = api.call("GET", "/customer", params={"limit": 1001})
    assert over.status_code == 400


def test_collections_filter_with_q(api: Api) -> None:
    found = api.get("/customer", q='companyName START_WITH "Acme"')
    assert [item["id"] for item in found["items"]] == ["101"]
    any_of = api.get("/customer", q="id ANY_OF 101,103")
    assert [item["id"] for item in any_of["items"]] == ["101", "103"]
    recent = api.get("/customer", q='lastModifiedDate ON_OR_AFTER "01/01/2026"')
    assert recent["totalResults"] == 3
    iso = api.call("GET", "/customer", params={"q": 'lastModifiedDate AFTER "2026-01-01T00:00:00Z"'})
    assert iso.status_code == 400
    assert "Unparseable date" in iso.json()["o:errorDetails"][0]["detail"]


def test_async_requests_are_refused_honestly(api: Api) -> None:
    response = api.call("POST", "/customer", {"companyName": "Async"}, headers={"Prefer": "respond-async"})
    assert response.status_code == 400
    assert "not supported by the NetSuite stand-in" in response.json()["o:errorDetails"][0]["detail"]


def test_delete_refuses_a_document_with_applications(api: Api) -> None:
    invoice_id = internal_id(api.call("PUT", "/invoice/eid:stripe-ch_9", invoice_body()))
    payment = {
        "customer": {"id": "101"},
        "payment": 50.0,
        "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": 50.0}]},
    }
    payment_id = internal_id(api.call("POST", "/customerpayment", payment))
    assert api.call("DELETE", f"/invoice/{invoice_id}").status_code == 400
    assert api.call("DELETE", f"/customerpayment/{payment_id}").status_code == 204
    assert api.call("DELETE", f"/invoice/{invoice_id}").status_code == 204


def test_the_admin_api_seeds_and_lists_records(base_url: str, api: Api) -> None:
    seeded = requests.post(
        f"{base_url}/__sandbox__/netsuite/records/servicesaleitem",
        json=[{"itemId": "Enterprise", "externalId": "prod_Ent", "custitem_stripe_product_id": "prod_Ent"}],
        timeout=10,
    )
    assert seeded.status_code == 201, seeded.text
    item_id = seeded.json()["ids"][0]
    assert api.get("/servicesaleitem/eid:prod_Ent")["id"] == item_id
    api.call("PUT", "/invoice/eid:stripe-ch_10", invoice_body())
    listed = requests.get(f"{base_url}/__sandbox__/netsuite/records/invoice", timeout=10).json()
    assert [r["externalId"] for r in listed] == ["stripe-ch_10"]
    assert listed[0]["item"]["items"][0]["amount"] == 100.0


def test_reset_forgets_posted_records(api: Api, base_url: str, netsuite: NetSuiteSandbox) -> None:
    api.call("PUT", "/invoice/eid:stripe-ch_11", invoice_body())
    requests.post(f"{base_url}/__sandbox__/reset", timeout=10)
    assert netsuite.records("invoice") == []
    assert len(netsuite.records("customer")) == 3


def test_a_customer_needs_a_name_and_cannot_be_deleted_once_invoiced(api: Api) -> None:
    nameless = api.call("POST", "/customer", {"email": "who@example.com"})
    assert nameless.status_code == 400
    assert nameless.json()["o:errorDetails"][0]["o:errorPath"] == "companyName"
    api.call("PUT", "/invoice/eid:stripe-ch_12", invoice_body())
    assert api.call("DELETE", "/customer/101").status_code == 400
    assert api.call("DELETE", "/customer/103").status_code == 204
