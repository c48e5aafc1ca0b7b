"""A platform team's first day, in a real Airflow: the example as the README says, and a broken tenant.

The DAG files are deployed as the README's "Configure tenants" steps say (the example copied next
to them as ``tenants.yaml``), Airflow's own DAG processor parses them into a fresh SQLite metadata
DB, and the test reads what the UI and the scheduler read from that DB: the ``dag`` table (pause
state, staleness) and the ``import_error`` table (the "Dag Import Errors" list of the UI).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.dags.conftest import DAGS_DIR, EXAMPLE_CONFIG, REPO_ROOT, airflow_env, airflow_executable

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag

README = REPO_ROOT / "README.md"
TENANT_ERRORS_FILE = "ml_connector_tenant_errors.py"
EXAMPLE_DAG_IDS = {
    "mlc__acme__fusion_stripe",
    "mlc__acme__stampli_fusion",
    "mlc__acme__stripe_netsuite",
    "mlc__globex__fusion_stripe",
    "mlc__globex__stampli_fusion",
    "mlc__initech__fusion_stripe",
}


# --------------------------------------------------------------------------------------------
# Deploying and running Airflow
# --------------------------------------------------------------------------------------------


def readme_steps() -> tuple[str, str]:
    """The README's steps 1 and 2 of "Configure tenants" (what the deployment below follows)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configure tenants", 1)[1].split("\n## ", 1)[0]
    step1 = re.search(r"^1\. (.+?)(?=^2\. )", section, re.S | re.M)
    step2 = re.search(r"^2\. (.+?)(?=^3\. )", section, re.S | re.M)
    assert step1 is not None, "README: Configure tenants has no step 1"
    assert step2 is not None, "README: Configure tenants has no step 2"
    return " ".join(step1.group(1).split()), " ".join(step2.group(1).split())


def deploy(root: Path, config_text: str | None = None) -> Path:
    """Deploy as the README says into ``root/dags``; returns the DAGs folder.

    :param config_text: the tenant file's content; ``None`` copies the example unchanged.
    """
    step1, step2 = readme_steps()
    # The steps this deployment follows, word for word: if the README changes, so must this test.
    assert "Copy `config/tenants.example.yaml` next to your DAGs as `tenants.yaml`" in step1
    assert (
        "Copy `dags/ml_connector.py` and `dags/ml_connector_tenant_errors.py` into your DAGs folder" in step2
    )
    dags = root / "dags"
    dags.mkdir(parents=True)
    shutil.copy(DAGS_DIR / "ml_connector.py", dags)
    shutil.copy(DAGS_DIR / TENANT_ERRORS_FILE, dags)
    if config_text is None:
        shutil.copy(EXAMPLE_CONFIG, dags / "tenants.yaml")
    else:
        (dags / "tenants.yaml").write_text(config_text, encoding="utf-8")
    return dags


def airflow(args: Sequence[str], *, home: Path, dags: Path, timeout: float = 180) -> str:
    """Run the Airflow CLI against the installation at ``home``; returns its output.

    No ``ML_CONNECTOR_CONFIG``: the DAG file finds ``tenants.yaml`` next to it, as deployed.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.pop("ML_CONNECTOR_CONFIG", None)
    env.update(airflow_env(home, config=None, dags_folder=dags))
    result = subprocess.run(
        [airflow_executable(), *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"airflow {' '.join(args)}: {result.stderr[-3000:]}"
    return result.stdout + result.stderr


def parse_into_metadata_db(root: Path, dags: Path) -> Path:
    """Migrate a fresh metadata DB under ``root/home`` and run Airflow's DAG processor once over
    ``dags``; returns the DB file."""
    home = root / "home"
    airflow(["db", "migrate"], home=home, dags=dags)
    airflow(["dag-processor", "--num-runs", "1"], home=home, dags=dags)
    return home / "airflow.db"


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return list(conn.execute(sql))


def dags_in_db(db: Path) -> dict[str, dict[str, Any]]:
    rows = query(db, "SELECT dag_id, is_paused, is_stale, has_import_errors FROM dag")
    return {
        r[0]: {"is_paused": bool(r[1]), "is_stale": bool(r[2]), "has_import_errors": bool(r[3])} for r in rows
    }


def import_errors_in_db(db: Path) -> dict[str, str]:
    return dict(query(db, "SELECT filename, stacktrace FROM import_error"))


def _dagbag(dags: Path) -> DagBag:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(dags))


@pytest.fixture
def next_to_the_dag_file(airflow_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process DagBags find ``tenants.yaml`` next to the DAG file, as a deployment does."""
    monkeypatch.delenv("ML_CONNECTOR_CONFIG")


def _with_globex_typo() -> str:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    # One misspelt key under one tenant: "schedul" for "schedule".
    data["tenants"][1]["integrations"]["fusion_stripe"]["schedul"] = "@daily"
    return yaml.safe_dump(data, sort_keys=False)


GLOBEX_TYPO = "tenant 'globex': integrations.fusion_stripe.schedul: unknown field"


# --------------------------------------------------------------------------------------------
# The example, copied as the README says
# --------------------------------------------------------------------------------------------


class TestExampleAsTheReadmeSays:
    def test_every_dag_of_the_dagbag_is_paused_upon_creation(
        self, next_to_the_dag_file: None, tmp_path: Path
    ) -> None:
        bag = _dagbag(deploy(tmp_path))

        assert bag.import_errors == {}
        assert set(bag.dags) == EXAMPLE_DAG_IDS
        assert {dag_id: dag.is_paused_upon_creation for dag_id, dag in bag.dags.items()} == dict.fromkeys(
            EXAMPLE_DAG_IDS, True
        )

    def test_no_dag_is_unpaused_and_the_scheduler_starts_no_run(self, tmp_path: Path) -> None:
        dags = deploy(tmp_path)
        db = parse_into_metadata_db(tmp_path, dags)
        # One loop of the real scheduler: it creates a run for every unpaused DAG whose first tick
        # has passed (every example DAG with a schedule, since their start_date is in the past).
        airflow(["scheduler", "--num-runs", "1", "--skip-serve-logs"], home=tmp_path / "home", dags=dags)

        in_db = dags_in_db(db)
        assert set(in_db) == EXAMPLE_DAG_IDS
        assert {dag_id: row["is_paused"] for dag_id, row in in_db.items()} == dict.fromkeys(
            EXAMPLE_DAG_IDS, True
        )
        assert import_errors_in_db(db) == {}
        assert query(db, "SELECT dag_id, run_id FROM dag_run") == []


# --------------------------------------------------------------------------------------------
# One tenant's mistake stays that tenant's
# --------------------------------------------------------------------------------------------


class TestBrokenTenant:
    def test_the_other_tenants_dags_load_and_the_second_file_names_the_problem(
        self, next_to_the_dag_file: None, tmp_path: Path
    ) -> None:
        dags = deploy(tmp_path, _with_globex_typo())

        bag = _dagbag(dags)

        assert set(bag.dags) == EXAMPLE_DAG_IDS - {
            "mlc__globex__fusion_stripe",
            "mlc__globex__stampli_fusion",
        }
        (path,) = bag.import_errors
        assert Path(path).name == TENANT_ERRORS_FILE
        error = bag.import_errors[path]
        assert f"{dags / 'tenants.yaml'}: {GLOBEX_TYPO}" in error
        assert (
            f"{dags / 'tenants.yaml'}: the DAGs of tenant 'globex' are not built until these problems are fixed"
            in error
        )

    def test_reported_in_the_metadata_db_while_the_other_dags_stay_active(self, tmp_path: Path) -> None:
        dags = deploy(tmp_path, _with_globex_typo())

        db = parse_into_metadata_db(tmp_path, dags)

        in_db = dags_in_db(db)
        assert set(in_db) == EXAMPLE_DAG_IDS - {"mlc__globex__fusion_stripe", "mlc__globex__stampli_fusion"}
        # Active (not stale), so the UI lists them and the scheduler schedules them once unpaused.
        assert {row["is_stale"] or row["has_import_errors"] for row in in_db.values()} == {False}
        errors = import_errors_in_db(db)
        # What the UI's "Dag Import Errors" lists: the file (relative to the bundle) and its error.
        assert set(errors) == {TENANT_ERRORS_FILE}
        assert f"{dags / 'tenants.yaml'}: {GLOBEX_TYPO}" in errors[TENANT_ERRORS_FILE]

    def test_fixing_the_tenant_clears_the_error_and_builds_its_dags(
        self, next_to_the_dag_file: None, tmp_path: Path
    ) -> None:
        dags = deploy(tmp_path, _with_globex_typo())
        assert _dagbag(dags).import_errors
        config = dags / "tenants.yaml"
        stat = config.stat()
        shutil.copy(EXAMPLE_CONFIG, config)
        os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

        bag = _dagbag(dags)

        assert bag.import_errors == {}
        assert set(bag.dags) == EXAMPLE_DAG_IDS

    def test_a_problem_of_the_file_fails_the_dag_file_alone(
        self, next_to_the_dag_file: None, tmp_path: Path
    ) -> None:
        data = yaml.safe_load(_with_globex_typo())
        data["tenants"].append(data["tenants"][0])  # a duplicate tenant id: the whole file is refused
        dags = deploy(tmp_path, yaml.safe_dump(data, sort_keys=False))

        bag = _dagbag(dags)

        assert bag.dags == {}
        (path,) = bag.import_errors
        assert Path(path).name == "ml_connector.py"
        error = bag.import_errors[path]
        assert (
            f"{dags / 'tenants.yaml'}: tenant 'acme': id: duplicate tenant id (already used by tenant #1)"
            in error
        )
        # Every problem of the file is listed, the tenant's own too, in the one import error.
        assert f"{dags / 'tenants.yaml'}: {GLOBEX_TYPO}" in error


@pytest.fixture(autouse=True)
def _fresh_config_cache() -> Iterator[None]:
    from ml_connector_provider.config import clear_config_cache

    clear_config_cache()
    yield
    clear_config_cache()
