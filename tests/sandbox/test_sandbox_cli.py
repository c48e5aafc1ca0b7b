"""``python -m ml_connector_sandbox`` and its ``main``."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from ml_connector_sandbox import main
from ml_connector_sandbox import systems as registry

from tests.sandbox.example_system import ExampleSystem

EXAMPLE_PATH = f"{ExampleSystem.__module__}:{ExampleSystem.__qualname__}"
REPO = Path(__file__).resolve().parents[2]


class _Run:
    """``main`` running in a thread until stopped."""

    def __init__(self, argv: list[str]) -> None:
        self.out = io.StringIO()
        self.stop = threading.Event()
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, args=(argv,))
        self.thread.start()

    def _run(self, argv: list[str]) -> None:
        self.code = main(argv, stop_event=self.stop, out=self.out)

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = re.search(pattern, self.out.getvalue())
            if found:
                return found
            assert self.thread.is_alive(), self.out.getvalue()
            time.sleep(0.01)
        raise AssertionError(f"{pattern!r} not printed: {self.out.getvalue()!r}")

    def finish(self) -> int | None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive()
        return self.code


def test_help_from_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ml_connector_sandbox", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m ml_connector_sandbox")
    for option in ("--systems", "--host", "--port-base", "--json"):
        assert option in result.stdout


def test_no_registered_systems(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "SYSTEMS", {})
    out = io.StringIO()
    assert main([], out=out) == 0
    assert out.getvalue() == "No sandbox systems are registered; nothing to start.\n"


def test_unknown_system_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(registry, "SYSTEMS", {"example": EXAMPLE_PATH})
    with pytest.raises(SystemExit) as info:
        main(["--systems", "example,nope"])
    assert info.value.code == 2
    assert "unknown system(s): nope (registered: example)" in capsys.readouterr().err


def test_serves_registered_systems_until_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "SYSTEMS", {"example": EXAMPLE_PATH})
    run = _Run([])
    try:
        url = run.wait_for(r"example\s+(http://127\.0\.0\.1:\d+)\n").group(1)
        run.wait_for(r"export AIRFLOW_CONN_SANDBOX_EXAMPLE=")
        assert requests.get(url + "/__sandbox__/health", timeout=2).json() == {
            "status": "ok",
            "system": "example",
        }
        printed = run.out.getvalue()
        assert printed.startswith("Sandbox systems running (Ctrl+C to stop):\n")
        exported = re.search(r"export AIRFLOW_CONN_SANDBOX_EXAMPLE='(.*)'\n", printed)
        assert exported is not None
        assert json.loads(exported.group(1)) == ExampleSystem().connection(url)
    finally:
        code = run.finish()
    assert code == 0
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/__sandbox__/health", timeout=1)


def test_json_output_with_port_base(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(registry, "SYSTEMS", {"example": EXAMPLE_PATH})
    run = _Run(["--systems", "example", "--json", "--port-base", str(port)])
    try:
        run.wait_for(r"\n}\n")
        document = json.loads(run.out.getvalue())
    finally:
        assert run.finish() == 0
    url = f"http://127.0.0.1:{port}"
    assert document == {
        "systems": {
            "example": {
                "url": url,
                "conn_id": "sandbox_example",
                "env_var": "AIRFLOW_CONN_SANDBOX_EXAMPLE",
                "connection": ExampleSystem().connection(url),
            }
        }
    }


def test_port_in_use_exits_with_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    monkeypatch.setattr(registry, "SYSTEMS", {"example": EXAMPLE_PATH})
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port-base", str(port)], stop_event=threading.Event()) == 1
    assert capsys.readouterr().err.startswith("error: could not start the sandbox:")


def test_sigterm_stops_the_command_line_server() -> None:
    script = (
        "import sys\n"
        "from ml_connector_sandbox import main, systems\n"
        f"systems.SYSTEMS['example'] = {EXAMPLE_PATH!r}\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "--systems", "example"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            found = re.search(r"example\s+(http://127\.0\.0\.1:\d+)$", line.rstrip("\n"))
            if found:
                url = found.group(1)
                break
        assert url is not None, process.stderr.read() if process.stderr else ""
        assert requests.get(url + "/__sandbox__/health", timeout=2).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_system_that_cannot_be_imported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(registry, "SYSTEMS", {"ghost": "tests.sandbox.no_such_module:Ghost"})
    assert main([], stop_event=threading.Event()) == 1
    assert capsys.readouterr().err == (
        "error: could not load the sandbox systems: No module named 'tests.sandbox.no_such_module'\n"
    )
