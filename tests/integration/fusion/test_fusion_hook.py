"""OracleFusionHook against the Fusion stand-in: real HTTP, connections from AIRFLOW_CONN_* env vars."""

from __future__ import annotations

import importlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import pytest
from airflow.sdk.log import redact
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.systems.fusion import BASIC_PASSWORD, BASIC_USER, CLIENT_ID, FusionSandbox

from ml_connector_provider.get_provider_info import get_provider_info
from ml_connector_provider.hooks.oracle_fusion import (
    FusionApiError,
    FusionBadRequest,
    FusionConnectionSettings,
    FusionResponseError,
    OracleFusionHook,
    format_timestamp,
    parse_timestamp,
)
from ml_connector_provider.transport import AuthError, RetryExhausted
from tests.integration.fusion.conftest import CUSTOMERS, CUSTOMERS_PATH, NOTES, ConnectionFactory

KEY = "BillToSiteUseId"
COLLECTION = f"^{CUSTOMERS_PATH}$"


def by_time(rows: list[dict[str, Any]]) -> list[int]:
    return [r[KEY] for r in sorted(rows, key=lambda r: (parse_timestamp(r["LastUpdateDate"]), r[KEY]))]


def flatten(pages: Iterator[list[dict[str, Any]]]) -> list[int]:
    return [item[KEY] for page in pages for item in page]


def collection_requests(admin: SandboxClient) -> list[dict[str, Any]]:
    return admin.request_log(method="GET", path=COLLECTION)


def query_of(entry: dict[str, Any]) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(entry["query"]).items()}


# -- construction and connection ---------------------------------------------------------------------


def test_discoverable_attributes() -> None:
    assert OracleFusionHook.conn_name_attr == "oracle_fusion_conn_id"
    assert OracleFusionHook.default_conn_name == "oracle_fusion_default"
    assert OracleFusionHook.conn_type == "oracle_fusion"
    assert OracleFusionHook.hook_name == "Oracle Fusion Cloud ERP"
    [declared] = [
        c for c in get_provider_info()["connection-types"] if c["connection-type"] == "oracle_fusion"
    ]
    module_name, _, class_name = declared["hook-class-name"].rpartition(".")
    assert getattr(importlib.import_module(module_name), class_name) is OracleFusionHook


def test_constructor_does_no_io() -> None:
    hook = OracleFusionHook("fusion_not_defined_anywhere")
    assert hook.oracle_fusion_conn_id == "fusion_not_defined_anywhere"
    assert "settings" not in hook.__dict__
    assert "transport" not in hook.__dict__
    with pytest.raises(Exception, match="fusion_not_defined_anywhere"):
        hook.get_conn()


def test_reads_exactly_the_declared_fields(hook: OracleFusionHook, runner: Any, base_url: str) -> None:
    [declared] = [
        c for c in get_provider_info()["connection-types"] if c["connection-type"] == "oracle_fusion"
    ]
    handed_out = runner.connections()["fusion"]
    assert set(handed_out["extra"]) == set(declared["conn-fields"])
    settings = hook.settings
    assert settings.pod_url == base_url
    assert settings.base_url == f"{base_url}/fscmRestApi/resources/11.13.18.05"
    assert (settings.auth_type, settings.client_id, settings.rest_framework_version) == (
        "oauth2_client_credentials",
        CLIENT_ID,
        4,
    )
    assert settings.token_url == f"{base_url}/oauth2/v1/token"
    assert settings.scope == handed_out["extra"]["scope"]
    assert settings.timeout == 30.0
    assert (settings.retry.attempts, settings.retry.base_delay) == (4, 0.01)
    assert hook.get_conn() is hook.transport
    assert "client_secret" not in repr(settings)


def test_settings_from_uri_style_strings() -> None:
    settings = FusionConnectionSettings.from_connection(
        host="pod.fa.us2.oraclecloud.com/fscmRestApi/resources/11.13.18.05/",
        extra={
            "token_url": "https://idcs.example.com/oauth2/v1/token",
            "client_id": "cid",
            "client_secret": "s3cret-value",
            "rest_framework_version": "1",
            "timeout": "15",
            "retry_attempts": "2",
            "client_auth": "post",
            "scope": "",
        },
    )
    assert settings.pod_url == "https://pod.fa.us2.oraclecloud.com"
    assert (settings.rest_framework_version, settings.timeout, settings.retry.attempts) == (1, 15.0, 2)
    assert (settings.client_auth, settings.scope, settings.auth_type) == (
        "post",
        None,
        "oauth2_client_credentials",
    )
    basic = FusionConnectionSettings.from_connection(
        host="https://pod:8443", port=None, login="u", password="p"
    )
    assert (basic.auth_type, basic.rest_framework_version, basic.timeout) == ("basic", 4, 60.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": None, "extra": {}}, "has no host"),
        ({"host": "ftp://pod", "extra": {}}, "not an http"),
        ({"host": "https://pod", "extra": {"client_id": "c"}}, "token_url, client_secret"),
        ({"host": "https://pod", "extra": {"auth_type": "basic"}}, "login and password"),
        ({"host": "https://pod", "extra": {"auth_type": "saml"}}, "auth_type"),
        (
            {"host": "https://pod", "login": "u", "password": "p", "extra": {"rest_framework_version": "10"}},
            "1 to 9",
        ),
        ({"host": "https://pod", "login": "u", "password": "p", "extra": {"timeout": "-1"}}, "positive"),
        ({"host": "https://pod", "login": "u", "password": "p", "extra": {"retry_attempts": "0"}}, "retry"),
    ],
)
def test_settings_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FusionConnectionSettings.from_connection(**kwargs)


def test_client_secret_is_masked(make_connection: ConnectionFactory, fusion: FusionSandbox) -> None:
    secret = f"fusion-secret-{uuid.uuid4().hex}"
    fusion.tokens.register_client(CLIENT_ID, secret)
    hook = OracleFusionHook(make_connection("fusion_masked", client_secret=secret))
    assert redact(f"value {secret}") == f"value {secret}"  # nothing has read the connection yet
    assert next(hook.iter_collection(CUSTOMERS, page_size=1))
    assert redact(f"value {secret}") == "value ***"
    assert redact(f"client {CLIENT_ID}") == f"client {CLIENT_ID}"  # the client id is not a secret


def test_basic_password_is_masked(
    make_connection: ConnectionFactory, fusion: FusionSandbox, admin: SandboxClient
) -> None:
    password = f"basic-{uuid.uuid4().hex}"
    fusion.basic_credentials["masked.user"] = password
    hook = OracleFusionHook(
        make_connection("fusion_basic_masked", basic=True, login="masked.user", password=password)
    )
    assert len(flatten(hook.iter_collection(CUSTOMERS))) == 12
    assert redact(password) == "***"
    [entry] = collection_requests(admin)
    assert entry["headers"]["authorization"].startswith("Basic ")


# -- reading collections -----------------------------------------------------------------------------


def test_full_iteration_in_pages_of_five(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient
) -> None:
    pages = list(hook.iter_collection(CUSTOMERS, order_by=("LastUpdateDate:asc", f"{KEY}:asc"), page_size=5))
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [item[KEY] for page in pages for item in page] == by_time(fusion.customers())
    assert all("links" not in item for page in pages for item in page)
    sent = [query_of(e) for e in collection_requests(admin)]
    assert [(q["offset"], q["limit"], q["onlyData"]) for q in sent] == [
        ("0", "5", "true"),
        ("5", "5", "true"),
        ("10", "5", "true"),
    ]
    assert {q["orderBy"] for q in sent} == {f"LastUpdateDate:asc,{KEY}:asc"}
    entries = collection_requests(admin)
    assert {e["headers"]["rest-framework-version"] for e in entries} == {"4"}
    assert all(e["headers"]["authorization"].startswith("Bearer ") for e in entries)


def test_paging_follows_has_more_not_the_page_size(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient
) -> None:
    admin._call("POST", "/fusion/settings", json={"max_limit": 4})  # the server caps below the requested size
    keys = flatten(hook.iter_collection(CUSTOMERS, order_by=(f"{KEY}:asc",), page_size=5))
    assert keys == sorted(r[KEY] for r in fusion.customers())
    assert [query_of(e)["offset"] for e in collection_requests(admin)] == ["0", "4", "8"]


def test_collection_options_are_sent(hook: OracleFusionHook, admin: SandboxClient) -> None:
    pages = list(
        hook.iter_collection(
            CUSTOMERS,
            q="Status = 'I'",
            fields=["BillToSiteUseId", "Status"],
            finder="CustomerAccountSiteActivitiesFinder;AccountNumber=1003",
            params={"totalResults": "true"},
        )
    )
    assert pages == [[{"BillToSiteUseId": 300000047112003, "Status": "I"}]]
    sent = query_of(collection_requests(admin)[0])
    assert sent["fields"] == "BillToSiteUseId,Status"
    assert sent["totalResults"] == "true"
    assert list(hook.iter_collection(CUSTOMERS, q="Status = 'X'")) == []


def test_child_collection_and_expand(hook: OracleFusionHook) -> None:
    [page] = hook.iter_collection(f"{CUSTOMERS}/300000047112001/child/transactionPaymentSchedules")
    assert [s["TransactionNumber"] for s in page] == ["INV-10045", "INV-10061"]
    [expanded] = hook.iter_collection(
        CUSTOMERS, q="AccountNumber = '1002'", expand=["transactionPaymentSchedules"]
    )
    assert expanded[0]["transactionPaymentSchedules"]["count"] == 1  # framework 4: children are collections


def test_has_more_without_items_is_an_error(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    broken = {"items": [], "count": 0, "hasMore": True, "limit": 5, "offset": 5, "links": []}
    fusion.faults.add(FaultRule.error(200, path=COLLECTION, query="offset=5", body=broken, times=None))
    pages = hook.iter_collection(CUSTOMERS, page_size=5)
    assert len(next(pages)) == 5
    with pytest.raises(FusionResponseError, match=r"hasMore=true with no items .* at offset 5"):
        next(pages)


def test_answer_that_is_not_a_collection(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    fusion.faults.add(FaultRule.error(200, path=COLLECTION, body={"unexpected": True}))
    with pytest.raises(FusionResponseError, match="no list of items"):
        list(hook.iter_collection(CUSTOMERS))
    fusion.faults.add(
        FaultRule.error(200, path=COLLECTION, body="<html>maintenance</html>", content_type="text/html")
    )
    with pytest.raises(FusionResponseError, match="not JSON"):
        list(hook.iter_collection(CUSTOMERS))


@pytest.mark.parametrize("size", [0, 501, 2.5])
def test_page_size_is_checked(hook: OracleFusionHook, size: Any) -> None:
    with pytest.raises(ValueError, match="page_size"):
        next(hook.iter_collection(CUSTOMERS, page_size=size))


# -- iter_changed ------------------------------------------------------------------------------------


def window(fusion: FusionSandbox, first: int, last: int) -> tuple[datetime, datetime, list[int]]:
    """Start at the timestamp of the first-th row (inclusive), end at the last-th (exclusive)."""
    rows = sorted(fusion.customers(), key=lambda r: (parse_timestamp(r["LastUpdateDate"]), r[KEY]))
    since = parse_timestamp(rows[first]["LastUpdateDate"])
    until = parse_timestamp(rows[last]["LastUpdateDate"])
    inside = [r[KEY] for r in rows if since <= parse_timestamp(r["LastUpdateDate"]) < until]
    return since, until, inside


@pytest.mark.parametrize(
    ("version", "template"),
    [
        ("1", "LastUpdateDate>={low};LastUpdateDate<{high}"),
        ("2", "LastUpdateDate >= '{low}' and LastUpdateDate < '{high}'"),
        ("4", "LastUpdateDate >= '{low}' and LastUpdateDate < '{high}'"),
    ],
)
def test_iter_changed_window_is_start_inclusive_end_exclusive(
    make_connection: ConnectionFactory,
    fusion: FusionSandbox,
    admin: SandboxClient,
    version: str,
    template: str,
) -> None:
    hook = OracleFusionHook(make_connection(f"fusion_v{version}", rest_framework_version=version))
    since, until, inside = window(fusion, 2, 9)
    assert len(inside) == 7
    got = flatten(hook.iter_changed(CUSTOMERS, key_attr=KEY, since=since, until=until, page_size=500))
    assert got == inside  # the row stamped `since` is in, the row stamped `until` is out
    [entry] = collection_requests(admin)
    sent = query_of(entry)
    assert sent["q"] == template.format(low=format_timestamp(since), high=format_timestamp(until))
    assert sent["orderBy"] == f"LastUpdateDate:asc,{KEY}:asc"
    assert entry["headers"]["rest-framework-version"] == version
    # One millisecond later the first row is out and the last one in.
    shifted = flatten(
        hook.iter_changed(
            CUSTOMERS,
            key_attr=KEY,
            since=since + timedelta(milliseconds=1),
            until=until + timedelta(milliseconds=1),
        )
    )
    assert shifted == [*inside[1:], window(fusion, 9, 10)[2][0]]


@pytest.mark.parametrize("version", ["1", "4"])
@pytest.mark.parametrize("page_size", [1, 2, 3, 5])
def test_iter_changed_pages_by_timestamp(
    make_connection: ConnectionFactory,
    fusion: FusionSandbox,
    admin: SandboxClient,
    version: str,
    page_size: int,
) -> None:
    hook = OracleFusionHook(make_connection(f"fusion_pages_v{version}", rest_framework_version=version))
    since = fusion.now() - timedelta(days=31)
    until = fusion.now() + timedelta(seconds=1)
    pages = list(hook.iter_changed(CUSTOMERS, key_attr=KEY, since=since, until=until, page_size=page_size))
    keys = [item[KEY] for page in pages for item in page]
    assert keys == by_time(fusion.customers())  # every row once, in (timestamp, key) order, ties included
    offsets = [int(query_of(e)["offset"]) for e in collection_requests(admin)]
    # Offsets only step over rows that share one timestamp (two rows at most in the seed), less
    # the row read again to check nothing moved (no room for it in pages of one).
    assert max(offsets) <= (2 if page_size == 1 else 1)


def test_iter_changed_with_extra_filter(
    make_connection: ConnectionFactory, fusion: FusionSandbox, admin: SandboxClient
) -> None:
    since, until = fusion.now() - timedelta(days=31), fusion.now()
    v4 = OracleFusionHook(make_connection("fusion_extra_v4"))
    got = flatten(
        v4.iter_changed(
            CUSTOMERS, key_attr=KEY, since=since, until=until, extra_filter="Status = 'I' or Country = 'DE'"
        )
    )
    expected = [
        k
        for k in by_time(fusion.customers())
        if k in {300000047112003, 300000047112007, 300000047112009, 300000047112012}
    ]
    assert got == expected
    assert query_of(collection_requests(admin)[-1])["q"].endswith(" and (Status = 'I' or Country = 'DE')")
    v1 = OracleFusionHook(make_connection("fusion_extra_v1", rest_framework_version="1"))
    assert flatten(
        v1.iter_changed(CUSTOMERS, key_attr=KEY, since=since, until=until, extra_filter="Status=I")
    ) == [k for k in expected if k != 300000047112007]
    assert query_of(collection_requests(admin)[-1])["q"].endswith(";Status=I")


def test_iter_changed_fields_and_expand(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient
) -> None:
    since, until = fusion.now() - timedelta(days=31), fusion.now()
    pages = list(
        hook.iter_changed(
            CUSTOMERS,
            key_attr=KEY,
            since=since,
            until=until,
            fields=["CustomerName", KEY],
            extra_filter="AccountNumber = '1001'",
        )
    )
    assert [list(item) for page in pages for item in page] == [[KEY, "CustomerName", "LastUpdateDate"]]
    assert query_of(collection_requests(admin)[-1])["fields"] == f"{KEY},LastUpdateDate,CustomerName"
    [[expanded]] = hook.iter_changed(
        CUSTOMERS, key_attr=KEY, since=since, until=until, expand="all", extra_filter="AccountNumber = '1002'"
    )
    assert expanded["transactionPaymentSchedules"]["items"][0]["TransactionNumber"] == "INV-10052"


def test_iter_changed_survives_rows_leaving_the_window(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    since = fusion.now() - timedelta(days=31)
    until = fusion.now()
    expected = by_time(fusion.customers())
    pages = hook.iter_changed(CUSTOMERS, key_attr=KEY, since=since, until=until, page_size=3)
    first = [item[KEY] for item in next(pages)]
    fusion.upsert_customer(BillToSiteUseId=first[0], City="Moved")  # now stamped after `until`
    rest = [item[KEY] for page in pages for item in page]
    assert first + rest == expected


def test_iter_changed_rereads_a_timestamp_group_that_changed(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient
) -> None:
    group_time = format_timestamp(fusion.now() - timedelta(hours=1))
    group = [
        fusion.upsert_customer(CustomerName=f"Batch Import {n}", LastUpdateDate=group_time)[KEY]
        for n in range(4)
    ]
    since = parse_timestamp(group_time)
    until = fusion.now()
    expected = [
        key
        for key, row in sorted(
            ((r[KEY], r) for r in fusion.customers()),
            key=lambda kr: (parse_timestamp(kr[1]["LastUpdateDate"]), kr[0]),
        )
        if since <= parse_timestamp(row["LastUpdateDate"]) < until
    ]
    assert expected[:4] == group
    # Plain offset paging loses a row when a row already read leaves the window:
    plain = hook.iter_collection(
        CUSTOMERS,
        q=f"LastUpdateDate >= '{group_time}' and LastUpdateDate < '{format_timestamp(until)}'",
        order_by=("LastUpdateDate:asc", f"{KEY}:asc"),
        page_size=2,
    )
    plain_first = [item[KEY] for item in next(plain)]
    fusion.upsert_customer(
        BillToSiteUseId=plain_first[0], LastUpdateDate=format_timestamp(until + timedelta(hours=1))
    )
    plain_rest = [item[KEY] for page in plain for item in page]
    assert group[2] not in plain_first + plain_rest  # the row that slid back over the offset
    # The same change during iter_changed: the group is read again and nothing is lost.
    fusion.upsert_customer(BillToSiteUseId=plain_first[0], LastUpdateDate=group_time)
    admin.clear_request_log()
    pages = hook.iter_changed(CUSTOMERS, key_attr=KEY, since=since, until=until, page_size=2)
    first = [item[KEY] for item in next(pages)]
    assert first == group[:2]
    fusion.upsert_customer(
        BillToSiteUseId=group[0], LastUpdateDate=format_timestamp(until + timedelta(hours=1))
    )
    rest = [item[KEY] for page in pages for item in page]
    assert first + rest == expected
    offsets = [int(query_of(e)["offset"]) for e in collection_requests(admin)]
    assert offsets[:3] == [0, 1, 0]  # step back to check the last row read, find it moved, re-read


def test_iter_changed_needs_aware_datetimes(hook: OracleFusionHook) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next(hook.iter_changed(CUSTOMERS, key_attr=KEY, since=datetime(2026, 1, 1), until=datetime.now(UTC)))


def test_iter_changed_empty_window_sends_nothing(hook: OracleFusionHook, admin: SandboxClient) -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    assert list(hook.iter_changed(CUSTOMERS, key_attr=KEY, since=moment, until=moment)) == []
    assert collection_requests(admin) == []


def test_iter_changed_converts_other_offsets(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient
) -> None:
    since, until, inside = window(fusion, 0, 6)
    berlin = timezone(timedelta(hours=1))
    got = flatten(
        hook.iter_changed(
            CUSTOMERS, key_attr=KEY, since=since.astimezone(berlin), until=until.astimezone(berlin)
        )
    )
    assert got == inside
    assert "+00:00'" in query_of(collection_requests(admin)[0])["q"]


def test_iter_changed_rounds_sub_millisecond_bounds(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient
) -> None:
    since, until, inside = window(fusion, 3, 8)
    got = flatten(
        hook.iter_changed(
            CUSTOMERS,
            key_attr=KEY,
            since=since + timedelta(microseconds=400),
            until=until + timedelta(microseconds=400),
        )
    )
    assert got == [*inside[1:], window(fusion, 8, 9)[2][0]]
    low = query_of(collection_requests(admin)[0])["q"].split("'")[1]
    assert parse_timestamp(low) == since + timedelta(milliseconds=1)


# -- retries, faults and tokens ------------------------------------------------------------------------


def test_token_is_fetched_once_and_refreshed_after_expiry(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient
) -> None:
    pages = hook.iter_collection(CUSTOMERS, order_by=(f"{KEY}:asc",), page_size=5)
    keys = [item[KEY] for item in next(pages)]
    keys += [item[KEY] for item in next(pages)]
    assert admin.token_stats()["issued"] == 1
    assert admin.expire_tokens() == 1
    keys += [item[KEY] for page in pages for item in page]
    assert keys == sorted(r[KEY] for r in fusion.customers())
    assert admin.token_stats()["issued"] == 2
    assert [e["status"] for e in collection_requests(admin)] == [200, 200, 401, 200]
    token_requests = admin.request_log(method="POST", path="/oauth2/v1/token")
    assert len(token_requests) == 2
    assert token_requests[0]["headers"]["authorization"].startswith("Basic ")
    assert "scope=urn" in token_requests[0]["body"]


@pytest.mark.parametrize(
    ("rule", "min_seconds"),
    [
        (FaultRule.rate_limit(path=COLLECTION, skip=1, retry_after=0.3), 0.3),
        (FaultRule.rate_limit(path=COLLECTION, skip=1, times=2), 0.0),
        (FaultRule.unavailable(path=COLLECTION, skip=1, body="Service Unavailable"), 0.0),
        (FaultRule.disconnect(path=COLLECTION, skip=1), 0.0),
    ],
    ids=["429-retry-after", "429-no-retry-after", "503", "dropped-connection"],
)
def test_transient_faults_mid_iteration_lose_nothing(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient, rule: FaultRule, min_seconds: float
) -> None:
    fusion.faults.add(rule)
    since, until = fusion.now() - timedelta(days=31), fusion.now()
    started = time.monotonic()
    keys = flatten(hook.iter_changed(CUSTOMERS, key_attr=KEY, since=since, until=until, page_size=5))
    elapsed = time.monotonic() - started
    assert keys == by_time(fusion.customers())
    assert elapsed >= min_seconds
    [status] = admin.faults()
    assert status["applied"] == (rule.times or 1)
    faulted = [e for e in collection_requests(admin) if e["fault"] is not None]
    assert len(faulted) == (rule.times or 1)
    assert (
        query_of(faulted[0])["q"] == query_of(collection_requests(admin)[len(faulted) + 1])["q"]
    )  # same page again


def test_persistent_throttling_gives_up(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    fusion.faults.add(FaultRule.rate_limit(path=COLLECTION, times=None))
    with pytest.raises(RetryExhausted) as caught:
        list(hook.iter_collection(CUSTOMERS))
    assert (caught.value.attempts, caught.value.status) == (4, 429)


def test_fusion_400_names_resource_and_message(make_connection: ConnectionFactory) -> None:
    v4 = OracleFusionHook(make_connection("fusion_400_v4"))
    with pytest.raises(FusionBadRequest) as caught:
        list(v4.iter_collection(CUSTOMERS, q="TotalOpenReceivablesForSite > 1"))
    error = caught.value
    assert (error.resource, error.status, error.error_codes) == (CUSTOMERS, 400, ("ATTRIBUTE_NOT_QUERYABLE",))
    assert str(error) == (
        f"Oracle Fusion rejected GET {CUSTOMERS} with HTTP 400: The attribute TotalOpenReceivablesForSite "
        f"of resource {CUSTOMERS} is not queryable."
    )
    v2 = OracleFusionHook(make_connection("fusion_400_v2", rest_framework_version="2"))
    with pytest.raises(
        FusionBadRequest,
        match=r"HTTP 400: Invalid query expression 'Status=I;City=Denver': ';' is the version 1",
    ):
        list(v2.iter_collection(CUSTOMERS, q="Status=I;City=Denver"))


def test_other_errors_are_fusion_api_errors(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    fusion.faults.add(FaultRule.error(403, path=COLLECTION, body="You do not have the privilege"))
    with pytest.raises(FusionApiError) as caught:
        list(hook.iter_collection(CUSTOMERS))
    assert not isinstance(caught.value, FusionBadRequest)
    assert (caught.value.status, caught.value.detail) == (403, "You do not have the privilege")


# -- items, writes, actions, describe ------------------------------------------------------------------


def test_get_item(hook: OracleFusionHook, admin: SandboxClient, base_url: str) -> None:
    item = hook.get_item(CUSTOMERS, 300000047112007)
    assert item is not None
    assert (item["CustomerName"], item["Country"], item["CurrencyCode"]) == (
        "Müller Präzisionstechnik GmbH",
        "DE",
        "EUR",
    )
    assert "links" not in item
    assert hook.get_item(CUSTOMERS, 999) is None
    href = f"{base_url}{CUSTOMERS_PATH}/300000047112001"
    by_href = hook.get_item(CUSTOMERS, href, expand="transactionPaymentSchedules")
    assert by_href is not None
    assert by_href["transactionPaymentSchedules"]["count"] == 2
    projected = hook.get_item(CUSTOMERS, 300000047112001, fields=["AccountNumber"])
    assert projected == {"AccountNumber": "1001"}


def test_create_update_delete(hook: OracleFusionHook, admin: SandboxClient, base_url: str) -> None:
    created = hook.create_item(NOTES, {"NoteNumber": "WN-1", "Subject": "hello", "Amount": 10})
    assert (created["NoteId"], created["Status"]) == (300000200000001, "Open")
    [post] = admin.request_log(method="POST", path=NOTES)
    assert post["headers"]["content-type"] == "application/vnd.oracle.adf.resourceitem+json"
    assert json.loads(post["body"]) == {"NoteNumber": "WN-1", "Subject": "hello", "Amount": 10}
    self_href = f"{base_url}/fscmRestApi/resources/11.13.18.05/{NOTES}/{created['NoteId']}"
    updated = hook.update_item(NOTES, self_href, {"Subject": "changed"})
    assert updated["Subject"] == "changed"
    assert parse_timestamp(updated["LastUpdateDate"]) >= parse_timestamp(created["LastUpdateDate"])
    assert hook.update_item(NOTES, created["NoteId"], {"Amount": 11})["Amount"] == 11
    with pytest.raises(FusionBadRequest, match=f"POST {NOTES} with HTTP 400: .*WN-1 already exists"):
        hook.create_item(NOTES, {"NoteNumber": "WN-1"})
    upserted = hook.create_item(NOTES, {"NoteNumber": "WN-1", "Subject": "again"}, upsert=True)
    assert upserted["NoteId"] == created["NoteId"]
    assert hook.delete_item(NOTES, created["NoteId"]) is True
    assert hook.delete_item(NOTES, created["NoteId"]) is False


def test_post_action(hook: OracleFusionHook, admin: SandboxClient) -> None:
    note = hook.create_item(NOTES, {"NoteNumber": "WN-2"})
    assert hook.post_action(NOTES, "close", {}, key=note["NoteId"]) == "Note WN-2 closed"
    assert hook.post_action(NOTES, "countByStatus", {"status": "Closed"}) == 1
    [item_call] = admin.request_log(method="POST", path="/action/close$")
    assert item_call["headers"]["content-type"] == "application/vnd.oracle.adf.action+json"
    assert item_call["path"].endswith(f"/{NOTES}/{note['NoteId']}/action/close")
    with pytest.raises(FusionApiError, match="HTTP 404"):
        hook.post_action(NOTES, "nope")


def test_describe(hook: OracleFusionHook) -> None:
    described = hook.describe(CUSTOMERS)
    queryable = {a["name"] for a in described["attributes"] if a["queryable"]}
    assert {"LastUpdateDate", KEY, "AccountNumber"} <= queryable
    assert "TotalOpenReceivablesForSite" not in queryable


def test_latest_api_version(make_connection: ConnectionFactory, admin: SandboxClient) -> None:
    hook = OracleFusionHook(make_connection("fusion_latest", api_version="latest"))
    assert len(flatten(hook.iter_collection(CUSTOMERS))) == 12
    assert admin.request_log(method="GET")[0]["path"] == f"/fscmRestApi/resources/latest/{CUSTOMERS}"


def test_basic_auth_connection(make_connection: ConnectionFactory, admin: SandboxClient) -> None:
    hook = OracleFusionHook(make_connection("fusion_basic", basic=True))
    assert hook.settings.auth_type == "basic"
    assert hook.settings.username == BASIC_USER
    assert len(flatten(hook.iter_collection(CUSTOMERS))) == 12
    assert admin.request_log(method="POST", path="token") == []


def test_post_client_authentication(make_connection: ConnectionFactory, admin: SandboxClient) -> None:
    hook = OracleFusionHook(make_connection("fusion_post", client_auth="post"))
    assert hook.get_item(CUSTOMERS, 300000047112001) is not None
    [token_call] = admin.request_log(method="POST", path="token")
    assert "authorization" not in token_call["headers"]
    assert f"client_id={CLIENT_ID}" in token_call["body"]


def test_hook_overrides(make_connection: ConnectionFactory, admin: SandboxClient) -> None:
    hook = OracleFusionHook(make_connection("fusion_override"), rest_framework_version=1)
    assert hook.rest_framework_version == 1
    assert list(flatten(hook.iter_collection(CUSTOMERS, q="Status=I"))) == [
        300000047112003,
        300000047112009,
        300000047112012,
    ]
    assert admin.request_log(method="GET")[0]["headers"]["rest-framework-version"] == "1"


# -- test_connection -----------------------------------------------------------------------------------


def test_test_connection_succeeds(hook: OracleFusionHook, admin: SandboxClient) -> None:
    ok, message = hook.test_connection()
    assert (ok, message) == (True, f"Connection successfully tested: {CUSTOMERS} answered with 1 row(s)")
    [entry] = collection_requests(admin)
    assert query_of(entry) == {"limit": "1", "onlyData": "true"}


def test_test_connection_bad_secret(make_connection: ConnectionFactory) -> None:
    secret = f"wrong-{uuid.uuid4().hex}"
    ok, message = OracleFusionHook(
        make_connection("fusion_bad_secret", client_secret=secret)
    ).test_connection()
    assert ok is False
    assert "invalid_client" in message
    assert "HTTP 401" in message
    assert secret not in message


def test_test_connection_bad_password(make_connection: ConnectionFactory) -> None:
    ok, message = OracleFusionHook(
        make_connection("fusion_bad_password", basic=True, password="not-the-password-123")
    ).test_connection()
    assert ok is False
    assert message.startswith("AuthError:")
    assert "HTTP 401" in message
    assert "not-the-password-123" not in message
    assert BASIC_PASSWORD not in message


def test_test_connection_never_raises() -> None:
    ok, message = OracleFusionHook("fusion_missing_everywhere").test_connection()
    assert ok is False
    assert "fusion_missing_everywhere" in message


def test_expired_credentials_raise_auth_error(
    make_connection: ConnectionFactory, fusion: FusionSandbox
) -> None:
    hook = OracleFusionHook(make_connection("fusion_revoked"))
    assert hook.get_item(CUSTOMERS, 300000047112001) is not None
    fusion.tokens.register_client(CLIENT_ID, "rotated-secret-value")
    fusion.tokens.expire_all()
    with pytest.raises(AuthError, match="invalid_client"):
        hook.get_item(CUSTOMERS, 300000047112001)


# -- timestamps ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05+00:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05.678+00:00", datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
        ("2026-01-02T03:04:05.678Z", datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T05:04:05+0200", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T01:04:05-02:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T04:04:05+01", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05.123456789+00:00", datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2026-01-02 03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04Z", datetime(2026, 1, 2, 3, 4, tzinfo=UTC)),
        ("2026-01-02", datetime(2026, 1, 2, tzinfo=UTC)),
        (" 2026-01-02T03:04:05+00:00 ", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC
    assert OracleFusionHook.parse_timestamp(text) == expected


def test_parse_timestamp_other_inputs() -> None:
    assert parse_timestamp(date(2026, 1, 2)) == datetime(2026, 1, 2, tzinfo=UTC)
    assert parse_timestamp(datetime(2026, 1, 2, 3)) == datetime(2026, 1, 2, 3, tzinfo=UTC)
    aware = datetime(2026, 1, 2, 4, tzinfo=timezone(timedelta(hours=1)))
    assert parse_timestamp(aware) == datetime(2026, 1, 2, 3, tzinfo=UTC)
    for bad in ("yesterday", "2026-13-01", "2026-01-02T25:00:00Z", "", None, 1767225600):
        with pytest.raises(ValueError, match="not a Fusion timestamp"):
            parse_timestamp(bad)  # type: ignore[arg-type]


def test_format_timestamp() -> None:
    assert (
        format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)) == "2026-01-02T03:04:05.678+00:00"
    )
    assert (
        format_timestamp(datetime(2026, 1, 2, 4, tzinfo=timezone(timedelta(hours=1))))
        == "2026-01-02T03:00:00.000+00:00"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(datetime(2026, 1, 2))


@pytest.mark.parametrize(
    ("version", "requests_made"), [("4", 1), ("1", 3)], ids=["v4-one-query", "v1-per-key"]
)
def test_find_by_key(
    make_connection: ConnectionFactory, admin: SandboxClient, version: str, requests_made: int
) -> None:
    """Items read by key: one ``in`` query, or (version 1, no ``in``) one query per distinct key;
    keys given as text match integer keys, unknown keys are left out."""
    hook = OracleFusionHook(make_connection(f"fusion_v{version}", rest_framework_version=version))
    admin.clear_request_log()
    keys = [300000047112007, "300000047112001", 999, 300000047112007]
    items = hook.find_by_attribute(CUSTOMERS, "BillToSiteUseId", keys)
    assert sorted(i["BillToSiteUseId"] for i in items) == [300000047112001, 300000047112007]
    assert len(admin.request_log(method="GET", path=CUSTOMERS)) == requests_made


@pytest.mark.parametrize("version", ["4", "2", "1"])
def test_find_matching_ands_every_attribute(
    make_connection: ConnectionFactory, admin: SandboxClient, version: str
) -> None:
    """One query whatever the dialect; an item must match every attribute exactly."""
    hook = OracleFusionHook(make_connection(f"fusion_m{version}", rest_framework_version=version))
    admin.clear_request_log()
    combination = {
        "Segment1": "101",
        "Segment2": "110",
        "Segment3": "61100",
        "Segment4": "000",
        "Segment5": "000",
    }
    [item] = hook.find_matching("accountCombinationsLOV", combination)
    assert [item[f"Segment{n}"] for n in range(1, 6)] == ["101", "110", "61100", "000", "000"]
    assert hook.find_matching("accountCombinationsLOV", {**combination, "Segment2": "999"}) == []
    several = hook.find_matching("accountCombinationsLOV", {"Segment1": "101", "Segment2": "110"})
    assert len(several) > 1
    assert all(i["Segment2"] == "110" for i in several)
    assert len(admin.request_log(method="GET", path="accountCombinationsLOV")) == 3
    with pytest.raises(ValueError, match="at least one attribute"):
        hook.find_matching("accountCombinationsLOV", {})
    with pytest.raises(ValueError, match="null"):
        hook.find_matching("accountCombinationsLOV", {"Segment1": None})
