"""What runs in the connector's processes: the ``fusion_stripe`` streams, run like a task runs them.

A task (``SyncStreamOperator.execute``) validates the tenant's settings, builds the stream with
:func:`~ml_connector_provider.engine.context.build_stream` from a
:class:`~ml_connector_provider.engine.context.StreamContext`, runs it with
:class:`~ml_connector_provider.engine.core.SyncEngine` and closes it. :class:`Connector` does the
same with a temporary SQLite ledger and Airflow connections given as ``AIRFLOW_CONN_…`` variables.
The engine's options differ from the defaults in two ways only: ``lag`` and ``overlap`` are 0 (so
a run reads what changed since the previous one, and an idle run's window holds nothing), and the
first window starts just before the benchmark seeded its records (the stand-ins' own seed rows are
older and stay out of it). With the default 10-minute overlap an idle run re-reads the records of
the previous run from Fusion (and finds them unchanged); it still makes no Stripe call.

One function per phase (:func:`calls_phase`, :func:`throughput_phase`, :func:`rate_phase`,
:func:`memory_phase`) returns a JSON-ready dict; figures are measurements, never verdicts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import resource
import statistics
import time
import tracemalloc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _stripe_bench import http_calls
from _stripe_bench.standins import FIRST_SITE_USE_ID, StandIns, customer_row, invoice_row, now

INTEGRATION = "fusion_stripe"
TENANT = "bench"
CONN_IDS = {"fusion": "bench_fusion", "stripe": "bench_stripe"}

#: The tenant settings: the example tenant's general-ledger block (the stand-in's ledger and
#: accounts), every other setting at its default (``email_invoices`` on).
SETTINGS: dict[str, Any] = {
    "business_units": ["US1 Business Unit"],
    "gl": {
        "ledger_id": "300000046975971",
        "ledger_name": "US Primary Ledger",
        "data_access_set_id": "300000046975980",
        "journal_source": "Stripe",
        "cash_clearing_account": "101-000-11250-000-000",
        "ar_suspense_account": "101-000-12990-000-000",
        "fee_account": "101-000-65110-000-000",
        "subscription_revenue_account": "101-000-40100-000-000",
        "poll_interval": 0.05,
    },
}

# Minimum Stripe calls (benchmarks/stripe_minimum_calls.md derives them from the API contract).
MIN_NEW_CUSTOMER = 1  # POST /v1/customers
MIN_CHANGED_CUSTOMER = 1  # POST /v1/customers/{id}
MIN_IDLE_FUSION_READS = 1  # one page read of the stream's Fusion resource, zero Stripe calls
MIN_INVOICE_EMAILED = 4  # POST /v1/invoices, …/{id}/add_lines, …/{id}/finalize, …/{id}/send
MIN_INVOICE_NOT_EMAILED = 3
MAX_LINES_PER_ADD = 250  # add_lines takes at most 250 lines per call (one invoice holds ≤ 250)
MIN_PAYMENT_READS = 2  # GET /v1/invoices/{id}?expand[]=payments, GET /v1/payment_intents/{id}?expand[]=…
EVENTS_PER_PAGE = 100


def minimum_invoice_calls(lines: int, email: bool) -> int:
    """Stripe calls to create, fill, finalize and (``email``) send one invoice of ``lines`` lines."""
    adds = max(1, math.ceil(lines / MAX_LINES_PER_ADD))
    return (MIN_INVOICE_EMAILED if email else MIN_INVOICE_NOT_EMAILED) - 1 + adds


def minimum_payment_calls(payments: int) -> int:
    """Stripe reads for ``payments`` invoice payments: two reads each, and the event pages that
    list at least one event per payment."""
    return MIN_PAYMENT_READS * payments + math.ceil(payments / EVENTS_PER_PAGE)


def _rss_mib() -> float:
    """Resident set size now (Linux ``/proc``; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except OSError:
        return _peak_rss_mib()


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass
class StreamRun:
    """One run of one stream: the engine's summary (or the error that ended the run), its wall
    and CPU time, and the HTTP calls it made."""

    stream: str
    summary: dict[str, Any] | None
    error: str | None
    seconds: float
    cpu_seconds: float
    calls: http_calls.CallStats

    def report(self) -> dict[str, Any]:
        stripe = self.calls.as_dict("stripe")
        fusion = self.calls.as_dict("fusion")
        return {
            "stream": self.stream,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "summary": _counts(self.summary),
            "error": self.error,
            "stripe": stripe,
            "fusion": fusion,
        }


def _counts(summary: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    keys = ("read", "created", "updated", "skipped", "unchanged", "dead_lettered", "cursor_advanced")
    return {k: summary[k] for k in keys}


class Connector:
    """Runs the tenant's ``fusion_stripe`` streams against the stand-ins, like tasks do.

    :param workdir: where the SQLite ledger goes.
    :param start: where each stream's first window starts.
    :param settings: the tenant's integration settings (validated like a task does).
    """

    def __init__(self, workdir: Path, start: datetime, settings: Mapping[str, Any] = SETTINGS) -> None:
        from ml_connector_provider.integrations import get_integration
        from ml_connector_provider.ledger import Ledger

        workdir.mkdir(parents=True, exist_ok=True)
        self.spec = get_integration(INTEGRATION)
        self.settings: Any = self.spec.settings_model.model_validate(dict(settings))
        self.ledger = Ledger(f"sqlite:///{workdir / 'ledger.db'}")
        self.ledger.migrate()
        self.start = start
        self.runs = 0

    def build(self, stream: str, params: Mapping[str, Any] | None = None) -> Any:
        from ml_connector_provider.engine.context import StreamContext, build_stream

        return build_stream(
            StreamContext(
                tenant_id=TENANT,
                integration=self.spec,
                stream=stream,
                connections=CONN_IDS,
                settings=self.settings,
                ledger=self.ledger,
                params=dict(params or {}),
            )
        )

    def engine(self) -> Any:
        from ml_connector_provider.engine.core import SyncEngine, SyncOptions

        options = SyncOptions(overlap=timedelta(0), lag=timedelta(0), initial_start=self.start)
        return SyncEngine(self.ledger, options)

    def run(self, stream_name: str, built: Any = None) -> StreamRun:
        """Run one stream once (building it unless ``built`` is given), like one task try."""
        from ml_connector_provider.engine.core import RunRequest
        from ml_connector_provider.engine.types import RunRef, StreamKey

        self.runs += 1
        before = http_calls.snapshot()
        cpu, wall = time.process_time(), time.perf_counter()
        summary: dict[str, Any] | None = None
        error: str | None = None
        stream = built if built is not None else self.build(stream_name)
        try:
            run = RunRef(
                run_id=f"bench__{self.runs:03d}",
                dag_id=f"mlc__{TENANT}__{INTEGRATION}",
                task_id=stream_name,
            )
            key = StreamKey(TENANT, INTEGRATION, stream_name)
            summary = self.engine().run(key, stream, run, RunRequest()).as_dict()
        except Exception as exc:  # noqa: BLE001 - the failure is a figure (a task that failed)
            error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        finally:
            stream.close()
        seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
        return StreamRun(
            stream_name, summary, error, seconds, cpu_seconds, http_calls.snapshot().since(before)
        )

    def close(self) -> None:
        self.ledger.dispose()


def install_counter(standins: StandIns) -> None:
    http_calls.install({"fusion": standins.url("fusion"), "stripe": standins.url("stripe")})


def quiet_logs() -> None:
    """Keep the engine's per-run INFO lines (what a task logs) but not Airflow's own chatter."""
    logging.getLogger("airflow").setLevel(logging.WARNING)


def _ratio(measured: float, minimum: float) -> float | None:
    return round(measured / minimum, 2) if minimum else None


def _write_phase(run: StreamRun, records: int, minimum_per_record: float) -> dict[str, Any]:
    """A write phase's figures: Stripe calls per record against the minimum."""
    report = run.report()
    calls = report["stripe"]["calls"]
    minimum = minimum_per_record * records
    report.update(
        records=records,
        stripe_per_record=round(calls / records, 3) if records else None,
        minimum_per_record=minimum_per_record,
        minimum_calls=minimum,
        ratio=_ratio(calls, minimum),
    )
    return report


def _fusion_reads(run: StreamRun) -> int:
    """Fusion calls other than token requests."""
    return sum(n for route, n in run.calls.by_route("fusion").items() if "oauth2" not in route)


# -- phase 1: calls per record -------------------------------------------------------------------------


def calls_phase(
    standins: StandIns, workdir: Path, customers: int, invoices: int, lines: int
) -> dict[str, Any]:
    """New customers, the same customers all changed, an idle run, new invoices (e-mailed), and
    the payments of those invoices, each run counted by route."""
    install_counter(standins)
    standins.reset()
    start = now() - timedelta(seconds=1)
    rows = [customer_row(i) for i in range(customers)]
    seed_seconds = standins.seed_customers(rows)
    connector = Connector(workdir / "calls", start)
    phases: dict[str, Any] = {}
    try:
        phases["customers_new"] = _write_phase(connector.run("customers"), customers, MIN_NEW_CUSTOMER)

        standins.seed_customers(customer_row(i, version=1) for i in range(customers))
        phases["customers_changed"] = _write_phase(
            connector.run("customers"), customers, MIN_CHANGED_CUSTOMER
        )

        idle = connector.run("customers")
        report = idle.report()
        reads = _fusion_reads(idle)
        report.update(
            records=0,
            stripe_per_record=None,
            minimum_per_record=None,
            minimum_calls=0,
            fusion_reads=reads,
            minimum_fusion_reads=MIN_IDLE_FUSION_READS,
            ratio=_ratio(reads, MIN_IDLE_FUSION_READS),
        )
        phases["customers_idle"] = report

        invoices = min(invoices, customers)
        if invoices:
            today = now()
            standins.seed_invoices([invoice_row(j, rows[j], lines, today) for j in range(invoices)])
            email = bool(connector.settings.email_invoices)
            phases["invoices"] = _write_phase(
                connector.run("invoices"), invoices, minimum_invoice_calls(lines, email)
            )
            phases["invoices"].update(lines_per_invoice=lines, email_invoices=email)

            paid = standins.stripe_invoice_ids()
            for invoice_id in paid:
                standins.pay_invoice(invoice_id)
            payments = connector.run("payments")
            report = payments.report()
            calls = report["stripe"]["calls"]
            minimum = minimum_payment_calls(len(paid))
            report.update(
                records=len(paid),
                stripe_per_record=round(calls / len(paid), 3) if paid else None,
                minimum_per_record=round(minimum / len(paid), 3) if paid else None,
                minimum_calls=minimum,
                ratio=_ratio(calls, minimum),
            )
            phases["payments"] = report
    finally:
        connector.close()
    return {
        "customers": customers,
        "invoices": invoices,
        "lines": lines,
        "seed_s": round(seed_seconds, 3),
        "runs": phases,
    }


# -- phase 2: throughput against a bare script ---------------------------------------------------------


def _customer_payloads(standins: StandIns, count: int) -> list[dict[str, Any]]:
    """The Stripe payloads the connector sends for the benchmark's Fusion customers (its mapping)."""
    from ml_connector_provider.engine.types import Write
    from ml_connector_provider.integrations.fusion_stripe.mapping import map_customer

    ours = [
        row
        for row in standins.fusion_customers()
        if FIRST_SITE_USE_ID <= int(row["BillToSiteUseId"]) < FIRST_SITE_USE_ID + count
    ]
    ours.sort(key=lambda row: int(row["BillToSiteUseId"]))
    payloads = []
    for row in ours:
        mapped = map_customer(row, metadata_prefix="fusion_", business_units=SETTINGS["business_units"])
        assert isinstance(mapped, Write), mapped
        payloads.append(dict(mapped.payload))
    return payloads


def _create_body_bytes(log: Iterable[Mapping[str, Any]]) -> float | None:
    sizes = [len(e["body"].encode()) for e in log if e["method"] == "POST" and e["path"] == "/v1/customers"]
    return round(statistics.fmean(sizes), 1) if sizes else None


def _server_ms(log: Iterable[Mapping[str, Any]], method: str, route: str) -> float | None:
    durations = [
        float(e["duration_ms"])
        for e in log
        if e["method"] == method and http_calls.stripe_route(e["path"]) == route
    ]
    return round(statistics.fmean(durations), 3) if durations else None


@contextlib.contextmanager
def unpaced() -> Iterator[None]:
    """The connector's Stripe connection with client-side pacing off (extra ``rate_limit: 0``), for
    the phases that measure the connector's own cost against a stand-in without a rate limit."""
    name = f"AIRFLOW_CONN_{CONN_IDS['stripe'].upper()}"
    original = os.environ[name]
    connection = json.loads(original)
    connection["extra"] = {**connection.get("extra", {}), "rate_limit": "0"}
    os.environ[name] = json.dumps(connection)
    try:
        yield
    finally:
        os.environ[name] = original


def throughput_phase(standins: StandIns, workdir: Path, customers: int) -> dict[str, Any]:
    """Records/s of the customers stream creating ``customers`` customers, against a bare loop of
    ``client.v1.customers.create`` with the same payloads, each on an empty Stripe stand-in."""
    import stripe

    install_counter(standins)
    standins.reset()
    start = now() - timedelta(seconds=1)
    standins.seed_customers(customer_row(i) for i in range(customers))
    payloads = _customer_payloads(standins, customers)

    # The bare script: only the minimum calls, with the connection's key, base URL and retries.
    standins.reset("stripe")
    connection = standins.connection("stripe")
    logging.getLogger("stripe").setLevel(logging.WARNING)  # as the hook does: no per-call INFO lines
    client = stripe.StripeClient(
        connection["password"],
        base_addresses={"api": connection["extra"]["api_base"]},
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=80),
    )
    before = http_calls.snapshot()
    wall = time.perf_counter()
    for payload in payloads:
        client.v1.customers.create(params=payload)  # type: ignore[arg-type]
    bare_seconds = time.perf_counter() - wall
    bare_calls = http_calls.snapshot().since(before)
    bare_log = standins.request_log("stripe")

    standins.reset("stripe")
    connector = Connector(workdir / "throughput", start)
    try:
        with unpaced():  # the bare loop does not pace either; the rate phase measures pacing
            run = connector.run("customers")
    finally:
        connector.close()
    connector_log = standins.request_log("stripe")
    created = (run.summary or {}).get("created", 0)
    bare_rate = len(payloads) / bare_seconds if bare_seconds else None
    connector_rate = created / run.seconds if run.seconds else None
    return {
        "customers": customers,
        "bare": {
            "records": len(payloads),
            "seconds": round(bare_seconds, 3),
            "records_per_s": round(bare_rate, 1) if bare_rate else None,
            "stripe": bare_calls.as_dict("stripe"),
            "create_body_bytes": _create_body_bytes(bare_log),
            "server_ms": {"POST /v1/customers": _server_ms(bare_log, "POST", "/v1/customers")},
        },
        "connector": {
            **run.report(),
            "records": created,
            "records_per_s": round(connector_rate, 1) if connector_rate else None,
            "create_body_bytes": _create_body_bytes(connector_log),
            "server_ms": {
                "POST /v1/customers": _server_ms(connector_log, "POST", "/v1/customers"),
                "GET /v1/customers/search": _server_ms(connector_log, "GET", "/v1/customers/search"),
            },
        },
        "ratio": round(connector_rate / bare_rate, 3) if connector_rate and bare_rate else None,
    }


# -- phase 3: rate against the stand-in's limit ----------------------------------------------------------


def rate_phase(standins: StandIns, workdir: Path, customers: int, limit: int) -> dict[str, Any]:
    """The customers stream creating ``customers`` customers while the Stripe stand-in admits
    ``limit`` requests per second and answers the rest 429 without ``Stripe-Should-Retry``."""
    install_counter(standins)
    standins.reset()
    start = now() - timedelta(seconds=1)
    standins.seed_customers(customer_row(i) for i in range(customers))
    standins.stripe_settings(rate_limit=limit, rate_limit_should_retry=None)
    connector = Connector(workdir / "rate", start)
    try:
        run = connector.run("customers")
        letters = connector.ledger.list_dead_letters(tenant=TENANT, status=None)
    finally:
        connector.close()
    log = standins.request_log("stripe")
    sent_429 = [e for e in log if e["status"] == 429]
    admitted = sum(1 for e in log if e["status"] != 429)
    first_429 = None
    if log and sent_429:
        first_429 = (
            datetime.fromisoformat(sent_429[0]["at"]) - datetime.fromisoformat(log[0]["at"])
        ).total_seconds()
    summary = run.summary or {}
    achieved = admitted / run.seconds if run.seconds else 0.0
    return {
        **run.report(),
        "customers": customers,
        "rate_limit": limit,
        "stripe_admitted": admitted,
        "stripe_429_sent": len(sent_429),
        "stripe_429_seen_by_hook": run.calls.total("stripe", status=429),
        "first_429_after_s": round(first_429, 3) if first_429 is not None else None,
        "achieved_rps": round(achieved, 2),
        "achieved_pct_of_limit": round(100 * achieved / limit, 1),
        "task_failed": run.error is not None,
        "task_failed_on_429": run.error is not None and ("RateLimitError" in run.error or "429" in run.error),
        "stripe_customers_created": run.calls.count("stripe", "POST", "/v1/customers", status=200),
        "dead_lettered": summary.get("dead_lettered"),
        "dead_letters_on_429": sum(1 for d in letters if "rate limit" in (d.reason or "").lower()),
        "log_complete": len(log) < 10_000,
    }


# -- phase 4: memory ------------------------------------------------------------------------------------


def memory_phase(
    standins: StandIns, workdir: Path, customers: int, start: datetime, traced: bool
) -> dict[str, Any]:
    """One customers run over ``customers`` new Fusion customers (seeded by the caller), measured
    alone: peak RSS (``getrusage``) and, when ``traced``, the peak of Python allocations
    (``tracemalloc``, started just before the run; it slows the run and adds its own memory, so
    the RSS figures come from a run without it)."""
    install_counter(standins)
    connector = Connector(workdir / f"memory-{customers}-{'heap' if traced else 'rss'}", start)
    built = connector.build("customers")
    rss_before = _rss_mib()
    if traced:
        tracemalloc.start()
    try:
        with unpaced():  # the stand-in has no rate limit here; memory, not pacing, is measured
            run = connector.run("customers", built)
    finally:
        heap_peak = tracemalloc.get_traced_memory()[1] if traced else None
        if traced:
            tracemalloc.stop()
        connector.close()
    report = run.report()
    report.update(
        customers=customers,
        traced=traced,
        rss_before_mib=rss_before,
        rss_peak_mib=_peak_rss_mib(),
        heap_peak_mib=round(heap_peak / 2**20, 2) if heap_peak is not None else None,
    )
    return report
