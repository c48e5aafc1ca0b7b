"""StampliHook against OpenSSH's sshd (and the asyncssh sandbox), plus the pure completeness rules.

Remote paths are absolute paths below the server's data directory (``sshd.remote_path(...)``),
the form tenant settings use; the files behind them are checked on the local disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paramiko
import pytest
from ml_connector_sandbox.sftp import DEMO_PASSWORD, DEMO_USER, SftpSandbox

from ml_connector_provider.hooks.stampli import (
    ExportWatch,
    HostKeyVerificationError,
    RemoteFile,
    SftpConnectionError,
    StampliHook,
    collision_free_name,
    describe_sftp_error,
    is_export_candidate,
    listing_signatures,
    not_ready_reasons,
    ready_files,
)
from tests.harness.connections import export_connection
from tests.harness.sshd import SshdServer
from tests.integration.stampli.conftest import ConnectionFactory

NOW = 1_780_000_000.0
WRONG_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK7vNkPVhzdA3QiyHJBDfKvFPyeJXzywFXw2EO2Fr8LV"


def rf(name: str, *, size: int = 10, mtime: float = NOW - 3600) -> RemoteFile:
    return RemoteFile(name=name, path=f"/outbound/{name}", size=size, mtime=mtime)


def names(files: list[RemoteFile]) -> list[str]:
    return [f.name for f in files]


# -- ready_files / not_ready_reasons (pure) --------------------------------------------------------


class TestReadyFiles:
    def test_age_threshold_is_inclusive(self) -> None:
        listing = [rf("old.csv", mtime=NOW - 60), rf("young.csv", mtime=NOW - 59.5)]

        ready = ready_files(listing, pattern="*.csv", now=NOW, min_age=60)

        assert names(ready) == ["old.csv"]
        assert not_ready_reasons(listing, pattern="*.csv", now=NOW, min_age=60) == {
            "young.csv": "modified 60s ago; files are read once unchanged for 60s"
        }

    def test_zero_min_age_takes_every_file(self) -> None:
        assert names(ready_files([rf("a.csv", mtime=NOW)], pattern="*.csv", now=NOW, min_age=0)) == ["a.csv"]

    def test_future_mtime_is_not_ready(self) -> None:
        listing = [rf("a.csv", mtime=NOW + 120)]

        assert ready_files(listing, pattern="*.csv", now=NOW, min_age=0) == []
        reason = not_ready_reasons(listing, pattern="*.csv", now=NOW, min_age=0)["a.csv"]
        assert reason.startswith("modified 120s in the future")

    def test_sorted_by_mtime_then_name(self) -> None:
        listing = [rf("c.csv", mtime=NOW - 100), rf("b.csv", mtime=NOW - 200), rf("a.csv", mtime=NOW - 100)]

        assert names(ready_files(listing, pattern="*.csv", now=NOW, min_age=60)) == [
            "b.csv",
            "a.csv",
            "c.csv",
        ]

    def test_pattern_is_case_sensitive_fnmatch(self) -> None:
        listing = [rf("ap_1.csv"), rf("ap_2.CSV"), rf("ap_3.txt"), rf("vendors.csv")]

        assert names(ready_files(listing, pattern="ap_*.csv", now=NOW, min_age=60)) == ["ap_1.csv"]
        assert not_ready_reasons(listing, pattern="ap_*.csv", now=NOW, min_age=60) == {}

    def test_dot_names_and_directory_entries_are_never_export_files(self) -> None:
        listing = [rf("."), rf(".."), rf(".ap.csv"), rf(".ap.csv.part-1f2e"), rf("ap.csv")]

        assert names(ready_files(listing, pattern="*", now=NOW, min_age=0)) == ["ap.csv"]
        assert is_export_candidate(".hidden.csv", pattern="*.csv") is False
        assert is_export_candidate("..", pattern="*") is False

    def test_marker_makes_a_file_complete_whatever_its_age(self) -> None:
        listing = [
            rf("a.csv", mtime=NOW),  # brand new, but marked
            rf("a.csv.done", mtime=NOW),
            rf("b.csv", mtime=NOW - 86400),  # very old, but not marked
        ]

        ready = ready_files(listing, pattern="*", now=NOW, min_age=60, marker_suffix=".done")

        assert names(ready) == ["a.csv"]
        assert not_ready_reasons(listing, pattern="*", now=NOW, min_age=60, marker_suffix=".done") == {
            "b.csv": "waiting for its marker file 'b.csv.done'"
        }

    def test_marker_mode_ignores_the_previous_listing(self) -> None:
        listing = [rf("a.csv", size=99), rf("a.csv.done")]

        ready = ready_files(
            listing, pattern="*.csv", now=NOW, min_age=60, marker_suffix=".done", previous={"a.csv": (1, 0.0)}
        )

        assert names(ready) == ["a.csv"]

    def test_a_marker_alone_is_nothing(self) -> None:
        listing = [rf("a.csv.done")]

        assert ready_files(listing, pattern="*", now=NOW, min_age=0, marker_suffix=".done") == []
        assert not_ready_reasons(listing, pattern="*", now=NOW, min_age=0, marker_suffix=".done") == {}

    def test_previous_listing_requires_same_size_and_mtime(self) -> None:
        listing = [
            rf("same.csv", size=10, mtime=NOW - 600),
            rf("grown.csv", size=20, mtime=NOW - 600),
            rf("touched.csv", size=10, mtime=NOW - 500),
            rf("new.csv", size=10, mtime=NOW - 600),
        ]
        previous = {
            "same.csv": (10, NOW - 600),
            "grown.csv": (10, NOW - 600),
            "touched.csv": (10, NOW - 600),
        }

        ready = ready_files(listing, pattern="*.csv", now=NOW, min_age=60, previous=previous)
        reasons = not_ready_reasons(listing, pattern="*.csv", now=NOW, min_age=60, previous=previous)

        assert names(ready) == ["same.csv"]
        assert list(reasons) == ["grown.csv", "new.csv", "touched.csv"]
        assert reasons["grown.csv"].startswith("changed since the previous listing (size 10 → 20 bytes")
        assert "mtime" in reasons["touched.csv"]
        assert reasons["new.csv"].startswith("not in the previous listing")

    def test_previous_takes_tuples_or_json_lists(self) -> None:
        listing = [rf("a.csv", size=5, mtime=NOW - 600)]
        previous = json.loads(json.dumps(listing_signatures(listing)))

        assert names(ready_files(listing, pattern="*.csv", now=NOW, min_age=60, previous=previous)) == [
            "a.csv"
        ]

    def test_an_empty_previous_listing_counts(self) -> None:
        assert ready_files([rf("a.csv")], pattern="*.csv", now=NOW, min_age=60, previous={}) == []

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="min_age"):
            ready_files([], pattern="*", now=NOW, min_age=-1)
        with pytest.raises(ValueError, match="marker_suffix"):
            ready_files([], pattern="*", now=NOW, min_age=0, marker_suffix="")


class _Lines:
    """A logger stand-in that keeps the formatted messages."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, /, *args: object) -> None:
        self.lines.append(msg % args)


def test_export_watch_remembers_the_previous_listing() -> None:
    watch = ExportWatch("/outbound", "*.csv", min_age=60)
    log = _Lines()

    assert watch.look([rf("a.csv", size=5)], now=NOW, log=log) == ["a.csv"]  # first look: age only
    assert watch.look([rf("a.csv", size=9), rf("b.csv")], now=NOW, log=log) == []
    assert watch.previous == {"a.csv": (9, NOW - 3600), "b.csv": (10, NOW - 3600)}
    assert watch.look([rf("a.csv", size=9), rf("b.csv")], now=NOW, log=log) == ["a.csv", "b.csv"]
    assert log.lines[1].startswith("Not ready: a.csv: changed since the previous listing (size 5 → 9")
    assert log.lines[3] == "No complete file matching '*.csv' in '/outbound' yet (2 waiting)."
    assert log.lines[-1] == "2 complete export file(s) in '/outbound': ['a.csv', 'b.csv']"


class TestCollisionFreeName:
    MOMENT = datetime(2026, 6, 1, 12, 0, 5, tzinfo=UTC)

    def test_free_name_is_kept(self) -> None:
        assert collision_free_name("a.csv", lambda _: False, now=self.MOMENT) == "a.csv"

    def test_timestamp_then_counter(self) -> None:
        taken = {"a.csv", "a_20260601T120005Z.csv", "a_20260601T120005Z_2.csv"}

        assert collision_free_name("a.csv", taken.__contains__, now=self.MOMENT) == "a_20260601T120005Z_3.csv"

    def test_timestamp_is_utc_and_goes_before_the_last_extension(self) -> None:
        local = self.MOMENT.astimezone(datetime.fromisoformat("2026-06-01T00:00:00+05:30").tzinfo)

        assert collision_free_name("a.csv.done", {"a.csv.done"}.__contains__, now=local) == (
            "a.csv_20260601T120005Z.done"
        )
        assert (
            collision_free_name("README", {"README"}.__contains__, now=self.MOMENT)
            == "README_20260601T120005Z"
        )


def test_describe_sftp_error_hides_secrets() -> None:
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----"
    error = ValueError(f"bad key {pem} for password hunter2!")

    assert describe_sftp_error(error, ["hunter2!"]) == "ValueError: bad key *** for password ***"


# -- listing, reading -----------------------------------------------------------------------------


def test_list_files_regular_files_with_size_and_mtime(
    sshd: SshdServer, hook: StampliHook, outbound: str, capfd: pytest.CaptureFixture[str]
) -> None:
    sshd.put_file("outbound/b.csv", b"0123456789", mtime=1_700_000_000)
    sshd.put_file("outbound/a.csv", b"x", mtime=1_700_000_100.0)
    sshd.put_file("outbound/.upload.csv.tmp", b"partial", mtime=1_700_000_200)
    sshd.mkdir("outbound/archive")
    os.symlink(sshd.local_path("outbound/a.csv"), sshd.local_path("outbound/link.csv"))

    listing = hook.list_files(outbound)

    assert listing == [
        RemoteFile(".upload.csv.tmp", f"{outbound}/.upload.csv.tmp", 7, 1_700_000_200.0),
        RemoteFile("a.csv", f"{outbound}/a.csv", 1, 1_700_000_100.0),
        RemoteFile("b.csv", f"{outbound}/b.csv", 10, 1_700_000_000.0),
    ]
    # A symbolic link is not read, and says so.
    # (Airflow 3's task loggers write through structlog, not to pytest's log capture.)
    assert f"link.csv in {outbound} is a symbolic link and is not read" in "".join(capfd.readouterr())


def test_list_files_relative_to_the_start_directory(
    sshd: SshdServer, hook: StampliHook, outbound: str
) -> None:
    sshd.put_file("outbound/a.csv", b"x", mtime=1_700_000_000)

    assert hook.list_files("outbound") == [RemoteFile("a.csv", "outbound/a.csv", 1, 1_700_000_000.0)]


def test_list_files_missing_directory(sshd: SshdServer, hook: StampliHook) -> None:
    missing = sshd.remote_path("nowhere")

    with pytest.raises(FileNotFoundError, match=re.escape(f"directory {missing!r} does not exist")):
        hook.list_files(missing)


def test_list_files_mtime_does_not_depend_on_the_local_time_zone(
    sshd: SshdServer, hook: StampliHook, outbound: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sshd.put_file("outbound/a.csv", b"x", mtime=1_700_000_000)
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        assert time.localtime(1_700_000_000).tm_hour != time.gmtime(1_700_000_000).tm_hour
        [listed] = hook.list_files(outbound)
    finally:
        monkeypatch.undo()
        time.tzset()

    assert listed.mtime == 1_700_000_000.0 == os.stat(sshd.local_path("outbound/a.csv")).st_mtime


def test_download_content_size_checksum_mtime(sshd: SshdServer, hook: StampliHook, outbound: str) -> None:
    content = b"Invoice Number,Vendor ID\nINV-1,V-1\n"
    path = sshd.put_file("outbound/a.csv", content, mtime=1_700_000_000)

    with hook.download(path) as downloaded:
        assert downloaded.data.tell() == 0
        assert downloaded.data.read() == content
        assert downloaded.size == len(content)
        assert downloaded.sha256 == hashlib.sha256(content).hexdigest()
        assert downloaded.mtime == 1_700_000_000.0
        assert downloaded.name == "a.csv"
        assert downloaded.path == path
        assert downloaded.changed_during_download is False
    assert downloaded.data.closed


def test_download_spools_big_files_to_disk(sshd: SshdServer, hook: StampliHook, outbound: str) -> None:
    content = os.urandom(300_000)
    path = sshd.put_file("outbound/big.csv", content)

    with hook.download(path, spool_limit=100_000) as big, hook.download(path) as small:
        assert big.data.read() == content == small.data.read()
        assert big.sha256 == hashlib.sha256(content).hexdigest() == small.sha256
        assert big.data._rolled is True  # type: ignore[attr-defined]
        assert small.data._rolled is False  # type: ignore[attr-defined]


@pytest.mark.parametrize("meanwhile", ["appended", "removed"])
def test_download_notices_a_file_changed_while_it_is_read(
    meanwhile: str, sshd: SshdServer, hook: StampliHook, outbound: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sshd.put_file("outbound/a.csv", b"x" * 1000, mtime=1_700_000_000)
    local = sshd.local_path(path)
    read = paramiko.SFTPFile.read
    chunks: list[bytes] = []

    def read_while_the_exporter_writes(remote: paramiko.SFTPFile, size: int | None = None) -> bytes:
        chunks.append(read(remote, size))
        if len(chunks) == 1:  # once, after the first chunk
            if meanwhile == "appended":
                with local.open("ab") as exporter:
                    exporter.write(b"more")
                os.utime(local, (1_700_000_100, 1_700_000_100))
            else:
                local.unlink()
        return chunks[-1]

    monkeypatch.setattr(paramiko.SFTPFile, "read", read_while_the_exporter_writes)
    with hook.download(path) as downloaded:
        assert downloaded.changed_during_download is True
        assert downloaded.mtime == 1_700_000_000.0


def test_download_missing_file_or_a_directory(sshd: SshdServer, hook: StampliHook, outbound: str) -> None:
    with pytest.raises(FileNotFoundError, match=r"'.*/outbound/nope\.csv' does not exist"):
        hook.download(f"{outbound}/nope.csv")
    with pytest.raises(IsADirectoryError, match="not a regular file"):
        hook.download(outbound)


def test_stat(sshd: SshdServer, hook: StampliHook, outbound: str) -> None:
    path = sshd.put_file("outbound/a.csv", b"12345", mtime=1_700_000_000)

    assert hook.stat(path) == RemoteFile("a.csv", path, 5, 1_700_000_000.0)
    assert hook.stat(f"{outbound}/missing.csv") is None
    with pytest.raises(IsADirectoryError, match="not a regular file"):
        hook.stat(outbound)


# -- moving ---------------------------------------------------------------------------------------


def test_move_creates_the_directory_and_keeps_the_content(
    sshd: SshdServer, hook: StampliHook, outbound: str
) -> None:
    path = sshd.put_file("outbound/a.csv", b"content", mtime=1_700_000_000)
    archive = sshd.remote_path("archive/2026/06")

    moved = hook.move(path, archive)

    assert moved == f"{archive}/a.csv"
    assert not Path(path).exists()
    assert Path(moved).read_bytes() == b"content"
    assert os.stat(moved).st_mtime == 1_700_000_000


def test_move_with_a_new_name(sshd: SshdServer, hook: StampliHook, outbound: str) -> None:
    path = sshd.put_file("outbound/a.csv", b"content")

    moved = hook.move(path, sshd.remote_path("error"), name="a.csv.failed")

    assert moved == sshd.remote_path("error/a.csv.failed")
    assert Path(moved).read_bytes() == b"content"


def test_move_never_overwrites(sshd: SshdServer, hook: StampliHook, outbound: str) -> None:
    archive = sshd.remote_path("archive")
    sshd.put_file("archive/a.csv", b"first")
    before = datetime.now(UTC).replace(microsecond=0)
    contents = [b"second", b"third", b"fourth"]
    moved: list[str] = []
    for content in contents:
        path = sshd.put_file("outbound/a.csv", content)
        moved.append(hook.move(path, archive))
    after = datetime.now(UTC)

    assert Path(archive, "a.csv").read_bytes() == b"first"
    assert len(set(moved)) == 3
    for path, content in zip(moved, contents, strict=True):
        match = re.fullmatch(rf"{re.escape(archive)}/a_(\d{{8}}T\d{{6}}Z)(?:_(\d+))?\.csv", path)
        assert match, path
        stamp = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert before <= stamp <= after
        assert Path(path).read_bytes() == content
    assert sorted(p.name for p in Path(archive).iterdir()) == sorted(
        ["a.csv", *(Path(p).name for p in moved)]
    )
    assert list(Path(outbound).iterdir()) == []


def test_move_missing_file(sshd: SshdServer, hook: StampliHook, outbound: str) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        hook.move(f"{outbound}/nope.csv", sshd.remote_path("archive"))
    assert not Path(sshd.remote_path("archive")).exists()


# -- writing --------------------------------------------------------------------------------------


def test_write_text_creates_directories(sshd: SshdServer, hook: StampliHook) -> None:
    target = sshd.remote_path("error/2026/a.csv.reason.txt")

    hook.write_text(target, "Vendor V-9 is unknown in Fusion — file refused\n")

    assert Path(target).read_text(encoding="utf-8") == "Vendor V-9 is unknown in Fusion — file refused\n"
    assert os.listdir(Path(target).parent) == ["a.csv.reason.txt"]


def test_write_bytes_replaces_atomically(sshd: SshdServer, hook: StampliHook) -> None:
    """A reader polling the final name sees the whole old file or the whole new one, never a part."""
    inbound = Path(sshd.mkdir("inbound"))
    final = inbound / "vendors.csv"
    old = b"old," * 1000
    sshd.put_file("inbound/vendors.csv", old)
    sizes: set[int] = set()
    partial_names: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for name in os.listdir(inbound):
                if name != final.name:
                    partial_names.add(name)
            try:
                sizes.add(final.stat().st_size)
            except FileNotFoundError:
                sizes.add(-1)

    new = os.urandom(24 * 2**20)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        hook.write_bytes(str(final), new)
    finally:
        done.set()
        watcher.join()

    assert final.read_bytes() == new
    assert sizes <= {len(old), len(new)}, "the final name showed a partial file"
    assert partial_names, "the upload finished before the watcher looked; nothing was observed"
    assert all(re.fullmatch(r"\.vendors\.csv\.part-[0-9a-f]{12}", name) for name in partial_names)
    assert os.listdir(inbound) == ["vendors.csv"]


def test_write_failure_leaves_the_target_and_no_partial_file(sshd: SshdServer, hook: StampliHook) -> None:
    sshd.mkdir("inbound/vendors.csv")  # a directory where the file should go
    sshd.put_file("inbound/vendors.csv/keep.txt", b"keep")

    with pytest.raises(OSError):  # the server's own error
        hook.write_text(sshd.remote_path("inbound/vendors.csv"), "a,b\n")

    assert os.listdir(sshd.local_path("inbound")) == ["vendors.csv"]
    assert os.listdir(sshd.local_path("inbound/vendors.csv")) == ["keep.txt"]


def test_ensure_directory(sshd: SshdServer, hook: StampliHook) -> None:
    target = sshd.remote_path("a/b/c")

    hook.ensure_directory(target)
    hook.ensure_directory(target)  # exists: nothing happens

    assert Path(target).is_dir()
    assert os.listdir(sshd.data_dir) == ["a"]
    sshd.put_file("file.txt", b"x")
    with pytest.raises(
        NotADirectoryError, match=r"file\.txt' exists on SFTP server .* and is not a directory"
    ):
        hook.ensure_directory(sshd.remote_path("file.txt/sub"))


def test_a_whole_run_uses_one_ssh_session(sshd: SshdServer, hook: StampliHook, outbound: str) -> None:
    path = sshd.put_file("outbound/a.csv", b"a,b\n")
    sessions = sshd.log().count("Starting session: subsystem 'sftp'")

    with hook.get_managed_conn():
        hook.list_files(outbound)
        hook.download(path).close()
        hook.write_text(sshd.remote_path("error/a.csv.reason.txt"), "reason")
        hook.move(path, sshd.remote_path("archive"))
        hook.stat(sshd.remote_path("archive/a.csv"))
        assert hook.get_conn_count() == 1
    assert hook.get_conn_count() == 0
    deadline = time.monotonic() + 5
    while "Close session" not in sshd.log().rsplit("Starting session", 1)[-1] and time.monotonic() < deadline:
        time.sleep(0.05)

    assert sshd.log().count("Starting session: subsystem 'sftp'") == sessions + 1


# -- host keys, authentication -------------------------------------------------------------------


def test_pinned_host_key_is_accepted(hook: StampliHook, outbound: str) -> None:
    assert hook.host_key is not None
    assert hook.no_host_key_check is False
    assert hook.list_files(outbound) == []


def test_wrong_host_key_is_refused(
    make_connection: ConnectionFactory, outbound: str, sshd: SshdServer
) -> None:
    conn_id = make_connection("stampli_wrong_key", host_key=WRONG_HOST_KEY)

    with pytest.raises(HostKeyVerificationError) as raised:
        StampliHook(conn_id, conn_retry_attempts=1).list_files(outbound)

    message = str(raised.value)
    assert f"SFTP server 127.0.0.1:{sshd.port} (connection 'stampli_wrong_key')" in message
    assert "does not match the expected one" in message
    assert "host_key extra" in message


def test_unknown_host_is_refused_with_advice(make_connection: ConnectionFactory, outbound: str) -> None:
    conn_id = make_connection("stampli_no_key", host_key=None)

    with pytest.raises(HostKeyVerificationError) as raised:
        StampliHook(conn_id, conn_retry_attempts=1).list_files(outbound)

    message = str(raised.value)
    assert "is not trusted" in message
    assert "host_key extra" in message
    assert '"ssh-ed25519 AAAA…"' in message


def test_known_hosts_file_is_honoured(
    make_connection: ConnectionFactory, outbound: str, sshd: SshdServer, isolated_home: Path
) -> None:
    ssh_dir = isolated_home / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "known_hosts").write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_key_line}\n")
    conn_id = make_connection("stampli_known_hosts", host_key=None)

    assert StampliHook(conn_id, conn_retry_attempts=1).list_files(outbound) == []


def test_no_host_key_check_only_from_the_connection(
    make_connection: ConnectionFactory, outbound: str, sftp_conn_id: str
) -> None:
    with pytest.raises(TypeError, match="host_key extra"):
        StampliHook(sftp_conn_id, no_host_key_check=True)
    conn_id = make_connection("stampli_unchecked", host_key=None, no_host_key_check="true")

    assert StampliHook(conn_id, conn_retry_attempts=1).list_files(outbound) == []


def test_refused_login_names_no_password(make_connection: ConnectionFactory, outbound: str) -> None:
    password = "Pa55-word-never-shown"
    conn_id = make_connection("stampli_password", key_file=None, password=password, look_for_keys="false")

    with pytest.raises(SftpConnectionError) as raised:
        StampliHook(conn_id, conn_retry_attempts=1).list_files(outbound)

    message = str(raised.value)
    assert "Logging in to SFTP server" in message
    assert "check the login and the password" in message
    assert password not in message
    assert raised.value.__cause__ is None


# -- the asyncssh sandbox server (demo) ------------------------------------------------------------


@pytest.fixture
def sandbox_hook(sftp_sandbox: SftpSandbox, monkeypatch: pytest.MonkeyPatch) -> StampliHook:
    for child in sftp_sandbox.root.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    return StampliHook(
        export_connection(monkeypatch, "stampli_sandbox", sftp_sandbox.connection()), conn_retry_attempts=1
    )


def test_sandbox_connection(sftp_sandbox: SftpSandbox) -> None:
    connection = sftp_sandbox.connection()

    assert connection == {
        "conn_type": "sftp",
        "host": "127.0.0.1",
        "port": sftp_sandbox.port,
        "login": DEMO_USER,
        "password": DEMO_PASSWORD,
        "extra": {"host_key": sftp_sandbox.host_key_line, "conn_timeout": 10},
    }
    assert sftp_sandbox.port > 0
    assert re.fullmatch(r"ssh-ed25519 AAAA[A-Za-z0-9+/=]+", sftp_sandbox.host_key_line)


def test_sandbox_serves_the_hook(sftp_sandbox: SftpSandbox, sandbox_hook: StampliHook) -> None:
    outbound = sftp_sandbox.root / "outbound"
    outbound.mkdir()
    (outbound / "ap_1.csv").write_bytes(b"Invoice Number\nINV-1\n")
    os.utime(outbound / "ap_1.csv", (1_700_000_000, 1_700_000_000))

    with sandbox_hook.get_managed_conn():
        listing = sandbox_hook.list_files("/outbound")
        with sandbox_hook.download("/outbound/ap_1.csv") as downloaded:
            content = downloaded.data.read()
        sandbox_hook.write_text("/error/ap_1.csv.reason.txt", "why")
        first = sandbox_hook.move("/outbound/ap_1.csv", "/archive")
        (outbound / "ap_1.csv").write_bytes(b"again")
        second = sandbox_hook.move("/outbound/ap_1.csv", "/archive")

    assert listing == [RemoteFile("ap_1.csv", "/outbound/ap_1.csv", 21, 1_700_000_000.0)]
    assert content == b"Invoice Number\nINV-1\n"
    assert downloaded.sha256 == hashlib.sha256(content).hexdigest()
    assert (sftp_sandbox.root / "error" / "ap_1.csv.reason.txt").read_text() == "why"
    assert first == "/archive/ap_1.csv"
    assert re.fullmatch(r"/archive/ap_1_\d{8}T\d{6}Z\.csv", second)
    assert (sftp_sandbox.root / "archive" / "ap_1.csv").read_bytes() == b"Invoice Number\nINV-1\n"
    assert (sftp_sandbox.root / second.lstrip("/")).read_bytes() == b"again"


def test_sandbox_confines_clients_to_its_root(sftp_sandbox: SftpSandbox, sandbox_hook: StampliHook) -> None:
    (sftp_sandbox.root / "inside.txt").write_text("x")

    assert [f.name for f in sandbox_hook.list_files("/")] == ["inside.txt"]
    assert [f.name for f in sandbox_hook.list_files("/../..")] == ["inside.txt"]


def test_sandbox_refuses_a_wrong_password(sftp_sandbox: SftpSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = export_connection(
        monkeypatch, "stampli_sandbox_bad", sftp_sandbox.connection(), password="wrong-password-123"
    )

    with pytest.raises(SftpConnectionError) as raised:
        StampliHook(conn_id, conn_retry_attempts=1).list_files("/")

    assert "wrong-password-123" not in str(raised.value)
    assert DEMO_PASSWORD not in str(raised.value)


def test_sandbox_start_stop_with_a_given_root(tmp_path: Path) -> None:
    root = tmp_path / "stampli"
    sandbox = SftpSandbox(root)
    sandbox.start()
    port = sandbox.port
    try:
        assert sandbox.root == root.resolve()
        assert sandbox.running
    finally:
        sandbox.stop()

    assert not sandbox.running
    assert root.is_dir(), "a given root is kept"
    with pytest.raises(RuntimeError, match="not started"):
        sandbox.connection()
    with pytest.raises(OSError):  # nothing listens any more
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_harness_hands_files_written_directly_to_the_daemon(sshd: SshdServer, hook: StampliHook) -> None:
    """Files and directories a test makes below data_dir by hand become usable by the daemon."""
    (sshd.data_dir / "by_hand").mkdir()
    (sshd.data_dir / "by_hand" / "a.csv").write_bytes(b"a")
    sshd.hand_over_tree()

    moved = hook.move(sshd.remote_path("by_hand/a.csv"), sshd.remote_path("by_hand/archive"))

    assert Path(moved).read_bytes() == b"a"
    assert Path(moved).stat().st_uid == sshd.account.uid


def test_connection_is_named_by_sftp_conn_id(sftp_conn_id: str) -> None:
    with pytest.raises(TypeError, match="sftp_conn_id"):
        StampliHook(ssh_conn_id=sftp_conn_id)
    assert StampliHook(sftp_conn_id).ssh_conn_id == sftp_conn_id
