"""The Oracle Fusion stand-in over real HTTP: auth, the ADF collection contract, both q dialects,
writes through the declaration API, and the admin helpers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.systems.fusion import (
    BASIC_PASSWORD,
    BASIC_USER,
    CLIENT_ID,
    CLIENT_SECRET,
    SCOPE,
    TOKEN_PATH,
    FusionSandbox,
)

from tests.integration.fusion.conftest import CUSTOMERS, CUSTOMERS_PATH, NOTES_PATH, REST, Api, fetch_token

KEY = "BillToSiteUseId"
ACTION_TYPE = "application/vnd.oracle.adf.action+json"


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def ordered(rows: list[dict[str, Any]]) -> list[int]:
    """Keys in (LastUpdateDate, key) order."""
    return [r[KEY] for r in sorted(rows, key=lambda r: (stamp(r["LastUpdateDate"]), r[KEY]))]


def keys(items: list[dict[str, Any]]) -> list[int]:
    return [item[KEY] for item in items]


# -- seed ------------------------------------------------------------------------------------------


def test_seed_has_the_promised_variety(fusion: FusionSandbox) -> None:
    rows = fusion.customers()
    now = fusion.now()
    assert len(rows) == 12
    assert len({r[KEY] for r in rows}) == 12
    assert sorted(r["CustomerName"] for r in rows if r["Status"] == "I") == [
        "Cedar Ridge Medical Group",
        "Evergreen Facilities Services",
        "Summit Peak Outdoor Gear",
    ]
    assert [r["CustomerName"] for r in rows if r["EmailAddress"] is None] == ["Northwind Analytics Corp."]
    [foreign] = [r for r in rows if r["Country"] != "US"]
    assert (foreign["Country"], foreign["CurrencyCode"], foreign["State"]) == ("DE", "EUR", None)
    assert max(len(r["CustomerName"]) for r in rows) > 100
    assert [r["AccountNumber"] for r in rows].count("1005") == 2
    updated = [stamp(r["LastUpdateDate"]) for r in rows]
    assert all(now - timedelta(days=30) < t <= now for t in updated)
    assert len(set(updated)) == 11  # one pair shares its timestamp
    assert ordered(rows) != sorted(keys(rows))  # timestamps are not in key order
    for row in rows:
        assert row["LastUpdateDate"].endswith("+00:00")
        assert len(row["LastUpdateDate"]) == 29
        assert stamp(row["CreationDate"]) <= stamp(row["LastUpdateDate"])
        assert isinstance(row[KEY], int)
        assert isinstance(row["AccountId"], int)


# -- token endpoint and auth -----------------------------------------------------------------------


def test_token_with_basic_client_auth(base_url: str) -> None:
    response = requests.post(
        base_url + TOKEN_PATH,
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)


def test_token_with_form_fields(base_url: str) -> None:
    response = requests.post(
        base_url + TOKEN_PATH,
        data={
            "grant_type": "client_credentials",
            "scope": SCOPE,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("form", "auth", "status", "error"),
    [
        ({"grant_type": "client_credentials", "scope": SCOPE}, (CLIENT_ID, "wrong"), 401, "invalid_client"),
        (
            {"grant_type": "client_credentials", "scope": "urn:opc:resource:fa:instanceid=1"},
            None,
            400,
            "invalid_scope",
        ),
        ({"grant_type": "client_credentials"}, None, 400, "invalid_scope"),
        ({"grant_type": "password", "scope": SCOPE}, None, 400, "unsupported_grant_type"),
    ],
)
def test_token_errors_are_rfc6749_json(
    base_url: str, form: dict[str, str], auth: tuple[str, str] | None, status: int, error: str
) -> None:
    response = requests.post(
        base_url + TOKEN_PATH, data=form, auth=auth or (CLIENT_ID, CLIENT_SECRET), timeout=10
    )
    assert response.status_code == status
    assert response.json()["error"] == error
    assert "access_token" not in response.json()


def test_token_ttl_is_configurable() -> None:
    system = FusionSandbox(token_ttl=120)
    assert system.tokens.ttl == 120
    assert FusionSandbox().tokens.ttl == 3600


def test_rest_requires_credentials(base_url: str) -> None:
    response = requests.get(base_url + CUSTOMERS_PATH, timeout=10)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_bearer_and_both_version_prefixes(base_url: str) -> None:
    headers = {"Authorization": f"Bearer {fetch_token(base_url)}"}
    for prefix in (REST, "/fscmRestApi/resources/latest"):
        response = requests.get(f"{base_url}{prefix}/{CUSTOMERS}", headers=headers, timeout=10)
        assert response.status_code == 200
        assert response.json()["count"] == 12
        assert response.json()["links"][0]["href"] == f"{base_url}{prefix}/{CUSTOMERS}"
    unknown = requests.get(
        f"{base_url}/fscmRestApi/resources/11.1.0/{CUSTOMERS}", headers=headers, timeout=10
    )
    assert unknown.status_code == 404


def test_expired_token_is_refused(base_url: str, admin: SandboxClient, fusion: FusionSandbox) -> None:
    headers = {"Authorization": f"Bearer {fetch_token(base_url)}"}
    assert requests.get(base_url + CUSTOMERS_PATH, headers=headers, timeout=10).status_code == 200
    assert admin.expire_tokens() == 1
    refused = requests.get(base_url + CUSTOMERS_PATH, headers=headers, timeout=10)
    assert refused.status_code == 401
    assert "expired" in refused.text


def test_token_expires_on_the_sandbox_clock(base_url: str, admin: SandboxClient) -> None:
    headers = {"Authorization": f"Bearer {fetch_token(base_url)}"}
    admin.advance_clock(3599)
    assert requests.get(base_url + CUSTOMERS_PATH, headers=headers, timeout=10).status_code == 200
    admin.advance_clock(2)
    assert requests.get(base_url + CUSTOMERS_PATH, headers=headers, timeout=10).status_code == 401


def test_basic_auth(base_url: str) -> None:
    ok = requests.get(base_url + CUSTOMERS_PATH, auth=(BASIC_USER, BASIC_PASSWORD), timeout=10)
    assert ok.status_code == 200
    bad = requests.get(base_url + CUSTOMERS_PATH, auth=(BASIC_USER, "wrong"), timeout=10)
    assert bad.status_code == 401


def test_unknown_bearer_token(base_url: str) -> None:
    response = requests.get(base_url + CUSTOMERS_PATH, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert response.status_code == 401


# -- envelope and paging ---------------------------------------------------------------------------


def test_envelope_defaults(api: Api, base_url: str) -> None:
    response = api.get(CUSTOMERS_PATH)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["items", "count", "hasMore", "limit", "offset", "links"]
    assert (body["count"], body["hasMore"], body["limit"], body["offset"]) == (12, False, 25, 0)
    assert body["links"] == [
        {"rel": "self", "href": base_url + CUSTOMERS_PATH, "name": CUSTOMERS, "kind": "collection"}
    ]


def test_total_results_only_when_asked(api: Api) -> None:
    body = api.get(CUSTOMERS_PATH, limit=5, totalResults="true").json()
    assert (body["totalResults"], body["count"], body["hasMore"]) == (12, 5, True)
    assert "totalResults" not in api.get(CUSTOMERS_PATH, limit=5, totalResults="false").json()


def test_limit_is_capped_and_echoed(api: Api, admin: SandboxClient, fusion: FusionSandbox) -> None:
    assert api.get(CUSTOMERS_PATH, limit=1000).json()["limit"] == 500
    assert api.get(CUSTOMERS_PATH, limit=500).json()["limit"] == 500
    admin._call("POST", "/fusion/settings", json={"max_limit": 499})
    assert api.get(CUSTOMERS_PATH, limit=1000).json()["limit"] == 499
    fusion.reset(tokens=False)  # a reset restores the settings
    assert api.get(CUSTOMERS_PATH, limit=1000).json()["limit"] == 500


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"limit": 5, "offset": 0}, (5, True, 5, 0)),
        ({"limit": 5, "offset": 5}, (5, True, 5, 5)),
        ({"limit": 5, "offset": 10}, (2, False, 5, 10)),
        ({"limit": 5, "offset": 12}, (0, False, 5, 12)),
        ({"limit": 12}, (12, False, 12, 0)),
    ],
)
def test_offset_paging_has_more(
    api: Api, params: dict[str, int], expected: tuple[int, bool, int, int]
) -> None:
    body = api.get(CUSTOMERS_PATH, **params).json()
    assert (body["count"], body["hasMore"], body["limit"], body["offset"]) == expected
    assert len(body["items"]) == body["count"]


def test_paging_visits_every_row_once(api: Api, fusion: FusionSandbox) -> None:
    seen: list[int] = []
    offset = 0
    while True:
        body = api.get(CUSTOMERS_PATH, limit=5, offset=offset, orderBy=f"LastUpdateDate:asc,{KEY}:asc").json()
        seen += keys(body["items"])
        offset += body["count"]
        if not body["hasMore"]:
            break
    assert seen == ordered(fusion.customers())


@pytest.mark.parametrize("params", [{"limit": "ten"}, {"limit": 0}, {"offset": -1}, {"offset": "x"}])
def test_bad_paging_parameters(api: Api, params: dict[str, Any]) -> None:
    response = api.get(CUSTOMERS_PATH, **params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")


# -- orderBy -----------------------------------------------------------------------------------------


def test_order_by_timestamp_then_key(api: Api, fusion: FusionSandbox) -> None:
    rows = fusion.customers()
    asc = keys(api.items(CUSTOMERS_PATH, orderBy=f"LastUpdateDate:asc,{KEY}:asc"))
    assert asc == ordered(rows)
    desc = keys(api.items(CUSTOMERS_PATH, orderBy=f"LastUpdateDate:desc,{KEY}:desc"))
    assert desc == list(reversed(asc))
    default_direction = keys(api.items(CUSTOMERS_PATH, orderBy=f"LastUpdateDate,{KEY}"))
    assert default_direction == asc
    mixed = api.items(CUSTOMERS_PATH, orderBy=f"Status:desc,{KEY}:asc")
    assert [r["Status"] for r in mixed] == ["I"] * 3 + ["A"] * 9
    assert keys(mixed[:3]) == sorted(keys(mixed[:3]))


def test_tied_rows_come_in_key_order(api: Api, fusion: FusionSandbox) -> None:
    rows = fusion.customers()
    shared = [r for r in rows if sum(1 for o in rows if o["LastUpdateDate"] == r["LastUpdateDate"]) > 1]
    assert len(shared) == 2
    by_time = keys(api.items(CUSTOMERS_PATH, orderBy="LastUpdateDate:asc"))
    positions = sorted(by_time.index(r[KEY]) for r in shared)
    assert positions[1] == positions[0] + 1
    assert by_time[positions[0]] < by_time[positions[1]]


def test_random_tie_order_keeps_unique_orders_stable(api: Api, admin: SandboxClient) -> None:
    admin._call("POST", "/fusion/settings", json={"tie_order": "random"})
    unique = f"LastUpdateDate:asc,{KEY}:asc"
    first = keys(api.items(CUSTOMERS_PATH, orderBy=unique))
    unordered = set()
    for _ in range(8):
        assert keys(api.items(CUSTOMERS_PATH, orderBy=unique)) == first
        unordered.add(tuple(keys(api.items(CUSTOMERS_PATH))))
    assert len(unordered) > 1  # without a unique order, rows come in a different order each time


@pytest.mark.parametrize("order", ["Nope:asc", f"{KEY}:up"])
def test_bad_order_by(api: Api, order: str) -> None:
    assert api.get(CUSTOMERS_PATH, orderBy=order).status_code == 400


# -- q, version 1 ------------------------------------------------------------------------------------


def names(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["CustomerName"] for item in items)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (
            "Status=I",
            ["Cedar Ridge Medical Group", "Evergreen Facilities Services", "Summit Peak Outdoor Gear"],
        ),
        ("Country!=US", ["Müller Präzisionstechnik GmbH"]),
        ("Country<>US", ["Müller Präzisionstechnik GmbH"]),
        ("CurrencyCode!=USD", ["Müller Präzisionstechnik GmbH"]),  # a null matches no comparison
        ("Status=I;City=Denver", ["Cedar Ridge Medical Group"]),
        ("CustomerName=Pinnacle Foods Distribution Co.", ["Pinnacle Foods Distribution Co."] * 2),
        ("AccountNumber=1005;BillToSiteNumber=2006", ["Pinnacle Foods Distribution Co."]),
        (
            "AccountNumber>=1010",
            ["Evergreen Facilities Services", "Golden Gate Software Partners", "Riverbend Credit Union"],
        ),
        ("AccountId>300000047101010", ["Evergreen Facilities Services", "Riverbend Credit Union"]),
        ("AccountNumber<=1002 and >1001", ["Blue Harbor Logistics LLC"]),
        ("AccountNumber=1001 or =1003", ["Acme Industrial Supply Inc.", "Cedar Ridge Medical Group"]),
        ("City='Denver'", ["Cedar Ridge Medical Group"]),
    ],
)
def test_q_version_1(api: Api, q: str, expected: list[str]) -> None:
    assert names(api.items(CUSTOMERS_PATH, q=q)) == sorted(expected)
    assert names(api.items(CUSTOMERS_PATH, version=1, q=q)) == sorted(expected)


def window(fusion: FusionSandbox) -> tuple[datetime, datetime, set[int]]:
    """A window from the 3rd to the 9th row by time: start inclusive, end exclusive."""
    rows = sorted(fusion.customers(), key=lambda r: (stamp(r["LastUpdateDate"]), r[KEY]))
    start, end = stamp(rows[2]["LastUpdateDate"]), stamp(rows[8]["LastUpdateDate"])
    inside = {r[KEY] for r in rows if start <= stamp(r["LastUpdateDate"]) < end}
    assert len(inside) == 6
    return start, end, inside


def literals(moment: datetime) -> list[str]:
    """The same instant written the lenient ways the stand-in must accept."""
    millis = f"{moment.microsecond // 1000:03d}"
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return [f"{base}.{millis}+00:00", f"{base}.{millis}Z", f"{base}.{millis}000+0000"]


def test_q_version_1_timestamp_window(api: Api, fusion: FusionSandbox) -> None:
    start, end, inside = window(fusion)
    for low, high in zip(literals(start), literals(end), strict=True):
        q = f"LastUpdateDate>={low};LastUpdateDate<{high}"
        assert set(keys(api.items(CUSTOMERS_PATH, q=q))) == inside, q
        quoted = f"LastUpdateDate>='{low}';LastUpdateDate<'{high}'"
        assert set(keys(api.items(CUSTOMERS_PATH, q=quoted))) == inside, quoted


def test_q_lenient_date_literals(api: Api, fusion: FusionSandbox) -> None:
    now = fusion.now()
    day = (now - timedelta(days=10)).date()
    expected = {r[KEY] for r in fusion.customers() if stamp(r["LastUpdateDate"]).date() >= day}
    assert 0 < len(expected) < 12
    assert set(keys(api.items(CUSTOMERS_PATH, q=f"LastUpdateDate>={day.isoformat()}"))) == expected
    assert (
        set(keys(api.items(CUSTOMERS_PATH, version=2, q=f"LastUpdateDate >= '{day.isoformat()}'")))
        == expected
    )
    assert (
        set(keys(api.items(CUSTOMERS_PATH, version=2, q=f"LastUpdateDate >= {day.isoformat()}"))) == expected
    )
    no_seconds = (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    cut = datetime.fromisoformat(no_seconds + "+00:00")
    expected_minute = {r[KEY] for r in fusion.customers() if stamp(r["LastUpdateDate"]) > cut}
    assert set(keys(api.items(CUSTOMERS_PATH, q=f"LastUpdateDate>{no_seconds}Z"))) == expected_minute


@pytest.mark.parametrize(
    ("q", "fragment"),
    [
        ("Nope=1", "Nope is not defined"),
        ("TotalOpenReceivablesForSite>1", "not queryable"),
        ("BillToSiteAddress=x", "not queryable"),
        ("Status", "Invalid query expression"),
        ("Status=", "missing value"),
        ("Status=I;", "empty condition"),
        ("LastUpdateDate>yesterday", "not a valid date or timestamp"),
        ("AccountId=abc", "not a valid integer"),
        (
            "LastUpdateDate>='2026-01-01T00:00:00Z' and LastUpdateDate<'2026-02-01T00:00:00Z'",
            "not a valid date",
        ),
    ],
)
def test_q_version_1_errors(api: Api, q: str, fragment: str) -> None:
    response = api.get(CUSTOMERS_PATH, q=q)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert fragment in response.text


# -- q, version 2+ ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("Status = 'I' and City like 'S%'", ["Summit Peak Outdoor Gear"]),
        (
            "Status = 'I' or Country = 'DE'",
            [
                "Cedar Ridge Medical Group",
                "Evergreen Facilities Services",
                "Müller Präzisionstechnik GmbH",
                "Summit Peak Outdoor Gear",
            ],
        ),
        (
            "AccountNumber in ('1001', '1007')",
            ["Acme Industrial Supply Inc.", "Müller Präzisionstechnik GmbH"],
        ),
        ("EmailAddress is null", ["Northwind Analytics Corp."]),
        (
            "CurrencyCode is null or CurrencyCode = 'EUR'",
            ["Evergreen Facilities Services", "Müller Präzisionstechnik GmbH"],
        ),
        ("upper(City) = 'DENVER'", ["Cedar Ridge Medical Group"]),
        ("Country <> 'US'", ["Müller Präzisionstechnik GmbH"]),
        ("CurrencyCode <> 'USD'", ["Müller Präzisionstechnik GmbH"]),
        ("not (CurrencyCode = 'USD')", ["Evergreen Facilities Services", "Müller Präzisionstechnik GmbH"]),
        (
            "AccountNumber >= '1011' and AccountNumber <= '1012'",
            ["Evergreen Facilities Services", "Riverbend Credit Union"],
        ),
        (
            "AccountNumber between '1002' and '1003'",
            ["Blue Harbor Logistics LLC", "Cedar Ridge Medical Group"],
        ),
        ("not (Status = 'A') and City = 'Denver'", ["Cedar Ridge Medical Group"]),
        ("(Status = 'I' or Country = 'DE') and CurrencyCode = 'EUR'", ["Müller Präzisionstechnik GmbH"]),
        ("CustomerName = 'Müller Präzisionstechnik GmbH'", ["Müller Präzisionstechnik GmbH"]),
        ("AccountId = 300000047101001", ["Acme Industrial Supply Inc."]),
        ("transactionPaymentSchedules.TransactionNumber = 'INV-10052'", ["Blue Harbor Logistics LLC"]),
        ("CustomerName like '%''%'", []),
    ],
)
@pytest.mark.parametrize("version", [2, 4, 9])
def test_q_version_2(api: Api, q: str, expected: list[str], version: int) -> None:
    assert names(api.items(CUSTOMERS_PATH, version=version, q=q)) == sorted(expected)


def test_q_version_2_timestamp_window(api: Api, fusion: FusionSandbox) -> None:
    start, end, inside = window(fusion)
    for low, high in zip(literals(start), literals(end), strict=True):
        q = f"LastUpdateDate >= '{low}' and LastUpdateDate < '{high}'"
        assert set(keys(api.items(CUSTOMERS_PATH, version=2, q=q))) == inside, q
        unquoted = f"LastUpdateDate >= {low} and LastUpdateDate < {high}"
        assert set(keys(api.items(CUSTOMERS_PATH, version=2, q=unquoted))) == inside, unquoted


@pytest.mark.parametrize(
    ("q", "fragment"),
    [
        ("Status=I;City=Denver", "version 1 query syntax"),
        ("Status = I", "string literals are enclosed in single quotes"),
        ("Status = 'I", "unexpected character"),
        ("Status = 'I' and", "expected an attribute name"),
        ("(Status = 'I'", "expected ')'"),
        ("TotalOpenReceivablesForSite > 1", "not queryable"),
        ("Nope = 'x'", "Nope is not defined"),
        ("Status in 'A'", "expected '('"),
        ("LastUpdateDate >= 'soon'", "not a valid date or timestamp"),
        ("Status = 'I' Country = 'DE'", "expected 'and', 'or'"),
    ],
)
def test_q_version_2_errors_are_plain_text_before_version_4(api: Api, q: str, fragment: str) -> None:
    response = api.get(CUSTOMERS_PATH, version=2, q=q)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert fragment in response.text


def test_errors_are_json_from_version_4(api: Api) -> None:
    response = api.get(CUSTOMERS_PATH, version=4, q="TotalOpenReceivablesForSite > 1")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/vnd.oracle.adf.error+json")
    body = response.json()
    assert (body["title"], body["status"]) == ("Bad Request", "400")
    [detail] = body["o:errorDetails"]
    assert detail["o:errorCode"] == "ATTRIBUTE_NOT_QUERYABLE"
    assert "TotalOpenReceivablesForSite" in detail["detail"]
    missing = api.get(f"{CUSTOMERS_PATH}/1", version=4)
    assert missing.status_code == 404
    assert missing.json()["o:errorDetails"][0]["o:errorCode"] == "NOT_FOUND"
    assert api.get(f"{CUSTOMERS_PATH}/1", version=3).headers["content-type"].startswith("text/plain")


# -- onlyData, fields, expand, finders, items --------------------------------------------------------


def test_item_links(api: Api, base_url: str) -> None:
    [item] = api.items(CUSTOMERS_PATH, q="AccountNumber=1001")
    href = f"{base_url}{CUSTOMERS_PATH}/300000047112001"
    self_link, canonical, child = item["links"]
    assert (self_link["rel"], self_link["href"], self_link["kind"]) == ("self", href, "item")
    assert self_link["properties"]["changeIndicator"].startswith("ACED0005")
    assert (canonical["rel"], canonical["href"]) == ("canonical", href)
    assert (child["rel"], child["href"], child["name"]) == (
        "child",
        f"{href}/child/transactionPaymentSchedules",
        "transactionPaymentSchedules",
    )
    assert (
        requests.get(self_link["href"], headers=api.session.headers, timeout=10).json()[KEY]
        == 300000047112001
    )


def test_only_data_drops_item_links(api: Api) -> None:
    body = api.get(CUSTOMERS_PATH, onlyData="true").json()
    assert all("links" not in item for item in body["items"])
    assert body["links"][0]["rel"] == "self"
    assert all("links" in item for item in api.items(CUSTOMERS_PATH, onlyData="false"))


def test_fields_projection(api: Api) -> None:
    items = api.items(CUSTOMERS_PATH, fields="CustomerName,BillToSiteUseId", onlyData="true")
    assert all(list(item) == ["BillToSiteUseId", "CustomerName"] for item in items)
    with_child = api.items(
        CUSTOMERS_PATH,
        fields="AccountNumber;transactionPaymentSchedules:TransactionNumber",
        onlyData="true",
        q="AccountNumber=1001",
    )
    assert with_child == [
        {
            "AccountNumber": "1001",
            "transactionPaymentSchedules": [
                {"TransactionNumber": "INV-10045"},
                {"TransactionNumber": "INV-10061"},
            ],
        }
    ]
    ignored_expand = api.items(
        CUSTOMERS_PATH, fields="AccountNumber", expand="all", onlyData="true", q="AccountNumber=1001"
    )
    assert ignored_expand == [{"AccountNumber": "1001"}]


@pytest.mark.parametrize(
    "fields", ["Nope", "AccountNumber;nope:X", "AccountNumber;transactionPaymentSchedules:Nope"]
)
def test_bad_fields(api: Api, fields: str) -> None:
    assert api.get(CUSTOMERS_PATH, fields=fields).status_code == 400


def test_expand_arrays_before_version_3(api: Api) -> None:
    for version in (1, 2):
        [item] = api.items(
            CUSTOMERS_PATH, version=version, expand="transactionPaymentSchedules", q="AccountNumber=1002"
        )
        schedules = item["transactionPaymentSchedules"]
        assert isinstance(schedules, list)
        assert [s["TransactionNumber"] for s in schedules] == ["INV-10052"]
        assert schedules[0]["links"][0]["href"].endswith(
            "/300000047112002/child/transactionPaymentSchedules/300000047300201"
        )
    [plain] = api.items(CUSTOMERS_PATH, q="AccountNumber=1002")
    assert "transactionPaymentSchedules" not in plain


def test_expand_collections_from_version_3(api: Api) -> None:
    [item] = api.items(CUSTOMERS_PATH, version=3, expand="all", onlyData="true", q="AccountNumber=1001")
    schedules = item["transactionPaymentSchedules"]
    assert {k: schedules[k] for k in ("count", "hasMore", "limit", "offset")} == {
        "count": 2,
        "hasMore": False,
        "limit": 25,
        "offset": 0,
    }
    assert [s["InstallmentId"] for s in schedules["items"]] == [300000047300101, 300000047300102]
    assert schedules["links"][0]["rel"] == "self"
    assert api.get(CUSTOMERS_PATH, expand="nope").status_code == 400


def test_finders(api: Api) -> None:
    assert keys(api.items(CUSTOMERS_PATH, finder=f"PrimaryKey;{KEY}=300000047112007")) == [300000047112007]
    pinnacle = api.items(CUSTOMERS_PATH, finder="CustomerAccountSiteActivitiesFinder;AccountNumber=1005")
    assert keys(pinnacle) == [300000047112005, 300000047112006]
    both = api.items(
        CUSTOMERS_PATH, finder="CustomerAccountSiteActivitiesFinder;AccountNumber=1005,BillToSiteNumber=2006"
    )
    assert keys(both) == [300000047112006]
    with_q = api.items(
        CUSTOMERS_PATH, finder="CustomerAccountSiteActivitiesFinder;AccountNumber=1005", q="City=Chicago"
    )
    assert keys(with_q) == [300000047112005]
    assert api.get(CUSTOMERS_PATH, finder="NoSuchFinder;A=1").status_code == 400
    assert api.get(CUSTOMERS_PATH, finder="CustomerAccountSiteActivitiesFinder;Nope=1").status_code == 400


def test_item_and_child_paths(api: Api) -> None:
    item = api.get(f"{CUSTOMERS_PATH}/300000047112001", onlyData="true")
    assert item.status_code == 200
    assert item.json()["CustomerName"] == "Acme Industrial Supply Inc."
    assert "links" not in item.json()
    children = api.get(f"{CUSTOMERS_PATH}/300000047112001/child/transactionPaymentSchedules").json()
    assert (children["count"], children["hasMore"]) == (2, False)
    one = api.get(
        f"{CUSTOMERS_PATH}/300000047112001/child/transactionPaymentSchedules/300000047300102"
    ).json()
    assert one["TotalBalanceAmount"] == 4380.0
    for missing in (
        "/999",
        "/abc",
        "/300000047112001/child/nope",
        "/300000047112001/child/transactionPaymentSchedules/1",
    ):
        response = api.get(CUSTOMERS_PATH + missing)
        assert response.status_code == 404, missing
        assert response.headers["content-type"].startswith("text/plain")
    assert api.get(f"{REST}/noSuchResource").status_code == 404


def test_types_follow_the_contract(api: Api) -> None:
    item = api.get(f"{CUSTOMERS_PATH}/300000047112001").json()
    assert isinstance(item[KEY], int)
    assert isinstance(item["AccountId"], int)
    assert isinstance(item["TotalOpenReceivablesForSite"], float)
    assert item["TaxRegistrationNumber"] is None
    assert "TaxRegistrationNumber" in item
    schedule = item["links"][2]
    assert schedule["kind"] == "collection"


def test_describe(api: Api) -> None:
    body = api.get(f"{CUSTOMERS_PATH}/describe").json()
    resource = body["Resources"][CUSTOMERS]
    flags = {a["name"]: a["queryable"] for a in resource["attributes"]}
    assert flags["LastUpdateDate"] is True
    assert flags["TotalOpenReceivablesForSite"] is False
    assert {"CreationDate", "LastUpdateDate", "CreatedBy", "LastUpdatedBy"} <= set(flags)
    assert [f["name"] for f in resource["collection"]["finders"]] == [
        "PrimaryKey",
        "CustomerAccountSiteActivitiesFinder",
    ]
    assert [a["name"] for a in resource["collection"]["actions"]] == ["get"]
    assert "transactionPaymentSchedules" in resource["children"]


def test_customers_are_read_only(api: Api) -> None:
    create = api.send("POST", CUSTOMERS_PATH, {"CustomerName": "X"})
    assert (create.status_code, create.text) == (400, "Invalid operation create for the specified resource.")
    update = api.send("PATCH", f"{CUSTOMERS_PATH}/300000047112001", {"City": "Dallas"})
    assert (update.status_code, update.text) == (400, "Invalid operation update for the specified resource.")
    delete = api.send("DELETE", f"{CUSTOMERS_PATH}/300000047112001")
    assert delete.status_code == 400


# -- writes through a declared resource --------------------------------------------------------------


def test_create_returns_201_item_and_location(
    api: Api, base_url: str, admin: SandboxClient, fusion: FusionSandbox
) -> None:
    admin.advance_clock(3 * 86400)
    api.session.headers["Authorization"] = f"Bearer {fetch_token(base_url)}"  # the old token expired
    response = api.send(
        "POST",
        NOTES_PATH,
        {
            "NoteNumber": "N-1",
            "Subject": "first",
            "Amount": "12.50",
            "noteLines": [{"LineNumber": 1, "Text": "a"}],
        },
        content_type="application/vnd.oracle.adf.resourceitem+json",
    )
    assert response.status_code == 201
    item = response.json()
    assert item["NoteId"] == 300000200000001
    assert response.headers["location"] == f"{base_url}{NOTES_PATH}/300000200000001"
    assert (item["Amount"], item["Status"], item["DueDate"]) == (12.5, "Open", None)
    assert item["CreationDate"] == item["LastUpdateDate"]
    created = stamp(item["CreationDate"])
    assert abs((created - fusion.now()).total_seconds()) < 5
    assert created > datetime.now(tz=created.tzinfo) + timedelta(
        days=2
    )  # the sandbox clock, not the wall clock
    assert item["CreatedBy"] == CLIENT_ID
    assert [line["LineId"] for line in item["noteLines"]] == [900001]
    fetched = api.get(response.headers["location"].removeprefix(base_url), onlyData="true").json()
    assert fetched["Subject"] == "first"


def test_patch_stamps_last_update_date(api: Api, admin: SandboxClient) -> None:
    created = api.send("POST", NOTES_PATH, {"NoteNumber": "N-2", "Subject": "s"}).json()
    admin.advance_clock(60)
    response = api.send(
        "PATCH", f"{NOTES_PATH}/{created['NoteId']}", {"Subject": "changed", "DueDate": "2026-03-01"}
    )
    assert response.status_code == 200
    item = response.json()
    assert (item["Subject"], item["DueDate"]) == ("changed", "2026-03-01")
    assert stamp(item["LastUpdateDate"]) - stamp(created["LastUpdateDate"]) >= timedelta(seconds=60)
    assert item["CreationDate"] == created["CreationDate"]
    unchanged_read_only = api.send("PATCH", f"{NOTES_PATH}/{created['NoteId']}", {"NoteNumber": "N-2"})
    assert unchanged_read_only.status_code == 200
    read_only = api.send("PATCH", f"{NOTES_PATH}/{created['NoteId']}", {"NoteNumber": "N-9"})
    assert (read_only.status_code, read_only.text) == (
        400,
        "Attribute NoteNumber in resource workNotes cannot be updated.",
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"Subject": "no number"}, "NoteNumber in resource workNotes is required"),
        ({"NoteNumber": "N-3", "NoteId": 5}, "read-only"),
        ({"NoteNumber": "N-3", "Bogus": 1}, "Bogus is not defined"),
        ({"NoteNumber": "N-3", "Amount": "lots"}, "not a valid number"),
        ({"NoteNumber": "N-3", "DueDate": "03/01/2026"}, "not a valid date"),
    ],
)
def test_create_validation(api: Api, body: dict[str, Any], fragment: str) -> None:
    response = api.send("POST", NOTES_PATH, body)
    assert response.status_code == 400
    assert fragment in response.text


def test_business_rule_and_upsert_mode(api: Api) -> None:
    first = api.send("POST", NOTES_PATH, {"NoteNumber": "N-4", "Subject": "one"})
    assert first.status_code == 201
    duplicate = api.send("POST", NOTES_PATH, {"NoteNumber": "N-4", "Subject": "two"})
    assert (duplicate.status_code, duplicate.text) == (400, "A work note with number N-4 already exists.")
    upsert = api.send("POST", NOTES_PATH, {"NoteNumber": "N-4", "Subject": "two"}, **{"Upsert-Mode": "true"})
    assert upsert.status_code == 200
    assert (upsert.json()["NoteId"], upsert.json()["Subject"]) == (first.json()["NoteId"], "two")
    assert len(api.items(NOTES_PATH)) == 1


def test_actions(api: Api) -> None:
    note = api.send("POST", NOTES_PATH, {"NoteNumber": "N-5"}).json()
    path = f"{NOTES_PATH}/{note['NoteId']}/action/close"
    wrong = api.send("POST", path, {})
    assert wrong.status_code == 415
    done = api.send("POST", path, {}, content_type=ACTION_TYPE)
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("application/vnd.oracle.adf.actionresult+json")
    assert done.json() == {"result": "Note N-5 closed"}
    count = api.send(
        "POST", f"{NOTES_PATH}/action/countByStatus", {"status": "Closed"}, content_type=ACTION_TYPE
    )
    assert count.json() == {"result": 1}
    assert api.send("POST", f"{NOTES_PATH}/action/nope", {}, content_type=ACTION_TYPE).status_code == 404


def test_child_writes_and_delete(api: Api) -> None:
    note = api.send("POST", NOTES_PATH, {"NoteNumber": "N-6"}).json()
    lines = f"{NOTES_PATH}/{note['NoteId']}/child/noteLines"
    line = api.send("POST", lines, {"LineNumber": 1, "Text": "x"})
    assert line.status_code == 201
    assert line.headers["location"].endswith(f"/child/noteLines/{line.json()['LineId']}")
    changed = api.send("PATCH", f"{lines}/{line.json()['LineId']}", {"Text": "y"})
    assert changed.json()["Text"] == "y"
    assert [row["Text"] for row in api.items(lines)] == ["y"]
    assert api.send("DELETE", f"{lines}/{line.json()['LineId']}").status_code == 204
    assert api.items(lines) == []
    assert api.send("DELETE", f"{NOTES_PATH}/{note['NoteId']}").status_code == 204
    assert api.get(f"{NOTES_PATH}/{note['NoteId']}").status_code == 404


def test_invalid_json_body(api: Api) -> None:
    response = api.session.post(
        api.base_url + NOTES_PATH, data="{nope", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert (response.status_code, response.text) == (400, "The request body is not valid JSON.")


# -- admin helpers ---------------------------------------------------------------------------------


def test_upsert_customer_bumps_last_update_date(
    api: Api, admin: SandboxClient, fusion: FusionSandbox
) -> None:
    before = fusion.now()
    admin.advance_clock(120)
    row = fusion.upsert_customer(
        AccountNumber="1004", BillToSiteNumber="2004", EmailAddress="ap@northwind.example.com"
    )
    assert row[KEY] == 300000047112004
    assert stamp(row["LastUpdateDate"]) >= before + timedelta(seconds=120)
    assert row["LastUpdatedBy"] == "SANDBOX_ADMIN"
    assert row["CustomerName"] == "Northwind Analytics Corp."
    changed = api.items(CUSTOMERS_PATH, q=f"LastUpdateDate>={(before + timedelta(seconds=100)).isoformat()}")
    assert keys(changed) == [300000047112004]
    assert changed[0]["EmailAddress"] == "ap@northwind.example.com"


def test_upsert_customer_creates_new_sites(fusion: FusionSandbox) -> None:
    new_account = fusion.upsert_customer(
        {
            "CustomerName": "Harbor Lights Marine",
            "AddressLine1": "1 Pier Rd",
            "City": "Mystic",
            "State": "CT",
            "PostalCode": "06355",
            "Country": "US",
        }
    )
    assert new_account[KEY] == 300000047112013
    assert (new_account["AccountNumber"], new_account["BillToSiteNumber"], new_account["Status"]) == (
        "1013",
        "2013",
        "A",
    )
    assert new_account["BillToSiteAddress"] == "1 Pier Rd, Mystic, CT 06355, US"
    assert new_account["AccountId"] == 300000047101013
    second_site = fusion.upsert_customer(
        CustomerName="Acme Industrial Supply Inc.", AccountNumber="1001", City="Waco"
    )
    assert second_site["AccountId"] == 300000047101001
    assert second_site["BillToSiteNumber"] == "2014"
    moved = fusion.upsert_customer(BillToSiteUseId=300000047112001, City="Dallas", PostalCode="75201")
    assert moved["BillToSiteAddress"] == "500 Congress Ave, Suite 200, Dallas, TX 75201, US"
    with pytest.raises(ValueError, match="CustomerName"):
        fusion.upsert_customer(AccountNumber="7777")
    with pytest.raises(ValueError, match="not defined"):
        fusion.upsert_customer(BillToSiteUseId=300000047112001, Bogus=1)
    with pytest.raises(ValueError, match="not a valid"):
        fusion.upsert_customer(BillToSiteUseId=300000047112001, AccountId="x")
    assert fusion.customers()[0]["AccountId"] == 300000047101001  # the failed change left the row alone
    assert len(fusion.customers()) == 14
    fusion.reset()
    assert len(fusion.customers()) == 12


def test_admin_routes(base_url: str, api: Api) -> None:
    admin_url = f"{base_url}/__sandbox__/fusion"
    listed = requests.get(f"{admin_url}/resources", timeout=10).json()
    assert [(r["name"], r["operations"], r["count"]) for r in listed] == [
        (CUSTOMERS, ["get"], 12),
        ("receivablesInvoices", ["create", "delete", "get", "update"], 10),
        ("accountCombinationsLOV", ["get"], 27),
        ("journalBatches", ["delete", "get"], 0),
        ("suppliers", ["get"], 9),
        ("invoices", ["create", "delete", "get", "update"], 3),
        ("journalSourcesLOV", ["get"], 3),
        ("journalCategoriesLOV", ["get"], 3),
        ("workNotes", ["create", "delete", "get", "update"], 0),
    ]
    created = requests.post(
        f"{admin_url}/customers",
        json={"CustomerName": "Admin Route Co", "City": "Boise", "State": "ID", "Country": "US"},
        timeout=10,
    )
    assert created.status_code == 200
    key = created.json()[KEY]
    assert api.get(f"{CUSTOMERS_PATH}/{key}").json()["CustomerName"] == "Admin Route Co"
    changed = requests.post(
        f"{admin_url}/resources/{CUSTOMERS}", json=[{KEY: key, "Status": "I"}], timeout=10
    )
    assert changed.json()[0]["Status"] == "I"
    assert requests.post(f"{admin_url}/customers", json={"Nope": 1}, timeout=10).status_code == 400
    assert requests.delete(f"{admin_url}/resources/{CUSTOMERS}/{key}", timeout=10).json() == {"deleted": 1}
    assert requests.delete(f"{admin_url}/resources/{CUSTOMERS}/{key}", timeout=10).status_code == 404
    assert requests.get(f"{admin_url}/resources/nope", timeout=10).status_code == 404
    assert requests.get(f"{admin_url}/settings", timeout=10).json() == {
        "max_limit": 500,
        "default_limit": 25,
        "tie_order": "key",
        "refused_operators": [],
        "forbidden_resources": [],
        "removed_finders": [],
        "doubled_quotes": True,
    }


def test_faults_hit_the_collection(api: Api, fusion: FusionSandbox) -> None:
    fusion.faults.add(FaultRule.rate_limit(path=CUSTOMERS, retry_after=2))
    limited = api.get(CUSTOMERS_PATH)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert api.get(CUSTOMERS_PATH).status_code == 200
