"""Every way an SFTP server can fail the Stampli hook ends in a typed error naming the server and
the path (never the password), against the real OpenSSH server of ``tests/harness/sshd.py``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_connector_provider.hooks.stampli import (
    SftpAuthenticationError,
    SftpConnectionError,
    SftpNotFoundError,
    SftpPermissionError,
    SftpUnreachableError,
    SftpWriteError,
    StampliHook,
)
from tests.harness.connections import export_connection
from tests.harness.ports import free_port
from tests.harness.sshd import SshdServer
from tests.integration.stampli.conftest import ConnectionFactory

PASSWORD = "Sftp-Pa55word-never-shown"


def _server(sshd: SshdServer, conn_id: str) -> str:
    return f"SFTP server 127.0.0.1:{sshd.port} (connection {conn_id!r})"


# -- connecting ---------------------------------------------------------------------------------------


def test_a_refused_login_is_an_authentication_error(
    make_connection: ConnectionFactory, sshd: SshdServer, outbound: str
) -> None:
    conn_id = make_connection("stampli_bad_password", key_file=None, password=PASSWORD, look_for_keys="false")

    with pytest.raises(SftpAuthenticationError) as raised:
        StampliHook(conn_id, conn_retry_attempts=1).list_files(outbound)

    message = str(raised.value)
    assert message.startswith(f"Logging in to {_server(sshd, conn_id)} as {sshd.login!r} failed")
    assert PASSWORD not in message
    assert not getattr(raised.value, "transient", False)


def _elsewhere(
    monkeypatch: pytest.MonkeyPatch, sshd: SshdServer, conn_id: str, port: int, **extra: object
) -> str:
    """A connection like the server's, to another port of the same host."""
    return export_connection(monkeypatch, conn_id, {**sshd.connection(), "port": port}, **extra)


def test_a_refused_connection_is_transient(
    monkeypatch: pytest.MonkeyPatch, sshd: SshdServer, outbound: str
) -> None:
    port = free_port()  # nothing listens there
    conn_id = _elsewhere(monkeypatch, sshd, "stampli_refused", port)

    with pytest.raises(SftpUnreachableError) as raised:
        StampliHook(conn_id, conn_retry_attempts=1).list_files(outbound)

    assert isinstance(raised.value, SftpConnectionError)
    assert raised.value.transient is True
    message = str(raised.value)
    assert message.startswith(f"Cannot reach SFTP server 127.0.0.1:{port} (connection 'stampli_refused')")
    assert "a later attempt may succeed" in message


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (no SSH banner)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_a_server_that_never_answers_is_transient(
    monkeypatch: pytest.MonkeyPatch, sshd: SshdServer, outbound: str, silent_server: int
) -> None:
    conn_id = _elsewhere(monkeypatch, sshd, "stampli_silent", silent_server, conn_timeout=2)

    with pytest.raises(SftpUnreachableError) as raised:
        StampliHook(conn_id, conn_retry_attempts=1, banner_timeout=1).list_files(outbound)

    assert f"Cannot reach SFTP server 127.0.0.1:{silent_server}" in str(raised.value)


# -- permissions, missing paths --------------------------------------------------------------------


@pytest.fixture
def locked(sshd: SshdServer) -> Iterator[Path]:
    """``<data_dir>/locked``, a directory the SFTP account may neither list nor write."""
    path = sshd.mkdir("locked")
    (path / "inner").mkdir()
    sshd.hand_over_tree()
    path.chmod(0o000)
    try:
        yield path
    finally:
        path.chmod(0o755)


def test_a_directory_the_account_may_not_list(sshd: SshdServer, hook: StampliHook, locked: Path) -> None:
    remote = sshd.remote_path("locked")

    with pytest.raises(SftpPermissionError) as raised:
        hook.list_files(remote)

    assert isinstance(raised.value, PermissionError)
    assert raised.value.path == remote
    assert str(raised.value) == (
        f"{_server(sshd, 'stampli_sftp')} refused to list the directory {remote!r}: permission denied "
        f"for the SFTP account {sshd.login!r}; ask the server's administrator for the rights this needs"
    )


def test_writing_or_moving_where_the_account_may_not(
    sshd: SshdServer, hook: StampliHook, locked: Path, outbound: str
) -> None:
    target = sshd.remote_path("locked/inner/vendors.csv")
    with pytest.raises(SftpPermissionError, match=r"refused to write '.*/locked/inner/vendors.csv'"):
        hook.write_bytes(target, b"Vendor\n")

    source = sshd.put_file("outbound/a.csv", b"x")
    with pytest.raises(
        SftpPermissionError, match=r"refused to move into '.*/locked/inner' the file '.*/a.csv'"
    ):
        hook.move(source, sshd.remote_path("locked/inner"))
    assert Path(source).exists()  # nothing moved


def test_a_file_the_account_may_not_read(sshd: SshdServer, hook: StampliHook, outbound: str) -> None:
    remote = sshd.put_file("outbound/private/a.csv", b"x")
    parent = Path(remote).parent
    parent.chmod(0o000)
    try:
        with pytest.raises(SftpPermissionError, match=r"refused to read the attributes of '.*/a.csv'"):
            hook.stat(remote)
    finally:
        parent.chmod(0o755)


def test_a_missing_directory_names_server_and_path(sshd: SshdServer, hook: StampliHook) -> None:
    missing = sshd.remote_path("nowhere")

    with pytest.raises(SftpNotFoundError) as raised:
        hook.list_files(missing)

    assert isinstance(raised.value, FileNotFoundError)
    assert raised.value.path == missing
    assert str(raised.value) == f"directory {missing!r} does not exist on SFTP server 127.0.0.1:{sshd.port}"


# -- a full disk ----------------------------------------------------------------------------------


@pytest.fixture
def full_disk(sshd: SshdServer) -> Iterator[str]:
    """``<data_dir>/full``: a 32 KiB file system (tmpfs), so writes beyond that fail with ENOSPC
    on the server. Needs root (mount); skipped otherwise."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    path = sshd.mkdir("full")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32k,mode=0777", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield sshd.remote_path("full")
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_full_disk_is_a_write_error_and_leaves_no_partial_file(
    sshd: SshdServer, hook: StampliHook, full_disk: str
) -> None:
    target = f"{full_disk}/vendors.csv"
    hook.write_bytes(f"{full_disk}/small.csv", b"fits\n")  # the file system works

    with pytest.raises(SftpWriteError) as raised:
        hook.write_bytes(target, b"x" * (256 * 1024))

    message = str(raised.value)
    assert message.startswith(f"{_server(sshd, 'stampli_sftp')} failed to write {target!r} (262144 bytes)")
    assert "full disk" in message
    assert raised.value.path == target
    assert sorted(p.name for p in Path(full_disk).iterdir()) == ["small.csv"]  # the partial file is gone
