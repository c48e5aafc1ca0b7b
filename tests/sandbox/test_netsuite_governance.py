"""The NetSuite stand-in's concurrency limit (contract B9/B8), fault injection, reset and runner wiring."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from ml_connector_sandbox import SandboxRunner
from ml_connector_sandbox.runner import main as runner_main
from ml_connector_sandbox.systems import available_systems
from ml_connector_sandbox.systems.netsuite import NetSuiteSandbox

from tests.harness.sandbox import one_system_fixtures
from tests.sandbox.netsuite_support import (
    RECORDS,
    assertion,
    bearer,
    credentials,
    error_code,
    internal_id,
    request_token,
)

runner, netsuite, base_url, admin = one_system_fixtures(NetSuiteSandbox, system_fixture="netsuite")


def _concurrency(base_url: str, **change: Any) -> dict[str, Any]:
    if change:
        response = requests.post(f"{base_url}/__sandbox__/netsuite/concurrency", json=change, timeout=10)
    else:
        response = requests.get(f"{base_url}/__sandbox__/netsuite/concurrency", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def _fill_slots(base_url: str, headers: dict[str, str], pool: ThreadPoolExecutor, n: int) -> list[Any]:
    _concurrency(base_url, hold=True)
    futures = [
        pool.submit(requests.get, f"{base_url}{RECORDS}/customer/101", headers=headers, timeout=60)
        for _ in range(n)
    ]
    _until(lambda: _concurrency(base_url)["in_flight"] == n, f"{n} requests in flight")
    return futures


def test_the_request_over_the_limit_gets_429_concurrency_limit_exceeded_without_retry_after(
    base_url: str,
) -> None:
    headers = bearer(base_url)
    with ThreadPoolExecutor(5) as pool:
        held = _fill_slots(base_url, headers, pool, 5)
        refused = requests.get(f"{base_url}{RECORDS}/customer/102", headers=headers, timeout=10)
        suiteql = requests.post(
            f"{base_url}/services/rest/query/v1/suiteql",
            json={"q": "SELECT id FROM customer"},
            headers={**headers, "Prefer": "transient"},
            timeout=10,
        )
        _concurrency(base_url, hold=False)
        assert [f.result().status_code for f in held] == [200] * 5
    assert refused.status_code == 429
    assert "Retry-After" not in refused.headers
    body = refused.json()
    assert body["title"] == "Too Many Requests"
    assert body["o:errorDetails"] == [
        {
            "detail": "Concurrent request limit exceeded. Request blocked.",
            "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
        }
    ]
    assert suiteql.status_code == 429
    stats = _concurrency(base_url)
    assert (stats["peak"], stats["refused"], stats["in_flight"]) == (5, 2, 0)
    assert requests.get(f"{base_url}{RECORDS}/customer/102", headers=headers, timeout=10).status_code == 200


def test_some_accounts_answer_400_with_the_newer_detail(base_url: str) -> None:
    requests.post(
        f"{base_url}/__sandbox__/netsuite/settings",
        json={"concurrency_limit": 2, "concurrency_status": 400, "concurrency_detail": "long"},
        timeout=10,
    )
    headers = bearer(base_url)
    with ThreadPoolExecutor(2) as pool:
        held = _fill_slots(base_url, headers, pool, 2)
        refused = requests.get(f"{base_url}{RECORDS}/customer/102", headers=headers, timeout=10)
        _concurrency(base_url, hold=False)
        assert [f.result().status_code for f in held] == [200, 200]
    assert refused.status_code == 400
    assert error_code(refused) == "CONCURRENCY_LIMIT_EXCEEDED"
    assert "Integration Governance" in refused.json()["o:errorDetails"][0]["detail"]


def test_the_token_endpoint_does_not_take_a_slot(base_url: str) -> None:
    headers = bearer(base_url)
    creds = credentials(base_url)
    with ThreadPoolExecutor(5) as pool:
        held = _fill_slots(base_url, headers, pool, 5)
        token = request_token(base_url, assertion(base_url, creds))
        _concurrency(base_url, hold=False)
        [f.result() for f in held]
    assert token.status_code == 200


def test_without_a_limit_every_parallel_request_is_served(base_url: str) -> None:
    requests.post(f"{base_url}/__sandbox__/netsuite/settings", json={"concurrency_limit": None}, timeout=10)
    headers = bearer(base_url)
    with ThreadPoolExecutor(8) as pool:
        held = _fill_slots(base_url, headers, pool, 8)
        _concurrency(base_url, hold=False)
        assert [f.result().status_code for f in held] == [200] * 8
    assert _concurrency(base_url)["refused"] == 0


def test_a_lost_reply_to_an_upsert_is_safe_to_repeat(base_url: str, netsuite: NetSuiteSandbox) -> None:
    headers = bearer(base_url)
    requests.post(
        f"{base_url}/__sandbox__/faults",
        json={
            "kind": "status",
            "status": 503,
            "path": "/record/v1/invoice/eid:",
            "method": "PUT",
            "process": True,
        },
        timeout=10,
    )
    body = {"entity": {"id": "101"}, "item": {"items": [{"item": {"id": "201"}, "amount": 10}]}}
    lost = requests.put(
        f"{base_url}{RECORDS}/invoice/eid:stripe-ch_lost", json=body, headers=headers, timeout=10
    )
    assert lost.status_code == 503
    assert len(netsuite.records("invoice")) == 1  # the write happened
    again = requests.put(
        f"{base_url}{RECORDS}/invoice/eid:stripe-ch_lost", json=body, headers=headers, timeout=10
    )
    assert internal_id(again) == netsuite.records("invoice")[0]["id"]
    assert len(netsuite.records("invoice")) == 1
    log = requests.get(f"{base_url}/__sandbox__/requests", params={"method": "PUT"}, timeout=10).json()
    assert [entry["status"] for entry in log] == [503, 204]
    assert log[0]["fault"]["kind"] == "status"


def test_a_dropped_connection_is_a_client_error_and_the_write_is_not_done_twice(
    base_url: str, netsuite: NetSuiteSandbox
) -> None:
    headers = bearer(base_url)
    requests.post(
        f"{base_url}/__sandbox__/faults",
        json={"kind": "drop", "path": "/record/v1/customer$", "method": "POST", "process": True},
        timeout=10,
    )
    with pytest.raises(requests.exceptions.RequestException):
        requests.post(
            f"{base_url}{RECORDS}/customer", json={"companyName": "Dropped"}, headers=headers, timeout=10
        )
    assert [c["companyName"] for c in netsuite.records("customer")].count("Dropped") == 1


def test_reset_restores_settings_and_statistics(base_url: str, netsuite: NetSuiteSandbox) -> None:
    requests.post(
        f"{base_url}/__sandbox__/netsuite/settings", json={"concurrency_limit": 1, "token_ttl": 5}, timeout=10
    )
    bearer(base_url)
    requests.post(f"{base_url}/__sandbox__/reset", timeout=10)
    settings = requests.get(f"{base_url}/__sandbox__/netsuite/settings", timeout=10).json()
    assert (settings["concurrency_limit"], settings["token_ttl"]) == (5, 3600.0)
    assert _concurrency(base_url)["admitted"] == 0
    assert requests.get(f"{base_url}/__sandbox__/tokens", timeout=10).json()["issued"] == 0


def test_bad_settings_are_refused(base_url: str) -> None:
    response = requests.post(
        f"{base_url}/__sandbox__/netsuite/settings", json={"concurrency_status": 503}, timeout=10
    )
    assert response.status_code == 400


def test_the_registry_and_runner_hand_out_a_netsuite_connection() -> None:
    assert "netsuite" in available_systems()
    with SandboxRunner(["netsuite"]) as running:
        env = running.airflow_env()
        connection = json.loads(env["AIRFLOW_CONN_SANDBOX_NETSUITE"])
        url = running.url("netsuite")
        assert connection["conn_type"] == "netsuite"
        assert connection["host"] == url
        extra = connection["extra"]
        assert set(extra) == {"account_id", "certificate_id", "private_key", "algorithm", "base_url"}
        assert (extra["account_id"], extra["algorithm"], extra["base_url"]) == ("1234567_SB1", "PS256", url)
        creds = {
            "client_id": connection["login"],
            "certificate_id": extra["certificate_id"],
            "private_key": extra["private_key"],
        }
        assert request_token(url, assertion(url, creds)).status_code == 200


def test_python_m_ml_connector_sandbox_starts_it() -> None:
    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=runner_main,
        args=(["--systems", "netsuite", "--json"],),
        kwargs={"stop_event": stop, "out": out},
    )
    thread.start()
    try:
        _until(lambda: out.getvalue().strip().endswith("}"), "the JSON description")
        described = json.loads(out.getvalue())["systems"]["netsuite"]
    finally:
        stop.set()
        thread.join(timeout=30)
    assert described["env_var"] == "AIRFLOW_CONN_SANDBOX_NETSUITE"
    assert described["connection"]["conn_type"] == "netsuite"


def test_slot_seconds_measure_how_busy_the_slots_were(base_url: str) -> None:
    headers = bearer(base_url)
    _concurrency(base_url, reset_stats=True)
    with ThreadPoolExecutor(3) as pool:
        held = _fill_slots(base_url, headers, pool, 3)
        _concurrency(base_url, hold=False)
        [f.result() for f in held]
    stats = _concurrency(base_url)
    assert stats["admitted"] == 3
    # Three requests held together: the slots were busy at least as long as the span of the run,
    # and never more than three times it.
    assert stats["elapsed"] > 0
    assert stats["elapsed"] <= stats["slot_seconds"] <= 3 * stats["elapsed"]
