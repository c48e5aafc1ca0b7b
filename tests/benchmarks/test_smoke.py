"""The benchmarks still run: each once, at a tiny size, writing only to a temporary directory.

Timings and call counts are never asserted; these tests only check that ``benchmarks/run.py
--smoke`` works end to end, that each benchmark's JSON has the figures it documents, and that the
DAG-parsing tenant file is valid for every integration of the registry.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO_ROOT / "benchmarks"


def _load_benchmark(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results_snapshot() -> dict[str, int]:
    results = BENCHMARKS / "results"
    return {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")} if results.is_dir() else {}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    results_dir = tmp_path_factory.mktemp("bench-results")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow-home")),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("ML_CONNECTOR_CONFIG", None)
    before = _results_snapshot()
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--smoke", "--results-dir", str(results_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=results_dir,
        timeout=300,
        check=False,
    )
    assert _results_snapshot() == before, "a smoke run must not touch benchmarks/results/"
    return result, results_dir


def test_exits_zero_and_prints_the_table(smoke_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, results_dir = smoke_run

    assert result.returncode == 0, result.stderr[-4000:]
    assert "== dag_parse ==" in result.stdout
    assert "| DAGs | load_config (s) |" in result.stdout
    assert "== stripe_sync ==" in result.stdout
    assert "| phase | figure | measured | minimum / limit | measured / minimum | details |" in result.stdout
    assert "== stampli_parse ==" in result.stdout
    assert "| size (MB) | rows | invoices | parse (s) | rows/s |" in result.stdout
    assert "== stripe_netsuite ==" in result.stdout
    assert "| figure | measured | minimum / target | details |" in result.stdout
    assert f"results: {results_dir / 'summary.json'}" in result.stdout


def test_writes_json_results(smoke_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, results_dir = smoke_run
    dag_parse = _load_benchmark("dag_parse")

    document = json.loads((results_dir / "dag_parse.json").read_text(encoding="utf-8"))
    summary = json.loads((results_dir / "summary.json").read_text(encoding="utf-8"))

    assert set(summary) == {"dag_parse", "stripe_sync", "stampli_parse", "stripe_netsuite"}
    assert summary["dag_parse"] == document
    assert document["smoke"] is True
    (measured,) = document["results"]
    assert measured["dags"] == int(dag_parse.SMOKE_SIZES)
    assert measured["tasks"] >= measured["dags"]


def test_generated_tenants_are_valid_for_every_integration(tmp_path: Path) -> None:
    from ml_connector_provider.config import load_config
    from ml_connector_provider.integrations import registry

    dag_parse = _load_benchmark("dag_parse")
    specs = registry()
    path = tmp_path / "tenants.yaml"
    path.write_text(dag_parse.tenant_config(2 * len(specs)), encoding="utf-8")

    config = load_config(path)

    configured = {i for tenant in config.tenants for i in tenant.integrations}
    assert configured == set(specs)
    for tenant in config.tenants:
        for integration_id, integration in tenant.integrations.items():
            assert set(integration.connections) == set(specs[integration_id].connection_roles)


STREAM_RUN_KEYS = {"stream", "seconds", "cpu_seconds", "summary", "error", "stripe", "fusion"}
CALL_KEYS = {"calls", "by_route", "statuses", "wait_s"}
WRITE_RUN_KEYS = {
    *STREAM_RUN_KEYS,
    "records",
    "stripe_per_record",
    "minimum_per_record",
    "minimum_calls",
    "ratio",
}
RATE_KEYS = {
    *STREAM_RUN_KEYS,
    "rate_limit",
    "stripe_admitted",
    "stripe_429_sent",
    "stripe_429_seen_by_hook",
    "achieved_rps",
    "achieved_pct_of_limit",
    "first_429_after_s",
    "task_failed",
    "task_failed_on_429",
    "stripe_customers_created",
    "dead_lettered",
    "dead_letters_on_429",
}
MEMORY_SIZE_KEYS = {
    "customers",
    "seed_s",
    "seconds",
    "cpu_seconds",
    "stripe_wait_s",
    "fusion_wait_s",
    "rss_before_mib",
    "rss_peak_mib",
    "rss_growth_mib",
    "heap_peak_mib",
    "server",
}


def assert_keys(found: dict[str, Any], expected: set[str], where: str) -> None:
    missing = expected - set(found)
    assert not missing, f"{where} lacks {sorted(missing)}"


def test_stripe_sync_json_has_every_figure(smoke_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, results_dir = smoke_run
    document = json.loads((results_dir / "stripe_sync.json").read_text(encoding="utf-8"))
    summary = json.loads((results_dir / "summary.json").read_text(encoding="utf-8"))

    assert summary["stripe_sync"] == document
    assert document["smoke"] is True
    assert_keys(
        document, {"benchmark", "options", "calls", "throughput", "rate", "memory", "seconds"}, "document"
    )
    runs = document["calls"]["runs"]
    assert set(runs) == {"customers_new", "customers_changed", "customers_idle", "invoices", "payments"}
    for name, run in runs.items():
        assert_keys(run, WRITE_RUN_KEYS, name)
        assert_keys(run["stripe"], CALL_KEYS, f"{name} stripe")
        assert_keys(run["fusion"], CALL_KEYS, f"{name} fusion")
    assert_keys(runs["customers_idle"], {"fusion_reads", "minimum_fusion_reads"}, "customers_idle")
    throughput = document["throughput"]
    assert_keys(throughput, {"customers", "bare", "connector", "ratio"}, "throughput")
    bare_keys = {"records", "seconds", "records_per_s", "stripe", "create_body_bytes", "server_ms"}
    assert_keys(throughput["bare"], bare_keys, "throughput bare")
    assert_keys(throughput["connector"], {*STREAM_RUN_KEYS, *bare_keys}, "throughput connector")
    assert_keys(document["rate"], RATE_KEYS, "rate")
    memory = document["memory"]
    assert_keys(memory, {"search_lag_s", "sizes", "ratio"}, "memory")
    assert memory["sizes"]
    for size in memory["sizes"]:
        assert_keys(size, MEMORY_SIZE_KEYS, f"memory {size.get('customers')}")


STAMPLI_SIZE_KEYS = {
    "size_mb",
    "bytes",
    "rows",
    "groups",
    "valid_invoices",
    "generate_s",
    "seconds",
    "rows_per_s",
    "rss_before_mib",
    "rss_peak_mib",
    "rss_growth_mib",
    "heap_peak_mib",
    "traced_seconds",
}


def test_stampli_parse_json_has_every_figure(
    smoke_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, results_dir = smoke_run
    document = json.loads((results_dir / "stampli_parse.json").read_text(encoding="utf-8"))
    summary = json.loads((results_dir / "summary.json").read_text(encoding="utf-8"))

    assert summary["stampli_parse"] == document
    assert document["smoke"] is True
    assert_keys(document, {"benchmark", "options", "results", "ratio", "seconds"}, "document")
    assert len(document["results"]) == 2
    for size in document["results"]:
        assert_keys(size, STAMPLI_SIZE_KEYS, f"stampli_parse {size.get('size_mb')} MB")
        # Every generated row was read back into a group.
        assert size["rows"] > 0
        assert size["groups"] > 0
        assert size["heap_peak_mib"] is not None
    assert_keys(document["ratio"], {"of", "bytes", "rss_peak", "rss_growth", "heap_peak", "seconds"}, "ratio")


def test_the_generated_stampli_export_parses_into_the_invoices_written(tmp_path: Path) -> None:
    from ml_connector_provider.integrations.stampli_fusion.csv_export import parse_export
    from ml_connector_provider.integrations.stampli_fusion.settings import FileTemplate

    stampli_parse = _load_benchmark("stampli_parse")
    path = tmp_path / "export.csv"
    written = stampli_parse.generate(path, 200_000)

    with (
        path.open("rb") as file,
        parse_export(file, file_name="export.csv", template=FileTemplate()) as groups,
    ):
        assert len(groups) == written["invoices"]
        assert sum(len(group.rows) for group in groups) == written["rows"]
        # Some invoices have rows far apart, about one in a hundred does not add up.
        assert any(group.rows[-1] - group.rows[0] >= len(group.rows) for group in groups)
        assert 0 < groups.with_problems < len(groups) // 10


def test_stripe_netsuite_json_has_every_figure(
    smoke_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, results_dir = smoke_run
    document = json.loads((results_dir / "stripe_netsuite.json").read_text(encoding="utf-8"))
    summary = json.loads((results_dir / "summary.json").read_text(encoding="utf-8"))

    assert summary["stripe_netsuite"] == document
    assert document["smoke"] is True
    assert_keys(document, {"benchmark", "options", "calls", "throughput", "seconds"}, "document")
    calls = document["calls"]
    # Every seeded charge was posted (the figures per charge are of real posts).
    assert calls["posted"] == calls["charges"] > 0
    for system in ("netsuite", "stripe"):
        assert_keys(
            calls[system],
            {"calls", "by_route", "per_charge", "per_charge_routes", "per_run_calls", "minimum_per_charge"},
            system,
        )
    throughput = document["throughput"]
    assert_keys(
        throughput,
        {
            "workers",
            "limit",
            "slot_seconds",
            "elapsed",
            "utilisation",
            "target_utilisation",
            "refused",
            "tasks_failed",
            "dead_lettered",
            "charges_per_s",
        },
        "throughput",
    )
    assert throughput["limit"] == 5
    assert throughput["elapsed"] > 0
