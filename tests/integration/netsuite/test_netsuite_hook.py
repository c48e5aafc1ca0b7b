"""NetSuiteHook over HTTP against the NetSuite stand-in: token flow, records, SuiteQL, concurrency
and faults (contract ``oracle_fusion_netsuite.md`` B2–B9)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from ml_connector_sandbox.faults import FaultRule
from ml_connector_sandbox.systems.netsuite import NetSuiteSandbox

from ml_connector_provider.hooks.netsuite import (
    NetSuiteAuthError,
    NetSuiteHook,
    NetSuiteNotFoundError,
    NetSuiteQueryError,
    NetSuiteUnknownOutcomeError,
    NetSuiteValidationError,
    NetSuiteValueError,
)
from ml_connector_provider.transport import RetryExhausted
from tests.integration.netsuite.conftest import ConnectionFactory

INVOICE: dict[str, Any] = {
    "entity": {"id": "101"},
    "subsidiary": {"id": "1"},
    "currency": {"id": "1"},
    "tranDate": "2026-01-15",
    "memo": "Stripe charge ch_1",
    "item": {"items": [{"item": {"id": "201"}, "quantity": 1, "rate": 50.0, "amount": 50.0}]},
}


def calls(netsuite: NetSuiteSandbox, method: str, path: str) -> int:
    return len(netsuite.requests.entries(method=method, path=path))


# -- B2: tokens ---------------------------------------------------------------------------------


def test_a_token_is_fetched_once_and_shared_by_hooks_of_the_connection(
    conn_id: str, netsuite: NetSuiteSandbox
) -> None:
    first, second = NetSuiteHook(conn_id), NetSuiteHook(conn_id)
    try:
        assert first.get_record("customer", "101")["companyName"] == "Acme Corp"
        assert second.get_record("customer", 102)["companyName"] == "Northwind GmbH"
        assert netsuite.tokens.issued_count == 1
        assert first.token_provider is second.token_provider
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(("left", "renewed"), [(299.0, True), (301.0, False)])
def test_the_token_is_renewed_five_minutes_before_it_expires(
    hook: NetSuiteHook, netsuite: NetSuiteSandbox, left: float, renewed: bool
) -> None:
    hook.get_record("customer", "101")
    provider = hook.token_provider
    token = provider._token
    assert token is not None
    now = time.time()
    # the same token, as it is when only `left` seconds of its 60 minutes remain
    provider._token = dataclasses.replace(token, obtained_at=now + left - 3600, expires_at=now + left)
    hook.get_record("customer", "101")
    assert netsuite.tokens.issued_count == (2 if renewed else 1)


def test_a_401_fetches_a_new_token_once_and_repeats_the_request(
    hook: NetSuiteHook, netsuite: NetSuiteSandbox
) -> None:
    hook.get_record("customer", "101")
    netsuite.tokens.expire_all()  # the cached token is no longer valid
    assert hook.get_record("customer", "101")["id"] == "101"
    assert netsuite.tokens.issued_count == 2
    assert hook.transport.stats.auth_refreshes == 1


def test_tokens_that_expire_on_the_server_are_replaced_mid_run(
    hook: NetSuiteHook, netsuite: NetSuiteSandbox
) -> None:
    hook.get_record("customer", "101")
    for _ in range(3):
        netsuite.tokens.expire_all()
        hook.upsert_by_external_id("invoice", "stripe:ch_mid", INVOICE)
    assert len(netsuite.records("invoice")) == 1
    assert netsuite.tokens.issued_count == 4


def test_a_refused_assertion_is_an_auth_error_without_the_key(
    make_connection: ConnectionFactory, netsuite: NetSuiteSandbox
) -> None:
    conn_id = make_connection("netsuite_wrong_kid", certificate_id="no-such-certificate")
    hook = NetSuiteHook(conn_id)
    with pytest.raises(NetSuiteAuthError, match="Login Audit Trail") as caught:
        hook.get_record("customer", "101")
    message = str(caught.value)
    assert "token request rejected" in message
    assert netsuite.seed_client.private_key_pem.splitlines()[1] not in message
    assert calls(netsuite, "GET", r"/record/v1/customer") == 0
    ok, text = hook.test_connection()
    assert not ok
    assert "NetSuiteAuthError" in text


def test_test_connection(hook: NetSuiteHook) -> None:
    ok, message = hook.test_connection()
    assert ok, message
    assert "token issued" in message


# -- B3/B4: records -----------------------------------------------------------------------------


def test_get_by_external_id(hook: NetSuiteHook) -> None:
    found = hook.get_by_external_id("customer", "stripe-cus_SeedAcme")
    assert found is not None
    assert found["id"] == "101"
    assert hook.get_by_external_id("customer", "cus_Missing") is None


def test_a_missing_record_is_not_found(hook: NetSuiteHook) -> None:
    with pytest.raises(NetSuiteNotFoundError, match="invoice 424242"):
        hook.get_record("invoice", 424242)


def test_create_reads_the_id_from_location_and_update_patches(
    hook: NetSuiteHook, netsuite: NetSuiteSandbox
) -> None:
    internal_id = hook.create_record(
        "customer", {"companyName": "Globex", "subsidiary": {"id": "1"}, "externalId": "stripe:cus_G1"}
    )
    assert hook.get_record("customer", internal_id)["companyName"] == "Globex"
    hook.update_record("customer", internal_id, {"email": "ar@globex.example"})
    assert hook.get_record("customer", internal_id)["email"] == "ar@globex.example"
    assert calls(netsuite, "PATCH", rf"/customer/{internal_id}$") == 1


def test_the_external_id_upsert_is_idempotent(hook: NetSuiteHook, netsuite: NetSuiteSandbox) -> None:
    first = hook.upsert_by_external_id("invoice", "stripe:ch_1", INVOICE)
    again = hook.upsert_by_external_id(
        "invoice", "stripe:ch_1", {**INVOICE, "memo": "Stripe charge ch_1 (again)"}
    )
    assert first == again
    (invoice,) = netsuite.records("invoice")
    assert invoice["id"] == first
    assert invoice["externalId"] == "stripe:ch_1"
    assert invoice["memo"] == "Stripe charge ch_1 (again)"


def test_refused_data_is_a_validation_error_naming_the_record_and_field(hook: NetSuiteHook) -> None:
    body = {**INVOICE, "item": {"items": [{"item": {"id": "999"}, "amount": 1.0}]}}
    with pytest.raises(NetSuiteValidationError) as caught:
        hook.upsert_by_external_id("invoice", "stripe:ch_2", body)
    error = caught.value
    assert (error.record_type, error.record_ref, error.status) == ("invoice", "eid:stripe:ch_2", 400)
    assert "INVALID_KEY_OR_REF" in str(error)
    assert "item.items[0].item" in str(error)


def test_an_unknown_field_is_refused_not_dropped(hook: NetSuiteHook) -> None:
    with pytest.raises(NetSuiteValidationError, match="NONEXISTENT_FIELD"):
        hook.upsert_by_external_id("invoice", "stripe:ch_3", {**INVOICE, "memmo": "typo"})


def test_an_external_id_that_cannot_be_sent_sends_nothing(
    hook: NetSuiteHook, netsuite: NetSuiteSandbox
) -> None:
    with pytest.raises(NetSuiteValueError, match="externalId of a invoice"):
        hook.upsert_by_external_id("invoice", "stripe/../ch_1", INVOICE)
    assert netsuite.requests.entries() == []


# -- B6: SuiteQL --------------------------------------------------------------------------------


def test_suiteql_pages_until_has_more_is_false(hook: NetSuiteHook, netsuite: NetSuiteSandbox) -> None:
    rows = list(hook.suiteql("SELECT id, companyname FROM customer ORDER BY id", page_size=1))
    assert rows == [
        {"id": "101", "companyname": "Acme Corp"},
        {"id": "102", "companyname": "Northwind GmbH"},
        {"id": "103", "companyname": "Sakura KK"},
    ]
    sent = netsuite.requests.entries(method="POST", path="/query/v1/suiteql$")
    assert [entry.query for entry in sent] == ["limit=1&offset=0", "limit=1&offset=1", "limit=1&offset=2"]
    assert all(entry.headers.get("prefer") == "transient" for entry in sent)


def test_hostile_values_are_looked_up_as_values(hook: NetSuiteHook) -> None:
    name = "O'Brien' OR '1'='1; --"
    internal_id = hook.create_record("customer", {"companyName": name, "subsidiary": {"id": "1"}})
    assert hook.find_one("customer", "companyname", name, ["id", "companyname"]) == {
        "id": internal_id,
        "companyname": name,
    }
    assert hook.find_one("customer", "companyname", "x' OR 'a'='a") is None


def test_a_value_with_a_control_character_is_refused_before_sending(
    hook: NetSuiteHook, netsuite: NetSuiteSandbox
) -> None:
    with pytest.raises(NetSuiteValueError, match="NUL"):
        hook.find_one("customer", "externalid", "cus_\x00")
    assert netsuite.requests.entries() == []


def test_look_ups_by_external_id_and_custom_field_in_chunks(
    hook: NetSuiteHook, netsuite: NetSuiteSandbox
) -> None:
    wanted = ["prod_SeedProMonthly", "prod_SeedProAnnual", "prod_SeedOnboarding", "prod_Unknown"]
    assert hook.ids_by_external_id("item", wanted) == {
        "prod_SeedProMonthly": "201",
        "prod_SeedProAnnual": "202",
        "prod_SeedOnboarding": "203",
    }
    rows = hook.find_by_values("item", "custitem_stripe_product_id", wanted, ["id"], chunk_size=2)
    assert sorted(row["id"] for row in rows) == ["201", "202", "203"]
    assert calls(netsuite, "POST", "/query/v1/suiteql$") == 3


def test_a_query_netsuite_refuses_is_a_query_error(hook: NetSuiteHook) -> None:
    with pytest.raises(NetSuiteQueryError, match="INVALID_PARAMETER"):
        list(hook.suiteql("SELECT foo FROM bar"))


# -- B9: concurrency ----------------------------------------------------------------------------


def run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    lock = threading.Lock()

    def target(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return errors


def test_ten_threads_under_a_limit_of_five_get_no_concurrency_error(
    conn_id: str, netsuite: NetSuiteSandbox
) -> None:
    netsuite.settings.concurrency_limit = 5
    netsuite.settings.request_latency = 0.02
    hooks = [NetSuiteHook(conn_id) for _ in range(10)]

    def work(n: int) -> None:
        for m in range(3):
            hooks[n].upsert_by_external_id("invoice", f"stripe:ch_c{n}_{m}", INVOICE)

    assert run_threads(10, work) == []
    assert len(netsuite.records("invoice")) == 30
    assert netsuite.gate.snapshot()["peak"] <= 5
    assert hooks[0].transport.concurrency is hooks[9].transport.concurrency
    assert hooks[0].transport.concurrency is not None
    assert hooks[0].transport.concurrency.stats().peak <= 5


@pytest.mark.parametrize("status", [429, 400])
def test_concurrency_refusals_are_retried_until_a_slot_frees(
    make_connection: ConnectionFactory, netsuite: NetSuiteSandbox, status: int
) -> None:
    # a client allowed more than the account: the server refuses the excess, the hook retries
    conn_id = make_connection(
        "netsuite_greedy", concurrency=10, retry_attempts=400, retry_base_delay=0.005, retry_max_delay=0.02
    )
    netsuite.settings.concurrency_limit = 5
    netsuite.settings.concurrency_status = status
    hooks = [NetSuiteHook(conn_id) for _ in range(10)]
    hooks[0].fetch_token()
    netsuite.gate.hold()  # admitted requests keep their slot until released

    def release_once_refused() -> None:
        deadline = time.monotonic() + 30
        while netsuite.gate.snapshot()["refused"] < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        netsuite.gate.release()

    releaser = threading.Thread(target=release_once_refused)
    releaser.start()
    errors = run_threads(10, lambda n: hooks[n].upsert_by_external_id("invoice", f"stripe:ch_g{n}", INVOICE))
    releaser.join(60)
    assert errors == []
    assert netsuite.gate.snapshot()["refused"] >= 5
    assert len(netsuite.records("invoice")) == 10


# -- faults: retried only where safe -------------------------------------------------------------


def test_a_read_is_retried_after_a_503_and_a_dropped_connection(
    hook: NetSuiteHook, netsuite: NetSuiteSandbox
) -> None:
    netsuite.faults.add(FaultRule(kind="status", status=503, path="/record/v1/customer/101$", method="GET"))
    netsuite.faults.add(FaultRule(kind="drop", path="/record/v1/customer/101$", method="GET"))
    assert hook.get_record("customer", "101")["id"] == "101"
    assert calls(netsuite, "GET", "/record/v1/customer/101$") == 3


def test_an_upsert_whose_answer_was_lost_is_repeated_and_posts_once(
    hook: NetSuiteHook, netsuite: NetSuiteSandbox
) -> None:
    netsuite.faults.add(FaultRule(kind="drop", process=True, path="/invoice/eid:", method="PUT"))
    netsuite.faults.add(
        FaultRule(kind="status", status=502, process=True, path="/invoice/eid:", method="PUT")
    )
    internal_id = hook.upsert_by_external_id("invoice", "stripe:ch_lost", INVOICE)
    (invoice,) = netsuite.records("invoice")
    assert invoice["id"] == internal_id
    assert calls(netsuite, "PUT", "/invoice/eid:") == 3


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "drop"},
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 502},
        {"kind": "status", "status": 503},
    ],
)
def test_a_create_whose_answer_was_lost_is_not_repeated(
    hook: NetSuiteHook, netsuite: NetSuiteSandbox, fault: dict[str, Any]
) -> None:
    netsuite.faults.add(FaultRule(process=True, path="/record/v1/invoice$", method="POST", **fault))
    with pytest.raises(NetSuiteUnknownOutcomeError, match="GET invoice/eid:stripe:ch_post") as caught:
        hook.create_record("invoice", {**INVOICE, "externalId": "stripe:ch_post"})
    assert caught.value.record_type == "invoice"
    assert calls(netsuite, "POST", "/record/v1/invoice$") == 1
    # the caller's way out: the look-up by external id finds what the lost create wrote
    found = hook.get_by_external_id("invoice", "stripe:ch_post")
    assert found is not None


def test_a_create_refused_for_concurrency_is_retried(hook: NetSuiteHook, netsuite: NetSuiteSandbox) -> None:
    body = {
        "type": "https://www.rfc-editor.org/rfc/rfc6585.html#section-4",
        "title": "Too Many Requests",
        "status": 400,
        "o:errorDetails": [
            {
                "detail": "Concurrent request limit exceeded. Request blocked.",
                "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
            }
        ],
    }
    netsuite.faults.add(
        FaultRule(kind="status", status=400, body=body, path="/record/v1/invoice$", method="POST", times=2)
    )
    internal_id = hook.create_record("invoice", {**INVOICE, "externalId": "stripe:ch_busy"})
    assert [record["id"] for record in netsuite.records("invoice")] == [internal_id]
    assert calls(netsuite, "POST", "/record/v1/invoice$") == 3


def test_persistent_5xx_on_a_read_gives_up_naming_netsuite(
    hook: NetSuiteHook, netsuite: NetSuiteSandbox
) -> None:
    netsuite.faults.add(FaultRule(kind="status", status=503, path="/record/v1/customer/101$", times=None))
    with pytest.raises(RetryExhausted, match="NetSuite, GET customer 101"):
        hook.get_record("customer", "101")


def test_an_ec_key_signs_es256_assertions(
    make_connection: ConnectionFactory, netsuite: NetSuiteSandbox, base_url: str
) -> None:
    created = requests.post(f"{base_url}/__sandbox__/netsuite/clients", json={"generate": "EC"}, timeout=10)
    assert created.status_code == 201, created.text
    client = created.json()
    conn_id = make_connection(
        "netsuite_ec",
        login=client["client_id"],
        certificate_id=client["certificate_id"],
        private_key=client["private_key"],
        algorithm="ES256",
    )
    hook = NetSuiteHook(conn_id)
    try:
        assert hook.get_record("customer", "103")["companyName"] == "Sakura KK"
        assert hook.token_provider.algorithm == "ES256"
    finally:
        hook.close()
