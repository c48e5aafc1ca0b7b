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
    FusionBadRequest,
    FusionEssJobError,
    FusionEssRequestNotFound,
    FusionEssTimeout,
    OracleFusionHook,
    expanded_items,
    parse_journal_import_log,
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


def batches(hook: OracleFusionHook, *names: str) -> dict[str, dict[str, Any]]:
    return {
        row["BatchName"]: row for row in hook.find_by_attribute(BATCHES, "BatchName", names, expand=EXPAND)
    }


def journals_of(batch: dict[str, Any]) -> list[dict[str, Any]]:
    headers, complete = expanded_items(batch, "journalHeaders")
    assert complete
    return headers


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


def test_import_wait_and_read_the_journals(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient, today: date
) -> None:
    request_id = submit(hook, [payment(today, "pi_1"), payment(today, "pi_2", gross="250.00")], today)
    assert request_id.isdigit()
    assert batches(hook, "Stripe pi_1", "Stripe pi_2") == {}  # not visible while the job runs
    assert hook.ess_job_status(request_id) == "RUNNING"
    assert batches(hook, "Stripe pi_1") == {}
    assert wait(hook, request_id) == "SUCCEEDED"
    found = batches(hook, "Stripe pi_1", "Stripe pi_2")
    assert sorted(found) == ["Stripe pi_1", "Stripe pi_2"]
    batch = found["Stripe pi_2"]
    assert (batch["Status"], batch["RequestId"], batch["LedgerName"], batch["JournalSource"]) == (
        "Unposted",
        int(request_id),
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
    [job] = fusion.ess_jobs()
    assert job["summary"] == {"rows_loaded": 6, "rows_selected": 6, "rows_imported": 6, "rows_rejected": 0}
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
    assert body["JobOptions"] == "InterfaceDetails=15,ImportOption=Y,PurgeOption=N,ExtractFileType=ALL"
    assert body["FileName"] == "GlInterface_7.zip"
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(body["DocumentContent"]))) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("GlInterface.csv").decode())))
    assert [len(row) for row in rows] == [149] * 6
    polls = admin.request_log(method="GET", path=ERP)
    assert all(parse_qs(p["query"])["finder"][0] == f"ESSJobStatusRF;requestId={request_id}" for p in polls)


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
    hook: OracleFusionHook, fusion: FusionSandbox, today: date
) -> None:
    fusion.configure_gl(polls_to_terminal=3)
    request_id = submit(hook, [payment(today, "pi_3")], today)
    assert fusion.ess_jobs()[0]["status"] == "WAIT"
    assert [hook.ess_job_status(request_id) for _ in range(4)] == [
        "RUNNING",
        "RUNNING",
        "SUCCEEDED",
        "SUCCEEDED",
    ]
    fusion.configure_gl(polls_to_terminal=0)
    at_once = submit(hook, [payment(today, "pi_4")], today, group_id=8)
    assert batches(hook, "Stripe pi_4") != {}  # finished at submission
    assert hook.ess_job_status(at_once) == "SUCCEEDED"


# -- rejections ----------------------------------------------------------------------------------------------


def test_unbalanced_journal_is_rejected_with_eu02(
    hook: OracleFusionHook, fusion: FusionSandbox, today: date
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
    request_id = submit_csv(hook, rows)
    assert wait(hook, request_id) == "ERROR"
    assert sorted(batches(hook, "Stripe pi_5", "Stripe pi_6")) == ["Stripe pi_6"]
    interface = fusion.gl_interface_rows()
    assert [(r["REFERENCE1"], r["STATUS"], r["FILE_LINE"]) for r in interface] == [
        ("Stripe pi_5", "EU02", 1),
        ("Stripe pi_5", "EU02", 2),
        ("Stripe pi_5", "EU02", 3),
    ]
    assert "entered debits 100.00 USD, entered credits 99.00 USD" in interface[0]["STATUS_DESCRIPTION"]
    reasons = parse_journal_import_log(hook.ess_job_log(request_id))
    assert list(reasons) == ["Stripe pi_5"]
    assert len(reasons["Stripe pi_5"]) == 3
    assert reasons["Stripe pi_5"][0].startswith(
        "journal 'Payment pi_5', line 1: EU02 This journal entry is unbalanced"
    )


def test_unknown_account_rejects_its_batch_only(
    hook: OracleFusionHook, fusion: FusionSandbox, today: date
) -> None:
    journals = [
        payment(today, "pi_7"),
        payment(today, "pi_8", account="101-000-99999-000-000"),
        payment(today, "pi_9", account=DISABLED_ACCOUNT),
    ]
    request_id = submit(hook, journals, today)
    status = wait(hook, request_id)
    assert status == "ERROR"
    assert status in ESS_TERMINAL_STATUSES
    assert sorted(batches(hook, "Stripe pi_7", "Stripe pi_8", "Stripe pi_9")) == ["Stripe pi_7"]
    interface = {(r["REFERENCE1"], r["FILE_LINE"]): r for r in fusion.gl_interface_rows()}
    assert {key: row["STATUS"] for key, row in interface.items()} == {
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
    log_text = hook.ess_job_log(request_id)
    assert "Rows selected: 9" in log_text
    assert "Rows imported: 3" in log_text
    assert "Rows rejected: 6" in log_text
    reasons = parse_journal_import_log(log_text)
    assert sorted(reasons) == ["Stripe pi_8", "Stripe pi_9"]
    assert (
        "journal 'Payment pi_8', line 6: EF04 FLEX-VALUE DOES NOT EXIST (SEGMENT=Account) "
        "(VALUESET=Corporate Account) (VALUE=99999)"
    ) in reasons["Stripe pi_8"]
    assert any("EF03 Disabled account 101-000-11900-000-000" in reason for reason in reasons["Stripe pi_9"])
    error = FusionEssJobError(request_id, status, log_text[-500:])
    assert f"ESS request {request_id} ended with status ERROR" in str(error)
    assert error.log_excerpt.endswith("Request status: ERROR\n")


def test_rejected_rows_come_back_when_the_group_is_reused(
    hook: OracleFusionHook, fusion: FusionSandbox, today: date
) -> None:
    first = submit(hook, [payment(today, "pi_10", account="101-000-99999-000-000")], today, group_id=11)
    assert wait(hook, first) == "ERROR"
    second = submit(hook, [payment(today, "pi_11")], today, group_id=11)
    assert wait(hook, second) == "ERROR"  # the leftovers of group 11 are selected and fail again
    assert sorted(batches(hook, "Stripe pi_10", "Stripe pi_11")) == ["Stripe pi_11"]
    assert {r["REQUEST_ID"] for r in fusion.gl_interface_rows()} == {second}
    third = submit(hook, [payment(today, "pi_12")], today, group_id=12)
    assert wait(hook, third) == "SUCCEEDED"  # a fresh group is clean


def test_group_scope_rejects_every_selected_row(
    hook: OracleFusionHook, fusion: FusionSandbox, today: date
) -> None:
    fusion.configure_gl(rejection_scope="group", rejected_status="WARNING")
    request_id = submit(
        hook, [payment(today, "pi_13"), payment(today, "pi_14", account="101-000-12990-000-999")], today
    )
    assert wait(hook, request_id) == "WARNING"
    assert batches(hook, "Stripe pi_13", "Stripe pi_14") == {}
    reasons = parse_journal_import_log(hook.ess_job_log(request_id))
    assert reasons["Stripe pi_13"][0].endswith(
        "P The row is valid but another row of the import was rejected."
    )
    assert "VALUESET=Corporate Product) (VALUE=999)" in reasons["Stripe pi_14"][-1]


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
    hook: OracleFusionHook, fusion: FusionSandbox, today: date, change: dict[int, str], code: str, text: str
) -> None:
    rows = csv_rows([payment(today, "pi_15")], today)
    for position, value in change.items():
        rows[0][position - 1] = value
    request_id = submit_csv(hook, rows)
    assert wait(hook, request_id) == "ERROR"
    first = fusion.gl_interface_rows()[0]
    assert first["STATUS"] == code
    assert text in first["STATUS_DESCRIPTION"]
    # The other lines are fine but their batch is rejected; with the first line in another
    # currency, the USD rest of the journal no longer balances.
    rest = ["EU02", "EU02"] if code == "EC08" else ["P", "P"]
    assert [r["STATUS"] for r in fusion.gl_interface_rows()[1:]] == rest


def test_closed_period_and_inactive_account_dates(
    hook: OracleFusionHook, fusion: FusionSandbox, today: date
) -> None:
    fusion.configure_gl(open_periods=["Jan-01"])
    request_id = submit(hook, [payment(today, "pi_16")], today)
    assert wait(hook, request_id) == "ERROR"
    assert {r["STATUS"] for r in fusion.gl_interface_rows()} == {"EP01"}
    assert fusion.configure_gl(open_periods=None)["effective_open_periods"][-1] == period_name(today)
    fusion.upsert(
        "accountCombinationsLOV",
        {"_CODE_COMBINATION_ID": 13001, "StartDateActive": (today + timedelta(days=40)).isoformat()},
    )
    second = submit(hook, [payment(today, "pi_17")], today, group_id=17)
    assert wait(hook, second) == "ERROR"
    assert [r["STATUS"] for r in fusion.gl_interface_rows() if r["REFERENCE1"] == "Stripe pi_17"] == [
        "EF01",
        "P",
        "P",
    ]


# -- selection and load failures ------------------------------------------------------------------------


def test_wrong_group_selects_nothing(hook: OracleFusionHook, fusion: FusionSandbox, today: date) -> None:
    rows = csv_rows([payment(today, "pi_18")], today, group_id=18)
    request_id = submit_csv(hook, rows, group_id=19)
    assert wait(hook, request_id) == "ERROR"
    assert batches(hook, "Stripe pi_18") == {}
    assert [r["STATUS"] for r in fusion.gl_interface_rows()] == [
        "NEW",
        "NEW",
        "NEW",
    ]  # loaded, never selected
    log_text = hook.ess_job_log(request_id)
    assert "No rows were selected" in log_text
    assert "GROUP_ID 19" in log_text
    assert "Rows imported: 0" in log_text
    assert parse_journal_import_log(log_text) == {}
    # An empty file fails to load; the same group with a good file then selects the earlier rows too.
    empty = hook.import_bulk_data(
        zip_gl_interface(b"\n"), file_name="empty.zip", job_name=JOURNAL_IMPORT_JOB, parameters=parameters(18)
    )
    assert wait(hook, empty) == "ERROR"
    assert "GlInterface.csv has no rows." in hook.ess_job_log(empty)
    again = hook.import_bulk_data(
        zip_gl_interface(csv_bytes(today, "pi_19", group_id=18)),
        file_name="GlInterface_18.zip",
        job_name=JOURNAL_IMPORT_JOB,
        parameters=parameters(18),
    )
    assert wait(hook, again) == "SUCCEEDED"
    assert sorted(batches(hook, "Stripe pi_18", "Stripe pi_19")) == ["Stripe pi_18", "Stripe pi_19"]


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
    hook: OracleFusionHook, fusion: FusionSandbox, today: date, mangle: Any, message: str
) -> None:
    request_id = submit_csv(hook, mangle(csv_rows([payment(today, "pi_20")], today)))
    assert wait(hook, request_id) == "ERROR"
    assert fusion.gl_interface_rows() == []
    assert batches(hook, "Stripe pi_20") == {}
    log_text = hook.ess_job_log(request_id)
    assert message in log_text
    assert "No rows were loaded" in log_text


def test_zip_without_gl_interface_csv_fails_the_load(hook: OracleFusionHook, today: date) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Journals.csv", "x")
    request_id = hook.import_bulk_data(
        buffer.getvalue(), file_name="j.zip", job_name=JOURNAL_IMPORT_JOB, parameters=parameters()
    )
    assert wait(hook, request_id) == "ERROR"
    assert "The zip holds no GlInterface.csv (it holds Journals.csv)" in hook.ess_job_log(request_id)


def test_launch_problems_select_nothing(hook: OracleFusionHook, today: date) -> None:
    data = zip_gl_interface(csv_bytes(today, "pi_21"))
    request_id = hook.import_bulk_data(
        data,
        file_name="g.zip",
        job_name=JOURNAL_IMPORT_JOB,
        parameters=["1", "Payroll", str(LEDGER_ID), "7", "N", "N", None],
    )
    assert wait(hook, request_id) == "ERROR"
    log_text = hook.ess_job_log(request_id)
    assert "The data access set 1 does not exist." in log_text
    assert "The journal source Payroll does not exist." in log_text
    assert "ImportDescriptiveFlexfields=#NULL" in log_text


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


def test_log_is_a_zip_with_the_request_log(hook: OracleFusionHook, api: Api, today: date) -> None:
    request_id = submit(hook, [payment(today, "pi_23")], today)
    assert hook.ess_job_log(request_id) == ""  # not finished yet
    assert wait(hook, request_id) == "SUCCEEDED"
    answer = api.get(
        f"{REST}/erpintegrations", finder=f"ESSJobExecutionDetailsRF;requestId={request_id},fileType=LOG"
    ).json()
    [item] = answer["items"]
    assert (item["OperationName"], item["FileType"], item["ReqstId"], item["RequestStatus"]) == (
        "downloadESSJobExecutionDetails",
        "LOG",
        request_id,
        "SUCCEEDED",
    )
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(item["DocumentContent"]))) as archive:
        assert archive.namelist() == [f"{request_id}.log"]
        text = archive.read(f"{request_id}.log").decode()
    assert text == hook.ess_job_log(request_id)
    assert 'IMPORTED batch="Stripe pi_23" journals=1 rows=3 JeBatchId=' in text
    assert text.endswith("Request status: SUCCEEDED\n")
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
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient, today: date
) -> None:
    request_id = submit(hook, [payment(today, "pi_24")], today)
    fusion.faults.add(FaultRule.unavailable(path=ERP, method="GET", query="ESSJobStatusRF", times=2))
    assert wait(hook, request_id) == "SUCCEEDED"
    statuses = [entry["status"] for entry in admin.request_log(method="GET", path=ERP)]
    assert statuses == [503, 503, 200, 200]
    assert batches(hook, "Stripe pi_24") != {}


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
    hook: OracleFusionHook, fusion: FusionSandbox, today: date
) -> None:
    fusion.faults.add(FaultRule.disconnect(path=ERP, method="POST", process=True))
    with pytest.raises(ConnectionFailed, match="not retried because POST is not idempotent"):
        submit(hook, [payment(today, "pi_29")], today)
    assert len(fusion.ess_jobs()) == 1  # Fusion got it once, and only once


def test_submission_refused_as_unavailable_is_retried(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient, today: date
) -> None:
    fusion.faults.add(FaultRule.unavailable(path=ERP, method="POST", times=2))
    request_id = submit(hook, [payment(today, "pi_30")], today)
    assert [e["status"] for e in admin.request_log(method="POST", path=ERP)] == [503, 503, 201]
    assert [job["request_id"] for job in fusion.ess_jobs()] == [request_id]


# -- looking batches up ----------------------------------------------------------------------------------------


def test_find_by_attribute_in_both_dialects(
    hook: OracleFusionHook, make_connection: ConnectionFactory, admin: SandboxClient, today: date
) -> None:
    names = ["Stripe O'Brien refund", "Stripe pi_31"]
    journals = [payment(today, "pi_31"), Journal(**{**payment(today, "x").__dict__, "batch_name": names[0]})]
    assert wait(hook, submit(hook, journals, today)) == "SUCCEEDED"
    admin.clear_request_log()
    wanted = [*names, *(f"Stripe missing {n}" for n in range(150))]
    found = hook.find_by_attribute(BATCHES, "BatchName", wanted)
    assert sorted(row["BatchName"] for row in found) == sorted(names)
    queries = [
        parse_qs(e["query"])["q"][0] for e in admin.request_log(method="GET", path=f"^{REST}/{BATCHES}$")
    ]
    assert len(queries) == 2  # 152 values: 100 per query
    assert queries[0].startswith(
        "BatchName in ('Stripe O''Brien refund', 'Stripe pi_31', 'Stripe missing 0',"
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
    assert queries == [
        "BatchName=Stripe O'Brien refund",
        "BatchName=Stripe pi_31",
        "BatchName=Stripe nothing",
    ]
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
    hook: OracleFusionHook, fusion: FusionSandbox, today: date
) -> None:
    assert wait(hook, submit(hook, [payment(today, "pi_32")], today)) == "SUCCEEDED"
    [batch] = hook.find_by_attribute(BATCHES, "BatchName", ["Stripe pi_32"])
    with pytest.raises(FusionBadRequest, match="Invalid operation create"):
        hook.create_item(BATCHES, {"BatchName": "x"})
    assert hook.delete_item(BATCHES, batch["JeBatchId"]) is True
    assert fusion.journal_batches() == []


def test_journal_batches_python_api_and_admin_routes(
    hook: OracleFusionHook, fusion: FusionSandbox, base_url: str, today: date
) -> None:
    request_id = submit(hook, [payment(today, "pi_33", account="101-000-12990-000-777")], today)
    wait(hook, request_id)
    assert fusion.journal_batches() == []
    admin_url = f"{base_url}/__sandbox__/fusion"
    interface = requests.get(f"{admin_url}/gl-interface", timeout=10).json()
    assert [row["STATUS"] for row in interface] == ["P", "P", "EF04"]
    assert interface == fusion.gl_interface_rows()
    jobs = requests.get(f"{admin_url}/ess-jobs", timeout=10).json()
    assert [(job["request_id"], job["status"]) for job in jobs] == [(request_id, "ERROR")]
    settings = requests.post(
        f"{admin_url}/gl-settings", json={"polls_to_terminal": 1, "categories": ["Receipts"]}, timeout=10
    )
    assert settings.status_code == 200
    assert (settings.json()["polls_to_terminal"], settings.json()["categories"]) == (1, ["Receipts"])
    assert requests.post(f"{admin_url}/gl-settings", json={"colour": 1}, timeout=10).status_code == 422
    second = submit(hook, [payment(today, "pi_34")], today, group_id=34)
    assert hook.ess_job_status(second) == "SUCCEEDED"  # one poll now
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
