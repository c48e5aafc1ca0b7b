"""Values from records that would break a ``q`` filter are quoted so that Fusion matches exactly
them, or refused before any request with a data error naming the value — never a silently
different filter. Against the Fusion stand-in, whose parser follows contract A4.2: version 1
values are unquoted and run to the end of their ``;``-separated clause; version 2+ text literals
are single-quoted (a quote inside doubled, the SQL convention; the contract does not say how a
quote is written, UNCONFIRMED)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest
from ml_connector_sandbox import SandboxClient

from ml_connector_provider.hooks.oracle_fusion import FusionFilterValueError, OracleFusionHook
from ml_connector_provider.hooks.oracle_fusion.query import MAX_FILTER_LENGTH, MAX_FILTER_VALUE, in_filters
from tests.integration.fusion.conftest import NOTES, NOTES_PATH, Api, ConnectionFactory

# Each value with the decoys a wrongly quoted or split filter would match instead (or as well).
TRICKY: dict[str, list[str]] = {
    "semicolon": ["A;B", "A", "B"],
    "quote": ["O'Brien", "O", "Brien"],
    "injection": ["X' or NoteNumber <> 'X", "X"],
    "double-quote": ['say "hi"', "say", "hi"],
    "comma": ["1,2", "1", "2"],
    "equals": ["a=b", "a", "b"],
    "less-than": ["x<y", "x", "y"],
    "and-operator": ["10 and <=30", "10"],
    "non-ascii": ["Müller-Ærø 東京 №5", "Muller-Aero"],
    "percent": ["100%", "1000"],
    "long": ["L" * 1000, "L" * 999],
}
# What the version 1 dialect cannot write (it has no quoting): refused, naming the value.
V1_REFUSED = {"semicolon", "and-operator"}


def _seed(hook: OracleFusionHook, numbers: list[str]) -> None:
    for number in numbers:
        hook.create_item(NOTES, {"NoteNumber": number, "Subject": "filter test"})


def _sent_filters(admin: SandboxClient) -> list[str]:
    return [
        parse_qs(entry["query"])["q"][0]
        for entry in admin.request_log(method="GET", path=f"^{NOTES_PATH}$")
        if "q=" in entry["query"]
    ]


@pytest.mark.parametrize("version", ["1", "4"])
@pytest.mark.parametrize("case", sorted(TRICKY))
def test_a_tricky_value_matches_exactly_itself_or_is_refused(
    make_connection: ConnectionFactory, admin: SandboxClient, api: Api, case: str, version: str
) -> None:
    hook = OracleFusionHook(make_connection(f"fusion_q_v{version}", rest_framework_version=version))
    value, *decoys = TRICKY[case]
    _seed(hook, [value, *decoys])

    if version == "1" and case in V1_REFUSED:
        with pytest.raises(FusionFilterValueError) as raised:
            hook.find_by_attribute(NOTES, "NoteNumber", [value])
        assert raised.value.value == value
        assert repr(value) in str(raised.value)
        assert "NoteNumber" in str(raised.value)
        assert _sent_filters(admin) == []  # refused before any request
        with pytest.raises(FusionFilterValueError):
            hook.check_lookup_value("NoteNumber", value)
        return

    hook.check_lookup_value("NoteNumber", value)
    found = hook.find_by_attribute(NOTES, "NoteNumber", [value])
    assert [row["NoteNumber"] for row in found] == [value]
    # The server itself matched exactly the value: the filter meant what it said, not only the
    # client's exact-match check after it.
    [q] = _sent_filters(admin)
    [expected_q] = in_filters("NoteNumber", [value], version=int(version))
    assert q == expected_q
    server_rows = api.items(NOTES_PATH, int(version), q=q, onlyData="true")
    assert [row["NoteNumber"] for row in server_rows] == [value]


def test_every_tricky_value_in_one_filter(
    make_connection: ConnectionFactory, api: Api, admin: SandboxClient
) -> None:
    hook = OracleFusionHook(make_connection("fusion_q_all"))
    values = [numbers[0] for numbers in TRICKY.values()]
    _seed(hook, [number for numbers in TRICKY.values() for number in numbers])

    found = hook.find_by_attribute(NOTES, "NoteNumber", values)

    assert sorted(row["NoteNumber"] for row in found) == sorted(values)
    [q] = _sent_filters(admin)
    assert sorted(row["NoteNumber"] for row in api.items(NOTES_PATH, 4, q=q, onlyData="true")) == sorted(
        values
    )


def test_find_matching_with_tricky_values(make_connection: ConnectionFactory) -> None:
    hook = OracleFusionHook(make_connection("fusion_q_match"))
    _seed(hook, ["O'Brien; Sons", "O'Brien"])
    found = hook.find_matching(NOTES, {"NoteNumber": "O'Brien; Sons", "Subject": "filter test"})
    assert [row["NoteNumber"] for row in found] == ["O'Brien; Sons"]


@pytest.mark.parametrize("version", ["1", "4"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("A\nB", "control characters"),
        ("NUL\x00", "control characters"),
        ("X" * (MAX_FILTER_VALUE + 1), f"longer than {MAX_FILTER_VALUE} characters"),
    ],
)
def test_values_no_filter_can_hold_are_refused(
    make_connection: ConnectionFactory, admin: SandboxClient, version: str, value: str, reason: str
) -> None:
    hook = OracleFusionHook(make_connection(f"fusion_q_bad_v{version}", rest_framework_version=version))
    with pytest.raises(FusionFilterValueError, match=reason) as raised:
        hook.find_by_attribute(NOTES, "NoteNumber", ["fine", value])
    assert raised.value.attribute == "NoteNumber"
    assert raised.value.value == value
    assert len(str(raised.value)) < 300
    assert _sent_filters(admin) == []


def test_long_values_are_spread_over_filters_of_bounded_length(
    make_connection: ConnectionFactory, admin: SandboxClient
) -> None:
    hook = OracleFusionHook(make_connection("fusion_q_many"))
    values = [f"{n:03d}-" + "V" * 600 for n in range(20)]
    _seed(hook, values)

    found = hook.find_by_attribute(NOTES, "NoteNumber", values)

    assert sorted(row["NoteNumber"] for row in found) == values
    sent: list[Any] = _sent_filters(admin)
    assert len(sent) > 1
    assert all(len(q) <= MAX_FILTER_LENGTH + len("NoteNumber in ()") for q in sent)
