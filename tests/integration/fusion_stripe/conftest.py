"""Fixtures: the Oracle Fusion and Stripe stand-ins over real HTTP, reset to their seeds for every
test, and the tenant's Airflow connections pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ml_connector_sandbox import SandboxRunner

CONN_IDS = {"fusion": "acme_fusion", "stripe": "acme_stripe"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxRunner]:
    with SandboxRunner(["fusion", "stripe"]) as runner:
        yield runner


@pytest.fixture
def stand_ins(sandbox: SandboxRunner, monkeypatch: pytest.MonkeyPatch) -> SandboxRunner:
    """The stand-ins at their seeds, with ``AIRFLOW_CONN_ACME_FUSION`` and ``AIRFLOW_CONN_ACME_STRIPE``
    exported for this test."""
    for name in ("fusion", "stripe"):
        sandbox.system(name).reset()
    for variable, value in sandbox.airflow_env(CONN_IDS).items():
        monkeypatch.setenv(variable, value)
    return sandbox


def stripe_system(sandbox: SandboxRunner) -> Any:
    """The Stripe stand-in (typed loosely: its helpers are not part of the base class)."""
    return sandbox.system("stripe")
