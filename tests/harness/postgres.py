"""A throw-away PostgreSQL server for tests: real binaries, a temporary data directory, no Docker.

The server runs from Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``).
``initdb`` and ``postgres`` refuse to run as root, so as root they run as the ``postgres`` system
user (or ``nobody``) and the temporary directory is handed to that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg2
from psycopg2 import sql

from tests.harness.ports import free_port

SUPERUSER = "mlc"
_START_ATTEMPTS = 3


def find_postgres_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, newest installed version first."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    versioned = [p / "bin" for p in Path("/usr/lib/postgresql").glob("*") if re.fullmatch(r"[\d.]+", p.name)]
    candidates.extend(sorted(versioned, key=version, reverse=True))
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError(
        "running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL"
    )


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, listening on 127.0.0.1.

    :param bindir: where ``initdb``/``pg_ctl`` live; found with :func:`find_postgres_bindir` if omitted.
    """

    def __init__(self, bindir: Path | None = None) -> None:
        found = bindir or find_postgres_bindir()
        if found is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bindir = found
        self.port = 0
        self.database = "mlc"
        self._tmp: Path | None = None
        self._run_as = _unprivileged_user() if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default test database."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("the server is not started")
        return self._tmp / "data"

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._run_as:
            command = ["runuser", "-u", self._run_as, "--", *command]
        result = subprocess.run(command, cwd=self._tmp, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def start(self) -> None:
        """Create the cluster, start the server and create the default database."""
        self._tmp = Path(tempfile.mkdtemp(prefix="mlc-pg-"))
        (self._tmp / "sock").mkdir()
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            for path in (self._tmp, self._tmp / "sock"):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        for attempt in range(_START_ATTEMPTS):
            self.port = free_port()
            options = (
                f"-p {self.port} -k {self._tmp / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
            )
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self._tmp / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "start",
                )
                break
            except RuntimeError:
                if attempt == _START_ATTEMPTS - 1:
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.log()}") from None
        self.create_database(self.database)

    def log(self) -> str:
        """The server log so far."""
        path = self._tmp / "server.log" if self._tmp else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def create_database(self, name: str | None = None) -> str:
        """Create a database (a fresh unique one if ``name`` is omitted) and return its URL."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
        return self.url_for(name)

    def stop(self) -> None:
        """Stop the server at once and delete its files."""
        if self._tmp is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data_dir), "stop", "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
