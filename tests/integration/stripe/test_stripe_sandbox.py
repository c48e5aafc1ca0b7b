"""The Stripe stand-in over real HTTP: wire format, lists, search, idempotency, errors, auth."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import requests
import stripe
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.systems.stripe import StripeSandbox
from ml_connector_sandbox.systems.stripe.customers import CUSTOMER_SEARCH_FIELDS
from ml_connector_sandbox.systems.stripe.forms import FormError, encode_form, parse_form
from ml_connector_sandbox.systems.stripe.search import (
    Clause,
    SearchQueryError,
    parse_search_query,
)

from tests.integration.stripe.conftest import post_form


def create(http: requests.Session, base_url: str, body: str, **headers: str) -> dict[str, Any]:
    response = post_form(http, f"{base_url}/v1/customers", body, **headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def error_of(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


# -- form encoding ---------------------------------------------------------------------------------


def test_parse_form_nests_brackets_and_arrays() -> None:
    parsed = parse_form(
        "name=ACME&address[line1]=1+Main&address%5Bcountry%5D=US&metadata[erp_id]=C-1"
        "&expand[0]=a&expand[1]=b&types[]=x&types[]=y&sparse[2]=late&sparse[0]=early"
        "&lines[0][amount]=1&lines[0][currency]=usd&lines[1][amount]=2"
        "&items[][price]=p1&items[][price]=p2&metadata[gone]="
    )
    assert parsed == {
        "name": "ACME",
        "address": {"line1": "1 Main", "country": "US"},
        "metadata": {"erp_id": "C-1", "gone": ""},
        "expand": ["a", "b"],
        "types": ["x", "y"],
        "sparse": ["early", "late"],
        "lines": [{"amount": "1", "currency": "usd"}, {"amount": "2"}],
        "items": [{"price": "p1"}, {"price": "p2"}],
    }


def test_parse_form_round_trips_encode_form() -> None:
    params = {"a": {"b": ["x", {"c": "1"}]}, "flag": True, "empty": None}
    pairs = encode_form(params)
    assert pairs == [("a[b][0]", "x"), ("a[b][1][c]", "1"), ("flag", "true"), ("empty", "")]
    assert parse_form("&".join(f"{k}={v}" for k, v in pairs)) == {
        "a": {"b": ["x", {"c": "1"}]},
        "flag": "true",
        "empty": "",
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("name=x&name[first]=y", "name[first]"),
        ("name[first]=y&name=x", "name"),
        ("address[line1=x", "address[line1"),
        ("[x]=1", "[x]"),
        ("list[0]=a&list[k]=b", "list[k]"),
    ],
)
def test_parse_form_rejects_malformed_keys(body: str, param: str) -> None:
    with pytest.raises(FormError) as caught:
        parse_form(body)
    assert caught.value.param == param


def test_create_decodes_literal_and_percent_encoded_brackets(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    before = stripe_system.timestamp()
    customer = create(
        http,
        base_url,
        "name=ACME+Ltd&email=ap%40acme.test&address[line1]=1+Main+St&address%5Bcountry%5D=US"
        "&metadata[erp_id]=C-1&metadata%5Bregion%5D=EU&preferred_locales[0]=en&preferred_locales[1]=fr"
        "&invoice_settings[custom_fields][0][name]=PO&invoice_settings[custom_fields][0][value]=42",
    )
    assert re.fullmatch(r"cus_[A-Za-z0-9]{14}", customer["id"])
    assert customer["object"] == "customer"
    assert customer["livemode"] is False
    assert before <= customer["created"] <= stripe_system.timestamp()
    assert customer["name"] == "ACME Ltd"
    assert customer["email"] == "ap@acme.test"
    assert customer["address"] == {
        "city": None,
        "country": "US",
        "line1": "1 Main St",
        "line2": None,
        "postal_code": None,
        "state": None,
    }
    assert customer["metadata"] == {"erp_id": "C-1", "region": "EU"}
    assert customer["preferred_locales"] == ["en", "fr"]
    assert customer["invoice_settings"]["custom_fields"] == [{"name": "PO", "value": "42"}]
    assert customer["currency"] is None
    assert stripe_system.customers() == [customer]


def test_create_accepts_curl_style_arrays(http: requests.Session, base_url: str) -> None:
    customer = create(
        http, base_url, "name=Globex&preferred_locales[]=de&preferred_locales[]=nl&expand[]=tax"
    )
    assert customer["preferred_locales"] == ["de", "nl"]


def test_conflicting_form_keys_answer_400(http: requests.Session, base_url: str) -> None:
    error = error_of(post_form(http, f"{base_url}/v1/customers", "name=x&name[first]=y"), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "name[first]"


def test_empty_values_unset_metadata_keys_and_fields(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    customer = create(http, base_url, "name=A&description=first&metadata[a]=1&metadata[b]=2")
    url = f"{base_url}/v1/customers/{customer['id']}"

    updated = post_form(http, url, "metadata[a]=&description=").json()
    assert updated["metadata"] == {"b": "2"}
    assert updated["description"] is None

    cleared = post_form(http, url, "metadata=").json()
    assert cleared["metadata"] == {}
    assert stripe_system.customers()[0]["metadata"] == {}


def test_unknown_parameters_are_refused(http: requests.Session, base_url: str) -> None:
    error = error_of(post_form(http, f"{base_url}/v1/customers", "name=A&nickname=B"), 400)
    assert error["message"] == "Received unknown parameter: nickname"
    assert error["param"] == "nickname"
    nested = error_of(post_form(http, f"{base_url}/v1/customers", "address[planet]=Mars"), 400)
    assert nested["param"] == "address[planet]"


# -- lists -------------------------------------------------------------------------------------------


def _five_customers(http: requests.Session, base_url: str, system: StripeSandbox) -> list[str]:
    ids = []
    for n in range(1, 6):
        ids.append(create(http, base_url, f"name=C{n}&email=c{n}%40example.test")["id"])
        system.clock.advance(10)
    return ids  # oldest first


def test_list_pages_newest_first_with_cursors(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    c1, c2, c3, c4, c5 = _five_customers(http, base_url, stripe_system)

    first = http.get(f"{base_url}/v1/customers", params={"limit": 2}).json()
    assert first["object"] == "list"
    assert first["url"] == "/v1/customers"
    assert [c["id"] for c in first["data"]] == [c5, c4]
    assert first["has_more"] is True

    second = http.get(f"{base_url}/v1/customers", params={"limit": "2", "starting_after": c4}).json()
    assert [c["id"] for c in second["data"]] == [c3, c2]
    assert second["has_more"] is True

    last = http.get(f"{base_url}/v1/customers", params={"limit": "2", "starting_after": c2}).json()
    assert [c["id"] for c in last["data"]] == [c1]
    assert last["has_more"] is False

    before = http.get(f"{base_url}/v1/customers", params={"limit": "2", "ending_before": c1}).json()
    assert [c["id"] for c in before["data"]] == [c3, c2]
    assert before["has_more"] is True


def test_list_created_filters_with_both_bracket_encodings(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    ids = _five_customers(http, base_url, stripe_system)
    created = [c["created"] for c in stripe_system.customers()]

    encoded = http.get(f"{base_url}/v1/customers?created%5Bgte%5D={created[3]}&limit=10").json()
    assert [c["id"] for c in encoded["data"]] == [ids[4], ids[3]]

    literal = http.get(f"{base_url}/v1/customers?created[gt]={created[0]}&created[lte]={created[2]}").json()
    assert [c["id"] for c in literal["data"]] == [ids[2], ids[1]]

    exact = http.get(f"{base_url}/v1/customers", params={"created": created[1]}).json()
    assert [c["id"] for c in exact["data"]] == [ids[1]]

    lower = http.get(f"{base_url}/v1/customers", params={"created[lt]": created[1]}).json()
    assert [c["id"] for c in lower["data"]] == [ids[0]]


def test_list_email_filter_is_exact_and_case_sensitive(http: requests.Session, base_url: str) -> None:
    create(http, base_url, "name=Upper&email=AP%40acme.test")
    lower = create(http, base_url, "name=Lower&email=ap%40acme.test")
    listed = http.get(f"{base_url}/v1/customers", params={"email": "ap@acme.test"}).json()
    assert [c["id"] for c in listed["data"]] == [lower["id"]]


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"limit": 0}, "limit", "Invalid limit: must be between 1 and 100."),
        ({"limit": 101}, "limit", "Invalid limit: must be between 1 and 100."),
        ({"limit": "ten"}, "limit", "Invalid integer: ten"),
        ({"starting_after": "cus_unknown"}, "starting_after", "No such customer: 'cus_unknown'"),
        ({"created[after]": "1"}, "created[after]", "Received unknown parameter: created[after]"),
    ],
)
def test_list_rejects_bad_paging_parameters(
    http: requests.Session, base_url: str, params: dict[str, Any], param: str, message: str
) -> None:
    error = error_of(http.get(f"{base_url}/v1/customers", params=params), 400)
    assert error["param"] == param
    assert error["message"] == message


# -- search ------------------------------------------------------------------------------------------


def test_parse_search_query_terms() -> None:
    query = parse_search_query(
        r"""name:'O\'Brien' AND metadata["erp"]:'7' AND created>=10""", CUSTOMER_SEARCH_FIELDS
    )
    assert query.conjunction == "AND"
    assert query.clauses == (
        Clause(field="name", op=":", value="O'Brien"),
        Clause(field="metadata", op=":", value="7", metadata_key="erp"),
        Clause(field="created", op=">=", value=10),
    )
    with pytest.raises(SearchQueryError, match="cannot be combined"):
        parse_search_query("name:'a' AND name:'b' OR name:'c'", CUSTOMER_SEARCH_FIELDS)


def _search(http: requests.Session, base_url: str, query: str, **params: Any) -> dict[str, Any]:
    response = http.get(f"{base_url}/v1/customers/search", params={"query": query, **params})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_search_by_metadata_email_and_name(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    stripe_system.settings.search_lag = 0
    acme = create(http, base_url, "name=Acme&email=ap%40acme.test&metadata[erp_id]=1&metadata[region]=EU")
    stripe_system.clock.advance(5)
    globex = create(http, base_url, "name=Globex&email=ar%40globex.test&metadata[erp_id]=2")
    stripe_system.clock.advance(5)
    acme_uk = create(http, base_url, "name=Acme&email=uk%40acme.test&metadata[erp_id]=1&metadata[region]=UK")

    # the SDK sends the query with literal brackets and percent-encoded quotes
    raw = http.get(f"{base_url}/v1/customers/search?query=metadata[%27erp_id%27]%3A%271%27").json()
    assert raw["object"] == "search_result"
    assert raw["url"] == "/v1/customers/search"
    assert raw["has_more"] is False
    assert raw["next_page"] is None
    assert [c["id"] for c in raw["data"]] == [acme_uk["id"], acme["id"]]

    assert [c["id"] for c in _search(http, base_url, "email:'AP@ACME.test'")["data"]] == [acme["id"]]
    assert [c["id"] for c in _search(http, base_url, 'name:"globex"')["data"]] == [globex["id"]]
    both = _search(http, base_url, "name:'Acme' AND metadata['region']:'EU'")
    assert [c["id"] for c in both["data"]] == [acme["id"]]
    either = _search(http, base_url, "metadata['erp_id']:'2' OR metadata['region']:'UK'")
    assert [c["id"] for c in either["data"]] == [acme_uk["id"], globex["id"]]


def test_search_pages_with_next_page(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    stripe_system.settings.search_lag = 0
    ids = []
    for n in range(3):
        ids.append(create(http, base_url, f"name=Same&metadata[n]={n}")["id"])
        stripe_system.clock.advance(1)
    first = _search(http, base_url, "name:'Same'", limit=2)
    assert [c["id"] for c in first["data"]] == [ids[2], ids[1]]
    assert first["has_more"] is True
    assert isinstance(first["next_page"], str)
    second = _search(http, base_url, "name:'Same'", limit=2, page=first["next_page"])
    assert [c["id"] for c in second["data"]] == [ids[0]]
    assert second["has_more"] is False
    assert second["next_page"] is None


@pytest.mark.parametrize(
    "query",
    [
        "name~'Acm'",
        "-name:'Acme'",
        "(name:'Acme')",
        "nickname:'Acme'",
        "name:Acme",
        "name:'Acme' and email:'x'",
        "name:'a' AND email:'b' OR phone:'c'",
        "name>'Acme'",
        "metadata['k']:null",
    ],
)
def test_search_rejects_unsupported_syntax(http: requests.Session, base_url: str, query: str) -> None:
    error = error_of(http.get(f"{base_url}/v1/customers/search", params={"query": query}), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "query"
    assert error["message"].startswith("Invalid search query")


def test_search_requires_a_query(http: requests.Session, base_url: str) -> None:
    error = error_of(http.get(f"{base_url}/v1/customers/search"), 400)
    assert error["message"] == "Missing required param: query."
    assert error["param"] == "query"


def test_search_lag_hides_fresh_writes(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    stripe_system.settings.search_lag = 30
    customer = create(http, base_url, "name=Fresh&metadata[erp_id]=9")
    assert _search(http, base_url, "metadata['erp_id']:'9'")["data"] == []
    stripe_system.clock.advance(31)
    assert [c["id"] for c in _search(http, base_url, "metadata['erp_id']:'9'")["data"]] == [customer["id"]]


# -- idempotency -------------------------------------------------------------------------------------


def test_idempotent_replay_returns_the_identical_response(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    body = "name=Initech&metadata[erp_id]=42"
    first = post_form(http, f"{base_url}/v1/customers", body, **{"Idempotency-Key": "erp:cust:42:v1"})
    again = post_form(http, f"{base_url}/v1/customers", body, **{"Idempotency-Key": "erp:cust:42:v1"})

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Original-Request"] == first.headers["Request-Id"]
    assert again.headers["Request-Id"] != first.headers["Request-Id"]
    assert first.headers["Idempotency-Key"] == again.headers["Idempotency-Key"] == "erp:cust:42:v1"
    assert [c["id"] for c in stripe_system.customers()] == [first.json()["id"]]
    assert len(stripe_system.events("customer.created")) == 1


def test_same_key_with_other_parameters_is_an_idempotency_error(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    post_form(http, f"{base_url}/v1/customers", "name=Initech", **{"Idempotency-Key": "k-1"})
    error = error_of(
        post_form(http, f"{base_url}/v1/customers", "name=Initrode", **{"Idempotency-Key": "k-1"}), 400
    )
    assert error["type"] == "idempotency_error"
    assert error["message"] == (
        "Keys for idempotent requests can only be used with the same parameters they were first used with. "
        "Try using a key other than 'k-1' if you meant to execute a different request."
    )
    customer_id = stripe_system.customers()[0]["id"]
    other_path = post_form(
        http, f"{base_url}/v1/customers/{customer_id}", "name=Initech", **{"Idempotency-Key": "k-1"}
    )
    assert error_of(other_path, 400)["type"] == "idempotency_error"
    assert [c["name"] for c in stripe_system.customers()] == ["Initech"]


def test_keys_expire_after_24_hours_of_sandbox_time(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    first = post_form(http, f"{base_url}/v1/customers", "name=A", **{"Idempotency-Key": "k-24h"})
    stripe_system.clock.advance(24 * 3600 - 5)
    assert (
        post_form(http, f"{base_url}/v1/customers", "name=A", **{"Idempotency-Key": "k-24h"}).headers.get(
            "Idempotent-Replayed"
        )
        == "true"
    )
    stripe_system.clock.advance(10)
    later = post_form(http, f"{base_url}/v1/customers", "name=A", **{"Idempotency-Key": "k-24h"})
    assert "Idempotent-Replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    assert len(stripe_system.customers()) == 2


def test_execution_errors_are_replayed_but_validation_errors_are_not(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    missing = f"{base_url}/v1/customers/cus_missing00000000"
    first = post_form(http, missing, "name=A", **{"Idempotency-Key": "k-404"})
    again = post_form(http, missing, "name=A", **{"Idempotency-Key": "k-404"})
    assert error_of(first, 404)["code"] == "resource_missing"
    assert again.status_code == 404
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"

    too_many = "&".join(f"metadata[k{n}]=v" for n in range(51))
    refused = post_form(http, f"{base_url}/v1/customers", too_many, **{"Idempotency-Key": "k-400"})
    assert error_of(refused, 400)["param"] == "metadata"
    fixed = post_form(http, f"{base_url}/v1/customers", "name=Fixed", **{"Idempotency-Key": "k-400"})
    assert fixed.status_code == 200
    assert "Idempotent-Replayed" not in fixed.headers
    assert [c["name"] for c in stripe_system.customers()] == ["Fixed"]


def test_concurrent_request_with_the_same_key_gets_409(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    stripe_system.settings.write_latency = 0.5
    responses: list[requests.Response] = []

    def send() -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {stripe_system.secret_key}"
            responses.append(
                post_form(session, f"{base_url}/v1/customers", "name=Twice", **{"Idempotency-Key": "k-c"})
            )

    first = threading.Thread(target=send)
    first.start()
    # wait until the first request holds the key
    for _ in range(200):
        if stripe_system.idempotency.get("k-c") is not None:
            break
        threading.Event().wait(0.01)
    send()
    first.join()

    by_status = sorted(responses, key=lambda r: r.status_code)
    assert [r.status_code for r in by_status] == [200, 409]
    conflict = by_status[1]
    assert conflict.json()["error"]["type"] == "idempotency_error"
    assert conflict.headers["Stripe-Should-Retry"] == "true"
    assert len(stripe_system.customers()) == 1


def test_sdk_generated_keys_are_treated_like_explicit_ones(
    base_url: str, stripe_system: StripeSandbox, admin: SandboxClient, http: requests.Session
) -> None:
    client = stripe.StripeClient(stripe_system.secret_key, base_addresses={"api": base_url})
    created = client.v1.customers.create(params={"name": "Auto", "metadata": {"erp_id": "5"}})
    [logged] = admin.request_log(method="POST", path="^/v1/customers$")
    auto_key = logged["headers"]["idempotency-key"]
    assert auto_key

    replay = post_form(http, f"{base_url}/v1/customers", logged["body"], **{"Idempotency-Key": auto_key})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == created.id
    assert len(stripe_system.customers()) == 1


# -- validation, deletion, auth, headers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ("&".join(f"metadata[k{n}]=v" for n in range(51)), "metadata"),
        ("metadata[" + "k" * 41 + "]=v", "metadata"),
        ("metadata[note]=" + "v" * 501, "metadata[note]"),
        ("metadata[a[b]]=v", "metadata"),
        ("metadata[k][x]=v", "metadata[k]"),
        ("email=not-an-email", "email"),
        ("tax_exempt=sometimes", "tax_exempt"),
    ],
)
def test_invalid_parameters_answer_400_with_param(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox, body: str, param: str
) -> None:
    error = error_of(post_form(http, f"{base_url}/v1/customers", body), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert stripe_system.customers() == []
    assert stripe_system.events() == []


def test_metadata_limits_allow_exactly_50_keys_of_40_and_500_characters(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    keys = ["k" * 38 + f"{n:02d}" for n in range(50)]
    customer = create(http, base_url, "&".join(f"metadata[{k}]={'v' * 500}" for k in keys))
    assert len(customer["metadata"]) == 50
    error = error_of(
        post_form(http, f"{base_url}/v1/customers/{customer['id']}", "metadata[one_more]=x"), 400
    )
    assert error["param"] == "metadata"
    assert len(stripe_system.customers()[0]["metadata"]) == 50


def test_deleted_customers(http: requests.Session, base_url: str, stripe_system: StripeSandbox) -> None:
    stripe_system.settings.search_lag = 0
    customer = create(http, base_url, "name=Gone&metadata[erp_id]=1")
    url = f"{base_url}/v1/customers/{customer['id']}"
    tombstone = {"id": customer["id"], "object": "customer", "deleted": True}

    assert http.delete(url).json() == tombstone
    assert http.get(url).json() == tombstone
    assert http.get(f"{base_url}/v1/customers").json()["data"] == []
    # search still shows the last live version until the delete reaches the index (Appendix S)
    assert _search(http, base_url, "metadata['erp_id']:'1'")["data"] == [customer]
    stripe_system.clock.advance(stripe_system.settings.search_delete_lag + 1)
    assert _search(http, base_url, "metadata['erp_id']:'1'")["data"] == []
    assert error_of(post_form(http, url, "name=Back"), 404)["code"] == "resource_missing"
    again = error_of(http.delete(url), 404)
    assert again["message"] == f"No such customer: '{customer['id']}'"
    assert stripe_system.find_customers("erp_id", "1") == []
    [event] = stripe_system.events("customer.deleted")
    assert event["data"]["object"] == customer


def test_missing_customer_is_404_resource_missing(http: requests.Session, base_url: str) -> None:
    response = http.get(f"{base_url}/v1/customers/cus_nope")
    error = error_of(response, 404)
    assert error["code"] == "resource_missing"
    assert error["param"] == "id"
    assert error["message"] == "No such customer: 'cus_nope'"
    assert error["doc_url"] == "https://stripe.com/docs/error-codes/resource-missing"
    assert (
        error["request_log_url"] == f"https://dashboard.stripe.com/test/logs/{response.headers['Request-Id']}"
    )
    assert response.headers["Stripe-Should-Retry"] == "false"


def test_events_record_writes_with_their_request(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    created = post_form(
        http, f"{base_url}/v1/customers", "name=Old&metadata[a]=1", **{"Idempotency-Key": "k-e"}
    )
    customer = created.json()
    post_form(http, f"{base_url}/v1/customers/{customer['id']}", "name=New&metadata[a]=2&metadata[b]=3")
    post_form(http, f"{base_url}/v1/customers/{customer['id']}", "name=New")  # no change, no event

    created_event, updated_event = stripe_system.events()
    assert created_event["type"] == "customer.created"
    assert re.fullmatch(r"evt_[A-Za-z0-9]{14}", created_event["id"])
    assert created_event["object"] == "event"
    assert created_event["data"] == {"object": customer}
    assert created_event["request"] == {"id": created.headers["Request-Id"], "idempotency_key": "k-e"}
    assert created_event["api_version"] == stripe.api_version
    assert updated_event["type"] == "customer.updated"
    assert updated_event["data"]["object"]["metadata"] == {"a": "2", "b": "3"}
    assert updated_event["data"]["previous_attributes"] == {"name": "Old", "metadata": {"a": "1", "b": None}}


def test_missing_and_unknown_keys_get_401(
    base_url: str, stripe_system: StripeSandbox, http: requests.Session
) -> None:
    missing = requests.get(f"{base_url}/v1/balance", timeout=5)
    assert missing.status_code == 401
    assert missing.json() == {
        "error": {
            "message": "You did not provide an API key. You need to provide your API key in the Authorization "
            "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
            "https://stripe.com/docs/api#authentication for details, or we can help at "
            "https://support.stripe.com/.",
            "type": "invalid_request_error",
        }
    }
    wrong = requests.get(
        f"{base_url}/v1/balance", headers={"Authorization": "Bearer sk_test_abcdefgh1234"}, timeout=5
    )
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": {
            "message": "Invalid API Key provided: sk_test_********1234",
            "type": "invalid_request_error",
        }
    }
    assert wrong.headers["Request-Id"].startswith("req_")
    basic_wrong = requests.get(f"{base_url}/v1/balance", auth=("sk_test_nothere9876", ""), timeout=5)
    assert basic_wrong.json()["error"]["message"] == "Invalid API Key provided: sk_test_*******9876"
    basic_right = requests.get(f"{base_url}/v1/balance", auth=(stripe_system.secret_key, ""), timeout=5)
    assert basic_right.status_code == 200
    assert basic_right.json()["object"] == "balance"


def test_accepted_key_is_configurable(base_url: str, stripe_system: StripeSandbox) -> None:
    old_key = stripe_system.secret_key
    settings_url = f"{base_url}/__sandbox__/stripe/settings"
    changed = requests.post(settings_url, json={"api_keys": ["sk_test_rotated0000000000"]}, timeout=5)
    assert changed.json()["api_keys"] == ["sk_test_rotated0000000000"]
    assert stripe_system.connection(base_url)["password"] == "sk_test_rotated0000000000"
    old = requests.get(f"{base_url}/v1/balance", headers={"Authorization": f"Bearer {old_key}"}, timeout=5)
    new = requests.get(
        f"{base_url}/v1/balance", headers={"Authorization": "Bearer sk_test_rotated0000000000"}, timeout=5
    )
    assert (old.status_code, new.status_code) == (401, 200)
    assert requests.post(settings_url, json={"rate_limit": 0}, timeout=5).status_code == 400
    assert stripe_system.settings.rate_limit is None


def test_response_headers(http: requests.Session, base_url: str) -> None:
    default = http.get(f"{base_url}/v1/balance")
    assert re.fullmatch(r"req_[A-Za-z0-9]{14}", default.headers["Request-Id"])
    assert default.headers["Stripe-Version"] == stripe.api_version
    pinned = http.get(f"{base_url}/v1/balance", headers={"Stripe-Version": "2025-03-31.basil"})
    assert pinned.headers["Stripe-Version"] == "2025-03-31.basil"
    bad = error_of(http.get(f"{base_url}/v1/balance", headers={"Stripe-Version": "latest"}), 400)
    assert bad["message"] == "Invalid Stripe API version: latest"
    unknown = error_of(http.get(f"{base_url}/v1/widgets"), 404)
    assert unknown["message"].startswith("Unrecognized request URL (GET: /v1/widgets).")


def test_rate_limiter_answers_429_when_enabled(
    http: requests.Session, base_url: str, stripe_system: StripeSandbox
) -> None:
    stripe_system.settings.rate_limit = 3
    statuses = [http.get(f"{base_url}/v1/balance") for _ in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
    limited = statuses[3]
    assert limited.json()["error"]["code"] == "rate_limit"
    assert limited.json()["error"]["type"] == "invalid_request_error"
    assert limited.headers["Stripe-Should-Retry"] == "true"
    assert limited.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    stripe_system.settings.rate_limit = None
    assert http.get(f"{base_url}/v1/balance").status_code == 200


@pytest.mark.parametrize(
    ("rule", "status", "retry_after"),
    [
        (FaultRule.rate_limit(path="^/v1/customers$", retry_after=2), 429, "2"),
        (FaultRule.rate_limit(path="^/v1/customers$"), 429, None),
        (FaultRule.unavailable(path="^/v1/customers$"), 503, None),
    ],
)
def test_framework_faults_hit_stripe_routes(
    http: requests.Session,
    base_url: str,
    stripe_system: StripeSandbox,
    rule: FaultRule,
    status: int,
    retry_after: str | None,
) -> None:
    stripe_system.faults.add(rule)
    faulted = post_form(http, f"{base_url}/v1/customers", "name=A")
    assert faulted.status_code == status
    assert faulted.headers.get("Retry-After") == retry_after
    assert stripe_system.customers() == []
    assert post_form(http, f"{base_url}/v1/customers", "name=A").status_code == 200
