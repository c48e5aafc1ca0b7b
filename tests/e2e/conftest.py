"""Fixtures of the end-to-end DAG tests: each test module gets its own stand-ins, its own DAG bundle
built from the module's ``CONFIG`` (tenant YAML) and its own ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ml_connector_sandbox.runner import SandboxRunner

from ml_connector_provider.ledger import Ledger
from tests.harness.airflow_dags import airflow_dag_env, open_ledger

CONN_IDS = {"fusion": "acme_fusion", "stripe": "acme_stripe"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxRunner]:
    with SandboxRunner(["fusion", "stripe"]) as runner:
        yield runner


@pytest.fixture(scope="module")
def ledger(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxRunner
) -> Iterator[Ledger]:
    root = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    with airflow_dag_env(root, sandbox, request.module.CONFIG, CONN_IDS) as path, open_ledger(path) as led:
        yield led
