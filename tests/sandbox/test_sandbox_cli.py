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
from typing import Any

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


def test_nothing_named(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert main(["--systems", ","], out=out) == 0
    assert out.getvalue() == "No sandbox systems are named; nothing to start.\n"


def test_unknown_system_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(registry, "SYSTEMS", {"example": EXAMPLE_PATH})
    with pytest.raises(SystemExit) as info:
        main(["--systems", "example,nope"])
    assert info.value.code == 2
    assert "unknown system(s): nope (registered: example, sftp)" in capsys.readouterr().err


def test_every_system_by_default_sftp_included(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "SYSTEMS", {"example": EXAMPLE_PATH})
    run = _Run([])
    try:
        run.wait_for(r"export AIRFLOW_CONN_SANDBOX_SFTP=")
        printed = run.out.getvalue()
    finally:
        assert run.finish() == 0
    assert re.search(r"\n  example  http://127\.0\.0\.1:\d+\n", printed)
    assert re.search(r"\n  sftp     sftp://127\.0\.0\.1:\d+  \(serving .+\)\n", printed)
    assert "export AIRFLOW_CONN_SANDBOX_EXAMPLE=" in printed


def _sftp_document(argv: list[str]) -> tuple[_Run, dict[str, Any]]:
    run = _Run([*argv, "--json"])
    run.wait_for(r"\n}\n")
    return run, json.loads(run.out.getvalue())


def test_sftp_alone_serves_what_its_printed_connection_reaches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The printed Airflow connection (host key pinned, a password made for this start) is one the
    provider's Stampli hook logs in with; its root has the Stampli integration's directories."""
    from ml_connector_provider.hooks.stampli import StampliHook

    monkeypatch.setenv("HOME", str(tmp_path))  # no known_hosts, no ssh config, no default keys
    root = tmp_path / "sftp-root"
    run, document = _sftp_document(["--systems", "sftp", "--sftp-root", str(root)])
    try:
        assert list(document["systems"]) == ["sftp"]
        info = document["systems"]["sftp"]
        connection = info["connection"]
        assert (info["conn_id"], info["env_var"], info["root"]) == (
            "sandbox_sftp",
            "AIRFLOW_CONN_SANDBOX_SFTP",
            str(root.resolve()),
        )
        assert info["url"] == f"sftp://127.0.0.1:{connection['port']}"
        assert connection["extra"]["host_key"] == info["host_key"]
        assert info["host_key"].startswith("ssh-ed25519 ")
        assert connection["password"] != "stampli-sandbox-password"
        assert sorted(p.name for p in root.iterdir()) == ["archive", "error", "outbound"]
        monkeypatch.setenv(info["env_var"], json.dumps(connection))
        hook = StampliHook(info["conn_id"], conn_retry_attempts=1)
        hook.write_text("/outbound/invoices.csv", "id\n1\n")
        assert [f.name for f in hook.list_files("/outbound")] == ["invoices.csv"]
        assert (root / "outbound" / "invoices.csv").read_text() == "id\n1\n"
        # Pinned: a connection expecting another key is refused.
        other = {**connection, "extra": {**connection["extra"], "host_key": _other_host_key()}}
        monkeypatch.setenv(info["env_var"], json.dumps(other))
        with pytest.raises(Exception, match=r"(?i)host key|key mismatch|not verify|BadHostKey"):
            StampliHook(info["conn_id"], conn_retry_attempts=1).list_files("/outbound")
    finally:
        assert run.finish() == 0
    assert root.is_dir()  # a root given on the command line is kept


def _other_host_key() -> str:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


def test_each_start_has_its_own_password_and_host_key_and_a_temporary_root() -> None:
    first, one = _sftp_document(["--systems", "sftp"])
    assert first.finish() == 0
    second, two = _sftp_document(["--systems", "sftp"])
    assert second.finish() == 0
    a, b = one["systems"]["sftp"], two["systems"]["sftp"]
    assert a["connection"]["password"] != b["connection"]["password"]
    assert a["host_key"] != b["host_key"]
    assert not Path(a["root"]).exists()  # the temporary root is deleted on exit


def _consecutive_free_ports() -> int:
    """A port N such that N and N+1 are free now (both are bound once to check)."""
    import socket

    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise AssertionError("no two consecutive free ports")


def test_port_base_puts_sftp_after_the_http_systems(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _consecutive_free_ports()
    monkeypatch.setattr(registry, "SYSTEMS", {"example": EXAMPLE_PATH})
    run, document = _sftp_document(["--systems", "sftp,example", "--port-base", str(port)])
    assert run.finish() == 0
    assert document["systems"]["example"]["url"] == f"http://127.0.0.1:{port}"
    assert document["systems"]["sftp"]["connection"]["port"] == port + 1


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
