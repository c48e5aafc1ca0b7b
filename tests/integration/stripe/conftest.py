"""Fixtures: the Stripe stand-in served over real HTTP, and Airflow connections pointing at it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import stripe
from ml_connector_sandbox import SandboxRunner
from ml_connector_sandbox.runner import airflow_conn_env_var
from ml_connector_sandbox.systems.stripe import StripeSandbox

from ml_connector_provider.hooks.stripe import StripeHook
from tests.harness.connections import export_connection
from tests.harness.sandbox import one_system_fixtures

ConnectionFactory = Callable[..., str]

runner, stripe_system, base_url, admin = one_system_fixtures(StripeSandbox, system_fixture="stripe_system")


@pytest.fixture
def http(base_url: str, stripe_system: StripeSandbox) -> Iterator[requests.Session]:
    """A plain HTTP session authenticated with the stand-in's secret key (Bearer)."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {stripe_system.secret_key}"
        yield session


@pytest.fixture
def make_connection(
    runner: SandboxRunner, stripe_system: StripeSandbox, monkeypatch: pytest.MonkeyPatch
) -> ConnectionFactory:
    """Export ``AIRFLOW_CONN_<ID>`` for a connection to the stand-in, with overrides.

    ``make_connection("stripe_x", password="sk_test_other", timeout=1)``: ``password`` replaces
    the key, other keywords are set in (or, when ``None``, removed from) the extras.
    """

    def make(conn_id: str, *, password: str | None = None, **extra: Any) -> str:
        connection = json.loads(runner.airflow_env({"stripe": conn_id})[airflow_conn_env_var(conn_id)])
        return export_connection(monkeypatch, conn_id, connection, password=password, **extra)

    return make


@pytest.fixture
def stripe_conn_id(make_connection: ConnectionFactory) -> str:
    """``stripe_default`` exactly as the stand-in hands it out (``runner.airflow_env``)."""
    return make_connection("stripe_default")


@pytest.fixture
def hook(stripe_conn_id: str) -> StripeHook:
    """A :class:`StripeHook` on ``stripe_default``."""
    return StripeHook(stripe_conn_id)


@pytest.fixture
def client(hook: StripeHook) -> stripe.StripeClient:
    """The hook's ``stripe.StripeClient``."""
    return hook.client


def post_form(session: requests.Session, url: str, body: str, **headers: str) -> requests.Response:
    """POST a raw form body (brackets exactly as written)."""
    return session.post(
        url,
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        timeout=10,
    )
