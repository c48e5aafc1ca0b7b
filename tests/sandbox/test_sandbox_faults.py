"""Fault injection over real HTTP, configured in process and through the admin API."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.faults import FaultInjector

from tests.sandbox.example_system import EXPORT_CHUNKS, ExampleSystem

WIDGETS = "^/api/widgets$"
BROKEN_CONNECTION = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)


def _get(base_url: str, headers: dict[str, str], **kwargs: object) -> requests.Response:
    return requests.get(base_url + "/api/widgets", headers=headers, timeout=5, **kwargs)  # type: ignore[arg-type]


def _statuses(base_url: str, headers: dict[str, str], count: int) -> list[int]:
    return [_get(base_url, headers).status_code for _ in range(count)]


# -- status faults -----------------------------------------------------------------------------


def test_429_with_retry_after_over_http(
    base_url: str, auth_headers: dict[str, str], admin: SandboxClient
) -> None:
    admin.add_fault(
        kind="status", status=429, path=WIDGETS, headers={"Retry-After": "2"}, body={"error": "slow down"}
    )
    limited = _get(base_url, auth_headers)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.json() == {"error": "slow down"}
    assert limited.headers["content-type"] == "application/json"
    assert _get(base_url, auth_headers).status_code == 200  # times defaults to 1


def test_429_without_retry_after_in_process(
    base_url: str, auth_headers: dict[str, str], system: ExampleSystem
) -> None:
    system.faults.add(FaultRule.rate_limit(path=WIDGETS))
    limited = _get(base_url, auth_headers)
    assert limited.status_code == 429
    assert "retry-after" not in limited.headers
    assert limited.content == b""


def test_rate_limit_helper_formats_retry_after() -> None:
    assert FaultRule.rate_limit(retry_after=3).headers == {"Retry-After": "3"}
    assert FaultRule.rate_limit(retry_after=0.5).headers == {"Retry-After": "0.5"}


def test_503_with_text_body(base_url: str, auth_headers: dict[str, str], system: ExampleSystem) -> None:
    system.faults.add(FaultRule.unavailable(path=WIDGETS, body="Service Unavailable"))
    response = _get(base_url, auth_headers)
    assert (response.status_code, response.text) == (503, "Service Unavailable")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_401_expired_token_fault(base_url: str, auth_headers: dict[str, str], admin: SandboxClient) -> None:
    admin.add_fault(
        FaultRule.error(
            401, path=WIDGETS, body="expired", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    )
    response = _get(base_url, auth_headers)
    assert (response.status_code, response.text) == (401, "expired")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_skip_and_times(base_url: str, auth_headers: dict[str, str], admin: SandboxClient) -> None:
    rule = admin.add_fault(kind="status", status=503, path=WIDGETS, skip=1, times=2)
    assert _statuses(base_url, auth_headers, 4) == [200, 503, 503, 200]
    view = admin.fault(rule["id"])
    assert (view["matched"], view["applied"], view["remaining"]) == (4, 2, 0)


def test_times_none_means_forever_until_removed(
    base_url: str, auth_headers: dict[str, str], admin: SandboxClient
) -> None:
    rule = admin.add_fault(kind="status", status=503, path=WIDGETS, times=None)
    assert _statuses(base_url, auth_headers, 5) == [503] * 5
    assert admin.fault(rule["id"])["remaining"] is None
    admin.remove_fault(rule["id"])
    assert _get(base_url, auth_headers).status_code == 200
    assert admin.faults() == []


def test_rules_apply_in_order(base_url: str, auth_headers: dict[str, str], system: ExampleSystem) -> None:
    system.faults.extend([FaultRule.error(500, path=WIDGETS), FaultRule.error(502, path=WIDGETS, times=2)])
    assert _statuses(base_url, auth_headers, 4) == [500, 502, 502, 200]


def test_method_and_query_matching(
    base_url: str, auth_headers: dict[str, str], system: ExampleSystem
) -> None:
    system.faults.add(FaultRule.error(409, path=WIDGETS, method="post", times=None))
    system.faults.add(FaultRule.error(504, path=WIDGETS, query=r"(^|&)offset=2(&|$)", times=None))
    assert _get(base_url, auth_headers).status_code == 200
    assert _get(base_url, auth_headers, params={"offset": 2}).status_code == 504
    assert _get(base_url, auth_headers, params={"offset": 4}).status_code == 200
    created = requests.post(base_url + "/api/widgets", json={"name": "x"}, headers=auth_headers, timeout=5)
    assert created.status_code == 409


def test_status_after_processing_keeps_the_side_effect(
    base_url: str, auth_headers: dict[str, str], system: ExampleSystem
) -> None:
    system.faults.add(FaultRule.error(500, path=WIDGETS, method="POST", process=True))
    response = requests.post(
        base_url + "/api/widgets", json={"name": "ghost"}, headers=auth_headers, timeout=5
    )
    assert response.status_code == 500
    assert system.state["widgets"][-1] == {"id": 100, "name": "ghost"}


# -- slow, hanging and dropped responses -------------------------------------------------------


def test_delay_slows_only_the_faulted_request(
    base_url: str, auth_headers: dict[str, str], system: ExampleSystem
) -> None:
    system.faults.add(FaultRule.slow(0.6, path=WIDGETS))
    result: dict[str, float | int] = {}

    def slow_call() -> None:
        started = time.perf_counter()
        result["status"] = _get(base_url, auth_headers).status_code
        result["elapsed"] = time.perf_counter() - started

    thread = threading.Thread(target=slow_call)
    thread.start()
    time.sleep(0.1)
    started = time.perf_counter()
    other = requests.get(base_url + "/api/events", headers={"Authorization": "Bearer sk_test_1"}, timeout=5)
    other_elapsed = time.perf_counter() - started
    slow_still_running = thread.is_alive()
    thread.join(5)
    assert other.status_code == 200
    # the sleeping request does not block the server
    assert slow_still_running
    assert other_elapsed < 0.4
    assert result["status"] == 200
    assert result["elapsed"] >= 0.6
    log = system.requests.entries(path=WIDGETS)
    assert [(e.fault_kind, e.status) for e in log] == [("delay", 200)]
    assert log[0].duration_ms >= 600


def test_delay_over_http_with_status(
    base_url: str, auth_headers: dict[str, str], admin: SandboxClient
) -> None:
    admin.add_fault(kind="status", status=503, seconds=0.3, path=WIDGETS)
    started = time.perf_counter()
    response = _get(base_url, auth_headers)
    assert response.status_code == 503
    assert time.perf_counter() - started >= 0.3


def test_timeout_makes_the_client_time_out(
    base_url: str, auth_headers: dict[str, str], admin: SandboxClient
) -> None:
    admin.add_fault(kind="timeout", seconds=3, path=WIDGETS)
    started = time.perf_counter()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(base_url + "/api/widgets", headers=auth_headers, timeout=(2, 0.3))
    assert time.perf_counter() - started < 2
    assert _get(base_url, auth_headers).status_code == 200


def test_drop_over_http(base_url: str, auth_headers: dict[str, str], admin: SandboxClient) -> None:
    admin.add_fault(kind="drop", path=WIDGETS)
    with pytest.raises(BROKEN_CONNECTION):
        _get(base_url, auth_headers)
    assert _get(base_url, auth_headers).status_code == 200


def test_drop_in_process_on_a_write_that_succeeds(
    base_url: str, auth_headers: dict[str, str], system: ExampleSystem
) -> None:
    system.faults.add(FaultRule.disconnect(path=WIDGETS, method="POST", process=True))
    with pytest.raises(BROKEN_CONNECTION):
        requests.post(base_url + "/api/widgets", json={"name": "lost reply"}, headers=auth_headers, timeout=5)
    assert system.state["widgets"][-1] == {"id": 100, "name": "lost reply"}
    entry = system.requests.entries(method="POST")[-1]
    assert (entry.fault_kind, entry.status) == ("drop", 201)


def test_drop_mid_stream(base_url: str, system: ExampleSystem) -> None:
    full = requests.get(base_url + "/api/export", timeout=5)
    assert full.text.count("\n") == EXPORT_CHUNKS
    system.faults.add(FaultRule.disconnect(path="^/api/export$", process=True))
    with pytest.raises(BROKEN_CONNECTION):
        requests.get(base_url + "/api/export", timeout=5)


def test_drop_with_streaming_client_read(
    base_url: str, auth_headers: dict[str, str], system: ExampleSystem
) -> None:
    system.faults.add(FaultRule.disconnect(path=WIDGETS))
    with requests.get(base_url + "/api/widgets", headers=auth_headers, timeout=5, stream=True) as response:
        assert response.status_code == 200
        with pytest.raises(BROKEN_CONNECTION):
            b"".join(response.iter_content(64))


# -- the admin API -----------------------------------------------------------------------------


def test_admin_routes_are_never_faulted(
    base_url: str, auth_headers: dict[str, str], admin: SandboxClient, system: ExampleSystem
) -> None:
    system.faults.add(FaultRule.error(500, path=".*", times=None))
    system.faults.add(FaultRule.disconnect(path="sandbox", times=None))
    assert admin.health() == {"status": "ok", "system": "example"}
    assert len(admin.faults()) == 2
    assert requests.get(base_url + "/__sandbox__", timeout=5).status_code == 404
    assert _get(base_url, auth_headers).status_code == 500
    assert [e.path for e in system.requests.entries()] == ["/oauth/token", "/api/widgets"]


def test_list_and_clear_faults(admin: SandboxClient) -> None:
    added = admin.add_faults(
        [FaultRule.rate_limit(path="/a", retry_after=1), {"kind": "delay", "seconds": 1, "id": "slow-a"}]
    )
    assert [r["kind"] for r in added] == ["status", "delay"]
    assert added[1]["id"] == "slow-a"
    listed = admin.faults()
    assert [(r["id"], r["matched"], r["applied"], r["remaining"]) for r in listed] == [
        (added[0]["id"], 0, 0, 1),
        ("slow-a", 0, 0, 1),
    ]
    assert listed[0]["headers"] == {"Retry-After": "1"}
    assert admin.clear_faults() == 2
    assert admin.faults() == []


def test_same_id_replaces_a_rule(admin: SandboxClient) -> None:
    admin.add_fault(kind="status", status=500, id="r1")
    admin.add_fault(kind="status", status=502, id="r1")
    assert [(r["id"], r["status"]) for r in admin.faults()] == [("r1", 502)]


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "explode"},
        {"kind": "status", "path": "("},
        {"kind": "delay"},
        {"kind": "status", "status": 99},
        {"kind": "status", "times": 0},
        {"kind": "delay", "seconds": 1, "process": True},
        {"kind": "status", "colour": "red"},
    ],
)
def test_invalid_rules_are_refused(base_url: str, admin: SandboxClient, payload: dict[str, object]) -> None:
    response = requests.post(base_url + "/__sandbox__/faults", json=payload, timeout=5)
    assert response.status_code == 422
    assert admin.faults() == []


def test_unknown_rule_ids(base_url: str, admin: SandboxClient) -> None:
    assert requests.get(base_url + "/__sandbox__/faults/nope", timeout=5).status_code == 404
    assert requests.delete(base_url + "/__sandbox__/faults/nope", timeout=5).status_code == 404


def test_injector_counts_only_requests_that_reach_a_rule() -> None:
    injector = FaultInjector()
    first = injector.add(FaultRule.error(500, path="^/x$", times=1))
    second = injector.add(FaultRule.error(502, path="^/x$", skip=1, times=1))
    assert [injector.match("GET", "/x") for _ in range(3)] == [first, None, second]
    assert [(s["matched"], s["applied"]) for s in injector.status()] == [(3, 1), (2, 1)]
    assert injector.match("GET", "/y") is None
    assert len(injector) == 2
    assert injector.remove(first.id) is True
    assert injector.remove(first.id) is False
    assert injector.rules() == [second]


async def _released_sleep(injector: FaultInjector) -> float:
    started = time.perf_counter()
    await injector.sleep(5)
    return time.perf_counter() - started


def test_release_waits_cuts_fault_sleeps_short() -> None:
    import anyio

    injector = FaultInjector()
    injector.release_waits()
    assert anyio.run(_released_sleep, injector) < 0.1
    injector.rearm()
    started = time.perf_counter()
    anyio.run(injector.sleep, 0.1)
    assert time.perf_counter() - started >= 0.1
