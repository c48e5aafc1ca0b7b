"""GL journal import through ``erpintegrations``, ESS polling and ``journalBatches``: OracleFusionHook
against the Fusion stand-in over real HTTP."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.systems.fusion import FusionSandbox
from ml_connector_sandbox.systems.fusion.gl import (
    AR_SUSPENSE_ACCOUNT,
    CASH_CLEARING_ACCOUNT,
    DATA_ACCESS_SET_ID,
    DISABLED_ACCOUNT,
    LEDGER_ID,
    LEDGER_NAME,
    STRIPE_FEES_ACCOUNT,
    SUBSCRIPTION_REVENUE_ACCOUNT,
    period_name,
)

from ml_connector_provider.hooks.oracle_fusion import (
    ESS_TERMINAL_STATUSES,
    FusionApiError,
    FusionBadRequest,
    FusionEssRequestNotFound,
    FusionEssTimeout,
    OracleFusionHook,
    expanded_items,
)
from ml_connector_provider.hooks.oracle_fusion.fbdi import (
    JOURNAL_IMPORT_JOB,
    Journal,
    JournalLine,
    UnbalancedJournal,
    build_gl_interface_csv,
    zip_gl_interface,
)
from ml_connector_provider.transport import ConnectionFailed
from tests.integration.fusion.conftest import REST, Api, ConnectionFactory

D = Decimal
ERP = f"^{REST}/erpintegrations$"
SCHEDULER = "/ess/rest/scheduler/v1/requests"
BATCHES = "journalBatches"
EXPAND = "journalHeaders.journalLines"


@pytest.fixture
def today(fusion: FusionSandbox) -> date:
    return fusion.clock.now().date()


def payment(today: date, key: str, *, account: str = AR_SUSPENSE_ACCOUNT, gross: str = "100.00") -> Journal:
    fee = D("2.90")
    return Journal(
        batch_name=f"Stripe {key}",
        batch_description=f"Stripe payment {key}",
        journal_name=f"Payment {key}",
        journal_description=f"Card payment {key} for INV-10061",
        accounting_date=today,
        currency="USD",
        category="Receipts",
        lines=(
            JournalLine(CASH_CLEARING_ACCOUNT, debit=D(gross) - fee, description="Net", reference=f"{key}:0"),
            JournalLine(STRIPE_FEES_ACCOUNT, debit=fee, description="Stripe fee", reference=f"{key}:1"),
            JournalLine(account, credit=D(gross), description="Gross", reference=f"{key}:2"),
        ),
    )


def submit(
    hook: OracleFusionHook, journals: list[Journal], today: date, *, group_id: int = 7, **options: Any
) -> str:
    return hook.import_journals(
        journals,
        data_access_set_id=DATA_ACCESS_SET_ID,
        source="Stripe",
        ledger_id=LEDGER_ID,
        ledger_name=LEDGER_NAME,
        group_id=group_id,
        created=today,
        **options,
    )


def parameters(group_id: int | str = 7, source: str = "Stripe") -> list[str | None]:
    return [str(DATA_ACCESS_SET_ID), source, str(LEDGER_ID), str(group_id), "N", "N", "N"]


def submit_csv(hook: OracleFusionHook, rows: list[list[str]], *, group_id: int | str = 7) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return hook.import_bulk_data(
        zip_gl_interface(buffer.getvalue().encode()),
        file_name="GlInterface_hand.zip",
        job_name=JOURNAL_IMPORT_JOB,
        parameters=parameters(group_id),
    )


def csv_rows(journals: list[Journal], today: date, group_id: int = 7) -> list[list[str]]:
    data = build_gl_interface_csv(
        journals,
        source="Stripe",
        group_id=group_id,
        ledger_id=LEDGER_ID,
        ledger_name=LEDGER_NAME,
        created=today,
    )
    return list(csv.reader(io.StringIO(data.decode())))


def wait(hook: OracleFusionHook, request_id: str) -> str:
    return hook.wait_for_ess_job(request_id, timeout=10, poll_interval=0.01, max_poll_interval=0.05)


def requests_of(api: Api, load_id: str) -> dict[str, dict[str, Any]]:
    """The ESS requests of one import by name, from the scheduler REST (the load included)."""
    response = api.get(SCHEDULER, q=f"absParentRequestId eq {load_id}")
    assert response.status_code == 200, response.text
    return {item["name"]: item for item in response.json()["items"]}


def run_import(hook: OracleFusionHook, api: Api, load_id: str) -> dict[str, str]:
    """Wait for the load, then for Import Journals and its child: name → terminal status."""
    statuses = {"Load Interface File for Import": wait(hook, load_id)}
    found = requests_of(api, load_id)
    for name in ("Import Journals", "Import Journals: Child"):
        if name in found:
            statuses[name] = wait(hook, str(found[name]["requestId"]))
        found = requests_of(api, load_id)
    return statuses


def child_id(api: Api, load_id: str) -> str:
    return str(requests_of(api, load_id)["Import Journals: Child"]["requestId"])


def batches(api: Api, *references: str) -> dict[str, dict[str, Any]]:
    """Imported batches by REFERENCE1, looked up by name prefix (Journal Import extends the name)."""
    found: dict[str, dict[str, Any]] = {}
    for reference in references:
        escaped = reference.replace("'", "''")
        for row in api.items(f"{REST}/{BATCHES}", 4, q=f"BatchName like '{escaped} %'", expand=EXPAND):
            found[reference] = row
    return found


def journals_of(batch: dict[str, Any]) -> list[dict[str, Any]]:
    headers, complete = expanded_items(batch, "journalHeaders")
    assert complete
    return headers


def report(hook: OracleFusionHook, api: Api, load_id: str) -> str:
    """The Journal Import child's execution report."""
    return hook.ess_job_log(child_id(api, load_id))


# -- chart of accounts --------------------------------------------------------------------------------


def test_account_combinations(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    rows = [row for page in hook.iter_collection("accountCombinationsLOV") for row in page]
    assert len(rows) == 27
    by_account = {"-".join(row[f"Segment{n}"] for n in range(1, 6)): row for row in rows}
    assert by_account[CASH_CLEARING_ACCOUNT]["EnabledFlag"] == "Y"
    assert (by_account[DISABLED_ACCOUNT]["EnabledFlag"], by_account[DISABLED_ACCOUNT]["AccountType"]) == (
        "N",
        "A",
    )
    assert by_account[SUBSCRIPTION_REVENUE_ACCOUNT]["AccountType"] == "R"
    ccid = by_account[AR_SUSPENSE_ACCOUNT]["_CODE_COMBINATION_ID"]
    item = hook.get_item("accountCombinationsLOV", ccid)
    assert item is not None
    assert item["Segment3"] == "12990"
    expenses = hook.find_by_attribute("accountCombinationsLOV", "AccountType", ["E"])
    assert {row["Segment2"] for row in expenses} == {"000", "110", "120", "130"}
    with pytest.raises(FusionBadRequest, match="Invalid operation create"):
        hook.create_item("accountCombinationsLOV", {"Segment1": "101"})


# -- the happy path ---------------------------------------------------------------------------------------


def test_import_runs_as_three_requests_and_extends_batch_names(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, admin: SandboxClient, today: date
) -> None:
    load_id = submit(hook, [payment(today, "pi_1"), payment(today, "pi_2", gross="250.00")], today)
    assert load_id == "2345001"
    assert hook.ess_job_status(load_id) == "RUNNING"
    assert hook.ess_job_status(load_id) == "SUCCEEDED"  # the load is done ...
    assert batches(api, "Stripe pi_1", "Stripe pi_2") == {}  # ... but nothing is imported yet
    found = requests_of(api, load_id)
    assert [
        (name, item["requestId"], item["parentRequestId"], item["state"]) for name, item in found.items()
    ] == [
        ("Load Interface File for Import", 2345001, None, "SUCCEEDED"),
        ("Import Journals", 2345002, 2345001, "RUNNING"),
        ("Import Journals: Child", 2345003, 2345002, "WAIT"),
    ]
    assert hook.ess_job_status(2345002) == "RUNNING"
    assert run_import(hook, api, load_id) == {
        "Load Interface File for Import": "SUCCEEDED",
        "Import Journals": "SUCCEEDED",
        "Import Journals: Child": "SUCCEEDED",
    }
    found_batches = batches(api, "Stripe pi_1", "Stripe pi_2")
    assert {ref: row["BatchName"] for ref, row in found_batches.items()} == {
        "Stripe pi_1": "Stripe pi_1 Stripe A 7 2345003 N",
        "Stripe pi_2": "Stripe pi_2 Stripe A 7 2345003 N",
    }
    assert api.items(f"{REST}/{BATCHES}", 4, q="BatchName = 'Stripe pi_1'") == []  # never the bare REFERENCE1
    batch = found_batches["Stripe pi_2"]
    assert (batch["Status"], batch["RequestId"], batch["LedgerName"], batch["JournalSource"]) == (
        "Unposted",
        None,
        LEDGER_NAME,
        "Stripe",
    )
    assert (batch["BatchDescription"], batch["AccountingPeriod"]) == (
        "Stripe payment pi_2",
        period_name(today),
    )
    [header] = journals_of(batch)
    assert (
        header["JournalName"],
        header["Description"],
        header["CurrencyCode"],
        header["JournalCategory"],
    ) == (
        "Payment pi_2",
        "Card payment pi_2 for INV-10061",
        "USD",
        "Receipts",
    )
    assert (header["AccountingDate"], header["RunningTotalEnteredDr"], header["RunningTotalEnteredCr"]) == (
        today.isoformat(),
        250,
        250,
    )
    lines = expanded_items(header, "journalLines")[0]
    shown = [
        (
            line["AccountCombination"],
            line["EnteredDr"],
            line["EnteredCr"],
            line["Description"],
            line["LineReference"],
        )
        for line in lines
    ]
    assert shown == [
        (CASH_CLEARING_ACCOUNT, 247.1, None, "Net", "pi_2:0"),
        (STRIPE_FEES_ACCOUNT, 2.9, None, "Stripe fee", "pi_2:1"),
        (AR_SUSPENSE_ACCOUNT, None, 250, "Gross", "pi_2:2"),
    ]
    assert fusion.gl_interface_rows() == []  # imported rows leave GL_INTERFACE
    jobs = {job["kind"]: job for job in fusion.ess_jobs()}
    assert jobs["load"]["summary"] == {"rows_loaded": 6}
    assert jobs["child"]["summary"] == {
        "rows_loaded": 6,
        "rows_selected": 6,
        "rows_imported": 6,
        "rows_rejected": 0,
        "batches": ["Stripe pi_1 Stripe A 7 2345003 N", "Stripe pi_2 Stripe A 7 2345003 N"],
    }
    # What went over the wire.
    [post] = admin.request_log(method="POST", path=ERP)
    body = json.loads(post["body"])
    assert (body["OperationName"], body["ContentType"], body["DocumentAccount"], body["JobName"]) == (
        "importBulkData",
        "zip",
        "fin$/generalLedger$/import$",
        "/oracle/apps/ess/financials/generalLedger/programs/common,JournalImportLauncher",
    )
    assert body["ParameterList"] == f"{DATA_ACCESS_SET_ID},Stripe,{LEDGER_ID},7,N,N,N"
    assert body["FileName"] == "GlInterface_7.zip"
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(body["DocumentContent"]))) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("GlInterface.csv").decode())))
    assert [len(row) for row in rows] == [149] * 6


def test_post_answer_echoes_the_request(api: Api, today: date) -> None:
    data = zip_gl_interface(csv_bytes(today, "pi_9", group_id=9))
    body = {
        "OperationName": "importBulkData",
        "DocumentContent": base64.b64encode(data).decode(),
        "ContentType": "zip",
        "FileName": "GlInterface.zip",
        "DocumentAccount": "fin/generalLedger/import",
        "JobName": JOURNAL_IMPORT_JOB,
        "ParameterList": f"{DATA_ACCESS_SET_ID},Stripe,{LEDGER_ID},9,N,N,N",
        "CallbackURL": "#NULL",
        "NotificationCode": "10",
        "JobOptions": "InterfaceDetails=15,ImportOption=Y,PurgeOption=N,ExtractFileType=ALL",
    }
    response = api.send("POST", f"{REST}/erpintegrations", body)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert list(answer) == [
        "OperationName",
        "DocumentId",
        "DocumentContent",
        "FileName",
        "ContentType",
        "FileType",
        "DocumentAccount",
        "Comments",
        "ProcessName",
        "LoadRequestId",
        "JobPackageName",
        "JobDefName",
        "ReqstId",
        "RequestStatus",
        "JobName",
        "ParameterList",
        "NotificationCode",
        "CallbackURL",
        "JobOptions",
        "StatusCode",
        "ESSParameters",
        "links",
    ]
    assert isinstance(answer["ReqstId"], str)
    assert answer["ReqstId"].isdigit()
    assert answer["DocumentContent"] == body["DocumentContent"]  # echoed, not nulled
    assert (answer["NotificationCode"], answer["DocumentAccount"]) == ("10", "fin/generalLedger/import")
    assert response.headers["location"].endswith("/erpintegrations/importBulkData")
    status = api.get(f"{REST}/erpintegrations", finder=f"ESSJobStatusRF;requestId={answer['ReqstId']}").json()
    assert [(i["OperationName"], i["ReqstId"], i["RequestStatus"]) for i in status["items"]] == [
        ("getESSJobStatus", answer["ReqstId"], "RUNNING")
    ]
    assert status["hasMore"] is False
    assert api.get(f"{REST}/erpintegrations", finder="ESSJobStatusRF;requestId=999").json()["items"] == []


def test_status_progression_is_configurable(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, today: date
) -> None:
    fusion.configure_gl(polls_to_terminal=3)
    load_id = submit(hook, [payment(today, "pi_3")], today)
    assert fusion.ess_jobs()[0]["status"] == "WAIT"
    assert [hook.ess_job_status(load_id) for _ in range(4)] == [
        "RUNNING",
        "RUNNING",
        "SUCCEEDED",
        "SUCCEEDED",
    ]
    fusion.configure_gl(polls_to_terminal=0)
    at_once = submit(hook, [payment(today, "pi_4")], today, group_id=8)
    assert sorted(batches(api, "Stripe pi_4")) == ["Stripe pi_4"]  # the whole import ran at submission
    assert {name: item["state"] for name, item in requests_of(api, at_once).items()} == {
        "Load Interface File for Import": "SUCCEEDED",
        "Import Journals": "SUCCEEDED",
        "Import Journals: Child": "SUCCEEDED",
    }


# -- rejections ----------------------------------------------------------------------------------------------


def test_unbalanced_journal_is_accepted(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, today: date
) -> None:
    unbalanced = payment(today, "pi_5")
    unbalanced = Journal(
        **{
            **unbalanced.__dict__,
            "lines": (*unbalanced.lines[:2], JournalLine(AR_SUSPENSE_ACCOUNT, credit=D("99.00"))),
        }
    )
    with pytest.raises(UnbalancedJournal, match="Payment pi_5"):
        csv_rows([unbalanced], today)  # the builder refuses it, so write the file by hand
    rows = csv_rows([payment(today, "pi_5"), payment(today, "pi_6")], today)
    rows[2][39] = "99.00"  # ENTERED_CR (position 40) of the third line of pi_5
    load_id = submit_csv(hook, rows)
    assert run_import(hook, api, load_id)["Import Journals: Child"] == "SUCCEEDED"
    found = batches(api, "Stripe pi_5", "Stripe pi_6")
    assert sorted(found) == ["Stripe pi_5", "Stripe pi_6"]
    [header] = journals_of(found["Stripe pi_5"])
    assert (header["RunningTotalEnteredDr"], header["RunningTotalEnteredCr"]) == (100, 99)
    assert fusion.gl_interface_rows() == []


def test_one_bad_line_rejects_the_whole_group(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, today: date
) -> None:
    journals = [
        payment(today, "pi_7"),
        payment(today, "pi_8", account="101-000-99999-000-000"),
        payment(today, "pi_9", account=DISABLED_ACCOUNT),
    ]
    load_id = submit(hook, journals, today)
    assert run_import(hook, api, load_id) == {
        "Load Interface File for Import": "SUCCEEDED",  # the load succeeds whatever the import rejects
        "Import Journals": "WARNING",
        "Import Journals: Child": "WARNING",
    }
    assert "WARNING" in ESS_TERMINAL_STATUSES
    assert batches(api, "Stripe pi_7", "Stripe pi_8", "Stripe pi_9") == {}  # not even the good pi_7
    interface = {(r["REFERENCE1"], r["FILE_LINE"]): r for r in fusion.gl_interface_rows()}
    assert {key: row["STATUS"] for key, row in interface.items()} == {
        ("Stripe pi_7", 1): "P",
        ("Stripe pi_7", 2): "P",
        ("Stripe pi_7", 3): "P",
        ("Stripe pi_8", 4): "P",
        ("Stripe pi_8", 5): "P",
        ("Stripe pi_8", 6): "EF04",
        ("Stripe pi_9", 7): "P",
        ("Stripe pi_9", 8): "P",
        ("Stripe pi_9", 9): "EF03",
    }
    assert interface[("Stripe pi_8", 6)]["STATUS_DESCRIPTION"] == (
        "FLEX-VALUE DOES NOT EXIST (SEGMENT=Account) (VALUESET=Corporate Account) (VALUE=99999)"
    )
    assert interface[("Stripe pi_7", 1)]["STATUS_DESCRIPTION"] == (
        "The row is valid but another row of its group was rejected."
    )
    text = report(hook, api, load_id)
    lines = text.splitlines()
    assert lines[0].startswith("Journal Import Execution Report")
    assert lines[1] == "Request ID: 2345003    Load Request ID: 2345001    File: GlInterface_7.zip"
    assert lines[5:8] == [
        "Source                    Group ID           Status    Lines Read  Lines Imported  Lines Rejected  Batches",
        "------------------------- ------------------ --------- ---------- --------------- --------------- --------",
        "Stripe                    7                  Warning            9               0               9        0",
    ]
    start = lines.index("============================== Error Lines ==============================")
    day = today.isoformat()
    assert lines[start + 1 : start + 7] == [
        "Status Source                    Accounting Date Currency Group ID           "
        "Batch Name (REFERENCE1)        Journal Name (REFERENCE4)        Line",
        "------ ------------------------- --------------- -------- ------------------ "
        "------------------------------ ------------------------------ ------",
        f"EF04   Stripe                    {day}      USD      7                  "
        "Stripe pi_8                    Payment pi_8                        6",
        "       FLEX-VALUE DOES NOT EXIST (SEGMENT=Account) (VALUESET=Corporate Account) (VALUE=99999)",
        f"EF03   Stripe                    {day}      USD      7                  "
        "Stripe pi_9                    Payment pi_9                        9",
        "       Disabled account 101-000-11900-000-000.",
    ]
    key = lines.index("============================== Error Key ==============================")
    assert key == start + 8
    assert (
        "EF04   The account is not valid. Check the cross-validation rules and segment values." in lines[key:]
    )
    assert (
        "WU01   This journal is unbalanced; suspense posting is allowed in this ledger, so it was processed."
        in lines
    )
    assert hook.ess_job_log(load_id).endswith("Request status: SUCCEEDED\n")  # the load's log names no line


def test_rejected_rows_come_back_when_the_group_is_reused(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, today: date
) -> None:
    first = submit(hook, [payment(today, "pi_10", account="101-000-99999-000-000")], today, group_id=11)
    assert run_import(hook, api, first)["Import Journals: Child"] == "WARNING"
    second = submit(hook, [payment(today, "pi_11")], today, group_id=11)
    assert (
        run_import(hook, api, second)["Import Journals: Child"] == "WARNING"
    )  # group 11's leftovers fail again
    assert batches(api, "Stripe pi_10", "Stripe pi_11") == {}
    assert {r["REQUEST_ID"] for r in fusion.gl_interface_rows()} == {child_id(api, second)}
    third = submit(hook, [payment(today, "pi_12")], today, group_id=12)
    assert run_import(hook, api, third)["Import Journals: Child"] == "SUCCEEDED"  # a fresh group is clean
    assert (
        batches(api, "Stripe pi_12")["Stripe pi_12"]["BatchName"]
        == f"Stripe pi_12 Stripe A 12 {child_id(api, third)} N"
    )


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        ({5: "Bogus"}, "EM01", "Invalid journal entry category Bogus."),
        ({6: "XYZ"}, "EC08", "Invalid currency code XYZ."),
        ({2: "300000000000001"}, "EM03", "Invalid ledger"),
        ({3: "2001/01/01"}, "EP01", "is in Jan-01, which is not open"),
        ({3: "2026-11-03"}, "EP01", "is not a YYYY/MM/DD date"),
        ({95: "Jan-01"}, "EP01", "is not in PERIOD_NAME Jan-01"),
        (
            {11: "12990", 10: "999"},
            "EF04",
            "FLEX-VALUE DOES NOT EXIST (SEGMENT=Cost Center) (VALUESET=Corporate Cost Center) (VALUE=999)",
        ),
        ({10: "110"}, "EF04", "COMBINATION DOES NOT EXIST (101-110-11250-000-000)"),
        ({14: "7"}, "EF04", "SEGMENT6 and later must be empty"),
        ({8: "B"}, "EM04", "actual journals (A) only"),
    ],
)
def test_row_validation_codes(
    hook: OracleFusionHook,
    api: Api,
    fusion: FusionSandbox,
    today: date,
    change: dict[int, str],
    code: str,
    text: str,
) -> None:
    rows = csv_rows([payment(today, "pi_15")], today)
    for position, value in change.items():
        rows[0][position - 1] = value
    load_id = submit_csv(hook, rows)
    assert run_import(hook, api, load_id)["Import Journals: Child"] == "WARNING"
    first = fusion.gl_interface_rows()[0]
    assert first["STATUS"] == code
    assert text in first["STATUS_DESCRIPTION"]
    assert [r["STATUS"] for r in fusion.gl_interface_rows()[1:]] == ["P", "P"]
    assert f"\n{code:<7}Stripe " in report(hook, api, load_id)


def test_closed_period_and_inactive_account_dates(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, today: date
) -> None:
    fusion.configure_gl(open_periods=["Jan-01"])
    load_id = submit(hook, [payment(today, "pi_16")], today)
    assert run_import(hook, api, load_id)["Import Journals: Child"] == "WARNING"
    assert {r["STATUS"] for r in fusion.gl_interface_rows()} == {"EP01"}
    assert fusion.configure_gl(open_periods=None)["effective_open_periods"][-1] == period_name(today)
    fusion.upsert(
        "accountCombinationsLOV",
        {"_CODE_COMBINATION_ID": 13001, "StartDateActive": (today + timedelta(days=40)).isoformat()},
    )
    second = submit(hook, [payment(today, "pi_17")], today, group_id=17)
    assert run_import(hook, api, second)["Import Journals: Child"] == "WARNING"
    assert [r["STATUS"] for r in fusion.gl_interface_rows() if r["REFERENCE1"] == "Stripe pi_17"] == [
        "EF01",
        "P",
        "P",
    ]


# -- selection and load failures ------------------------------------------------------------------------


def test_wrong_group_selects_nothing(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, today: date
) -> None:
    rows = csv_rows([payment(today, "pi_18")], today, group_id=18)
    load_id = submit_csv(hook, rows, group_id=19)
    assert run_import(hook, api, load_id) == {
        "Load Interface File for Import": "SUCCEEDED",
        "Import Journals": "ERROR",
        "Import Journals: Child": "ERROR",
    }
    assert batches(api, "Stripe pi_18") == {}
    assert [r["STATUS"] for r in fusion.gl_interface_rows()] == [
        "NEW",
        "NEW",
        "NEW",
    ]  # loaded, never selected
    text = report(hook, api, load_id)
    assert (
        "No rows were selected: GL_INTERFACE has no rows with USER_JE_SOURCE_NAME 'Stripe' and GROUP_ID 19."
        in text.splitlines()
    )
    assert "No errors were found." in text
    # An empty file fails to load; the same group with a good file then selects the earlier rows too.
    empty = hook.import_bulk_data(
        zip_gl_interface(b"\n"), file_name="empty.zip", job_name=JOURNAL_IMPORT_JOB, parameters=parameters(18)
    )
    assert run_import(hook, api, empty) == {"Load Interface File for Import": "ERROR"}
    assert "GlInterface.csv has no rows." in hook.ess_job_log(empty)
    again = hook.import_bulk_data(
        zip_gl_interface(csv_bytes(today, "pi_19", group_id=18)),
        file_name="GlInterface_18.zip",
        job_name=JOURNAL_IMPORT_JOB,
        parameters=parameters(18),
    )
    assert run_import(hook, api, again)["Import Journals: Child"] == "SUCCEEDED"
    assert sorted(batches(api, "Stripe pi_18", "Stripe pi_19")) == ["Stripe pi_18", "Stripe pi_19"]


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda rows: [row[:95] for row in rows], "line 1 has 95 fields; each row must have 149"),
        (
            lambda rows: [[*row[:6], "", *row[7:]] for row in rows],
            "line 1: DATE_CREATED (field 7) is required",
        ),
        (lambda rows: [[*row[:6], "2026-11-04", *row[7:]] for row in rows], "is not a YYYY/MM/DD date"),
        (
            lambda rows: [[*row[:38], "1,000.00", *row[39:]] for row in rows],
            "ENTERED_DR '1,000.00' is not a number",
        ),
    ],
)
def test_load_failures_import_nothing(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, today: date, mangle: Any, message: str
) -> None:
    load_id = submit_csv(hook, mangle(csv_rows([payment(today, "pi_20")], today)))
    assert run_import(hook, api, load_id) == {"Load Interface File for Import": "ERROR"}  # no Import Journals
    assert fusion.gl_interface_rows() == []
    assert batches(api, "Stripe pi_20") == {}
    log_text = hook.ess_job_log(load_id)
    assert message in log_text
    assert "No rows were loaded" in log_text


def test_zip_without_gl_interface_csv_fails_the_load(hook: OracleFusionHook, today: date) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Journals.csv", "x")
    load_id = hook.import_bulk_data(
        buffer.getvalue(), file_name="j.zip", job_name=JOURNAL_IMPORT_JOB, parameters=parameters()
    )
    assert wait(hook, load_id) == "ERROR"
    assert "The zip holds no GlInterface.csv (it holds Journals.csv)" in hook.ess_job_log(load_id)


def test_launch_problems_select_nothing(hook: OracleFusionHook, api: Api, today: date) -> None:
    data = zip_gl_interface(csv_bytes(today, "pi_21"))
    load_id = hook.import_bulk_data(
        data,
        file_name="g.zip",
        job_name=JOURNAL_IMPORT_JOB,
        parameters=["1", "Payroll", str(LEDGER_ID), "7", "N", "N", None],
    )
    assert run_import(hook, api, load_id)["Import Journals: Child"] == "ERROR"
    text = report(hook, api, load_id)
    assert "Journal Import did not start: The data access set 1 does not exist." in text
    assert "Journal Import did not start: The journal source Payroll does not exist." in text
    assert "Import Descriptive Flexfields: N" in text


# -- malformed requests ---------------------------------------------------------------------------------------


def test_malformed_requests_answer_400(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, today: date
) -> None:
    data = zip_gl_interface(csv_bytes(today, "pi_22"))
    with pytest.raises(FusionBadRequest, match="takes 7 parameters"):
        hook.import_bulk_data(
            data,
            file_name="a.zip",
            job_name=JOURNAL_IMPORT_JOB,
            parameters=["1", "Stripe", "2", "7", "N", "N"],
        )
    with pytest.raises(
        FusionBadRequest, match="The job '/oracle/apps/ess/financials/payables/x,Y' does not exist"
    ):
        hook.import_bulk_data(
            data,
            file_name="a.zip",
            job_name="/oracle/apps/ess/financials/payables/x,Y",
            parameters=parameters(),
        )
    with pytest.raises(FusionBadRequest, match="document account 'fin/payables/import' is not valid"):
        hook.import_bulk_data(
            data,
            file_name="a.zip",
            job_name=JOURNAL_IMPORT_JOB,
            parameters=parameters(),
            document_account="fin/payables/import",
        )
    base = {
        "OperationName": "importBulkData",
        "ContentType": "zip",
        "FileName": "a.zip",
        "DocumentAccount": "fin$/generalLedger$/import$",
        "JobName": JOURNAL_IMPORT_JOB,
        "ParameterList": ",".join(str(p) for p in parameters()),
    }
    for changes, message in (
        ({"DocumentContent": "not base64!"}, "DocumentContent is not valid base64."),
        ({"DocumentContent": base64.b64encode(b"plain text").decode()}, "DocumentContent is not a zip file."),
        (
            {"DocumentContent": base64.b64encode(data).decode(), "ContentType": "csv"},
            "The ContentType 'csv' is not valid",
        ),
        (
            {"DocumentContent": base64.b64encode(data).decode(), "OperationName": "submitESSJobRequest"},
            "not supported by the stand-in",
        ),
        (
            {"DocumentContent": base64.b64encode(data).decode(), "Color": "red"},
            "Attribute Color is not defined",
        ),
    ):
        response = api.send("POST", f"{REST}/erpintegrations", {**base, **changes})
        assert (response.status_code, response.headers["content-type"].split(";")[0]) == (400, "text/plain")
        assert message in response.text
    v4 = api.send(
        "POST",
        f"{REST}/erpintegrations",
        {**base, "DocumentContent": "@@"},
        **{"REST-Framework-Version": "4"},
    )
    assert v4.json()["o:errorDetails"][0]["o:errorPath"] == "DocumentContent"
    assert fusion.ess_jobs() == []
    assert api.get(f"{REST}/erpintegrations").status_code == 400  # a finder is required
    assert api.get(f"{REST}/erpintegrations", finder="Nope;requestId=1").status_code == 400


def csv_bytes(today: date, key: str, *, group_id: int = 7) -> bytes:
    return build_gl_interface_csv(
        [payment(today, key)],
        source="Stripe",
        group_id=group_id,
        ledger_id=LEDGER_ID,
        ledger_name=None,
        created=today,
    )


def test_client_side_checks_happen_before_sending(
    hook: OracleFusionHook, admin: SandboxClient, today: date
) -> None:
    with pytest.raises(ValueError, match="takes a zip file"):
        hook.import_bulk_data(
            b"GL,row", file_name="a.csv", job_name=JOURNAL_IMPORT_JOB, parameters=parameters()
        )
    with pytest.raises(ValueError, match="must not contain a comma"):
        hook.import_bulk_data(
            zip_gl_interface(b"x"), file_name="a.zip", job_name=JOURNAL_IMPORT_JOB, parameters=["a,b"]
        )
    with pytest.raises(UnbalancedJournal):
        submit(
            hook,
            [
                Journal(
                    "B",
                    "",
                    "J",
                    "",
                    today,
                    "USD",
                    "Receipts",
                    (JournalLine(CASH_CLEARING_ACCOUNT, debit=D(1)),),
                )
            ],
            today,
        )
    with pytest.raises(ValueError, match="an ESS request id is a number"):
        hook.ess_job_status("12;x=1")
    assert admin.request_log(path=ERP) == []


# -- the job log -----------------------------------------------------------------------------------------------


def test_logs_are_zips_per_request(hook: OracleFusionHook, api: Api, today: date) -> None:
    load_id = submit(hook, [payment(today, "pi_23")], today)
    assert hook.ess_job_log(load_id) == ""  # not finished yet
    assert run_import(hook, api, load_id)["Import Journals: Child"] == "SUCCEEDED"
    answer = api.get(
        f"{REST}/erpintegrations", finder=f"ESSJobExecutionDetailsRF;requestId={load_id},fileType=LOG"
    ).json()
    [item] = answer["items"]
    assert (item["OperationName"], item["FileType"], item["ReqstId"], item["RequestStatus"]) == (
        "downloadESSJobExecutionDetails",
        "LOG",
        load_id,
        "SUCCEEDED",
    )
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(item["DocumentContent"]))) as archive:
        assert archive.namelist() == [f"{load_id}.log"]
        text = archive.read(f"{load_id}.log").decode()
    assert text == hook.ess_job_log(load_id)
    assert text.splitlines()[3:] == [
        "Rows loaded: 3",
        "Submitted Import Journals, request 2345002",
        "Request status: SUCCEEDED",
    ]
    child = child_id(api, load_id)
    out = api.get(
        f"{REST}/erpintegrations", finder=f"ESSJobExecutionDetailsRF;requestId={child},fileType=ALL"
    )
    [child_item] = out.json()["items"]
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(child_item["DocumentContent"]))) as archive:
        assert archive.namelist() == [f"{child}.log", f"{child}.out"]
        report_text = archive.read(f"{child}.out").decode()
    assert "Stripe pi_23 Stripe A 7 2345003 N" in report_text
    assert "No errors were found." in report_text
    assert hook.ess_job_log("424242") == ""


def test_log_decoding_is_tolerant(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    path = ERP
    query = "ESSJobExecutionDetailsRF"

    def answer(content: Any) -> None:
        fusion.faults.add(
            FaultRule.error(
                200, path=path, query=query, body={"items": [{"DocumentContent": content}], "hasMore": False}
            )
        )

    answer(base64.b64encode("plain log text é".encode()).decode())
    assert hook.ess_job_log(1) == "plain log text é"
    answer("not base64 at all: line 1")
    assert hook.ess_job_log(1) == "not base64 at all: line 1"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("0.json", "{}")
        archive.writestr("1.out", "output part")
        archive.writestr("1.log", b"log part \xff")
    answer(base64.b64encode(buffer.getvalue()).decode())
    assert hook.ess_job_log(1) == "log part \ufffd\noutput part\n{}"  # text members first
    answer(None)
    assert hook.ess_job_log(1) == ""


# -- waiting: faults, tokens, time-outs -------------------------------------------------------------------------


def test_unavailable_status_polls_are_survived(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, admin: SandboxClient, today: date
) -> None:
    load_id = submit(hook, [payment(today, "pi_24")], today)
    fusion.faults.add(FaultRule.unavailable(path=ERP, method="GET", query="ESSJobStatusRF", times=2))
    assert wait(hook, load_id) == "SUCCEEDED"
    statuses = [entry["status"] for entry in admin.request_log(method="GET", path=ERP)]
    assert statuses == [503, 503, 200, 200]
    assert run_import(hook, api, load_id)["Import Journals: Child"] == "SUCCEEDED"
    assert sorted(batches(api, "Stripe pi_24")) == ["Stripe pi_24"]


def test_an_outage_longer_than_the_retries_does_not_end_the_wait(
    make_connection: ConnectionFactory, fusion: FusionSandbox, admin: SandboxClient, today: date
) -> None:
    hook = OracleFusionHook(make_connection("fusion_one_try", retry_attempts=1))
    request_id = submit(hook, [payment(today, "pi_25")], today)
    fusion.faults.add(FaultRule.unavailable(path=ERP, method="GET", times=3))
    assert wait(hook, request_id) == "SUCCEEDED"
    assert [e["status"] for e in admin.request_log(method="GET", path=ERP)] == [503, 503, 503, 200, 200]


def test_a_client_error_while_waiting_ends_the_wait(
    hook: OracleFusionHook, fusion: FusionSandbox, today: date
) -> None:
    request_id = submit(hook, [payment(today, "pi_26")], today)
    fusion.faults.add(FaultRule.error(403, path=ERP, method="GET", body="You do not have the privilege"))
    with pytest.raises(Exception, match="HTTP 403: You do not have the privilege"):
        wait(hook, request_id)


def test_token_expiry_mid_wait(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient, today: date
) -> None:
    request_id = submit(hook, [payment(today, "pi_27")], today)
    assert hook.ess_job_status(request_id) == "RUNNING"
    assert admin.expire_tokens() == 1
    assert wait(hook, request_id) == "SUCCEEDED"
    polls = [entry["status"] for entry in admin.request_log(method="GET", path=ERP)]
    assert polls == [200, 401, 200]
    assert len(admin.request_log(method="POST", path="^/oauth2/v1/token$")) == 2


def test_timeout_names_the_request(hook: OracleFusionHook, fusion: FusionSandbox, today: date) -> None:
    fusion.configure_gl(polls_to_terminal=10_000)
    request_id = submit(hook, [payment(today, "pi_28")], today)
    with pytest.raises(FusionEssTimeout) as caught:
        hook.wait_for_ess_job(request_id, timeout=0.3, poll_interval=0.02, max_poll_interval=0.08)
    assert caught.value.request_id == request_id
    assert caught.value.last_status == "RUNNING"
    assert f"ESS request {request_id} did not finish within 0.3 s" in str(caught.value)
    assert isinstance(caught.value, TimeoutError)
    polls = fusion.ess_jobs()[0]["polls"]
    assert 4 <= polls <= 12  # the pause grows from 0.02 s to 0.08 s: fewer polls than 0.3 / 0.02


def test_unknown_request(hook: OracleFusionHook) -> None:
    with pytest.raises(FusionEssRequestNotFound, match="no ESS request 99999"):
        hook.ess_job_status(99999)
    with pytest.raises(FusionEssRequestNotFound):
        wait(hook, "99999")


def test_submission_is_not_repeated_when_the_answer_is_lost(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, today: date
) -> None:
    fusion.faults.add(FaultRule.disconnect(path=ERP, method="POST", process=True))
    with pytest.raises(ConnectionFailed, match="not retried because POST is not idempotent"):
        submit(hook, [payment(today, "pi_29")], today)
    assert [job["request_id"] for job in fusion.ess_jobs()] == ["2345001"]  # Fusion got it once
    # Fusion stored the import and runs it although the client never saw the 201.
    assert run_import(hook, api, "2345001")["Import Journals: Child"] == "SUCCEEDED"
    assert sorted(batches(api, "Stripe pi_29")) == ["Stripe pi_29"]


def test_submission_throttled_is_retried(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient, today: date
) -> None:
    fusion.faults.add(FaultRule.rate_limit(path=ERP, method="POST", times=2))
    request_id = submit(hook, [payment(today, "pi_30")], today)
    assert [e["status"] for e in admin.request_log(method="POST", path=ERP)] == [429, 429, 201]
    assert [job["request_id"] for job in fusion.ess_jobs()] == [request_id]


def test_submission_answered_503_is_not_repeated_unless_the_connection_says_so(
    make_connection: ConnectionFactory, fusion: FusionSandbox, admin: SandboxClient, today: date
) -> None:
    """A second importBulkData is a second import: a 503 (which the edge may answer after the pod
    acted, UNCONFIRMED) is not repeated by default, and is with ``retry_unprocessed_statuses``."""
    fusion.faults.add(FaultRule.unavailable(path=ERP, method="POST", times=1))
    default = OracleFusionHook(make_connection("fusion_gl_503"))
    with pytest.raises(FusionApiError, match="503"):
        submit(default, [payment(today, "pi_30")], today)
    default.close()
    assert [e["status"] for e in admin.request_log(method="POST", path=ERP)] == [503]
    assert fusion.ess_jobs() == []

    fusion.faults.add(FaultRule.unavailable(path=ERP, method="POST", times=2))
    conn_id = make_connection("fusion_gl_503_unprocessed", retry_unprocessed_statuses="429,503")
    tolerant = OracleFusionHook(conn_id)
    request_id = submit(tolerant, [payment(today, "pi_30")], today)
    tolerant.close()
    assert [e["status"] for e in admin.request_log(method="POST", path=ERP)] == [503, 503, 503, 201]
    assert [job["request_id"] for job in fusion.ess_jobs()] == [request_id]


# -- looking batches up ----------------------------------------------------------------------------------------


def test_find_by_attribute_in_both_dialects(
    hook: OracleFusionHook,
    api: Api,
    make_connection: ConnectionFactory,
    admin: SandboxClient,
    today: date,
) -> None:
    references = ["Stripe O'Brien refund", "Stripe pi_31"]
    journals = [
        payment(today, "pi_31"),
        Journal(**{**payment(today, "x").__dict__, "batch_name": references[0]}),
    ]
    load_id = submit(hook, journals, today)
    assert run_import(hook, api, load_id)["Import Journals: Child"] == "SUCCEEDED"
    names = [f"{reference} Stripe A 7 2345003 N" for reference in references]
    assert sorted(row["BatchName"] for row in batches(api, *references).values()) == sorted(names)
    admin.clear_request_log()
    wanted = [*names, *(f"Stripe missing {n}" for n in range(150))]
    found = hook.find_by_attribute(BATCHES, "BatchName", wanted)
    assert sorted(row["BatchName"] for row in found) == sorted(names)
    queries = [
        parse_qs(e["query"])["q"][0] for e in admin.request_log(method="GET", path=f"^{REST}/{BATCHES}$")
    ]
    assert len(queries) == 2  # 152 values: 100 per query
    assert queries[0].startswith(
        "BatchName in ('Stripe O''Brien refund Stripe A 7 2345003 N', 'Stripe pi_31 Stripe A 7 2345003 N', "
    )
    assert queries[1].count("'Stripe missing") == 52
    v1 = OracleFusionHook(make_connection("fusion_v1_batches", rest_framework_version="1"))
    admin.clear_request_log()
    found_v1 = v1.find_by_attribute(BATCHES, "BatchName", [*names, "Stripe nothing"], expand=EXPAND)
    assert sorted(row["BatchName"] for row in found_v1) == sorted(names)
    assert isinstance(found_v1[0]["journalHeaders"], list)  # framework 1 inlines arrays
    queries = [
        parse_qs(e["query"])["q"][0] for e in admin.request_log(method="GET", path=f"^{REST}/{BATCHES}$")
    ]
    assert queries == [f"BatchName={name}" for name in [*names, "Stripe nothing"]]
    with pytest.raises(ValueError, match="cannot be written in the REST framework version 1"):
        v1.find_by_attribute(BATCHES, "BatchName", ["a;b"])
    assert hook.find_by_attribute(BATCHES, "BatchName", []) == []
    with pytest.raises(FusionBadRequest, match="not queryable"):
        hook.find_by_attribute(BATCHES, "journalHeaders.RunningTotalEnteredDr", [1])


def test_find_filters_to_exact_matches(hook: OracleFusionHook, fusion: FusionSandbox) -> None:
    # A server that matched loosely (case-insensitive, say) must not add rows.
    loose = {
        "items": [{"BatchName": "stripe PI_1", "JeBatchId": 1}, {"BatchName": "Stripe pi_1", "JeBatchId": 2}],
        "hasMore": False,
        "count": 2,
    }
    fusion.faults.add(FaultRule.error(200, path=f"^{REST}/{BATCHES}$", body=loose))
    assert [row["JeBatchId"] for row in hook.find_by_attribute(BATCHES, "BatchName", ["Stripe pi_1"])] == [2]


def test_batches_can_be_deleted_not_created(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, today: date
) -> None:
    assert (
        run_import(hook, api, submit(hook, [payment(today, "pi_32")], today))["Import Journals"]
        == "SUCCEEDED"
    )
    batch = batches(api, "Stripe pi_32")["Stripe pi_32"]
    with pytest.raises(FusionBadRequest, match="Invalid operation create"):
        hook.create_item(BATCHES, {"BatchName": "x"})
    assert hook.delete_item(BATCHES, batch["JeBatchId"]) is True
    assert fusion.journal_batches() == []


def test_journal_batches_python_api_and_admin_routes(
    hook: OracleFusionHook, api: Api, fusion: FusionSandbox, base_url: str, today: date
) -> None:
    load_id = submit(hook, [payment(today, "pi_33", account="101-000-12990-000-777")], today)
    run_import(hook, api, load_id)
    assert fusion.journal_batches() == []
    admin_url = f"{base_url}/__sandbox__/fusion"
    interface = requests.get(f"{admin_url}/gl-interface", timeout=10).json()
    assert [row["STATUS"] for row in interface] == ["P", "P", "EF04"]
    assert interface == fusion.gl_interface_rows()
    jobs = requests.get(f"{admin_url}/ess-jobs", timeout=10).json()
    assert [(job["request_id"], job["kind"], job["status"]) for job in jobs] == [
        ("2345001", "load", "SUCCEEDED"),
        ("2345002", "launcher", "WARNING"),
        ("2345003", "child", "WARNING"),
    ]
    settings = requests.post(
        f"{admin_url}/gl-settings", json={"polls_to_terminal": 1, "categories": ["Receipts"]}, timeout=10
    )
    assert settings.status_code == 200
    assert (settings.json()["polls_to_terminal"], settings.json()["categories"]) == (1, ["Receipts"])
    assert requests.post(f"{admin_url}/gl-settings", json={"colour": 1}, timeout=10).status_code == 422
    second = submit(hook, [payment(today, "pi_34")], today, group_id=34)
    assert hook.ess_job_status(second) == "SUCCEEDED"  # one tick per request now
    assert run_import(hook, api, second)["Import Journals: Child"] == "SUCCEEDED"
    [batch] = fusion.journal_batches()
    [header] = batch["journalHeaders"]
    assert [line["AccountCombination"] for line in header["journalLines"]] == [
        CASH_CLEARING_ACCOUNT,
        STRIPE_FEES_ACCOUNT,
        AR_SUSPENSE_ACCOUNT,
    ]
    fusion.reset()
    assert requests.get(f"{admin_url}/gl-settings", timeout=10).json()["polls_to_terminal"] == 2
    assert fusion.journal_batches() == fusion.gl_interface_rows() == fusion.ess_jobs() == []
