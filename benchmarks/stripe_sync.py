"""Benchmark: the Fusion → Stripe streams of ``fusion_stripe`` on the sandbox stand-ins.

The Fusion and Stripe stand-ins run in a process of their own (``_stripe_bench/standins.py``);
the connector runs in other processes, the way a task runs a stream (``build_stream`` +
``SyncEngine``, a temporary SQLite ledger, ``AIRFLOW_CONN_…`` connections): one process for the
first three phases, one per run of the memory phase. HTTP calls are
counted in the connector's process by system and route (``_stripe_bench/http_calls.py``); 429s
and server-side times come from the Stripe stand-in's request log. Phases:

1. ``calls`` — Stripe calls per record against the minimum the API contract allows
   (``benchmarks/stripe_minimum_calls.md``): ``customers`` creating new customers, then every
   customer changed (updates), then an idle run; ``invoices`` with a few lines each, e-mailed;
   ``payments`` of those invoices (Stripe → Fusion GL journals).
2. ``throughput`` — records/s of the customers stream creating N customers against a bare loop of
   ``StripeClient.v1.customers.create`` sending the same payloads, each on an empty Stripe.
3. ``rate`` — the customers stream while the Stripe stand-in admits 25 requests/s and answers 429
   without ``Stripe-Should-Retry``: achieved requests/s as % of the limit, 429s the stand-in sent
   and whether they reached the task (the run failing or records dead-lettered).
4. ``memory`` — one customers run over N new Fusion customers per size, in its own process: peak
   RSS (``getrusage``) and the run's own growth, from a run without tracing; then the peak of
   Python allocations of the sync alone (``tracemalloc``) from a second run (tracing doubles the
   run's time, so ``--no-memory-heap`` skips it). The Fusion customers are seeded through a
   linear-time bulk route (see ``_stripe_bench/standins.py``), and the Stripe stand-in's
   ``search_lag`` is set high (``--memory-search-lag``, 0 = off): the stream searches each new
   customer once before creating it, which finds nothing whatever the lag, and a search then skips
   the deep copy the stand-in makes of every visible customer (without the lag, searches took 47 ms
   on average while 2,000 customers were created).

Default sizes (about 8 minutes on 2 cores, most of it the 10,000-customer memory runs): ``calls``
200 customers, 50 invoices of 3 lines; ``throughput`` 500 customers; ``rate`` 300 customers at 25
requests/s; ``memory`` 1,000 and 10,000 customers. ``--memory-customers 10000,100000`` asks for the
sizes of the original question, which today's stand-ins cannot serve in reasonable time; where the
time goes (measured at 1,000, 10,000 and 20,000 on 2 cores shared with other work):

* Stripe side, by far the largest: the stand-in's customer search walks its whole search index on
  every call, 1 to 1.5 µs per stored customer even with ``search_lag`` set (8 to 17 ms a search
  between 7,500 and 17,500 customers), so one search per new customer adds up to about 1.5 to 2
  hours at 100,000 (20,000 took 245 s of Stripe waiting out of 308 s); a create takes 1.5 to 2 ms.
* Fusion side: a page read filters and sorts the whole table (about 40 ms + 11 µs a row: 49 ms at
  1,000 rows, 268 ms at 20,000), and the hook reads 500 rows a page, so 100,000 rows cost about
  200 pages of about 1.2 s. Seeding through the stand-in's own admin route is quadratic (144 s for
  10,000, about 4 hours for 100,000); the bulk route takes under 2 s per 20,000.
* Connector side: 3.5 to 4 ms of CPU per new customer (mapping, two SDK calls, ledger).

Usage::

    .venv/bin/python benchmarks/stripe_sync.py [--phases calls,throughput,rate,memory]
        [--customers 200] [--invoices 50] [--lines 3] [--throughput-customers 2000]
        [--rate-customers 300] [--rate-limit 25] [--memory-customers 1000,10000]
        [--memory-search-lag 1e9] [--no-memory-heap] [--json] [--smoke] [--results-dir DIR]

Prints one table (or the JSON document with ``--json``) and writes ``stripe_sync.json`` in the
results directory (``benchmarks/results/`` by default). ``--smoke`` runs every phase at a tiny size
(one memory size; about 15 s); its results go to a temporary directory unless ``--results-dir`` names
one. Figures are measurements of this machine, never pass/fail criteria.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

RESULTS_DIR = HERE / "results"
RESULT_FILE = "stripe_sync.json"
PHASES = ("calls", "throughput", "rate", "memory")
SMOKE = {
    "customers": 6,
    "invoices": 3,
    "lines": 2,
    "throughput_customers": 10,
    "rate_customers": 10,
    "memory_customers": "20",
}


def _child_env(tmp: Path) -> dict[str, str]:
    """The environment of the stand-ins' and the connector's processes: this checkout's code,
    Airflow's home in the temporary directory."""
    path = [str(REPO_ROOT), str(REPO_ROOT / "sandbox"), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in path if p),
        "AIRFLOW_HOME": str(tmp / "airflow-home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONUNBUFFERED": "1",
    }


class _Runner:
    """Runs phases in a fresh connector process and returns what it wrote."""

    def __init__(self, tmp: Path, env: dict[str, str], standins: Any) -> None:
        self.tmp = tmp
        self.env = env
        self.standins = standins
        self.count = 0

    def __call__(self, phase: str, **options: Any) -> dict[str, Any]:
        self.count += 1
        stem = self.tmp / f"{self.count:02d}-{phase}"
        stem.with_suffix(".in.json").write_text(
            json.dumps({"standins": self.standins.describe(), "workdir": str(self.tmp), **options})
        )
        log = stem.with_suffix(".log")
        with log.open("w", encoding="utf-8") as out:
            result = subprocess.run(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--child",
                    phase,
                    "--child-input",
                    str(stem.with_suffix(".in.json")),
                    "--child-output",
                    str(stem.with_suffix(".out.json")),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"phase {phase} failed:\n{log.read_text()[-4000:]}")
        loaded: dict[str, Any] = json.loads(stem.with_suffix(".out.json").read_text())
        return loaded


def _child(phase: str, input_path: Path, output_path: Path) -> int:
    from _stripe_bench import connector
    from _stripe_bench.standins import StandIns

    options = json.loads(input_path.read_text())
    standins = StandIns(options.pop("standins"))
    workdir = Path(options.pop("workdir"))
    connector.quiet_logs()
    try:
        if phase == "connector":
            # calls, throughput and rate one after the other, in this one process
            result = {}
            for name, phase_options in options["phases"].items():
                function = getattr(connector, f"{name}_phase")
                result[name] = function(standins, workdir, **phase_options)
        elif phase == "memory":
            start = datetime.fromisoformat(options.pop("start"))
            result = connector.memory_phase(standins, workdir, start=start, **options)
        else:
            raise ValueError(f"unknown phase {phase!r}")
    finally:
        standins.close()
    output_path.write_text(json.dumps(result, indent=2))
    return 0


def _memory(
    run: _Runner, standins: Any, sizes: list[int], search_lag: float, *, heap: bool
) -> dict[str, Any]:
    from _stripe_bench.http_calls import server_times
    from _stripe_bench.standins import customer_row, now

    results = []
    for size in sizes:
        standins.reset()
        start = now() - timedelta(seconds=1)
        seed_seconds = standins.seed_customers(customer_row(i) for i in range(size))
        measured = {}
        server: dict[str, Any] = {}
        for traced in (False, True) if heap else (False,):
            standins.reset("stripe")
            if search_lag:
                standins.stripe_settings(search_lag=search_lag)
            measured[traced] = run("memory", customers=size, start=start.isoformat(), traced=traced)
            if not traced:
                server = {s: server_times(standins.request_log(s), s) for s in ("stripe", "fusion")}
        plain = measured[False]
        traced_run = measured.get(True) or {"heap_peak_mib": None, "seconds": None, "error": None}
        results.append(
            {
                "customers": size,
                "seed_s": round(seed_seconds, 3),
                "seconds": plain["seconds"],
                "cpu_seconds": plain["cpu_seconds"],
                "stripe_wait_s": plain["stripe"]["wait_s"],
                "fusion_wait_s": plain["fusion"]["wait_s"],
                "records_per_s": round(size / plain["seconds"], 1) if plain["seconds"] else None,
                "rss_before_mib": plain["rss_before_mib"],
                "rss_peak_mib": plain["rss_peak_mib"],
                "rss_growth_mib": round(plain["rss_peak_mib"] - plain["rss_before_mib"], 1),
                "heap_peak_mib": traced_run["heap_peak_mib"],
                "traced_seconds": traced_run["seconds"],
                "summary": plain["summary"],
                "error": plain["error"] or traced_run["error"],
                "stripe": plain["stripe"],
                "fusion": plain["fusion"],
                "server": server,
                "server_log_complete": plain["stripe"]["calls"] < 10_000,
            }
        )
    ratio: dict[str, Any] = {}
    if len(results) >= 2:
        small, large = results[0], results[-1]
        ratio = {"sizes": f"{large['customers']}/{small['customers']}"}
        for key in ("rss_peak_mib", "rss_growth_mib", "heap_peak_mib", "seconds"):
            ratio[key] = round(large[key] / small[key], 2) if small[key] and large[key] is not None else None
    return {"search_lag_s": search_lag, "sizes": results, "ratio": ratio}


# -- the table ---------------------------------------------------------------------------------------


def _routes(routes: dict[str, int], limit: int = 6) -> str:
    shown = [f"{route} ×{n}" for route, n in list(routes.items())[:limit]]
    if len(routes) > limit:
        shown.append(f"+{len(routes) - limit} more")
    return ", ".join(shown) or "none"


def _server(server: dict[str, dict[str, dict[str, float]]]) -> str:
    """Mean milliseconds the stand-ins took per call of their busiest routes."""
    parts = []
    for system in ("stripe", "fusion"):
        for route, figures in list(server.get(system, {}).items())[:2]:
            parts.append(f"{route} {figures['mean_ms']:.1f}")
    return ", ".join(parts) or "n/a"


def _num(value: Any, fmt: str = "{:.2f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _rows(document: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str, str]] = []
    calls = document.get("calls")
    if calls:
        titles = {
            "customers_new": f"customers: {calls['customers']} new",
            "customers_changed": f"customers: {calls['customers']} changed",
            "customers_idle": "customers: idle run",
            "invoices": f"invoices: {calls['invoices']} new, {calls['lines']} lines, e-mailed",
            "payments": "payments of those invoices",
        }
        for key, title in titles.items():
            run = calls["runs"].get(key)
            if run is None:
                continue
            outcome = run["error"] or ", ".join(
                f"{k} {v}" for k, v in (run["summary"] or {}).items() if v and k != "cursor_advanced"
            )
            details = (
                f"Stripe: {_routes(run['stripe']['by_route'])}; Fusion: {run['fusion']['calls']} calls; "
                f"{run['seconds']:.2f} s; {outcome}"
            )
            if key == "customers_idle":
                rows.append(
                    (
                        title,
                        "Fusion reads / run (Stripe calls)",
                        f"{run['fusion_reads']} ({run['stripe']['calls']})",
                        f"{run['minimum_fusion_reads']} (0)",
                        _num(run["ratio"]),
                        f"Fusion: {_routes(run['fusion']['by_route'])}; {run['seconds']:.2f} s",
                    )
                )
            else:
                rows.append(
                    (
                        title,
                        "Stripe calls / record",
                        _num(run["stripe_per_record"]),
                        _num(run["minimum_per_record"]),
                        _num(run["ratio"]),
                        details,
                    )
                )
    throughput = document.get("throughput")
    if throughput:
        bare, conn = throughput["bare"], throughput["connector"]
        server = conn["server_ms"]
        rows.append(
            (
                f"throughput: {throughput['customers']} new customers",
                "records/s, connector (bare script)",
                f"{_num(conn['records_per_s'], '{:.1f}')} ({_num(bare['records_per_s'], '{:.1f}')})",
                "",
                _num(throughput["ratio"], "{:.3f}"),
                f"connector {conn['seconds']:.2f} s (waiting on Stripe {conn['stripe']['wait_s']:.2f} s, "
                f"Fusion {conn['fusion']['wait_s']:.2f} s; CPU {conn['cpu_seconds']:.2f} s), "
                f"{conn['stripe']['calls']} Stripe calls; bare {bare['seconds']:.2f} s, "
                f"{bare['stripe']['calls']} calls; stand-in ms/call: create {_num(server['POST /v1/customers'])} "
                f"(bare {_num(bare['server_ms']['POST /v1/customers'])}), search "
                f"{_num(server['GET /v1/customers/search'])}; create body {_num(conn['create_body_bytes'], '{:.0f}')} B "
                f"(bare {_num(bare['create_body_bytes'], '{:.0f}')} B)",
            )
        )
    rate = document.get("rate")
    if rate:
        if rate["task_failed"]:
            outcome = f"the task failed after {rate['seconds']:.2f} s: {rate['error']}"
        else:
            outcome = f"the task succeeded in {rate['seconds']:.1f} s"
        rows.append(
            (
                f"rate: {rate['customers']} new customers, limit {rate['rate_limit']}/s",
                "Stripe requests/s admitted over the run (% of limit)",
                f"{rate['achieved_rps']:.1f} ({rate['achieved_pct_of_limit']:.0f} %)",
                f"{rate['rate_limit']}",
                _num(rate["achieved_pct_of_limit"] / 100),
                f"{rate['stripe_admitted']} admitted; 429s sent {rate['stripe_429_sent']} (first after "
                f"{_num(rate['first_429_after_s'])} s), seen by the hook {rate['stripe_429_seen_by_hook']}; "
                f"429s reaching the task: run failed {'yes' if rate['task_failed_on_429'] else 'no'}, "
                f"dead letters {rate['dead_letters_on_429']}; {outcome}; customers created "
                f"{rate['stripe_customers_created']} of {rate['customers']}",
            )
        )
    memory = document.get("memory")
    if memory:
        for size in memory["sizes"]:
            rows.append(
                (
                    f"memory: {size['customers']} new customers",
                    "peak RSS MiB (growth in the run); heap peak MiB",
                    f"{size['rss_peak_mib']:.1f} (+{size['rss_growth_mib']:.1f}); {_num(size['heap_peak_mib'])}",
                    "",
                    "",
                    f"{size['seconds']:.1f} s, {_num(size['records_per_s'], '{:.0f}')} records/s (waiting on Stripe "
                    f"{size['stripe_wait_s']:.1f} s, Fusion {size['fusion_wait_s']:.1f} s; CPU "
                    f"{size['cpu_seconds']:.1f} s); stand-in ms/call: {_server(size['server'])}; traced run "
                    f"{_num(size['traced_seconds'], '{:.1f}')} s; Fusion seed {size['seed_s']:.1f} s; "
                    f"{size['stripe']['calls']} Stripe calls"
                    + (f"; {size['error']}" if size["error"] else ""),
                )
            )
        ratio = memory["ratio"]
        if ratio:
            rows.append(
                (
                    f"memory: ratio {ratio['sizes']}",
                    "peak RSS; RSS growth; heap peak; time",
                    f"{_num(ratio['rss_peak_mib'])}; {_num(ratio['rss_growth_mib'])}; "
                    f"{_num(ratio['heap_peak_mib'])}; {_num(ratio['seconds'])}",
                    "",
                    "",
                    f"Stripe stand-in search_lag {memory['search_lag_s']:g} s",
                )
            )
    return rows


def table(document: dict[str, Any]) -> str:
    """Every figure of the document as one Markdown table."""
    header = ("phase", "figure", "measured", "minimum / limit", "measured / minimum", "details")
    lines = ["| " + " | ".join(header) + " |", "|---|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in _rows(document)]
    return "\n".join(lines)


def results_dir_for(requested: Path | None, smoke: bool) -> Path:
    if requested is not None:
        return requested
    if smoke:
        return Path(tempfile.mkdtemp(prefix="mlc-bench-smoke-"))
    return RESULTS_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated subset of %(default)s")
    parser.add_argument("--customers", type=int, default=200, help="calls phase: new customers (%(default)s)")
    parser.add_argument("--invoices", type=int, default=50, help="calls phase: new invoices (%(default)s)")
    parser.add_argument("--lines", type=int, default=3, help="calls phase: lines per invoice (%(default)s)")
    parser.add_argument(
        "--throughput-customers",
        type=int,
        default=2000,
        help="throughput phase: new customers; a run has fixed costs (token, onboarding list, ledger set-up) that small sizes overweight (%(default)s)",
    )
    parser.add_argument("--rate-customers", type=int, default=300, help="(%(default)s)")
    parser.add_argument("--rate-limit", type=int, default=25, help="Stripe requests/s (%(default)s)")
    parser.add_argument(
        "--memory-customers", default="1000,10000", help="comma-separated sizes (%(default)s)"
    )
    parser.add_argument(
        "--memory-search-lag",
        type=float,
        default=1e9,
        help="the Stripe stand-in's search_lag during the memory phase, seconds (%(default)g; 0 = off)",
    )
    parser.add_argument(
        "--memory-heap",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="memory phase: also a second run per size under tracemalloc, for the heap peak (default: yes)",
    )
    parser.add_argument("--smoke", action="store_true", help="every phase once at a tiny size")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    parser.add_argument(
        "--results-dir",
        type=Path,
        help=f"directory of {RESULT_FILE} (default: benchmarks/results, or a temporary one with --smoke)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        return _child(args.child, args.child_input, args.child_output)

    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phases: {', '.join(unknown)} (known: {', '.join(PHASES)})")
    memory_sizes = [int(s) for s in str(args.memory_customers).split(",") if s.strip()]
    options = {
        "customers": args.customers,
        "invoices": args.invoices,
        "lines": args.lines,
        "throughput_customers": args.throughput_customers,
        "rate_customers": args.rate_customers,
        "rate_limit": args.rate_limit,
        "memory_customers": memory_sizes,
        "memory_search_lag": args.memory_search_lag,
    }

    from _stripe_bench import standins as standins_module

    document: dict[str, Any] = {
        "benchmark": "stripe_sync",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "smoke": args.smoke,
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "options": options,
        "minimum_calls": "benchmarks/stripe_minimum_calls.md",
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlc-bench-stripe-") as tmp_name:
        tmp = Path(tmp_name)
        env = _child_env(tmp)
        with standins_module.started(tmp / "standins.log", env) as standins:
            from _stripe_bench.connector import CONN_IDS

            env.update(standins.airflow_env(CONN_IDS))
            run = _Runner(tmp, env, standins)
            wanted = {
                "calls": {"customers": args.customers, "invoices": args.invoices, "lines": args.lines},
                "throughput": {"customers": args.throughput_customers},
                "rate": {"customers": args.rate_customers, "limit": args.rate_limit},
            }
            selected = {name: wanted[name] for name in PHASES if name in phases and name in wanted}
            if selected:
                document.update(run("connector", phases=selected))
            if "memory" in phases:
                document["memory"] = _memory(
                    run, standins, memory_sizes, args.memory_search_lag, heap=args.memory_heap
                )
    document["seconds"] = round(time.perf_counter() - started, 1)

    output = results_dir_for(args.results_dir, args.smoke) / RESULT_FILE
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(table(document))
        print(f"\n{document['seconds']:.0f} s; written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
