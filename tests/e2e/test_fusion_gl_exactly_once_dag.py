"""Stripe money posted to the Fusion general ledger exactly once, whatever Journal Import does:
the ``fusion_stripe`` DAG (payments and subscriptions streams) run with ``dag.test()`` against the
pod-like Fusion stand-in (contract A5.7c) and the Stripe stand-in over HTTP.

After every step each payment, refund and billing cycle has exactly one batch in Fusion's
``journalBatches`` under its journal prefix (``Stripe <id> ``); the number of Journal Import
submissions (ESS load requests) is checked too, so "nothing imported again" is shown, not assumed.

The steps (contract A5.7c): the ``importBulkData`` answer lost; Import Journals still running after
the load succeeded, with the descendant look-ups as served and with each one off; an import held
in Fusion, then released; one bad journal among good ones, fixed in the tenant config; a worker
killed while it waits for the request tree. Every run is also cleared and run again. The module is
one story: tests share the stand-ins and the ledger and run in order.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import stripe
from ml_connector_sandbox import SandboxClient
from ml_connector_sandbox.runner import SandboxRunner

from ml_connector_provider.engine.types import StreamKey
from ml_connector_provider.integrations.fusion_stripe.journals import subscription_of
from ml_connector_provider.ledger import Ledger
from ml_connector_provider.ledger.schema import files
from ml_connector_provider.targets.fusion_gl import FILE_PREFIX
from tests.harness.airflow_dags import (
    kill_process_group,
    rewrite_config,
    run_dag,
    start_dag_process,
    stream_summary,
)

pytestmark = pytest.mark.airflow_db

DAG_ID = "mlc__acme__fusion_stripe"
CASH, AR, FEES, SUBS = (
    "101-000-11250-000-000",
    "101-000-12990-000-000",
    "101-000-65110-000-000",
    "101-000-40100-000-000",
)
#: An account whose natural segment does not exist in Fusion: Journal Import rejects it with EF04.
MISSING_ACCOUNT = "101-000-99999-000-000"


def tenant_config(*, fee_account: str = FEES) -> str:
    return f"""\
version: 1
defaults:
  retries: 0
  sync: {{overlap: 1, lag: 0, batch_size: 4, initial_lookback: 3600}}
tenants:
  - id: acme
    integrations:
      fusion_stripe:
        schedule: null
        connections: {{fusion: acme_fusion, stripe: acme_stripe}}
        streams: {{customers: false, invoices: false}}
        settings:
          business_units: ["US1 Business Unit"]
          gl:
            ledger_id: "300000046975971"
            ledger_name: US Primary Ledger
            data_access_set_id: "300000046975980"
            journal_source: Stripe
            cash_clearing_account: {CASH}
            ar_suspense_account: {AR}
            fee_account: {fee_account}
            subscription_revenue_account: {SUBS}
            poll_interval: 0.05
            import_timeout: 60
            hold_timeout: 1
"""


CONFIG = tenant_config()
STREAMS = ("payments", "subscriptions")
#: Extra scheduler ticks Import Journals: Child runs after the load succeeded (step 2).
DELAY = 3
_dates = iter(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n) for n in range(1000))


def new_date() -> datetime:
    """A logical date no run has used yet (a new DAG run)."""
    return next(_dates)


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(sandbox: SandboxRunner) -> stripe.StripeClient:
    key = sandbox.system("stripe").secret_key  # type: ignore[attr-defined]
    return stripe.StripeClient(key, base_addresses={"api": sandbox.url("stripe")}, max_network_retries=0)


@pytest.fixture(scope="module")
def customer(client: stripe.StripeClient) -> str:
    return str(client.v1.customers.create(params={"name": "Acme Corp", "email": "ap@acme.test"}).id)


@pytest.fixture(scope="module")
def subscription(client: stripe.StripeClient, customer: str) -> str:
    """A monthly subscription: its first cycle is paid at creation, later cycles by
    :func:`renew`."""
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 4900,
            "recurring": {"interval": "month"},
            "product_data": {"name": "Platform"},
        }
    )
    created = client.v1.subscriptions.create(
        params={
            "customer": customer,
            "items": [{"price": price.id}],
            "default_payment_method": "pm_card_visa",
        }
    )
    return str(created.id)


@pytest.fixture(autouse=True)
def stand_in_defaults(sandbox: SandboxRunner) -> Iterator[None]:
    """Each step leaves the pod's default behaviour and the tenant's good config behind."""
    yield
    fusion(sandbox).faults.clear()
    fusion(sandbox).journal_import.hold_next_import(None)
    fusion(sandbox).configure_gl(import_delay_polls=0, execution_details_finder=True, scheduler_rest=True)
    rewrite_config(CONFIG)


# -- helpers ----------------------------------------------------------------------------------------


def fusion(sandbox: SandboxRunner) -> Any:
    return sandbox.system("fusion")


def stripe_state(sandbox: SandboxRunner) -> Any:
    return sandbox.system("stripe")


def pay(client: stripe.StripeClient, customer: str, amount: int, invoice: str = "INV-10064") -> str:
    """A card payment of a Fusion invoice; its payment intent id (the journal's key)."""
    intent = client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "customer": customer,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"fusion_transaction_number": invoice},
        }
    )
    assert intent.status == "succeeded"
    return str(intent.id)


def refund(client: stripe.StripeClient, intent: str, amount: int) -> str:
    return str(client.v1.refunds.create(params={"payment_intent": intent, "amount": amount}).id)


def renew(sandbox: SandboxRunner, ledger: Ledger, subscription: str) -> list[str]:
    """Bill the subscription's next cycle; the paid invoices not posted yet (the journals' keys:
    the new cycle's, and the first cycle's when no earlier step posted it)."""
    stripe_state(sandbox).advance_subscription(subscription)
    paid = cycles(sandbox, subscription)
    linked = links(ledger, "subscriptions", paid)
    return [key for key in paid if key not in linked]


def cycles(sandbox: SandboxRunner, subscription: str) -> list[str]:
    """The subscription's paid invoices (one journal each), oldest first."""
    return [
        str(i["id"])
        for i in stripe_state(sandbox).invoices()
        if i["status"] == "paid" and subscription_of(i) == subscription
    ]


def batch_names(sandbox: SandboxRunner) -> list[str]:
    return [str(b["BatchName"]) for b in fusion(sandbox).journal_batches()]


def batches_per_journal(sandbox: SandboxRunner, keys: list[str]) -> dict[str, int]:
    """How many ``journalBatches`` rows carry each journal's prefix (``Stripe <key> ``)."""
    names = batch_names(sandbox)
    return {key: sum(1 for name in names if name.startswith(f"Stripe {key} ")) for key in keys}


def assert_exactly_once(sandbox: SandboxRunner, keys: list[str], *, missing: tuple[str, ...] = ()) -> None:
    """Each journal of ``keys`` has exactly one batch (those in ``missing``: none), every batch
    name has the shape Journal Import gives it, and no journal in Fusion has two batches."""
    assert batches_per_journal(sandbox, keys) == {key: 0 if key in missing else 1 for key in keys}
    names = batch_names(sandbox)
    for name in names:
        # <REFERENCE1 = "Stripe <key> G<group>;"> <source> A <GROUP_ID> <child request id> N
        shape = re.fullmatch(r"Stripe (\S+) G(\d+); Stripe A (\d+) (\d+) N", name)
        assert shape is not None, name
        assert shape.group(2) == shape.group(3), name
    twice = {k: n for k, n in Counter(name.split(" G")[0] for name in names).items() if n > 1}
    assert twice == {}


def loads(sandbox: SandboxRunner) -> int:
    """Journal Import submissions Fusion received (its ESS load requests)."""
    return sum(1 for job in fusion(sandbox).ess_jobs() if job["kind"] == "load")


def ess_admin(sandbox: SandboxRunner, path: str, body: dict[str, Any] | None = None) -> Any:
    response = requests.post(f"{sandbox.url('fusion')}/__sandbox__/fusion/ess/{path}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def outcomes(ledger: Ledger, run_id: str, stream: str) -> dict[str, str]:
    """What the run did to each record it read (its newest audit row), by source id."""
    newest: dict[str, str] = {}
    for row in ledger.query_audit(tenant="acme", stream=stream, run_id=run_id, limit=10_000):
        newest.setdefault(row.source_id, str(row.action))  # newest first
    return newest


def posted(ledger: Ledger, run_id: str, stream: str) -> dict[str, str]:
    """The records the run created or dead-lettered (everything else was linked or unchanged)."""
    return {
        key: action
        for key, action in outcomes(ledger, run_id, stream).items()
        if action in ("created", "updated", "dead_lettered")
    }


def attempts(ledger: Ledger) -> list[Any]:
    """The ledger's record of every journal import attempt, oldest first."""
    with ledger.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(files).where(files.c.path.startswith(FILE_PREFIX + "/")).order_by(files.c.id)
            )
        )


class TaskLogs:
    """Runs the DAG and reads its task logs, as an operator would: what the task runner prints
    (exceptions, hook logs) and what the provider's own loggers record."""

    def __init__(self, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
        self.capfd = capfd
        self.caplog = caplog

    def run(self, logical_date: datetime, wanted: str, *, expect: str = "success") -> tuple[str, str]:
        """Run the DAG; its run id and its task logs, which must contain ``wanted`` (printed task
        log lines may reach the output a moment after the task ended)."""
        self.capfd.readouterr()
        self.caplog.clear()
        run_id = run_dag(DAG_ID, expect=expect, logical_date=logical_date)
        printed = ""
        deadline = time.monotonic() + 5
        while True:
            captured = self.capfd.readouterr()
            printed += captured.out + captured.err
            text = printed + self.caplog.text
            if wanted in text or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert wanted in text, text[-5000:]
        return run_id, text

    def failing(self, logical_date: datetime, wanted: str) -> str:
        """Run the DAG expecting a failed task whose log contains ``wanted``; the task logs."""
        return self.run(logical_date, wanted, expect="failed")[1]


@pytest.fixture
def task_logs(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> TaskLogs:
    return TaskLogs(capfd, caplog)


def run_ok(logical_date: datetime) -> str:
    return run_dag(DAG_ID, logical_date=logical_date)


def rerun(ledger: Ledger, logical_date: datetime) -> None:
    """Clear the run's tasks and run them again (a task cleared in the UI); it posts nothing."""
    run_id = run_ok(logical_date)
    for stream in STREAMS:
        summary = stream_summary(ledger, "acme", run_id, stream)
        assert (summary["created"], summary["updated"], summary["dead_lettered"]) == (0, 0, 0), stream


def links(ledger: Ledger, stream: str, keys: list[str]) -> dict[str, str]:
    found = ledger.get_links(StreamKey("acme", "fusion_stripe", stream), keys)
    return {key: str(link.target_id) for key, link in found.items()}


def batch_ids(sandbox: SandboxRunner, keys: list[str]) -> dict[str, str]:
    """``JeBatchId`` of each journal's one batch."""
    out = {}
    for batch in fusion(sandbox).journal_batches():
        for key in keys:
            if str(batch["BatchName"]).startswith(f"Stripe {key} "):
                out[key] = str(batch["JeBatchId"])
    return out


def assert_linked_to_their_batches(
    sandbox: SandboxRunner,
    ledger: Ledger,
    payments: Sequence[str],
    billing_cycles: Sequence[str] = (),
) -> None:
    """The ledger links each journal to its one batch's ``JeBatchId``."""
    ids = batch_ids(sandbox, [*payments, *billing_cycles])
    assert links(ledger, "payments", list(payments)) == {k: ids[k] for k in payments}
    assert links(ledger, "subscriptions", list(billing_cycles)) == {k: ids[k] for k in billing_cycles}


# -- 1. the importBulkData answer lost ----------------------------------------------------------------


def test_a_lost_import_answer_fails_the_task_and_later_runs_link_the_stored_import(
    sandbox: SandboxRunner,
    ledger: Ledger,
    client: stripe.StripeClient,
    customer: str,
    subscription: str,
    task_logs: TaskLogs,
) -> None:
    keys = [pay(client, customer, 12000), pay(client, customer, 3450)]
    keys.append(refund(client, keys[0], 2000))
    [first_cycle] = cycles(sandbox, subscription)
    before = loads(sandbox)
    with SandboxClient(sandbox.url("fusion")) as admin:
        admin.add_fault(kind="drop", path="/erpintegrations$", method="POST", process=True)

    failed = new_date()
    task_logs.failing(failed, "not retried because POST is not idempotent")
    assert loads(sandbox) == before + 1  # the POST reached Fusion; its answer did not come back
    [lost] = ledger.files_in_progress("acme", "fusion_stripe")
    assert lost.state is not None
    assert lost.state["load_request_id"] is None
    assert sorted(j["record"] for j in lost.state["journals"]) == sorted(keys)
    assert batches_per_journal(sandbox, keys) == dict.fromkeys(keys, 0)

    ess_admin(sandbox, "run")  # Fusion goes on with the import it stored
    assert_exactly_once(sandbox, keys)

    # The next run links the stored import's batches and imports only the new billing cycle.
    following = new_date()
    run_id = run_ok(following)
    assert posted(ledger, run_id, "payments") == {}
    assert {k: outcomes(ledger, run_id, "payments")[k] for k in keys} == dict.fromkeys(keys, "skipped")
    assert posted(ledger, run_id, "subscriptions") == {first_cycle: "created"}
    assert loads(sandbox) == before + 2
    assert_exactly_once(sandbox, [*keys, first_cycle])
    assert_linked_to_their_batches(sandbox, ledger, keys, [first_cycle])
    settled = ledger.file_by_checksum("acme", "fusion_stripe", lost.checksum)
    assert settled is not None
    assert settled.outcome == "processed"
    assert (settled.detail or "").startswith("submission unconfirmed; its batches are in Fusion")
    assert ledger.files_in_progress("acme", "fusion_stripe") == []

    # 5. The failed run's tasks, then the next run's, cleared and run again: nothing imported.
    for again in (failed, following):
        rerun(ledger, again)
        assert loads(sandbox) == before + 2
        assert_exactly_once(sandbox, [*keys, first_cycle])


# -- 2. Import Journals still running after the load succeeded ---------------------------------------


def assert_import_journals_ran_late(sandbox: SandboxRunner, since: int, delay: int) -> None:
    """Each import since the ``since``-th load ran Import Journals as separate, later requests, the
    child running ``delay`` ticks longer than the load."""
    jobs = fusion(sandbox).ess_jobs()
    roots = [job for job in jobs if job["kind"] == "load"][since:]
    assert roots
    for root in roots:
        tree = [job for job in jobs if job["abs_parent_id"] == root["request_id"]]
        assert [job["kind"] for job in tree] == ["load", "launcher", "child"]
        assert [job["status"] for job in tree] == ["SUCCEEDED"] * 3
        child = tree[-1]
        assert child["extra_polls"] == delay
        assert int(child["request_id"]) > int(root["request_id"])


def submitted_since(sandbox: SandboxRunner, ledger: Ledger, mark: tuple[int, int]) -> list[list[str]]:
    """The journals of each import since ``mark`` (:func:`import_mark`), from the ledger's
    attempts, after checking that Fusion received exactly those imports and that each ended
    ``processed`` (every journal in it imported)."""
    loads_before, attempts_before = mark
    rows = attempts(ledger)[attempts_before:]
    assert loads(sandbox) - loads_before == len(rows)
    assert [row.outcome for row in rows] == ["processed"] * len(rows)
    return [sorted(journal["record"] for journal in row.state["journals"]) for row in rows]


def import_mark(sandbox: SandboxRunner, ledger: Ledger) -> tuple[int, int]:
    return loads(sandbox), len(attempts(ledger))


def test_import_journals_running_after_the_load_succeeded_posts_one_batch_per_journal(
    sandbox: SandboxRunner, ledger: Ledger, client: stripe.StripeClient, customer: str, subscription: str
) -> None:
    fusion(sandbox).configure_gl(import_delay_polls=DELAY)
    payments = [pay(client, customer, 5000), pay(client, customer, 7725)]
    payments.append(refund(client, payments[1], 725))
    new_cycles = renew(sandbox, ledger, subscription)
    mark = import_mark(sandbox, ledger)

    when = new_date()
    run_id = run_ok(when)
    assert posted(ledger, run_id, "payments") == dict.fromkeys(payments, "created")
    assert posted(ledger, run_id, "subscriptions") == dict.fromkeys(new_cycles, "created")
    imports = submitted_since(sandbox, ledger, mark)
    assert sorted(key for group in imports for key in group) == sorted([*payments, *new_cycles])
    assert_import_journals_ran_late(sandbox, mark[0], DELAY)
    assert_exactly_once(sandbox, [*payments, *new_cycles])
    assert_linked_to_their_batches(sandbox, ledger, payments, new_cycles)

    # 5. Cleared and run again.
    rerun(ledger, when)
    assert submitted_since(sandbox, ledger, mark) == imports
    assert_exactly_once(sandbox, [*payments, *new_cycles])


@pytest.mark.parametrize(
    ("execution_details_finder", "scheduler_rest"),
    [(False, True), (True, False), (False, False)],
    ids=["no-execution-details", "no-scheduler-rest", "no-descendant-look-up"],
)
def test_without_a_descendant_look_up_a_late_import_still_posts_once(
    execution_details_finder: bool,
    scheduler_rest: bool,
    sandbox: SandboxRunner,
    ledger: Ledger,
    client: stripe.StripeClient,
    customer: str,
    subscription: str,
) -> None:
    # Fewer extra ticks than step 2: without a look-up every poll is a single scheduler tick
    # and polls back off exponentially, so each extra tick doubles the wait.
    fusion(sandbox).configure_gl(
        import_delay_polls=DELAY - 2,
        execution_details_finder=execution_details_finder,
        scheduler_rest=scheduler_rest,
    )
    payment = pay(client, customer, 2100)
    new_cycles = renew(sandbox, ledger, subscription)
    mark = import_mark(sandbox, ledger)

    when = new_date()
    run_id = run_ok(when)
    assert posted(ledger, run_id, "payments") == {payment: "created"}
    assert posted(ledger, run_id, "subscriptions") == dict.fromkeys(new_cycles, "created")
    imports = submitted_since(sandbox, ledger, mark)
    assert sorted(key for group in imports for key in group) == sorted([payment, *new_cycles])
    assert_import_journals_ran_late(sandbox, mark[0], DELAY - 2)
    assert_exactly_once(sandbox, [payment, *new_cycles])
    assert_linked_to_their_batches(sandbox, ledger, [payment], new_cycles)

    rerun(ledger, when)  # 5. cleared and run again
    assert submitted_since(sandbox, ledger, mark) == imports
    assert_exactly_once(sandbox, [payment, *new_cycles])


# -- 3. HOLD, then release ------------------------------------------------------------------------------


def test_a_held_import_fails_the_runs_naming_it_and_posts_once_released(
    sandbox: SandboxRunner,
    ledger: Ledger,
    client: stripe.StripeClient,
    customer: str,
    task_logs: TaskLogs,
) -> None:
    ess_admin(sandbox, "hold-next", {"state": "HOLD"})
    payment = pay(client, customer, 8800)
    before = loads(sandbox)

    first = new_date()
    log = task_logs.failing(first, "FusionEssHeld")
    [held] = [job for job in fusion(sandbox).ess_jobs() if job["status"] == "HOLD"]
    assert held["name"] == "Import Journals"
    assert f"Oracle Fusion ESS request {held['request_id']} has been HOLD" in log
    assert loads(sandbox) == before + 1
    [attempt] = ledger.files_in_progress("acme", "fusion_stripe")
    assert attempt.state is not None
    assert held["request_id"] in attempt.state["requests"]
    assert batches_per_journal(sandbox, [payment]) == {payment: 0}

    # Still held: the next run waits again, submits nothing and fails naming the same request.
    second = new_date()
    task_logs.failing(second, f"Oracle Fusion ESS request {held['request_id']} has been HOLD")
    assert loads(sandbox) == before + 1
    assert batches_per_journal(sandbox, [payment]) == {payment: 0}

    ess_admin(sandbox, f"requests/{held['request_id']}/release")
    run_id = run_ok(new_date())
    assert posted(ledger, run_id, "payments") == {}
    assert outcomes(ledger, run_id, "payments")[payment] == "skipped"  # linked to the released import's batch
    assert loads(sandbox) == before + 1
    assert_exactly_once(sandbox, [payment])
    assert_linked_to_their_batches(sandbox, ledger, [payment])
    done = ledger.file_by_checksum("acme", "fusion_stripe", attempt.checksum)
    assert done is not None
    assert done.outcome == "processed"
    assert (done.detail or "").startswith("settled by a later run")

    for again in (first, second):  # 5. the failed runs cleared and run again
        rerun(ledger, again)
        assert loads(sandbox) == before + 1
        assert_exactly_once(sandbox, [payment])


# -- 4. one bad journal among good ones -------------------------------------------------------------------


def test_a_bad_journal_is_dead_lettered_with_fusions_reason_and_posts_once_fixed(
    sandbox: SandboxRunner, ledger: Ledger, client: stripe.StripeClient, customer: str, subscription: str
) -> None:
    paid = [pay(client, customer, 4000), pay(client, customer, 6000)]
    time.sleep(2)  # beyond the window overlap: the next run's window starts after these payments
    run_id = run_ok(new_date())
    assert posted(ledger, run_id, "payments") == dict.fromkeys(paid, "created")
    assert_exactly_once(sandbox, paid)

    rewrite_config(tenant_config(fee_account=MISSING_ACCOUNT))
    bad = pay(client, customer, 9900)  # has a fee line: on the missing account
    good = [refund(client, paid[0], 1000), refund(client, paid[1], 1500)]  # no fee line
    [bad_cycle] = renew(sandbox, ledger, subscription)  # earlier cycles were posted by the run above
    before = loads(sandbox)

    when = new_date()
    run_id = run_ok(when)
    assert posted(ledger, run_id, "payments") == {**dict.fromkeys(good, "created"), bad: "dead_lettered"}
    assert posted(ledger, run_id, "subscriptions") == {bad_cycle: "dead_lettered"}
    assert_exactly_once(sandbox, [*paid, *good, bad, bad_cycle], missing=(bad, bad_cycle))
    assert_linked_to_their_batches(sandbox, ledger, good)
    # The bad journal and the good ones went in one group, which Fusion rejected whole; the good
    # ones went again under a fresh group.
    tried = [row for row in attempts(ledger) if row.path.startswith(f"{FILE_PREFIX}/payments/")][-2:]
    assert [sorted(j["record"] for j in row.state["journals"]) for row in tried] == [
        sorted([bad, *good]),
        sorted(good),
    ]
    assert [row.outcome for row in tried] == ["failed", "processed"]
    assert loads(sandbox) == before + 3

    letters = {letter.source_id: letter for letter in ledger.list_dead_letters(tenant="acme")}
    assert set(letters) == {bad, bad_cycle}
    for key, letter in letters.items():
        reason = letter.reason or ""
        assert f"Fusion Journal Import rejected journal Stripe {key} G" in reason
        assert "EF04" in reason
        assert "FLEX-VALUE DOES NOT EXIST" in reason
        assert "(VALUE=99999)" in reason

    # The account is fixed in the tenant config; the dead letters are retried at once.
    rewrite_config(CONFIG)
    assert ledger.retry_dead_letters_now(tenant="acme") == 2
    fixed = new_date()
    run_id = run_ok(fixed)
    assert posted(ledger, run_id, "payments") == {bad: "created"}
    assert posted(ledger, run_id, "subscriptions") == {bad_cycle: "created"}
    assert ledger.list_dead_letters(tenant="acme") == []
    assert loads(sandbox) == before + 5
    assert_exactly_once(sandbox, [*paid, *good, bad, bad_cycle])
    assert_linked_to_their_batches(sandbox, ledger, [*paid, *good, bad], [bad_cycle])
    fees = [
        line["AccountCombination"]
        for batch in fusion(sandbox).journal_batches()
        if str(batch["BatchName"]).startswith(f"Stripe {bad} ")
        for header in batch["journalHeaders"]
        for line in header["journalLines"]
    ]
    assert FEES in fees
    assert MISSING_ACCOUNT not in fees

    for again in (when, fixed):  # 5. cleared and run again
        rerun(ledger, again)
        assert loads(sandbox) == before + 5
        assert_exactly_once(sandbox, [*paid, *good, bad, bad_cycle])


# -- 6. the task killed while it waits for the request tree -------------------------------------------


def test_a_task_killed_mid_wait_is_retried_and_settles_its_attempt(
    sandbox: SandboxRunner,
    ledger: Ledger,
    client: stripe.StripeClient,
    customer: str,
    task_logs: TaskLogs,
    tmp_path: Path,
) -> None:
    delay = 200
    fusion(sandbox).configure_gl(import_delay_polls=delay)
    payment = pay(client, customer, 31400)
    before = loads(sandbox)

    when = new_date()
    worker = start_dag_process(DAG_ID, when, tmp_path / "worker.log")
    try:
        load_id, child = wait_for_child_running(sandbox, ledger, worker, tmp_path / "worker.log")
    finally:
        kill_process_group(worker)
    assert loads(sandbox) == before + 1
    assert batches_per_journal(sandbox, [payment]) == {payment: 0}
    [attempt] = ledger.files_in_progress("acme", "fusion_stripe")
    assert attempt.state is not None
    assert attempt.state["load_request_id"] == load_id
    assert child["request_id"] in attempt.state["requests"]

    # Fusion goes on meanwhile: the child is a few ticks from its end when the retry comes
    # (turning the slow-import fault off only affects later imports).
    fusion(sandbox).configure_gl(import_delay_polls=0)
    ess_admin(sandbox, "run", {"ticks": child["polls_to_terminal"] + delay - child["polls"] - 4})
    [still] = [job for job in fusion(sandbox).ess_jobs() if job["request_id"] == child["request_id"]]
    assert still["status"] == "RUNNING"

    # The retry is the same task instance: it takes the killed try's lease back at once (no wait
    # for lease_ttl), and the killed try could write nothing more even if it were still alive.
    run_id, text = task_logs.run(when, f"ESS request {load_id}) left by an earlier attempt")
    assert "took over the lease of its earlier try" in text
    # The retry waited for the killed attempt's request tree to end (only its polls move it).
    [ended] = [job for job in fusion(sandbox).ess_jobs() if job["request_id"] == child["request_id"]]
    assert ended["status"] == "SUCCEEDED"
    assert posted(ledger, run_id, "payments") == {}
    assert outcomes(ledger, run_id, "payments")[payment] == "skipped"  # linked to the killed attempt's batch
    assert loads(sandbox) == before + 1
    assert_exactly_once(sandbox, [payment])
    assert_linked_to_their_batches(sandbox, ledger, [payment])
    assert ledger.files_in_progress("acme", "fusion_stripe") == []
    done = ledger.file_by_checksum("acme", "fusion_stripe", attempt.checksum)
    assert done is not None
    assert done.outcome == "processed"
    assert (done.detail or "").startswith("settled by a later run")

    rerun(ledger, when)  # 5. cleared and run again
    assert loads(sandbox) == before + 1
    assert_exactly_once(sandbox, [payment])


def wait_for_child_running(
    sandbox: SandboxRunner, ledger: Ledger, worker: subprocess.Popen[bytes], log: Path
) -> tuple[str, dict[str, Any]]:
    """Wait until the worker has recorded its attempt's load request and Import Journals: Child is
    running in Fusion (the writer is then waiting for the request tree)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert worker.poll() is None, log.read_text()[-3000:]
        for row in ledger.files_in_progress("acme", "fusion_stripe"):
            load_id = (row.state or {}).get("load_request_id")
            children = [
                job
                for job in fusion(sandbox).ess_jobs()
                if job["kind"] == "child" and job["abs_parent_id"] == load_id and job["status"] == "RUNNING"
            ]
            if load_id and children and children[0]["request_id"] in (row.state or {}).get("requests", {}):
                return str(load_id), children[0]
        time.sleep(0.05)
    raise AssertionError("the worker never waited for Import Journals: Child\n" + log.read_text()[-3000:])
