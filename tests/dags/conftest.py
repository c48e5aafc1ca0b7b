"""A throw-away Airflow installation for the DAG tests.

Airflow reads ``AIRFLOW_HOME`` once, when it is first imported, and writes ``airflow.cfg`` there.
This conftest therefore points it at a temporary directory at import time (if nothing imported
Airflow yet), and gives every test the environment of an isolated installation whose DAG folder is
the repository's ``dags/`` and whose tenant file is the documented example.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO_ROOT / "dags"
DAG_FILE = DAGS_DIR / "ml_connector.py"
EXAMPLE_CONFIG = REPO_ROOT / "config" / "tenants.example.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def airflow_env(
    home: Path, *, config: Path | None = EXAMPLE_CONFIG, dags_folder: Path = DAGS_DIR
) -> dict[str, str]:
    """Environment variables of an isolated Airflow installation rooted at ``home``.

    :param home: the ``AIRFLOW_HOME`` directory (created if missing).
    :param config: tenant file for ``ML_CONNECTOR_CONFIG``; ``None`` leaves it unset.
    :param dags_folder: Airflow's DAG folder.
    """
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
    }
    if config is not None:
        env["ML_CONNECTOR_CONFIG"] = str(config)
    return env


def airflow_executable() -> str:
    """The ``airflow`` console script of the interpreter running the tests."""
    candidate = Path(sys.executable).with_name("airflow")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("airflow")
    if found is None:
        pytest.skip("the airflow command is not installed")
    return found


def run_airflow(
    args: Sequence[str], *, home: Path, config: Path | None = EXAMPLE_CONFIG, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the Airflow CLI in a fresh process against the installation at ``home``.

    :param args: arguments after ``airflow``.
    :param home: the ``AIRFLOW_HOME`` of the run.
    :param config: tenant file for ``ML_CONNECTOR_CONFIG``.
    :param timeout: seconds before the command is killed.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.pop("ML_CONNECTOR_CONFIG", None)
    env.update(airflow_env(home, config=config))
    return subprocess.run(
        [airflow_executable(), *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


if "airflow" not in sys.modules:
    _IMPORT_HOME = Path(tempfile.mkdtemp(prefix="mlc-airflow-home-"))
    atexit.register(shutil.rmtree, _IMPORT_HOME, ignore_errors=True)
    os.environ.update(airflow_env(_IMPORT_HOME, config=None))


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh ``AIRFLOW_HOME`` shared by the DAG tests of the session."""
    return tmp_path_factory.mktemp("airflow-home")


@pytest.fixture(scope="module")
def airflow_environment(airflow_home: Path) -> Iterator[dict[str, str]]:
    """Apply the isolated installation's environment for the duration of a test module."""
    env = airflow_env(airflow_home)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield env


@pytest.fixture(scope="session")
def airflow_cli(airflow_home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``airflow_cli(args, config=...)`` runs the Airflow CLI against the session's installation."""

    def run(args: Sequence[str], *, config: Path | None = EXAMPLE_CONFIG) -> subprocess.CompletedProcess[str]:
        return run_airflow(args, home=airflow_home, config=config)

    return run
