"""Fixtures of the tenant configuration tests."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Importing the provider imports Airflow, which writes airflow.cfg under AIRFLOW_HOME; keep that
# out of the developer's home when these tests run first.
if "airflow" not in sys.modules and not os.environ.get("AIRFLOW_HOME"):
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="mlc-airflow-home-")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from ml_connector_provider.config import clear_config_cache

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_CONFIG = REPO_ROOT / "config" / "tenants.example.yaml"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_config_cache()
    yield
    clear_config_cache()


@pytest.fixture
def example_config() -> Path:
    """The documented example tenant file of the repository."""
    return EXAMPLE_CONFIG


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML text to ``tenants.yaml`` in a temporary directory and return its path."""

    def write(text: str, name: str = "tenants.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
