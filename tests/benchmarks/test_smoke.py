"""The benchmarks still run: each once, at a tiny size, writing only to a temporary directory.

Timings are never asserted; these tests only check that ``benchmarks/run.py --smoke`` works end
to end and that its tenant file is valid for every integration of the registry.
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
    assert f"results: {results_dir / 'summary.json'}" in result.stdout


def test_writes_json_results(smoke_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, results_dir = smoke_run
    dag_parse = _load_benchmark("dag_parse")

    document = json.loads((results_dir / "dag_parse.json").read_text(encoding="utf-8"))
    summary = json.loads((results_dir / "summary.json").read_text(encoding="utf-8"))

    assert summary == {"dag_parse": document}
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
