"""Benchmark: the ``stripe_netsuite`` invoices stream on the Stripe and NetSuite stand-ins.

Both stand-ins run in this process (``SandboxRunner``); the stream runs as a task runs it (the
real hooks from ``AIRFLOW_CONN_…`` connections, ``SyncEngine``, a temporary SQLite ledger). Every
HTTP request a stand-in served is counted from its request log (the admin API is not logged).
Phases:

1. ``calls`` — calls per posted charge against the minimum. ``N`` one-time charges of one customer
   and one mapped product are posted by one run of the invoices stream (net mode). The minimum
   per charge, from the contracts:

   * NetSuite: **2** — one ``PUT /invoice/eid:stripe-<ch_…>`` (the upsert that makes a repeat
     harmless, contract B4/B7) and one ``PUT /customerPayment/eid:stripe-pay-<ch_…>`` applied to
     it (the payment stream, on by default). The token (B2, one per 60 minutes) and the customer's
     upsert (once per customer) are per run, not per charge; SuiteQL look-ups are not needed when
     the product is mapped in ``settings.items``.
   * Stripe: **3** — the payment intent re-fetched with its charge and balance transaction
     expanded in the same call (events are unordered and repeated, so the object is read again;
     the fee is on the balance transaction); one ``GET /v1/invoice_payments?payment=…`` (since the
     2025 API a payment intent no longer names its invoice, and only a charge outside any invoice
     posts as a one-time sale); one ``POST`` writing the NetSuite id into its metadata. The event
     list pages (100 events a page) are per run.

   The table shows the measured calls per charge, by route, and the per-run calls separately.
2. ``throughput`` — ``W`` tasks (threads of one process, as Airflow's workers share the
   process-wide limiter of ``NetSuiteHook``, keyed by account) each post ``N/W`` charges of a
   tenant of their own against one NetSuite account whose concurrency limit is 5 (contract B9)
   and whose every REST request takes ``--latency`` seconds (real NetSuite answers in hundreds of
   milliseconds; without a latency the stand-in answers in about a millisecond and the limit
   is never the bottleneck). Reported: charges/s, the stand-in's ``slot_seconds`` and
   ``elapsed``, utilisation = slot_seconds / (limit × elapsed) against the 90 % target, the
   concurrency refusals the stand-in sent, and whether any reached a task (a failed run or a
   dead letter).

Usage::

    .venv/bin/python benchmarks/stripe_netsuite.py [--charges 40] [--throughput-charges 120]
        [--workers 8] [--latency 0.05] [--json] [--smoke] [--results-dir DIR]

Prints one table (or JSON) and writes ``stripe_netsuite.json`` in the results directory.
``--smoke`` runs both phases tiny. Figures are measurements of this machine, never pass/fail
criteria.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULT_FILE = "stripe_netsuite.json"
LIMIT = 5
TARGET_UTILISATION = 0.90
MINIMUM = {"netsuite": 2, "stripe": 3}
SMOKE = {"charges": 3, "throughput_charges": 6, "workers": 3}
CONN_IDS = {"stripe": "bench_stripe", "netsuite": "bench_netsuite"}
_ID = re.compile(r"/(?:eid:[^/]+|[a-z]{2,4}_[A-Za-z0-9]+|\d+)(?=/|$)")


def _route(method: str, path: str) -> str:
    return f"{method} {_ID.sub('/{id}', path)}"


def _calls(system: Any, since: int) -> Counter[str]:
    return Counter(_route(e.method, e.path) for e in system.requests.entries(since=since))


def _last_seq(system: Any) -> int:
    entries = system.requests.entries()
    return entries[-1].seq if entries else 0


class _Bench:
    """The stand-ins, the Stripe client that seeds them, and runs of the invoices stream."""

    def __init__(self, tmp: Path) -> None:
        import stripe
        from ml_connector_sandbox import SandboxRunner

        self.tmp = tmp
        self.runner = SandboxRunner(["stripe", "netsuite"]).start()
        for variable, value in self.runner.airflow_env(CONN_IDS).items():
            os.environ[variable] = value
        stripe_conn = self.runner.system("stripe").connection(self.runner.url("stripe"))  # type: ignore[attr-defined]
        stripe_conn.setdefault("extra", {}).update(rate_limit=1000, search_rate_limit=1000)
        os.environ[f"AIRFLOW_CONN_{CONN_IDS['stripe'].upper()}"] = json.dumps(stripe_conn)
        self.stripe_sb: Any = self.runner.system("stripe")
        self.netsuite: Any = self.runner.system("netsuite")
        self.client = stripe.StripeClient(
            self.stripe_sb.secret_key,
            base_addresses={"api": self.runner.url("stripe")},
            max_network_retries=0,
        )

    def close(self) -> None:
        self.runner.stop()

    def reset(self) -> None:
        from ml_connector_provider.hooks.netsuite import clear_token_cache

        self.runner.reset_all()
        clear_token_cache()

    def seed(self, charges: int) -> dict[str, str]:
        """``charges`` one-time charges of one customer and one product; returns the settings' items."""
        customer = self.client.v1.customers.create(params={"name": "Bench Corp"}).id
        product = self.client.v1.products.create(params={"name": "Bench plan"}).id
        for n in range(charges):
            self.client.v1.payment_intents.create(
                params={
                    "amount": 1_000 + n,
                    "currency": "usd",
                    "customer": customer,
                    "payment_method": "pm_card_visa",
                    "confirm": True,
                    "metadata": {"product": product},
                }
            )
        return {product: "202"}

    def run(self, tenant: str, items: dict[str, str], ledger_file: Path) -> dict[str, Any]:
        """One run of the invoices stream for ``tenant``; the summary, or the error that ended it."""
        from ml_connector_provider.engine.core import SyncEngine, SyncOptions
        from ml_connector_provider.engine.types import RunRef, StreamKey
        from ml_connector_provider.hooks.netsuite import NetSuiteHook
        from ml_connector_provider.hooks.stripe import StripeHook
        from ml_connector_provider.integrations.stripe_netsuite.settings import StripeNetSuiteSettings
        from ml_connector_provider.integrations.stripe_netsuite.streams import StripeSalesToNetSuiteInvoices
        from ml_connector_provider.ledger import Ledger

        ledger = Ledger(f"sqlite:///{ledger_file}")
        ledger.migrate()
        key = StreamKey(tenant, "stripe_netsuite", "invoices")
        settings = StripeNetSuiteSettings.model_validate(
            {"subsidiary_id": "1", "currencies": {"USD": "1"}, "create_customers": True, "items": items}
        )
        stream = StripeSalesToNetSuiteInvoices(
            StripeHook(CONN_IDS["stripe"]), NetSuiteHook(CONN_IDS["netsuite"]), settings, ledger, key
        )
        options = SyncOptions(
            lag=timedelta(0), overlap=timedelta(minutes=10), initial_lookback=timedelta(hours=1)
        )
        started = time.perf_counter()
        try:
            summary = SyncEngine(ledger, options).run(key, stream, RunRef(f"bench-{tenant}"))
            return {"summary": summary.as_dict(), "error": None, "seconds": time.perf_counter() - started}
        except Exception as error:  # noqa: BLE001 - a measurement: the error is reported, not raised
            return {
                "summary": None,
                "error": f"{type(error).__name__}: {error}",
                "seconds": time.perf_counter() - started,
            }
        finally:
            stream.close()
            ledger.dispose()


def phase_calls(bench: _Bench, charges: int) -> dict[str, Any]:
    bench.reset()
    items = bench.seed(charges)
    marks = {"stripe": _last_seq(bench.stripe_sb), "netsuite": _last_seq(bench.netsuite)}
    outcome = bench.run("calls", items, bench.tmp / "calls.db")
    posted = (outcome["summary"] or {}).get("created", 0)
    out: dict[str, Any] = {
        "charges": charges,
        "posted": posted,
        "error": outcome["error"],
        "seconds": outcome["seconds"],
    }
    for name, system in (("stripe", bench.stripe_sb), ("netsuite", bench.netsuite)):
        routes = _calls(system, marks[name])
        total = sum(routes.values())
        per_run = sum(n for n in routes.values() if n < max(posted, 1))
        out[name] = {
            "calls": total,
            "by_route": dict(routes.most_common()),
            "per_charge": round(total / posted, 3) if posted else None,
            "per_charge_routes": round((total - per_run) / posted, 3) if posted else None,
            "per_run_calls": per_run,
            "minimum_per_charge": MINIMUM[name],
        }
    return out


def phase_throughput(bench: _Bench, charges: int, workers: int, latency: float) -> dict[str, Any]:
    bench.reset()
    bench.netsuite.settings.concurrency_limit = LIMIT
    bench.netsuite.settings.request_latency = latency
    items = bench.seed(charges)
    bench.netsuite.gate.reset()
    outcomes: dict[int, dict[str, Any]] = {}

    def task(n: int) -> None:
        outcomes[n] = bench.run(f"t{n}", items, bench.tmp / f"throughput-{n}.db")

    # Each task is a tenant of its own with its own ledger: each posts every charge of the window,
    # so the account sees workers × charges invoice upserts (by externalId, onto the same records).
    started = time.perf_counter()
    threads = [threading.Thread(target=task, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    gate = bench.netsuite.gate.snapshot()
    bench.netsuite.settings.request_latency = 0.0
    refused_statuses = Counter(e.status for e in bench.netsuite.requests.entries() if e.status in (400, 429))
    failed = [o["error"] for o in outcomes.values() if o["error"]]
    dead = sum((o["summary"] or {}).get("dead_lettered", 0) for o in outcomes.values())
    written = sum(
        (o["summary"] or {}).get("created", 0) + (o["summary"] or {}).get("updated", 0)
        for o in outcomes.values()
    )
    utilisation = gate["slot_seconds"] / (LIMIT * gate["elapsed"]) if gate["elapsed"] else None
    return {
        "workers": workers,
        "charges": charges,
        "latency_s": latency,
        "limit": LIMIT,
        "seconds": round(seconds, 3),
        "writes": written,
        "charges_per_s": round(written / seconds, 2) if seconds else None,
        "slot_seconds": gate["slot_seconds"],
        "elapsed": gate["elapsed"],
        "peak": gate["peak"],
        "admitted": gate["admitted"],
        "refused": gate["refused"],
        "refused_statuses": dict(refused_statuses),
        "utilisation": round(utilisation, 4) if utilisation is not None else None,
        "target_utilisation": TARGET_UTILISATION,
        "tasks_failed": len(failed),
        "task_errors": failed[:3],
        "dead_lettered": dead,
    }


def table(document: dict[str, Any]) -> str:
    calls = document["calls"]
    rows = ["| figure | measured | minimum / target | details |", "|---|---|---|---|"]
    for name in ("netsuite", "stripe"):
        part = calls[name]
        top = ", ".join(f"{route} ×{n}" for route, n in list(part["by_route"].items())[:6])
        rows.append(
            f"| {name} calls per posted charge ({calls['posted']} posted) | {part['per_charge']} "
            f"(per-charge routes {part['per_charge_routes']}, per run {part['per_run_calls']}) | "
            f"{part['minimum_per_charge']} | {top} |"
        )
    t = document["throughput"]
    rows.append(
        f"| utilisation of the limit ({t['limit']}, {t['workers']} tasks, latency {t['latency_s']} s) | "
        f"{t['utilisation']} | ≥ {t['target_utilisation']} | slot_seconds {t['slot_seconds']}, elapsed "
        f"{t['elapsed']}, peak {t['peak']}, refused {t['refused']} {t['refused_statuses']} |"
    )
    rows.append(
        f"| writes/s under the limit | {t['charges_per_s']} | — | {t['writes']} invoice upserts in {t['seconds']} s |"
    )
    rows.append(
        f"| concurrency errors reaching a task | {t['tasks_failed']} failed, {t['dead_lettered']} dead letters | 0 | "
        f"{t['task_errors']} |"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the stripe_netsuite invoices stream.")
    parser.add_argument("--charges", type=int, default=40)
    parser.add_argument("--throughput-charges", type=int, default=30)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--results-dir", type=Path)
    args = parser.parse_args(argv)
    if args.smoke:
        args.charges, args.throughput_charges, args.workers = (
            SMOKE["charges"],
            SMOKE["throughput_charges"],
            SMOKE["workers"],
        )
    results_dir = args.results_dir or (
        Path(tempfile.mkdtemp(prefix="mlc-bench-")) if args.smoke else RESULTS_DIR
    )
    results_dir.mkdir(parents=True, exist_ok=True)
    logging.disable(logging.WARNING)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlc-bench-ns-") as tmp:
        os.environ.setdefault("AIRFLOW_HOME", tmp)
        bench = _Bench(Path(tmp))
        try:
            calls = phase_calls(bench, args.charges)
            throughput = phase_throughput(bench, args.throughput_charges, args.workers, args.latency)
        finally:
            bench.close()
    logging.disable(logging.NOTSET)
    document = {
        "benchmark": "stripe_netsuite",
        "smoke": args.smoke,
        "options": {
            "charges": args.charges,
            "throughput_charges": args.throughput_charges,
            "workers": args.workers,
            "latency": args.latency,
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "calls": calls,
        "throughput": throughput,
        "seconds": round(time.perf_counter() - started, 3),
    }
    (results_dir / RESULT_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(document, indent=2) if args.json else table(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
