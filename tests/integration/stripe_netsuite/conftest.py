"""Fixtures: the Stripe and NetSuite stand-ins over real HTTP, reset to their seeds for every test,
the tenant's Airflow connections pointing at them, and a ledger of its own per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from ml_connector_sandbox import SandboxRunner

from ml_connector_provider.ledger import Ledger

CONN_IDS = {"netsuite": "acme_netsuite", "stripe": "acme_stripe"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxRunner]:
    with SandboxRunner(["stripe", "netsuite"]) as runner:
        yield runner


@pytest.fixture
def stand_ins(sandbox: SandboxRunner, monkeypatch: pytest.MonkeyPatch) -> SandboxRunner:
    """The stand-ins at their seeds, with the tenant's connections exported for this test."""
    from ml_connector_provider.hooks.netsuite import clear_token_cache

    for name in ("stripe", "netsuite"):
        sandbox.system(name).reset()
    clear_token_cache()
    for variable, value in sandbox.airflow_env(CONN_IDS).items():
        monkeypatch.setenv(variable, value)
    return sandbox


@pytest.fixture
def client(stand_ins: SandboxRunner) -> stripe.StripeClient:
    key = stand_ins.system("stripe").secret_key  # type: ignore[attr-defined]
    return stripe.StripeClient(key, base_addresses={"api": stand_ins.url("stripe")}, max_network_retries=0)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    store = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.migrate()
    return store


def netsuite(sandbox: SandboxRunner) -> Any:
    """The NetSuite stand-in (typed loosely: its helpers are not part of the base class)."""
    return sandbox.system("netsuite")
