"""Run sandbox systems on loopback ports, and drive them over HTTP.

:class:`SandboxRunner` starts each system's app on its own ``uvicorn.Server`` in a daemon thread
(tests, benchmarks and ``make demo`` all start them this way); :class:`SandboxClient` drives the
admin API of a running system (faults, reset, tokens, clock, request log); :func:`main` is
``python -m ml_connector_sandbox`` (``python -m ml_connector_sandbox demo`` runs the demo instead).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import secrets
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TextIO

import requests
import uvicorn

from ml_connector_sandbox.base import ADMIN_PREFIX, SandboxSystem
from ml_connector_sandbox.faults import FaultRule
from ml_connector_sandbox.sftp import SftpSandbox
from ml_connector_sandbox.systems import available_systems, create_system

__all__ = [
    "SandboxClient",
    "SandboxRunner",
    "SandboxStartError",
    "airflow_conn_env_var",
    "build_parser",
    "main",
]

log = logging.getLogger(__name__)


class SandboxStartError(RuntimeError):
    """A sandbox server did not come up."""


def airflow_conn_env_var(conn_id: str) -> str:
    """The environment variable Airflow reads connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


@dataclass
class _Server:
    system: SandboxSystem
    server: uvicorn.Server
    sock: socket.socket
    host: str
    port: int
    advertised_host: str
    thread: threading.Thread | None = None
    failure: str | None = None

    def serve(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except SystemExit as exc:  # uvicorn exits when the application fails to start
            self.failure = f"the server exited with code {exc.code}"
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
            log.exception("sandbox %r crashed", self.system.name)

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def local_host(self) -> str:
        """An address to reach the server from this machine (wildcard binds → loopback)."""
        return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)

    @property
    def url(self) -> str:
        host = self.advertised_host or self.local_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _healthy(host: str, port: int, name: str, timeout: float) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", f"{ADMIN_PREFIX}/health")
        response = conn.getresponse()
        body = response.read()
        return response.status == 200 and json.loads(body).get("system") == name
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class SandboxRunner:
    """Start sandbox systems on loopback ports for the duration of a ``with`` block.

    ::

        with SandboxRunner(["fusion", StripeSandbox()]) as sandbox:
            hook_env = sandbox.airflow_env({"fusion": "oracle_fusion_default"})
            sandbox.system("fusion").faults.add(FaultRule.rate_limit(retry_after=1))

    :param systems: system instances, or registry names (instantiated with no arguments).
    :param host: interface to listen on.
    :param advertise_host: host name put in URLs and connections (default: ``host``, or the
        loopback address when ``host`` is a wildcard such as ``0.0.0.0``); e.g. the service name
        when other containers reach the sandbox.
    :param ports: requested port per system name (others get a free port).
    :param port_base: give systems consecutive ports from this one, in the given order
        (``ports`` wins for the systems it names).
    :param log_level: uvicorn log level (``warning`` keeps tests and demos quiet).
    :param startup_timeout: seconds to wait for every server to answer its health check.
    :param stop_timeout: seconds to wait for each server thread to finish.
    """

    def __init__(
        self,
        systems: Sequence[SandboxSystem | str],
        *,
        host: str = "127.0.0.1",
        advertise_host: str | None = None,
        ports: Mapping[str, int] | None = None,
        port_base: int | None = None,
        log_level: str = "warning",
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        resolved = [create_system(s) if isinstance(s, str) else s for s in systems]
        names = [s.name for s in resolved]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"sandbox systems listed twice: {', '.join(duplicates)}")
        self._systems: dict[str, SandboxSystem] = {s.name: s for s in resolved}
        self.host = host
        self.advertise_host = advertise_host
        self._ports = dict(ports or {})
        unknown = sorted(set(self._ports) - set(self._systems))
        if unknown:
            raise ValueError(f"ports given for unknown systems: {', '.join(unknown)}")
        self.port_base = port_base
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._servers: dict[str, _Server] = {}
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the servers are up."""
        return bool(self._servers)

    def _port_for(self, index: int, name: str) -> int:
        if name in self._ports:
            return self._ports[name]
        if self.port_base is not None:
            return self.port_base + index
        return 0

    def start(self) -> Self:
        """Start every server and wait until each answers ``/__sandbox__/health``."""
        with self._lock:
            if self._servers:
                raise RuntimeError("the sandbox runner is already running")
            try:
                for index, (name, system) in enumerate(self._systems.items()):
                    self._servers[name] = self._launch(system, self._port_for(index, name))
                self._wait_ready()
            except BaseException:
                self._shutdown()
                raise
        return self

    def _launch(self, system: SandboxSystem, port: int) -> _Server:
        sock = _bind(self.host, port)
        config = uvicorn.Config(
            system.app,
            log_config=None,
            log_level=self.log_level,
            access_log=False,
            lifespan="on",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        system.faults.rearm()
        running = _Server(system, server, sock, self.host, sock.getsockname()[1], self.advertise_host or "")
        running.thread = threading.Thread(target=running.serve, name=f"sandbox-{system.name}", daemon=True)
        running.thread.start()
        return running

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        pending = dict(self._servers)
        while pending:
            for name, running in list(pending.items()):
                if not running.alive:
                    reason = running.failure or "the server thread ended"
                    raise SandboxStartError(
                        f"sandbox {name!r} stopped while starting: {reason} (see the log)"
                    )
                if running.server.started and _healthy(running.local_host, running.port, name, timeout=1.0):
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise SandboxStartError(
                    f"sandbox systems not ready after {self.startup_timeout:g}s: {', '.join(sorted(pending))}"
                )
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop every server and join its thread (idempotent)."""
        with self._lock:
            self._shutdown()

    def _shutdown(self) -> None:
        servers = list(self._servers.values())
        self._servers = {}
        for running in servers:
            running.system.faults.release_waits()
            running.server.should_exit = True
        for running in servers:
            thread = running.thread
            if thread is not None and thread.is_alive():
                thread.join(self.stop_timeout)
            if thread is not None and thread.is_alive():
                running.server.force_exit = True
                thread.join(self.stop_timeout)
                if thread.is_alive():
                    log.warning("sandbox %r did not stop within %ss", running.system.name, self.stop_timeout)
            with contextlib.suppress(OSError):
                running.sock.close()

    # -- access ---------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Names of the managed systems, in start order."""
        return list(self._systems)

    def system(self, name: str) -> SandboxSystem:
        """The system instance called ``name``."""
        try:
            return self._systems[name]
        except KeyError:
            raise KeyError(
                f"no sandbox system {name!r} in this runner (have: {', '.join(self._systems)})"
            ) from None

    def _running(self, name: str) -> _Server:
        self.system(name)
        try:
            return self._servers[name]
        except KeyError:
            raise RuntimeError("the sandbox runner is not running") from None

    def url(self, name: str) -> str:
        """Base URL of a running system, e.g. ``http://127.0.0.1:41873``."""
        return self._running(name).url

    def port(self, name: str) -> int:
        """Port of a running system."""
        return self._running(name).port

    def urls(self) -> dict[str, str]:
        """Base URL of every system."""
        return {name: self.url(name) for name in self._systems}

    def connections(self) -> dict[str, dict[str, Any]]:
        """The Airflow connection (JSON form) of every system, keyed by system name."""
        return {name: system.connection(self.url(name)) for name, system in self._systems.items()}

    def airflow_env(self, conn_ids: Mapping[str, str] | None = None) -> dict[str, str]:
        """``AIRFLOW_CONN_<ID>`` environment variables (JSON values) for the systems.

        :param conn_ids: system name → Airflow connection id; only these systems are included.
            By default every system, under its suggested id (``sandbox_<name>`` unless the
            system sets ``default_conn_id``).
        """
        chosen = dict(conn_ids) if conn_ids is not None else {n: s.conn_id for n, s in self._systems.items()}
        return {
            airflow_conn_env_var(conn_id): json.dumps(self.system(name).connection(self.url(name)))
            for name, conn_id in chosen.items()
        }

    def client(self, name: str) -> SandboxClient:
        """A :class:`SandboxClient` for a running system."""
        return SandboxClient(self.url(name))

    def reset_all(self) -> None:
        """Reset every system (state, tokens, faults, request log, clock)."""
        for system in self._systems.values():
            system.reset()

    def advance_clock(self, seconds: float) -> None:
        """Move every system's clock forward (once per distinct clock)."""
        seen: set[int] = set()
        for system in self._systems.values():
            if id(system.clock) not in seen:
                seen.add(id(system.clock))
                system.clock.advance(seconds)


class SandboxClient:
    """Drive the admin API of a running sandbox system over HTTP.

    :param base_url: the system's base URL (``SandboxRunner.url(name)``).
    :param timeout: per-request timeout, seconds.
    """

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, session: requests.Session | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._session.request(
            method, f"{self.base_url}{ADMIN_PREFIX}{path}", timeout=self.timeout, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "system": name}``."""
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    # faults

    def add_fault(self, rule: FaultRule | Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Add one fault rule (a :class:`FaultRule`, a dict, or its fields as keywords).

        Returns the stored rule with its ``id`` and counters.
        """
        if rule is None:
            payload: Any = fields
        elif isinstance(rule, FaultRule):
            payload = rule.model_dump(mode="json")
        else:
            payload = {**rule, **fields}
        result: dict[str, Any] = self._call("POST", "/faults", json=payload)
        return result

    def add_faults(self, rules: Sequence[FaultRule | Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Add several rules at once, in order."""
        payload = [r.model_dump(mode="json") if isinstance(r, FaultRule) else dict(r) for r in rules]
        result: list[dict[str, Any]] = self._call("POST", "/faults", json=payload)
        return result

    def faults(self) -> list[dict[str, Any]]:
        """Every rule with its ``matched``/``applied``/``remaining`` counters."""
        result: list[dict[str, Any]] = self._call("GET", "/faults")
        return result

    def fault(self, rule_id: str) -> dict[str, Any]:
        """One rule with its counters."""
        result: dict[str, Any] = self._call("GET", f"/faults/{rule_id}")
        return result

    def remove_fault(self, rule_id: str) -> None:
        """Remove one rule."""
        self._call("DELETE", f"/faults/{rule_id}")

    def clear_faults(self) -> int:
        """Remove every rule; returns how many there were."""
        return int(self._call("DELETE", "/faults")["removed"])

    # state, tokens, clock

    def reset(self, **flags: bool) -> None:
        """Reset the system (``state``, ``tokens``, ``faults``, ``requests``, ``clock`` flags)."""
        self._call("POST", "/reset", json=flags or None)

    def expire_tokens(self) -> int:
        """Expire every valid token; returns how many were valid."""
        return int(self._call("POST", "/tokens/expire")["expired"])

    def token_stats(self) -> dict[str, int]:
        """``{"issued": n, "active": n}``."""
        result: dict[str, int] = self._call("GET", "/tokens")
        return result

    def clock(self) -> datetime:
        """The system's current time."""
        return datetime.fromisoformat(self._call("GET", "/clock")["now"])

    def advance_clock(self, seconds: float) -> datetime:
        """Move the system clock forward; returns the new time."""
        return datetime.fromisoformat(self._call("POST", "/clock", json={"advance": seconds})["now"])

    def set_clock_offset(self, seconds: float) -> datetime:
        """Set the clock's offset from wall time; returns the new time."""
        return datetime.fromisoformat(self._call("POST", "/clock", json={"offset": seconds})["now"])

    def state(self) -> Any:
        """A JSON dump of the system state."""
        return self._call("GET", "/state")

    # request log

    def request_log(
        self, *, method: str | None = None, path: str | None = None, since: int | None = None
    ) -> list[dict[str, Any]]:
        """Logged requests, oldest first, optionally filtered."""
        params = {k: v for k, v in {"method": method, "path": path, "since": since}.items() if v is not None}
        result: list[dict[str, Any]] = self._call("GET", "/requests", params=params)
        return result

    def clear_request_log(self) -> None:
        """Empty the request log."""
        self._call("DELETE", "/requests")


# -- command line ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m ml_connector_sandbox`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m ml_connector_sandbox",
        description=(
            "Run the local stand-ins of the external systems (sandbox servers) until interrupted, "
            "and print their URLs and the Airflow connections that point at them."
        ),
        epilog=(
            "`python -m ml_connector_sandbox demo --help`: the demo, which runs a tenant config's DAGs "
            "on these stand-ins."
        ),
    )
    parser.add_argument(
        "--systems",
        default=None,
        help="comma-separated system names (default: every registered system)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument(
        "--advertise-host",
        default=None,
        metavar="NAME",
        help="host name to put in URLs and connections (default: --host, loopback for 0.0.0.0)",
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=None,
        metavar="N",
        help="use ports N, N+1, ... for the HTTP systems in the order of --systems, then the next "
        "one for the SFTP server (default: free ports)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument(
        "--sftp-root",
        default=None,
        metavar="DIR",
        help=(
            f"directory the {SFTP} server serves as / (with outbound, archive and error in it; "
            "default: a temporary directory, deleted on exit)"
        ),
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="server log level (default: %(default)s)",
    )
    return parser


SFTP = "sftp"
"""The name of the SFTP server (Stampli's stand-in) among the systems ``--systems`` takes; it is
not an HTTP system of the registry, but starts with them by default."""

SFTP_CONN_ID = "sandbox_sftp"
"""The Airflow connection id printed for the SFTP server."""

SFTP_DIRECTORIES = ("outbound", "archive", "error")
"""The directories the SFTP server's root holds at start (the Stampli integration's defaults)."""


def all_system_names() -> list[str]:
    """Every name ``--systems`` accepts: the registered HTTP systems, then :data:`SFTP`."""
    return [*available_systems(), SFTP]


def _advertised(runner: SandboxRunner, host: str) -> str:
    if runner.advertise_host:
        return runner.advertise_host
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _describe(runner: SandboxRunner, sftp: SftpSandbox | None = None) -> dict[str, Any]:
    systems: dict[str, Any] = {}
    for name in runner.names:
        system = runner.system(name)
        connection = system.connection(runner.url(name))
        systems[name] = {
            "url": runner.url(name),
            "conn_id": system.conn_id,
            "env_var": airflow_conn_env_var(system.conn_id),
            "connection": connection,
        }
    if sftp is not None:
        host = _advertised(runner, sftp.host)
        connection = {**sftp.connection(), "host": host}
        systems[SFTP] = {
            "url": f"sftp://{host}:{sftp.port}",
            "conn_id": SFTP_CONN_ID,
            "env_var": airflow_conn_env_var(SFTP_CONN_ID),
            "connection": connection,
            "root": str(sftp.root),
            "host_key": sftp.host_key_line,
        }
    return {"systems": systems}


def _print_table(description: dict[str, Any], out: TextIO) -> None:
    systems: dict[str, Any] = description["systems"]
    width = max(len("NAME"), *(len(n) for n in systems))
    print("Sandbox systems running (Ctrl+C to stop):", file=out)
    print(file=out)
    print(f"  {'NAME':<{width}}  URL", file=out)
    for name, info in systems.items():
        serving = f"  (serving {info['root']})" if "root" in info else ""
        print(f"  {name:<{width}}  {info['url']}{serving}", file=out)
    print(file=out)
    print("Airflow connections:", file=out)
    for info in systems.values():
        value = shlex.quote(json.dumps(info["connection"]))
        print(f"  export {info['env_var']}={value}", file=out)


@contextlib.contextmanager
def _start_sftp(args: argparse.Namespace, *, port_offset: int) -> Iterator[SftpSandbox]:
    """The SFTP server of ``python -m ml_connector_sandbox``: a fresh password and host key at
    every start, the Stampli integration's directories in its root."""
    port = args.port_base + port_offset if args.port_base else 0
    server = SftpSandbox(args.sftp_root, port=port, password=secrets.token_urlsafe(18), host=args.host)
    with server:
        for directory in SFTP_DIRECTORIES:
            (server.root / directory).mkdir(exist_ok=True)
        yield server


def main(
    argv: Sequence[str] | None = None,
    *,
    stop_event: threading.Event | None = None,
    out: TextIO | None = None,
) -> int:
    """Run sandbox systems until SIGINT/SIGTERM (or ``stop_event`` is set); returns the exit code.

    :param argv: command-line arguments (default: ``sys.argv[1:]``).
    :param stop_event: set it to stop serving (for callers running this in a thread).
    :param out: where to print (default: standard output).
    """
    stream = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)

    registered = all_system_names()
    if args.systems is None:
        names = registered
    else:
        names = [n.strip() for n in args.systems.split(",") if n.strip()]
        unknown = [n for n in names if n not in registered]
        if unknown:
            parser.error(f"unknown system(s): {', '.join(unknown)} (registered: {', '.join(registered)})")
    if not names:
        print("No sandbox systems are named; nothing to start.", file=stream)
        return 0

    if args.log_level != "warning":
        if not logging.getLogger().handlers:
            logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        logging.getLogger().setLevel(logging.INFO)

    http_names = [name for name in names if name != SFTP]
    try:
        systems = [create_system(name) for name in http_names]
    except (ImportError, AttributeError, TypeError) as exc:
        print(f"error: could not load the sandbox systems: {exc}", file=sys.stderr)
        return 1

    stop = stop_event or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        runner = SandboxRunner(
            systems,
            host=args.host,
            advertise_host=args.advertise_host,
            port_base=args.port_base,
            log_level=args.log_level,
        )
        with contextlib.ExitStack() as stack:
            stack.enter_context(runner)
            sftp: SftpSandbox | None = None
            if SFTP in names:
                sftp = stack.enter_context(_start_sftp(args, port_offset=len(systems)))
            description = _describe(runner, sftp)
            if args.json:
                print(json.dumps(description, indent=2), file=stream)
            else:
                _print_table(description, stream)
            stream.flush()
            while not stop.wait(0.2):
                pass
    except (OSError, SandboxStartError) as exc:
        print(f"error: could not start the sandbox: {exc}", file=sys.stderr)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
