"""ESS states, descendant listings in every tolerated shape, and request-tree waits (no HTTP)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ml_connector_provider.hooks.oracle_fusion import FusionEssHeld, FusionEssTimeout
from ml_connector_provider.hooks.oracle_fusion.ess import (
    ESS_HELD_STATUSES,
    ESS_RUNNING_STATUSES,
    ESS_STATES,
    ESS_TERMINAL_STATUSES,
    EssRequest,
    EssTree,
    FusionEssJobs,
    normalize_ess_state,
    parse_ess_requests,
)


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("VALIDATION FAILED", "VALIDATION_FAILED"),
        ("validation_failed", "VALIDATION_FAILED"),
        ("Error Manual Recovery", "ERROR_MANUAL_RECOVERY"),
        ("SCHEDULE_ENDED", "SCHEDULE_ENDED"),
        ("  succeeded ", "SUCCEEDED"),
        ("CANCELED", "CANCELLED"),
        (None, ""),
        (7, ""),
    ],
)
def test_states_are_normalised(raw: Any, state: str) -> None:
    assert normalize_ess_state(raw) == state


def test_every_enum_state_is_classified_once() -> None:
    classes = [ESS_TERMINAL_STATUSES, ESS_RUNNING_STATUSES, ESS_HELD_STATUSES]
    for state in ESS_STATES:
        assert sum(state in c for c in classes) == 1, state
    assert "HOLD" not in ESS_TERMINAL_STATUSES
    assert {
        "VALIDATION_FAILED",
        "ERROR_MANUAL_RECOVERY",
        "SCHEDULE_ENDED",
        "WARNING",
    } <= ESS_TERMINAL_STATUSES


SCHEDULER = {
    "items": [
        {
            "requestId": 10070489,
            "parentRequestId": 10070485,
            "absParentRequestId": 10070485,
            "name": "Import Journals",
            "state": "SUCCEEDED",
        },
        {
            "requestId": "10070490",
            "parentRequestId": "10070489",
            "absParentRequestId": "10070485",
            "jobDefinitionId": "JobDefinition://oracle/apps/ess/financials/generalLedger/programs/common/JournalImport",
            "state": "WARNING",
        },
    ],
    "hasMore": False,
}
DETAILS_TREE = {
    "JOBS": {
        "JOBNAME": "Load Interface File for Import",
        "REQUESTID": "10070485",
        "STATUS": "SUCCEEDED",
        "CHILD": [
            {
                "JOBNAME": "Import Journals",
                "REQUESTID": "10070489",
                "STATUS": "RUNNING",
                "CHILD": {"JOBNAME": "Import Journals: Child", "REQUESTID": "10070490", "STATUS": "WAIT"},
            },
        ],
    }
}


@pytest.mark.parametrize(
    "body",
    [
        SCHEDULER,
        SCHEDULER["items"],
        {"items": [{"ReqstId": "10070485", "RequestStatus": json.dumps(DETAILS_TREE)}], "hasMore": False},
        {"items": [{"RequestStatus": DETAILS_TREE}]},
        {
            "items": [
                {
                    "request_id": 10070489,
                    "parent_request_id": 10070485,
                    "JobName": "Import Journals",
                    "Status": "Running",
                },
                {
                    "RequestId": 10070490,
                    "ParentRequestId": 10070489,
                    "JobDefName": "JournalImport",
                    "RequestState": "Wait",
                },
            ]
        },
    ],
    ids=["scheduler", "bare-list", "details-json-text", "details-object", "other-spellings"],
)
def test_descendant_listings_in_every_shape(body: Any) -> None:
    found = parse_ess_requests(body, root_id="10070485")
    assert [(r.request_id, r.parent_id) for r in found] == [
        ("10070489", "10070485"),
        ("10070490", "10070489"),
    ]
    assert all(r.state for r in found)
    tree = EssTree(EssRequest("10070485", "SUCCEEDED"), tuple(found))
    assert [r.request_id for r in tree.journal_import_reports()] == ["10070490"]


def test_listing_without_descendants_and_garbage() -> None:
    assert parse_ess_requests({"items": []}, root_id="1") == []
    assert parse_ess_requests({"items": [{"RequestStatus": "not json {"}]}, root_id="1") == []
    assert parse_ess_requests([{"requestId": "1", "state": "RUNNING"}], root_id="1") == []


def test_held_means_hold_or_paused_with_nothing_running() -> None:
    root = EssRequest("1", "SUCCEEDED")
    assert EssTree(root, (EssRequest("2", "HOLD"),)).held() == EssRequest("2", "HOLD")
    paused = EssRequest("2", "PAUSED", "Import Journals")
    assert EssTree(root, (paused, EssRequest("3", "RUNNING"))).held() is None
    assert EssTree(root, (paused, EssRequest("3", "SUCCEEDED"))).held() == paused


class FakeEss(FusionEssJobs):
    """Scripted states per poll; descendants listed (or not) by the same script."""

    def __init__(self, polls: list[dict[str, str]], *, visible: bool = True) -> None:
        self.polls = polls
        self.visible = visible
        self.index = -1

    def ess_request_tree(self, request_id: str | int, *, descendants: bool = True) -> EssTree:
        self.index = min(self.index + 1, len(self.polls) - 1)
        states = self.polls[self.index]
        root = EssRequest(str(request_id), states[str(request_id)])
        if not (descendants and self.visible):
            return EssTree(root, (), visible=False)
        rest = tuple(
            EssRequest(rid, s, "Import Journals: Child")
            for rid, s in states.items()
            if rid != root.request_id
        )
        return EssTree(root, rest)

    @property
    def log(self) -> Any:  # type: ignore[override]
        import logging

        return logging.getLogger("fake-ess")


def wait(fake: FakeEss, **options: Any) -> EssTree:
    defaults: dict[str, Any] = {
        "timeout": 5,
        "poll_interval": 0.001,
        "max_poll_interval": 0.001,
        "hold_timeout": 5,
    }
    return fake.wait_for_ess_tree("1", **{**defaults, **options})


def test_a_load_that_succeeded_waits_for_its_children() -> None:
    seen: list[str] = []
    fake = FakeEss(
        [{"1": "SUCCEEDED"}, {"1": "SUCCEEDED", "2": "RUNNING"}, {"1": "SUCCEEDED", "2": "WARNING"}]
    )
    tree = wait(fake, on_request=lambda r: seen.append(r.request_id))
    assert tree.finished
    assert tree.descendants[0].state == "WARNING"
    assert seen == ["1", "2"]


def test_no_children_in_time_is_a_timeout_unless_settled() -> None:
    with pytest.raises(FusionEssTimeout) as caught:
        wait(FakeEss([{"1": "SUCCEEDED"}]), timeout=0.05)
    assert caught.value.last_status == "SUCCEEDED"
    assert wait(FakeEss([{"1": "SUCCEEDED"}]), settled=lambda tree: True).descendants == ()


def test_invisible_descendants_make_the_load_the_whole_tree() -> None:
    assert wait(FakeEss([{"1": "RUNNING"}, {"1": "ERROR"}], visible=False)).root.state == "ERROR"


def test_hold_is_waited_for_a_bounded_time_then_names_the_request() -> None:
    with pytest.raises(FusionEssHeld) as caught:
        wait(FakeEss([{"1": "SUCCEEDED", "2": "HOLD"}]), hold_timeout=0.02)
    assert caught.value.request_id == "2"
    assert "Release it in Fusion" in str(caught.value)
    released = FakeEss([{"1": "SUCCEEDED", "2": "HOLD"}, {"1": "SUCCEEDED", "2": "SUCCEEDED"}])
    assert wait(released, hold_timeout=1).finished


@pytest.mark.parametrize("state", ["VALIDATION_FAILED", "ERROR_MANUAL_RECOVERY", "SCHEDULE_ENDED"])
def test_underscore_terminal_states_end_the_wait(state: str) -> None:
    fake = FakeEss([{"1": state}])
    assert fake.wait_for_ess_job("1", timeout=1, poll_interval=0.001) == state
