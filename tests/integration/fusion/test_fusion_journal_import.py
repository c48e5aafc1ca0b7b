"""The Fusion stand-in's Journal Import as a pod runs it, over raw HTTP: the ESS request tree and
both ways of finding its descendants, state names, HOLD and release, slow imports, and prefix
look-ups of ``journalBatches`` (contract A5.7, A5.7b, A5.7c)."""

from __future__ import annotations

import base64
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import requests
from ml_connector_sandbox.systems.fusion import FusionSandbox
from ml_connector_sandbox.systems.fusion.gl import (
    AR_SUSPENSE_ACCOUNT,
    CASH_CLEARING_ACCOUNT,
    DATA_ACCESS_SET_ID,
    LEDGER_ID,
    LEDGER_NAME,
)

from ml_connector_provider.hooks.oracle_fusion.fbdi import (
    JOURNAL_IMPORT_JOB,
    Journal,
    JournalLine,
    build_gl_interface_csv,
    zip_gl_interface,
)
from tests.integration.fusion.conftest import REST, Api

ERP = f"{REST}/erpintegrations"
SCHEDULER = "/ess/rest/scheduler/v1/requests"
LOAD, LAUNCHER, CHILD = "2345001", "2345002", "2345003"


@pytest.fixture
def today(fusion: FusionSandbox) -> date:
    return fusion.clock.now().date()


@pytest.fixture
def admin_url(base_url: str) -> str:
    return f"{base_url}/__sandbox__/fusion"


def journal(today: date, key: str) -> Journal:
    return Journal(
        batch_name=f"Stripe {key}",
        batch_description="",
        journal_name=f"Payment {key}",
        journal_description="",
        accounting_date=today,
        currency="USD",
        category="Receipts",
        lines=(
            JournalLine(CASH_CLEARING_ACCOUNT, debit=Decimal("10.00")),
            JournalLine(AR_SUSPENSE_ACCOUNT, credit=Decimal("10.00")),
        ),
    )


def submit(api: Api, today: date, *keys: str, group_id: int = 7) -> str:
    """POST importBulkData for one journal per key; the load request's id."""
    data = build_gl_interface_csv(
        [journal(today, key) for key in keys],
        source="Stripe",
        group_id=group_id,
        ledger_id=LEDGER_ID,
        ledger_name=LEDGER_NAME,
        created=today,
    )
    body = {
        "OperationName": "importBulkData",
        "DocumentContent": base64.b64encode(zip_gl_interface(data)).decode(),
        "ContentType": "zip",
        "FileName": f"GlInterface_{group_id}.zip",
        "DocumentAccount": "fin$/generalLedger$/import$",
        "JobName": JOURNAL_IMPORT_JOB,
        "ParameterList": f"{DATA_ACCESS_SET_ID},Stripe,{LEDGER_ID},{group_id},N,N,N",
    }
    response = api.send("POST", ERP, body)
    assert response.status_code == 201, response.text
    return str(response.json()["ReqstId"])


def status(api: Api, request_id: str) -> str:
    [item] = api.items(ERP, finder=f"ESSJobStatusRF;requestId={request_id}")
    return str(item["RequestStatus"])


def tree(api: Api, request_id: str) -> Any:
    [item] = api.items(ERP, finder=f"ESSExecutionDetailsRF;requestId={request_id}")
    assert (item["OperationName"], item["ReqstId"]) == ("getESSExecutionDetails", request_id)
    return json.loads(item["RequestStatus"])


def states(api: Api, load_id: str) -> list[tuple[int, str, str]]:
    response = api.get(SCHEDULER, q=f"absParentRequestId eq {load_id}", fields="requestId,name,state")
    assert response.status_code == 200, response.text
    return [(item["requestId"], item["name"], item["state"]) for item in response.json()["items"]]


def batch_names(api: Api, prefix: str) -> list[str]:
    return [
        row["BatchName"] for row in api.items(f"{REST}/journalBatches", 4, q=f"BatchName like '{prefix}%'")
    ]


def run_all(admin_url: str) -> list[dict[str, Any]]:
    response = requests.post(f"{admin_url}/ess/run", timeout=10)
    assert response.status_code == 200, response.text
    jobs: list[dict[str, Any]] = response.json()
    return jobs


# -- finding the descendants -------------------------------------------------------------------------------


def test_execution_details_list_the_child_requests(api: Api, fusion: FusionSandbox, today: date) -> None:
    load_id = submit(api, today, "pi_1")
    assert load_id == LOAD
    assert tree(api, LOAD) == {
        "JOBS": {
            "JOBNAME": "Load Interface File for Import",
            "JOBPATH": "/oracle/apps/ess/financials/commonModules/shared/common/interfaceLoader",
            "REQUESTID": LOAD,
            "STATUS": "RUNNING",
        }
    }
    assert status(api, LOAD) == "SUCCEEDED"  # the second tick ends the load and submits Import Journals
    assert tree(api, LOAD)["JOBS"]["CHILD"] == [
        {
            "JOBNAME": "Import Journals",
            "JOBPATH": "/oracle/apps/ess/financials/generalLedger/programs/common",
            "REQUESTID": LAUNCHER,
            "STATUS": "RUNNING",
            "CHILD": [
                {
                    "JOBNAME": "Import Journals: Child",
                    "JOBPATH": "/oracle/apps/ess/financials/generalLedger/programs/common",
                    "REQUESTID": CHILD,
                    "STATUS": "WAIT",
                }
            ],
        }
    ]
    fusion.configure_gl(execution_details_layout="flat")
    assert [(job["REQUESTID"], job["JOBNAME"], job["STATUS"]) for job in tree(api, LOAD)["JOBS"]] == [
        (LOAD, "Load Interface File for Import", "SUCCEEDED"),
        (LAUNCHER, "Import Journals", "RUNNING"),
        (CHILD, "Import Journals: Child", "RUNNING"),
    ]
    assert [job["REQUESTID"] for job in tree(api, LAUNCHER)["JOBS"]] == [LAUNCHER, CHILD]
    assert api.items(ERP, finder="ESSExecutionDetailsRF;requestId=999") == []


def test_execution_details_finder_can_be_missing(api: Api, fusion: FusionSandbox, today: date) -> None:
    submit(api, today, "pi_2")
    fusion.configure_gl(execution_details_finder=False)
    response = api.get(ERP, finder=f"ESSExecutionDetailsRF;requestId={LOAD}")
    assert (response.status_code, response.text) == (
        400,
        "The finder ESSExecutionDetailsRF is not defined for resource erpintegrations.",
    )
    assert status(api, LOAD) == "RUNNING"  # the other finders still answer


def test_scheduler_rest_lists_the_descendants(
    api: Api, fusion: FusionSandbox, base_url: str, today: date
) -> None:
    submit(api, today, "pi_3")
    assert states(api, LOAD) == [(2345001, "Load Interface File for Import", "RUNNING")]
    assert states(api, LOAD) == [
        (2345001, "Load Interface File for Import", "SUCCEEDED"),
        (2345002, "Import Journals", "WAIT"),
    ]
    response = api.get(f"{SCHEDULER}/{CHILD}")
    assert (response.status_code, response.text) == (404, f"The request {CHILD} does not exist.")
    assert states(api, LOAD)[1:] == [
        (2345002, "Import Journals", "RUNNING"),
        (2345003, "Import Journals: Child", "WAIT"),
    ]
    child = api.get(f"{SCHEDULER}/{CHILD}").json()
    assert (child["requestId"], child["parentRequestId"], child["absParentRequestId"], child["state"]) == (
        2345003,
        2345002,
        2345001,
        "RUNNING",
    )
    assert child["jobDefinitionId"].endswith(
        "/oracle/apps/ess/financials/generalLedger/programs/common/JournalImport"
    )
    assert child["requestParameters"][3] == {"name": "submit.argument4", "value": "7"}
    only = api.get(f"{SCHEDULER}/{LAUNCHER}", fields="requestId,state").json()
    assert only == {"requestId": 2345002, "state": "SUCCEEDED"}  # that read was the child's last tick
    children = api.get(SCHEDULER, q=f"parentRequestId eq {LAUNCHER}").json()
    assert (children["count"], [item["requestId"] for item in children["items"]]) == (1, [2345003])
    bad = api.get(SCHEDULER, q="submitter co 'x'")
    assert (bad.status_code, bad.headers["content-type"].split(";")[0]) == (400, "text/plain")
    assert requests.get(base_url + SCHEDULER, timeout=10).status_code == 401  # same credentials as REST
    fusion.configure_gl(scheduler_rest=False)
    refused = api.get(SCHEDULER, q=f"absParentRequestId eq {LOAD}")
    assert (refused.status_code, refused.text) == (
        403,
        "Forbidden: the user has no access to the Enterprise Scheduler REST API.",
    )
    assert api.get(f"{SCHEDULER}/{LOAD}").status_code == 403


# -- states ---------------------------------------------------------------------------------------------------


def test_state_names_with_spaces_or_underscores(api: Api, fusion: FusionSandbox, today: date) -> None:
    submit(api, today, "pi_4")
    with fusion.state as db:  # a state a client must understand, set directly; ticks leave it alone
        db["_essJobs"][LOAD]["status"] = "ERROR_MANUAL_RECOVERY"
    assert status(api, LOAD) == "ERROR MANUAL RECOVERY"
    assert tree(api, LOAD)["JOBS"]["STATUS"] == "ERROR MANUAL RECOVERY"
    assert states(api, LOAD) == [(2345001, "Load Interface File for Import", "ERROR_MANUAL_RECOVERY")]
    fusion.configure_gl(state_names="underscores")
    assert status(api, LOAD) == "ERROR_MANUAL_RECOVERY"


# -- HOLD and release -------------------------------------------------------------------------------------------


def test_hold_then_release_import_journals(api: Api, admin_url: str, today: date) -> None:
    assert requests.post(f"{admin_url}/ess/hold-next", json={"state": "HOLD"}, timeout=10).json() == {
        "hold_next": "HOLD"
    }
    submit(api, today, "pi_5")
    jobs = run_all(admin_url)
    assert [(job["request_id"], job["status"]) for job in jobs] == [(LOAD, "SUCCEEDED"), (LAUNCHER, "HOLD")]
    assert status(api, LAUNCHER) == "HOLD"
    assert batch_names(api, "Stripe pi_5 ") == []
    held = requests.post(f"{admin_url}/ess/requests/{LOAD}/release", timeout=10)
    assert (held.status_code, held.json()["detail"]) == (400, f"The request {LOAD} is SUCCEEDED, not held.")
    released = requests.post(f"{admin_url}/ess/requests/{LAUNCHER}/release", timeout=10)
    assert (released.status_code, released.json()["status"]) == (200, "WAIT")
    assert [job["status"] for job in run_all(admin_url)] == ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]
    assert batch_names(api, "Stripe pi_5 ") == [f"Stripe pi_5 Stripe A 7 {CHILD} N"]
    # The hold applied to one import only.
    second = submit(api, today, "pi_6", group_id=8)
    assert [job["status"] for job in run_all(admin_url) if job["abs_parent_id"] == second] == [
        "SUCCEEDED",
        "SUCCEEDED",
        "SUCCEEDED",
    ]


def test_paused_import_and_the_scheduler_release(api: Api, admin_url: str, today: date) -> None:
    requests.post(f"{admin_url}/ess/hold-next", json={"state": "PAUSED"}, timeout=10)
    submit(api, today, "pi_7")
    run_all(admin_url)
    assert status(api, LAUNCHER) == "PAUSED"
    wrong = api.send("POST", f"{SCHEDULER}/{LOAD}/hold")
    assert (wrong.status_code, wrong.text) == (400, f"The request {LOAD} is SUCCEEDED and cannot be held.")
    released = api.send("POST", f"{SCHEDULER}/{LAUNCHER}/release")
    assert (released.status_code, released.json()["state"]) == (200, "WAIT")
    assert [job["status"] for job in run_all(admin_url)][-1] == "SUCCEEDED"
    assert batch_names(api, "Stripe pi_7 ") == [f"Stripe pi_7 Stripe A 7 {CHILD} N"]


def test_hold_a_waiting_request_through_the_scheduler(api: Api, admin_url: str, today: date) -> None:
    submit(api, today, "pi_8")
    held = api.send("POST", f"{SCHEDULER}/{LOAD}/hold")
    assert (held.status_code, held.json()["state"]) == (200, "HOLD")
    assert [job["status"] for job in run_all(admin_url)] == ["HOLD"]  # nothing moves while held
    assert api.send("POST", f"{SCHEDULER}/{LOAD}/release").json()["state"] == "WAIT"
    assert [job["status"] for job in run_all(admin_url)] == ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]
    missing = requests.post(f"{admin_url}/ess/requests/999/hold", timeout=10)
    assert (missing.status_code, missing.json()["detail"]) == (404, "The request 999 does not exist.")


# -- faults ---------------------------------------------------------------------------------------------------


def test_import_journals_still_running_after_the_load(
    api: Api, fusion: FusionSandbox, admin_url: str, today: date
) -> None:
    response = requests.post(f"{admin_url}/gl-settings", json={"import_delay_polls": 3}, timeout=10)
    assert response.json()["import_delay_polls"] == 3
    submit(api, today, "pi_9")
    assert [status(api, LOAD) for _ in range(2)] == ["RUNNING", "SUCCEEDED"]
    assert [status(api, LAUNCHER) for _ in range(6)] == [
        "RUNNING",  # starts, submits the child
        "RUNNING",  # child tick 1 of 2 + 3
        "RUNNING",
        "RUNNING",
        "RUNNING",
        "SUCCEEDED",
    ]
    assert batch_names(api, "Stripe pi_9 ") == [f"Stripe pi_9 Stripe A 7 {CHILD} N"]
    assert fusion.ess_jobs()[2]["polls"] == 5


def test_import_journals_waits_for_the_clock(
    api: Api, fusion: FusionSandbox, admin_url: str, today: date
) -> None:
    fusion.configure_gl(import_delay_seconds=600)
    submit(api, today, "pi_10")
    jobs = run_all(admin_url)
    assert [job["status"] for job in jobs] == ["SUCCEEDED", "RUNNING", "RUNNING"]
    assert batch_names(api, "Stripe pi_10 ") == []
    fusion.clock.advance(601)
    assert [job["status"] for job in run_all(admin_url)] == ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]
    assert batch_names(api, "Stripe pi_10 ") == [f"Stripe pi_10 Stripe A 7 {CHILD} N"]


def test_lost_answer_after_the_import_was_stored(api: Api, admin_url: str, today: date) -> None:
    fault = {"kind": "drop", "path": "/erpintegrations$", "method": "POST", "process": True}
    assert requests.post(f"{admin_url.rsplit('/', 1)[0]}/faults", json=fault, timeout=10).status_code == 201
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # cut half-way through the 201
        submit(api, today, "pi_11")
    jobs = run_all(admin_url)
    assert [(job["request_id"], job["status"]) for job in jobs] == [
        (LOAD, "SUCCEEDED"),
        (LAUNCHER, "SUCCEEDED"),
        (CHILD, "SUCCEEDED"),
    ]
    assert batch_names(api, "Stripe pi_11 ") == [f"Stripe pi_11 Stripe A 7 {CHILD} N"]


# -- journalBatches by prefix -----------------------------------------------------------------------------------


def test_batches_by_name_prefix(api: Api, fusion: FusionSandbox, admin_url: str, today: date) -> None:
    submit(api, today, "pi_12|", "pi_12|x", "pi_120|")
    run_all(admin_url)
    assert sorted(batch_names(api, "Stripe pi_12| ")) == [f"Stripe pi_12| Stripe A 7 {CHILD} N"]
    assert len(batch_names(api, "Stripe pi_12")) == 3
    assert api.items(
        f"{REST}/journalBatches", 4, q="BatchName like 'Stripe pi_12|%' and JournalSource = 'Stripe'"
    )
    fusion.configure_gl(batch_name_like=False)
    refused = api.get(f"{REST}/journalBatches", 4, q="BatchName like 'Stripe pi_12| %'")
    assert refused.status_code == 400
    assert refused.json()["o:errorDetails"][0]["detail"] == (
        "The query expression 'BatchName like 'Stripe pi_12| %'' is not supported for resource "
        "journalBatches: the operator like is not allowed."
    )
    plain = api.get(f"{REST}/journalBatches", 2, q="BatchName like 'x%'")
    assert (plain.status_code, plain.headers["content-type"].split(";")[0]) == (400, "text/plain")
    # Equality, and a value that merely contains the word, still work.
    assert (
        len(api.items(f"{REST}/journalBatches", 4, q=f"BatchName = 'Stripe pi_12| Stripe A 7 {CHILD} N'"))
        == 1
    )
    assert api.items(f"{REST}/journalBatches", 4, q="BatchName = 'I like it'") == []
