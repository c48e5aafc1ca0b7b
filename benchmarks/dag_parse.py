"""Benchmark: parsing the ml-connector DAG file for 100, 500 and 1,000 tenant DAGs.

For each size, a tenant file with that many tenant × integration DAGs is generated in a temporary
directory, and a fresh Python process (so sizes do not share caches or memory) measures:

* ``load_config`` of the file, cold (YAML parse + validation), best of N;
* ``build_dags`` with a cold config cache (what Airflow's DAG processor pays: it parses each file
  in a new process) and with a warm one (a process parsing the file again), best of N;
* a full ``DagBag`` load of ``dags/ml_connector.py`` pointing at that file, best of N;
* serialising every DAG as the DAG processor does before writing it to the metadata DB;
* peak traced Python allocations (tracemalloc) of one cold ``DagBag`` load, and the process RSS
  after importing Airflow and at its peak.

The tenants cycle through every integration of the registry. Each one names a connection for
every role its spec declares (``connection_roles``) and takes its settings from the first tenant
of ``config/tenants.example.yaml`` that configures the integration, so a new integration is
benchmarked as soon as it has its registry line and its example tenant.

Usage::

    .venv/bin/python benchmarks/dag_parse.py [--sizes 100,500,1000] [--repeat 3] [--json]
                                             [--smoke] [--results-dir DIR]

Prints a table (or the JSON document with ``--json``) and writes ``dag_parse.json`` in the
results directory (``benchmarks/results/`` by default). ``--smoke`` measures one tiny size once,
to check that the benchmark still runs; its results go to a temporary directory unless
``--results-dir`` names one, never over the real results. Timings are informative only; no test
asserts on them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DAG_FILE = REPO_ROOT / "dags" / "ml_connector.py"
EXAMPLE_CONFIG = REPO_ROOT / "config" / "tenants.example.yaml"
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
RESULT_FILE = "dag_parse.json"
SMOKE_SIZES = "4"

SCHEDULES = ["*/10 * * * *", "*/15 * * * *", "@hourly", "0 */4 * * *", None]
TIMEZONES = ["UTC", "America/New_York", "Europe/Paris", "Asia/Tokyo"]


def example_settings(example: Path = EXAMPLE_CONFIG) -> dict[str, dict[str, Any]]:
    """Return, by integration id, the ``settings`` of the first example tenant configuring it.

    :param example: the documented example tenant file.
    """
    import yaml

    document = yaml.safe_load(example.read_text(encoding="utf-8"))
    settings: dict[str, dict[str, Any]] = {}
    for tenant in document["tenants"]:
        for integration_id, integration in (tenant.get("integrations") or {}).items():
            settings.setdefault(integration_id, dict(integration.get("settings") or {}))
    return settings


def tenant_config(size: int) -> str:
    """Return a tenant file with ``size`` tenant × integration DAGs (one integration per tenant).

    Every tenth tenant is disabled; schedules, time zones and sync overrides vary so validation
    and resolution do real work.

    :param size: number of tenants, hence of DAGs.
    :raises LookupError: when an integration of the registry has no example tenant.
    """
    import yaml

    from ml_connector_provider.integrations import registry

    specs = list(registry().values())
    settings = example_settings()
    missing = [spec.id for spec in specs if spec.id not in settings]
    if missing:
        raise LookupError(f"{EXAMPLE_CONFIG} configures no tenant for {', '.join(missing)}")
    tenants: list[dict[str, Any]] = []
    for i in range(size):
        spec = specs[i % len(specs)]
        tenant_id = f"t{i:05d}"
        integration: dict[str, Any] = {
            "schedule": SCHEDULES[i % len(SCHEDULES)],
            "connections": {role: f"{tenant_id}_{role}" for role in spec.connection_roles},
            "settings": settings[spec.id],
        }
        if i % 3 == 0:
            integration["sync"] = {"overlap": 300, "batch_size": 50}
        tenants.append(
            {
                "id": tenant_id,
                "name": f"Tenant {i:05d}",
                "enabled": i % 10 != 0,
                "timezone": TIMEZONES[i % len(TIMEZONES)],
                "integrations": {spec.id: integration},
            }
        )
    document = {
        "version": 1,
        "defaults": {"owner": "data-platform", "retries": 3, "sync": {"overlap": 600}},
        "tenants": tenants,
    }
    return yaml.safe_dump(document, sort_keys=False)


def _best(samples: list[float]) -> float:
    return round(min(samples), 4)


def _rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _current_rss_mib() -> float:
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except OSError:  # not Linux
        return _rss_mib()


def measure(config_path: Path, size: int, repeat: int) -> dict[str, Any]:
    """Measure one size inside the current (fresh) process. Airflow must not be imported yet."""
    home = tempfile.mkdtemp(prefix="mlc-bench-airflow-")
    os.environ.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
            "ML_CONNECTOR_CONFIG": str(config_path),
        }
    )
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    from ml_connector_provider.config import clear_config_cache, load_config
    from ml_connector_provider.dag_factory import build_dags

    import_seconds = time.perf_counter() - started
    rss_after_import = _current_rss_mib()

    load_cold: list[float] = []
    build_cold: list[float] = []
    build_warm: list[float] = []
    dagbag_cold: list[float] = []
    for _ in range(repeat):
        clear_config_cache()
        t = time.perf_counter()
        load_config(config_path)
        load_cold.append(time.perf_counter() - t)

        clear_config_cache()
        t = time.perf_counter()
        dags = build_dags(config_path)
        build_cold.append(time.perf_counter() - t)
        assert len(dags) == size, (len(dags), size)
        del dags
        gc.collect()

        t = time.perf_counter()
        dags = build_dags(config_path)
        build_warm.append(time.perf_counter() - t)
        del dags
        gc.collect()

        clear_config_cache()
        t = time.perf_counter()
        bag = DagBag(dag_folder=str(DAG_FILE))
        dagbag_cold.append(time.perf_counter() - t)
        assert not bag.import_errors, bag.import_errors
        assert len(bag.dags) == size, (len(bag.dags), size)
        if len(dagbag_cold) < repeat:
            del bag
            gc.collect()

    t = time.perf_counter()
    for dag in bag.dags.values():
        DagSerialization.to_dict(dag)
    serialize_seconds = time.perf_counter() - t
    tasks = sum(len(d.tasks) for d in bag.dags.values())
    del bag
    gc.collect()

    clear_config_cache()
    tracemalloc.start()
    bag = DagBag(dag_folder=str(DAG_FILE))
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(bag.dags) == size

    return {
        "dags": size,
        "tasks": tasks,
        "config_bytes": config_path.stat().st_size,
        "import_airflow_s": round(import_seconds, 3),
        "load_config_cold_s": _best(load_cold),
        "build_dags_cold_s": _best(build_cold),
        "build_dags_warm_s": _best(build_warm),
        "dagbag_load_s": _best(dagbag_cold),
        "serialize_all_s": round(serialize_seconds, 4),
        "per_dag_cold_ms": round(1000 * min(dagbag_cold) / size, 3),
        "tracemalloc_peak_mib": round(traced_peak / 2**20, 1),
        "rss_after_import_mib": rss_after_import,
        "rss_peak_mib": _rss_mib(),
        "repeat": repeat,
    }


def run_size(size: int, repeat: int, workdir: Path) -> dict[str, Any]:
    """Generate the tenant file for ``size`` and measure it in a fresh interpreter."""
    config_path = workdir / f"tenants_{size}.yaml"
    config_path.write_text(tenant_config(size), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(config_path), "--size", str(size), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=False,
        cwd=workdir,
    )
    if result.returncode != 0:
        raise RuntimeError(f"measuring {size} DAGs failed:\n{result.stderr[-4000:]}")
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


COLUMNS = [
    ("dags", "DAGs", "{:d}"),
    ("load_config_cold_s", "load_config (s)", "{:.3f}"),
    ("build_dags_cold_s", "build cold (s)", "{:.3f}"),
    ("build_dags_warm_s", "build warm (s)", "{:.3f}"),
    ("dagbag_load_s", "DagBag (s)", "{:.3f}"),
    ("per_dag_cold_ms", "ms/DAG", "{:.2f}"),
    ("serialize_all_s", "serialize (s)", "{:.3f}"),
    ("tracemalloc_peak_mib", "traced peak (MiB)", "{:.1f}"),
    ("rss_after_import_mib", "RSS import (MiB)", "{:.1f}"),
    ("rss_peak_mib", "RSS peak (MiB)", "{:.1f}"),
]


def table(results: list[dict[str, Any]]) -> str:
    """Format results as a Markdown table."""
    header = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---:" for _ in COLUMNS) + "|"
    rows = ["| " + " | ".join(fmt.format(r[key]) for key, _, fmt in COLUMNS) + " |" for r in results]
    return "\n".join([header, rule, *rows])


def results_dir_for(requested: Path | None, smoke: bool) -> Path:
    """Where a run writes its JSON: the requested directory, else a new temporary directory for a
    smoke run (so it never replaces real figures), else ``benchmarks/results/``.

    :param requested: the ``--results-dir`` option, if given.
    :param smoke: whether this is a smoke run.
    """
    if requested is not None:
        return requested
    if smoke:
        return Path(tempfile.mkdtemp(prefix="mlc-bench-smoke-"))
    return RESULTS_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,500,1000", help="comma-separated DAG counts")
    parser.add_argument("--repeat", type=int, default=3, help="samples per timing (best is kept)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"check that the benchmark runs: {SMOKE_SIZES} DAGs, one sample (overrides --sizes and --repeat)",
    )
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of a table")
    parser.add_argument(
        "--results-dir",
        type=Path,
        help=f"directory of {RESULT_FILE} (default: benchmarks/results, or a temporary one with --smoke)",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        print(json.dumps(measure(args.child, args.size, args.repeat)))
        return 0

    sizes_option, repeat = (SMOKE_SIZES, 1) if args.smoke else (args.sizes, args.repeat)
    sizes = [int(s) for s in sizes_option.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="mlc-bench-") as tmp:
        # Generating the file reads the integration catalogue, which imports Airflow: keep its
        # airflow.cfg out of the user's home.
        os.environ.setdefault("AIRFLOW_HOME", str(Path(tmp) / "airflow-home"))
        os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        results = [run_size(size, repeat, Path(tmp)) for size in sizes]

    from importlib.metadata import version

    document = {
        "benchmark": "dag_parse",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "smoke": args.smoke,
        "python": platform.python_version(),
        "airflow": version("apache-airflow"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results,
    }
    output = results_dir_for(args.results_dir, args.smoke) / RESULT_FILE
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(table(results))
        print(f"\nwritten to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
