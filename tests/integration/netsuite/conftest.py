"""Fixtures: the NetSuite stand-in over real HTTP, and ``netsuite`` connections pointing at it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ml_connector_sandbox import SandboxRunner
from ml_connector_sandbox.runner import airflow_conn_env_var
from ml_connector_sandbox.systems.netsuite import NetSuiteSandbox

from ml_connector_provider.hooks.netsuite import NetSuiteHook, clear_token_cache
from ml_connector_provider.transport import clear_shared_concurrency_limiters
from tests.harness.connections import export_connection
from tests.harness.sandbox import one_system_fixtures

#: Retries fast enough for tests, still exercising the backoff.
FAST_RETRY = {"retry_attempts": 6, "retry_base_delay": 0.01, "retry_max_delay": 0.05}

ConnectionFactory = Callable[..., str]

runner, netsuite, base_url, admin = one_system_fixtures(NetSuiteSandbox, system_fixture="netsuite")


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Tokens and concurrency limiters are process-wide: every test starts without them."""
    clear_token_cache()
    clear_shared_concurrency_limiters()
    yield
    clear_token_cache()
    clear_shared_concurrency_limiters()


@pytest.fixture
def make_connection(
    runner: SandboxRunner, netsuite: NetSuiteSandbox, monkeypatch: pytest.MonkeyPatch
) -> ConnectionFactory:
    """Export ``AIRFLOW_CONN_<ID>`` for the connection the stand-in hands out, with
    :data:`FAST_RETRY` and the given extras (``None`` removes one)."""

    def make(conn_id: str, *, login: str | None = None, fast_retry: bool = True, **extra: Any) -> str:
        connection = json.loads(runner.airflow_env({"netsuite": conn_id})[airflow_conn_env_var(conn_id)])
        if fast_retry:
            connection["extra"].update(FAST_RETRY)
        return export_connection(monkeypatch, conn_id, connection, login=login, **extra)

    return make


@pytest.fixture
def conn_id(make_connection: ConnectionFactory) -> str:
    """``netsuite_default`` as the stand-in hands it out, with fast retries."""
    return make_connection("netsuite_default")


@pytest.fixture
def hook(conn_id: str) -> Iterator[NetSuiteHook]:
    """A :class:`NetSuiteHook` on :func:`conn_id`, closed after the test."""
    hook = NetSuiteHook(conn_id)
    yield hook
    hook.close()
