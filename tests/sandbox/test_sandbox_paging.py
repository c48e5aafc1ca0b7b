"""Paging helpers: offset/limit (Oracle ADF, NetSuite) and cursors (Stripe)."""

from __future__ import annotations

from typing import Any

import pytest
from ml_connector_sandbox.paging import (
    CursorPage,
    OffsetPage,
    PagingError,
    cursor_page,
    offset_page,
    sort_newest_first,
)

SIX = list(range(6))


class TestOffsetPage:
    def test_empty_collection(self) -> None:
        assert offset_page([], 0, 10) == OffsetPage(items=[], offset=0, limit=10, has_more=False, total=0)

    def test_defaults(self) -> None:
        page = offset_page(list(range(30)))
        assert (page.items, page.offset, page.limit, page.has_more, page.total) == (
            list(range(25)),
            0,
            25,
            True,
            30,
        )
        assert page.count == 25
        assert page.next_offset == 25

    def test_exact_multiple_last_page_has_no_more(self) -> None:
        first = offset_page(SIX, 0, 3)
        last = offset_page(SIX, 3, 3)
        assert (first.items, first.has_more, first.next_offset) == ([0, 1, 2], True, 3)
        assert (last.items, last.has_more, last.next_offset) == ([3, 4, 5], False, None)

    def test_partial_last_page(self) -> None:
        page = offset_page(SIX, 4, 4)
        assert (page.items, page.has_more, page.count) == ([4, 5], False, 2)

    def test_offset_past_the_end_is_an_empty_last_page(self) -> None:
        assert offset_page(SIX, 6, 3) == OffsetPage(items=[], offset=6, limit=3, has_more=False, total=6)
        assert offset_page(SIX, 60, 3).items == []

    def test_limit_over_the_cap_is_clamped(self) -> None:
        page = offset_page(list(range(1200)), 0, 1000, max_limit=500)
        assert (page.limit, page.count, page.has_more) == (500, 500, True)

    def test_limit_at_the_cap_is_kept(self) -> None:
        assert offset_page(list(range(10)), 0, 500, max_limit=500).limit == 500

    def test_limit_over_the_cap_can_be_refused(self) -> None:
        with pytest.raises(PagingError) as info:
            offset_page(SIX, 0, 1001, max_limit=1000, clamp=False)
        assert info.value.param == "limit"

    @pytest.mark.parametrize(
        ("offset", "limit", "param"), [(-1, 5, "offset"), (0, 0, "limit"), (0, -3, "limit")]
    )
    def test_invalid_parameters(self, offset: int, limit: int, param: str) -> None:
        with pytest.raises(PagingError) as info:
            offset_page(SIX, offset, limit)
        assert info.value.param == param

    def test_aligned_offsets(self) -> None:
        assert offset_page(SIX, 4, 2, aligned=True).items == [4, 5]
        with pytest.raises(PagingError) as info:
            offset_page(SIX, 3, 2, aligned=True)
        assert info.value.param == "offset"

    def test_bad_configuration_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError, match="default_limit"):
            offset_page(SIX, default_limit=10, max_limit=5)


def _objects(count: int) -> list[dict[str, Any]]:
    return [{"id": f"obj_{n}"} for n in range(count)]


def _ids(page: CursorPage[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in page.items]


class TestCursorPage:
    def test_empty_list(self) -> None:
        assert cursor_page([], limit=10) == CursorPage(items=[], has_more=False)

    def test_first_page(self) -> None:
        page = cursor_page(_objects(7), limit=3)
        assert (_ids(page), page.has_more) == (["obj_0", "obj_1", "obj_2"], True)

    def test_default_limit_is_ten(self) -> None:
        page = cursor_page(_objects(12))
        assert (len(page.items), page.has_more) == (10, True)

    def test_starting_after_walks_forward(self) -> None:
        page = cursor_page(_objects(7), limit=3, starting_after="obj_2")
        assert (_ids(page), page.has_more) == (["obj_3", "obj_4", "obj_5"], True)

    def test_exact_multiple_last_page_has_no_more(self) -> None:
        page = cursor_page(_objects(6), limit=3, starting_after="obj_2")
        assert (_ids(page), page.has_more) == (["obj_3", "obj_4", "obj_5"], False)

    def test_starting_after_the_last_item(self) -> None:
        assert cursor_page(_objects(6), limit=3, starting_after="obj_5") == CursorPage(
            items=[], has_more=False
        )

    def test_ending_before_walks_backward_in_display_order(self) -> None:
        page = cursor_page(_objects(7), limit=3, ending_before="obj_5")
        assert (_ids(page), page.has_more) == (["obj_2", "obj_3", "obj_4"], True)

    def test_ending_before_reaching_the_start(self) -> None:
        page = cursor_page(_objects(7), limit=3, ending_before="obj_3")
        assert (_ids(page), page.has_more) == (["obj_0", "obj_1", "obj_2"], False)
        short = cursor_page(_objects(7), limit=3, ending_before="obj_1")
        assert (_ids(short), short.has_more) == (["obj_0"], False)

    def test_ending_before_the_first_item(self) -> None:
        assert cursor_page(_objects(7), limit=3, ending_before="obj_0") == CursorPage(
            items=[], has_more=False
        )

    @pytest.mark.parametrize("limit", [0, 101, -1])
    def test_limit_out_of_range(self, limit: int) -> None:
        with pytest.raises(PagingError) as info:
            cursor_page(_objects(3), limit=limit)
        assert info.value.param == "limit"
        assert info.value.message == "Invalid limit: must be between 1 and 100."

    def test_limit_bounds_are_inclusive(self) -> None:
        assert len(cursor_page(_objects(150), limit=100).items) == 100
        assert _ids(cursor_page(_objects(3), limit=1)) == ["obj_0"]

    def test_both_cursors_are_refused(self) -> None:
        with pytest.raises(PagingError) as info:
            cursor_page(_objects(3), starting_after="obj_0", ending_before="obj_2")
        assert info.value.param == "starting_after"

    @pytest.mark.parametrize(
        ("starting_after", "ending_before", "param"),
        [("obj_missing", None, "starting_after"), (None, "obj_missing", "ending_before")],
    )
    def test_unknown_cursor(self, starting_after: str | None, ending_before: str | None, param: str) -> None:
        with pytest.raises(PagingError) as info:
            cursor_page(_objects(3), starting_after=starting_after, ending_before=ending_before)
        assert (info.value.param, info.value.code) == (param, "resource_missing")
        assert info.value.message == "No such object: 'obj_missing'"

    def test_custom_key(self) -> None:
        page = cursor_page([10, 20, 30, 40], limit=2, starting_after="20", key=str)
        assert page == CursorPage(items=[30, 40], has_more=False)


def test_sort_newest_first_breaks_ties_by_id() -> None:
    items: list[dict[str, Any]] = [
        {"id": "a", "created": 1},
        {"id": "c", "created": 2},
        {"id": "b", "created": 2},
        {"id": "d", "created": 0},
    ]
    assert [i["id"] for i in sort_newest_first(items)] == ["c", "b", "a", "d"]
    assert [i["id"] for i in sort_newest_first(items, created=lambda i: -i["created"])] == [
        "d",
        "a",
        "c",
        "b",
    ]
