"""The runner (start/stop, ports, connections) and the shared system machinery over HTTP."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from typing import ClassVar

import pytest
import requests
from fastapi import FastAPI
from ml_connector_sandbox import SandboxClient, SandboxClock, SandboxRunner, SandboxSystem
from ml_connector_sandbox import systems as registry
from ml_connector_sandbox.runner import SandboxStartError, airflow_conn_env_var

from tests.harness.ports import free_port
from tests.sandbox.example_system import CLIENT_ID, CLIENT_SECRET, TOKEN_PATH, ExampleSystem

EXAMPLE_PATH = f"{ExampleSystem.__module__}:{ExampleSystem.__qualname__}"


class OtherExample(ExampleSystem):
    name = "other"
    default_conn_id = "other_default"


def _refused(url: str) -> bool:
    try:
        requests.get(url + "/__sandbox__/health", timeout=1)
    except requests.exceptions.ConnectionError:
        return True
    return False


@pytest.fixture
def threads_before() -> Iterator[set[threading.Thread]]:
    before = set(threading.enumerate())
    yield before
    deadline = time.monotonic() + 2
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert set(threading.enumerate()) - before == set()


# -- lifecycle ---------------------------------------------------------------------------------


def test_start_serve_and_stop_fast_without_leaking_threads(threads_before: set[threading.Thread]) -> None:
    started = time.perf_counter()
    runner = SandboxRunner([ExampleSystem(), OtherExample()]).start()
    try:
        startup = time.perf_counter() - started
        urls = runner.urls()
        assert list(urls) == ["example", "other"]
        assert all(u.startswith("http://127.0.0.1:") for u in urls.values())
        assert len({runner.port("example"), runner.port("other")}) == 2
        for name, url in urls.items():
            assert requests.get(url + "/__sandbox__/health", timeout=2).json() == {
                "status": "ok",
                "system": name,
            }
        new_threads = {t.name for t in set(threading.enumerate()) - threads_before}
        assert {n for n in new_threads if n.startswith("sandbox-")} == {"sandbox-example", "sandbox-other"}
    finally:
        stopping = time.perf_counter()
        runner.stop()
        shutdown = time.perf_counter() - stopping
    assert startup < 2.0
    assert shutdown < 2.0
    assert runner.running is False
    assert all(_refused(u) for u in urls.values())
    runner.stop()  # idempotent


def test_stop_does_not_wait_for_hanging_requests(threads_before: set[threading.Thread]) -> None:
    from ml_connector_sandbox import FaultRule

    system = ExampleSystem()
    system.faults.add(FaultRule.hang(60, path="/api/export"))
    with SandboxRunner([system]) as runner:
        url = runner.url("example")
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(url + "/api/export", timeout=0.2)
        started = time.perf_counter()
    assert time.perf_counter() - started < 1.5


def test_a_system_can_be_served_again_after_a_stop(threads_before: set[threading.Thread]) -> None:
    system = ExampleSystem()
    for _ in range(2):
        with SandboxRunner([system]) as runner:
            assert requests.get(runner.url("example") + "/api/export", timeout=2).status_code == 200


def test_requested_port_and_port_base(threads_before: set[threading.Thread]) -> None:
    port = free_port()
    with SandboxRunner([ExampleSystem()], ports={"example": port}) as runner:
        assert runner.url("example") == f"http://127.0.0.1:{port}"
    base = free_port()
    with SandboxRunner([ExampleSystem()], port_base=base) as runner:
        assert runner.port("example") == base


def test_port_in_use_fails_cleanly(threads_before: set[threading.Thread]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        runner = SandboxRunner([OtherExample(), ExampleSystem()], ports={"example": port})
        with pytest.raises(OSError):
            runner.start()
        assert runner.running is False


def test_systems_by_registry_name(
    monkeypatch: pytest.MonkeyPatch, threads_before: set[threading.Thread]
) -> None:
    monkeypatch.setitem(registry.SYSTEMS, "example", EXAMPLE_PATH)
    assert registry.available_systems() == sorted(registry.SYSTEMS)
    with SandboxRunner(["example"]) as runner:
        assert isinstance(runner.system("example"), ExampleSystem)
        assert requests.get(runner.url("example") + "/__sandbox__/health", timeout=2).status_code == 200


def test_registry_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(registry.UnknownSystemError, match="unknown sandbox system 'nope'"):
        SandboxRunner(["nope"])
    monkeypatch.setitem(registry.SYSTEMS, "broken", "json:dumps")
    with pytest.raises(TypeError, match="not a SandboxSystem subclass"):
        registry.create_system("broken")
    monkeypatch.setitem(
        registry.SYSTEMS, "dotted", f"{ExampleSystem.__module__}.{ExampleSystem.__qualname__}"
    )
    assert registry.load_system_class("dotted") is ExampleSystem


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="listed twice: example"):
        SandboxRunner([ExampleSystem(), ExampleSystem()])
    with pytest.raises(ValueError, match="unknown systems: ghost"):
        SandboxRunner([ExampleSystem()], ports={"ghost": 1})
    runner = SandboxRunner([ExampleSystem()])
    with pytest.raises(RuntimeError, match="not running"):
        runner.url("example")
    with pytest.raises(KeyError, match="no sandbox system 'ghost'"):
        runner.system("ghost")

    class Nameless(SandboxSystem):
        pass

    with pytest.raises(TypeError, match="must set a class attribute 'name'"):
        Nameless()


# -- connections --------------------------------------------------------------------------------


def test_connections_and_airflow_env(threads_before: set[threading.Thread]) -> None:
    from airflow.models.connection import Connection

    with SandboxRunner([ExampleSystem(), OtherExample()]) as runner:
        url = runner.url("example")
        expected = {
            "conn_type": "http",
            "host": url,
            "login": CLIENT_ID,
            "password": CLIENT_SECRET,
            "extra": {"token_path": TOKEN_PATH},
        }
        assert runner.connections()["example"] == expected
        assert runner.connections()["other"]["host"] == runner.url("other")

        env = runner.airflow_env({"example": "fusion_sandbox"})
        assert list(env) == ["AIRFLOW_CONN_FUSION_SANDBOX"]
        assert json.loads(env["AIRFLOW_CONN_FUSION_SANDBOX"]) == expected
        conn = Connection.from_json(env["AIRFLOW_CONN_FUSION_SANDBOX"], conn_id="fusion_sandbox")
        assert (conn.conn_type, conn.host, conn.login, conn.password) == (
            "http",
            url,
            CLIENT_ID,
            CLIENT_SECRET,
        )
        assert conn.extra_dejson == {"token_path": TOKEN_PATH}

        assert sorted(runner.airflow_env()) == ["AIRFLOW_CONN_OTHER_DEFAULT", "AIRFLOW_CONN_SANDBOX_EXAMPLE"]
        with pytest.raises(KeyError):
            runner.airflow_env({"ghost": "x"})
    assert airflow_conn_env_var("my_conn") == "AIRFLOW_CONN_MY_CONN"


def test_default_connection_uses_the_first_client() -> None:
    class Plain(SandboxSystem):
        name = "plain"
        conn_type = "generic"
        clients: ClassVar[Mapping[str, str]] = {"id-1": "secret-1"}

    assert Plain().connection("http://127.0.0.1:1") == {
        "conn_type": "generic",
        "host": "http://127.0.0.1:1",
        "login": "id-1",
        "password": "secret-1",
        "extra": {},
    }
    assert Plain().conn_id == "sandbox_plain"


# -- state, reset, request log, clock ------------------------------------------------------------


def _create(base_url: str, headers: dict[str, str], name: str) -> dict[str, object]:
    response = requests.post(base_url + "/api/widgets", json={"name": name}, headers=headers, timeout=5)
    assert response.status_code == 201
    return dict(response.json())


def _widget_ids(base_url: str, headers: dict[str, str]) -> list[int]:
    ids: list[int] = []
    offset = 0
    while True:
        page = requests.get(
            base_url + "/api/widgets", params={"offset": offset, "limit": 3}, headers=headers, timeout=5
        ).json()
        ids += [w["id"] for w in page["items"]]
        if not page["hasMore"]:
            return ids
        offset += page["limit"]


def test_state_persists_and_reset_restores_the_seed(
    base_url: str, auth_headers: dict[str, str], admin: SandboxClient
) -> None:
    assert _create(base_url, auth_headers, "a") == {"id": 100, "name": "a"}
    assert _create(base_url, auth_headers, "b") == {"id": 101, "name": "b"}
    assert _widget_ids(base_url, auth_headers) == [1, 2, 3, 4, 5, 100, 101]
    admin.reset(tokens=False)
    assert _widget_ids(base_url, auth_headers) == [1, 2, 3, 4, 5]
    assert _create(base_url, auth_headers, "c") == {"id": 100, "name": "c"}


def test_reset_flags(base_url: str, auth_headers: dict[str, str], admin: SandboxClient) -> None:
    _create(base_url, auth_headers, "kept")
    admin.add_fault(kind="status", status=500, path="^/nowhere$")
    admin.reset(state=False, tokens=False)
    assert admin.faults() == []
    assert admin.request_log() == []
    assert _widget_ids(base_url, auth_headers)[-1] == 100
    admin.reset()
    assert requests.get(base_url + "/api/widgets", headers=auth_headers, timeout=5).status_code == 401


def test_paging_through_the_example_collection(base_url: str, auth_headers: dict[str, str]) -> None:
    def page(**params: int) -> requests.Response:
        return requests.get(base_url + "/api/widgets", params=params, headers=auth_headers, timeout=5)

    assert [w["id"] for w in page().json()["items"]] == [1, 2]  # default limit 2
    capped = page(limit=50).json()
    assert (capped["limit"], capped["count"], capped["hasMore"]) == (3, 3, True)
    bad = page(limit=0)
    assert (bad.status_code, bad.json()["param"]) == (400, "limit")


def test_state_dump(admin: SandboxClient) -> None:
    state = admin.state()
    assert state["widgets"][0] == {"id": 1, "name": "widget 1"}
    assert [e["id"] for e in state["events"]][:2] == ["evt_7", "evt_6"]


def test_request_log(base_url: str, auth_headers: dict[str, str], admin: SandboxClient) -> None:
    _create(base_url, auth_headers, "logged")
    requests.get(base_url + "/api/widgets?limit=3", headers=auth_headers, timeout=5)
    log = admin.request_log()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", "/oauth/token", 200),
        ("POST", "/api/widgets", 201),
        ("GET", "/api/widgets", 200),
    ]
    assert [e["seq"] for e in log] == sorted(e["seq"] for e in log)
    post = log[1]
    assert json.loads(post["body"]) == {"name": "logged"}
    assert post["headers"]["authorization"] == auth_headers["Authorization"]
    assert post["fault"] is None
    assert log[2]["query"] == "limit=3"
    assert datetime.fromisoformat(log[0]["at"]).tzinfo is not None

    assert [e["path"] for e in admin.request_log(method="post")] == ["/oauth/token", "/api/widgets"]
    assert [e["seq"] for e in admin.request_log(path="widgets$")] == [log[1]["seq"], log[2]["seq"]]
    assert admin.request_log(since=log[1]["seq"]) == [log[2]]
    assert (
        requests.get(base_url + "/__sandbox__/requests", params={"path": "("}, timeout=5).status_code == 400
    )
    admin.clear_request_log()
    assert admin.request_log() == []


def test_clock_over_http(admin: SandboxClient, system: ExampleSystem) -> None:
    wall = datetime.now(UTC)
    moved = admin.advance_clock(3600)
    assert 3599 < (moved - wall).total_seconds() < 3610
    assert system.clock.offset == 3600
    assert (admin.advance_clock(60) - moved).total_seconds() >= 60
    assert system.clock.offset == 3660
    admin.set_clock_offset(-10)
    assert system.clock.offset == -10
    assert abs((admin.clock() - datetime.now(UTC)).total_seconds() + 10) < 5
    base_url = admin.base_url
    both = requests.post(base_url + "/__sandbox__/clock", json={"advance": 1, "offset": 1}, timeout=5)
    neither = requests.post(base_url + "/__sandbox__/clock", json={}, timeout=5)
    assert (both.status_code, neither.status_code) == (422, 422)
    admin.reset()
    assert system.clock.offset == 0


def test_runner_helpers(runner: SandboxRunner, system: ExampleSystem) -> None:
    runner.advance_clock(100)
    assert system.clock.offset == 100
    system.state["widgets"] = []
    runner.reset_all()
    assert (system.clock.offset, len(system.state["widgets"])) == (0, 5)
    with runner.client("example") as client:
        assert client.health()["system"] == "example"


def test_shared_clock_is_advanced_once() -> None:
    clock = SandboxClock()
    runner = SandboxRunner([ExampleSystem(clock=clock), OtherExample(clock=clock)])
    runner.advance_clock(30)
    assert clock.offset == 30


def test_state_helpers() -> None:
    system = ExampleSystem()
    assert "widgets" in system.state
    assert system.state.get("missing", "default") == "default"
    assert system.state.next_id("x") == 1
    assert system.state.next_id("x") == 2
    snapshot = system.state.snapshot()
    snapshot["widgets"].clear()
    assert len(system.state["widgets"]) == 5
    system.state.reset()
    assert system.state.next_id("x") == 1


def test_reset_state_hook_runs_after_the_seed_and_only_with_the_state() -> None:
    seen: list[int] = []

    class Tracking(ExampleSystem):
        def reset_state(self) -> None:
            seen.append(len(self.state["widgets"]))

    system = Tracking()
    system.state["widgets"] = []
    system.reset(state=False)
    assert (seen, system.state["widgets"]) == ([], [])
    system.reset()
    assert seen == [5]  # the hook sees the state already back at its seed


class LifespanExample(ExampleSystem):
    name = "lifespan"

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        if self.fail:
            raise RuntimeError("cannot start")
        self.events.append("started")
        yield
        self.events.append("stopped")


def test_lifespan_hook_runs_on_start_and_stop(threads_before: set[threading.Thread]) -> None:
    system = LifespanExample()
    with SandboxRunner([system]):
        assert system.events == ["started"]
    assert system.events == ["started", "stopped"]


def test_failed_startup_is_reported_and_cleaned_up(threads_before: set[threading.Thread]) -> None:
    runner = SandboxRunner([ExampleSystem(), LifespanExample(fail=True)])
    with pytest.raises(SandboxStartError, match="sandbox 'lifespan' stopped while starting"):
        runner.start()
    assert runner.running is False


def test_wildcard_bind_and_advertised_host(threads_before: set[threading.Thread]) -> None:
    with SandboxRunner([ExampleSystem()], host="0.0.0.0") as runner:
        port = runner.port("example")
        assert runner.url("example") == f"http://127.0.0.1:{port}"
        assert requests.get(runner.url("example") + "/__sandbox__/health", timeout=2).status_code == 200
    with SandboxRunner([ExampleSystem()], host="0.0.0.0", advertise_host="sandbox") as runner:
        port = runner.port("example")
        assert runner.url("example") == f"http://sandbox:{port}"
        assert runner.connections()["example"]["host"] == f"http://sandbox:{port}"
        health = requests.get(f"http://127.0.0.1:{port}/__sandbox__/health", timeout=2)
        assert health.json()["system"] == "example"
