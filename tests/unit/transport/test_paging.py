"""The paging loops: offset paging driven by ``hasMore`` and next-URL paging, over pure page
functions (servers modelled as lists) and over real HTTP against the scripted server."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

from ml_connector_provider.transport import (
    HttpTransport,
    LinkedPage,
    OffsetPage,
    PagingError,
    RetryPolicy,
    iter_next_url_pages,
    iter_offset_pages,
)

if TYPE_CHECKING:
    from tests.unit.transport.conftest import ScriptedServer, Sleeps

ROWS = [{"id": n} for n in range(1, 1201)]


class OffsetServer:
    """A collection served the ADF way: pages of at most ``cap`` rows, ``hasMore`` and ``count``."""

    def __init__(self, rows: list[dict[str, Any]], cap: int) -> None:
        self.rows = rows
        self.cap = cap
        self.offsets: list[int] = []

    def __call__(self, offset: int) -> OffsetPage[dict[str, Any]]:
        self.offsets.append(offset)
        page = self.rows[offset : offset + self.cap]
        return OffsetPage(page, has_more=offset + len(page) < len(self.rows), count=len(page))


def http(server: ScriptedServer, sleeps: Sleeps) -> HttpTransport:
    return HttpTransport(server.url, sleep=sleeps, retry=RetryPolicy(attempts=1), timeout=(2.0, 2.0))


# -- offset paging ------------------------------------------------------------------------------------


def test_offsets_follow_the_returned_rows_not_the_requested_size() -> None:
    # Fusion caps some resources at 499 rows although 500 were asked for.
    server = OffsetServer(ROWS, cap=499)

    pages = list(iter_offset_pages(server))

    assert [len(page) for page in pages] == [499, 499, 202]
    assert [row for page in pages for row in page] == ROWS
    assert server.offsets == [0, 499, 998]


def test_a_short_page_with_has_more_is_not_the_end() -> None:
    def fetch(offset: int) -> OffsetPage[int]:
        return {
            0: OffsetPage([1, 2, 3], has_more=True, count=3),
            3: OffsetPage([4], has_more=True, count=1),
            4: OffsetPage([5, 6], has_more=False, count=2),
        }[offset]

    assert list(iter_offset_pages(fetch)) == [[1, 2, 3], [4], [5, 6]]


def test_pages_are_fetched_only_when_asked_for() -> None:
    server = OffsetServer(ROWS, cap=500)
    pages = iter_offset_pages(server)

    assert server.offsets == []
    assert len(next(pages)) == 500
    assert server.offsets == [0]


def test_start_offset() -> None:
    server = OffsetServer(ROWS[:10], cap=4)

    assert [row["id"] for page in iter_offset_pages(server, start=6) for row in page] == [7, 8, 9, 10]
    assert server.offsets == [6]


def test_empty_collection_yields_nothing() -> None:
    server = OffsetServer([], cap=500)

    assert list(iter_offset_pages(server)) == []
    assert server.offsets == [0]


def test_has_more_without_items_raises_instead_of_looping() -> None:
    calls: list[int] = []

    def fetch(offset: int) -> OffsetPage[int]:
        calls.append(offset)
        return OffsetPage([1, 2, 3, 4], has_more=True, count=4) if offset == 0 else OffsetPage([], True, 0)

    pages = iter_offset_pages(fetch, label="the answer for invoices")
    assert next(pages) == [1, 2, 3, 4]
    with pytest.raises(
        PagingError, match="the answer for invoices says hasMore with no items at offset 4"
    ) as caught:
        next(pages)

    assert caught.value.position == 4
    assert calls == [0, 4]


def test_a_count_that_disagrees_is_logged_and_the_items_win(caplog: pytest.LogCaptureFixture) -> None:
    def fetch(offset: int) -> OffsetPage[int]:
        if offset == 0:
            return OffsetPage([1, 2], has_more=True, count=25)
        assert offset == 2
        return OffsetPage([3], has_more=False, count=1)

    with caplog.at_level(logging.WARNING, logger="ml_connector_provider.transport.paging"):
        assert list(iter_offset_pages(fetch, label="the answer for x")) == [[1, 2], [3]]

    [record] = caplog.records
    assert record.getMessage() == "the answer for x says count=25 but has 2 items; advancing by the items"


def test_envelope_is_read_as_fusion_and_netsuite_send_it() -> None:
    page = OffsetPage.from_envelope({"items": [{"id": "107"}], "count": 1, "hasMore": True, "offset": 0})
    assert page == OffsetPage([{"id": "107"}], has_more=True, count=1)
    assert OffsetPage.from_envelope({"items": [], "hasMore": False}).count is None
    assert OffsetPage.from_envelope({"items": [], "hasMore": False, "count": True}).count is None
    assert OffsetPage.from_envelope({"items": [], "hasMore": False, "count": "0"}).count is None
    for broken in ({"items": {}, "hasMore": False}, {"items": []}, {"items": [], "hasMore": "false"}):
        with pytest.raises(PagingError, match="not a collection envelope"):
            OffsetPage.from_envelope(broken)


def test_offset_paging_over_http(server: ScriptedServer, sleeps: Sleeps) -> None:
    # NetSuite-style envelope; the server returns fewer rows than the limit on the second page
    # but says hasMore, so the third request starts after the rows actually returned.
    server.enqueue(body={"items": [{"id": "1"}, {"id": "2"}], "count": 2, "hasMore": True, "offset": 0})
    server.enqueue(body={"items": [{"id": "3"}], "count": 1, "hasMore": True, "offset": 2})
    server.enqueue(body={"items": [{"id": "4"}], "count": 1, "hasMore": False, "offset": 3})

    with http(server, sleeps) as client:

        def fetch(offset: int) -> OffsetPage[dict[str, Any]]:
            answer = client.get("/record/v1/customer", params={"limit": 2, "offset": offset})
            return OffsetPage.from_envelope(answer.json())

        pages = list(iter_offset_pages(fetch))

    assert pages == [[{"id": "1"}, {"id": "2"}], [{"id": "3"}], [{"id": "4"}]]
    assert [seen.query["offset"] for seen in server.requests] == [["0"], ["2"], ["3"]]
    assert {seen.path for seen in server.requests} == {"/record/v1/customer"}


def test_stuck_page_over_http_is_requested_once(server: ScriptedServer, sleeps: Sleeps) -> None:
    server.enqueue(body={"items": [{"id": 1}], "count": 1, "hasMore": True})
    server.enqueue(body={"items": [], "count": 0, "hasMore": True})
    server.enqueue(body={"items": [], "count": 0, "hasMore": True})

    with http(server, sleeps) as client:
        pages = iter_offset_pages(
            lambda offset: OffsetPage.from_envelope(client.get("/items", params={"offset": offset}).json())
        )
        with pytest.raises(PagingError) as caught:
            list(pages)

    assert caught.value.position == 1
    assert len(server.requests) == 2


# -- next-URL paging ----------------------------------------------------------------------------------


def salesforce_page(body: dict[str, Any]) -> LinkedPage[dict[str, Any]]:
    return LinkedPage(body["records"], next_url=body.get("nextRecordsUrl"), done=body["done"])


def test_next_url_chain_over_http(server: ScriptedServer, sleeps: Sleeps) -> None:
    base = "/services/data/v67.0/query"
    server.enqueue(
        body={
            "totalSize": 5,
            "done": False,
            "nextRecordsUrl": f"{base}/01gRO-2",
            "records": [{"Id": "a"}, {"Id": "b"}],
        }
    )
    server.enqueue(
        body={
            "totalSize": 5,
            "done": False,
            "nextRecordsUrl": f"{base}/01gRO-4",
            "records": [{"Id": "c"}, {"Id": "d"}],
        }
    )
    server.enqueue(body={"totalSize": 5, "done": True, "records": [{"Id": "e"}]})

    with http(server, sleeps) as client:

        def fetch(url: str | None) -> LinkedPage[dict[str, Any]]:
            if url is None:
                return salesforce_page(client.get(f"{base}/", params={"q": "SELECT Id FROM Contact"}).json())
            return salesforce_page(client.get(url).json())

        pages = list(iter_next_url_pages(fetch))

    assert [[row["Id"] for row in page] for page in pages] == [["a", "b"], ["c", "d"], ["e"]]
    assert [seen.path for seen in server.requests] == [f"{base}/", f"{base}/01gRO-2", f"{base}/01gRO-4"]
    assert server.requests[0].query == {"q": ["SELECT Id FROM Contact"]}


def test_single_page_result() -> None:
    urls: list[str | None] = []

    def fetch(url: str | None) -> LinkedPage[str]:
        urls.append(url)
        return LinkedPage(["only"], next_url=None, done=True)

    assert list(iter_next_url_pages(fetch)) == [["only"]]
    assert urls == [None]


def test_done_decides_over_a_next_url() -> None:
    def fetch(url: str | None) -> LinkedPage[int]:
        assert url is None
        return LinkedPage([1], next_url="/next", done=True)

    assert list(iter_next_url_pages(fetch)) == [[1]]


def test_without_done_the_missing_next_url_ends_the_result() -> None:
    chain: dict[str | None, LinkedPage[int]] = {
        None: LinkedPage([1, 2], next_url="https://api.example.com/items?cursor=2"),
        "https://api.example.com/items?cursor=2": LinkedPage([3], next_url=None),
    }

    assert list(iter_next_url_pages(chain.__getitem__)) == [[1, 2], [3]]


def test_empty_pages_are_skipped_but_followed() -> None:
    chain: dict[str | None, LinkedPage[int]] = {
        None: LinkedPage([], next_url="/p2", done=False),
        "/p2": LinkedPage([7], next_url=None, done=True),
    }

    assert list(iter_next_url_pages(chain.__getitem__)) == [[7]]


def test_not_done_without_a_next_url_raises() -> None:
    chain: dict[str | None, LinkedPage[int]] = {
        None: LinkedPage([1], next_url="/p2", done=False),
        "/p2": LinkedPage([2], next_url=None, done=False),
    }
    pages = iter_next_url_pages(chain.__getitem__, label="Salesforce's answer for Contact")

    assert next(pages) == [1]
    assert next(pages) == [2]
    with pytest.raises(
        PagingError, match="Salesforce's answer for Contact says more records follow"
    ) as caught:
        next(pages)
    assert caught.value.position == "/p2"


def test_a_link_back_to_a_page_already_read_raises_instead_of_looping() -> None:
    calls: list[str | None] = []
    chain: dict[str | None, LinkedPage[int]] = {
        None: LinkedPage([1], next_url="/p2", done=False),
        "/p2": LinkedPage([2], next_url="/p3", done=False),
        "/p3": LinkedPage([3], next_url="/p2", done=False),
    }

    def fetch(url: str | None) -> LinkedPage[int]:
        calls.append(url)
        return chain[url]

    with pytest.raises(PagingError, match="links to /p2 again") as caught:
        list(iter_next_url_pages(fetch))

    assert caught.value.position == "/p3"
    assert calls == [None, "/p2", "/p3"]


def test_a_page_linking_to_itself_raises() -> None:
    chain: dict[str | None, LinkedPage[int]] = {
        None: LinkedPage([1], next_url="/p2", done=False),
        "/p2": LinkedPage([], next_url="/p2", done=False),
    }

    with pytest.raises(PagingError, match="links to /p2 again"):
        list(iter_next_url_pages(chain.__getitem__))
