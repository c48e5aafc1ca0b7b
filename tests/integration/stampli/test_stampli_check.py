"""``ml-connector check`` of the Stampli SFTP server, against OpenSSH's sshd: everything passes on a
server set up as the tenant's settings say; a wrong or unpinned host key, a refused login, a
missing, unlistable or read-only directory are each named with what to change. The whole command,
with every system a tenant uses, is tested in ``tests/integration/check``."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import asyncssh
import paramiko

from ml_connector_provider.checks import CheckResult, CheckStatus
from ml_connector_provider.checks.sftp import check_sftp
from ml_connector_provider.hooks.stampli import StampliHook
from ml_connector_provider.integrations.stampli_fusion.settings import (
    ReferenceDataSettings,
    StampliFusionSettings,
)
from tests.harness.sshd import SshdServer
from tests.integration.stampli.conftest import ConnectionFactory
from tests.integration.stampli.test_stampli_hook import WRONG_HOST_KEY

OLD = time.time() - 600


def by_check(results: list[CheckResult]) -> dict[str, CheckResult]:
    checks = [r.check for r in results]
    assert len(checks) == len(set(checks)), checks
    return {r.check: r for r in results}


def run(conn_id: str, settings: StampliFusionSettings) -> dict[str, CheckResult]:
    return by_check(check_sftp(StampliHook(conn_id, conn_retry_attempts=1), settings))


def with_reference_data(settings: StampliFusionSettings, inbound: str) -> StampliFusionSettings:
    return settings.model_copy(update={"reference_data": ReferenceDataSettings(inbound_dir=inbound)})


def test_every_probe_passes_on_a_server_set_up_as_the_settings_say(
    sshd: SshdServer, sftp_conn_id: str, settings: StampliFusionSettings
) -> None:
    sshd.put_file("outbound/a.csv", "x", mtime=OLD)
    sshd.put_file("outbound/b.csv", "x", mtime=OLD)
    sshd.put_file("outbound/readme.txt", "x", mtime=OLD)
    sshd.mkdir("inbound")
    settings = with_reference_data(settings, sshd.remote_path("inbound"))
    results = run(sftp_conn_id, settings)
    assert {name: r.status.value for name, r in results.items()} == {
        "sftp.reachable": "ok",
        "sftp.host_key": "ok",
        "sftp.login": "ok",
        "sftp.outbound_dir": "ok",
        "sftp.archive_dir": "ok",
        "sftp.error_dir": "ok",
        "sftp.inbound_dir": "ok",
    }
    assert "2 of its 3 file(s) match '*.csv'" in results["sftp.outbound_dir"].found
    assert "matching the pinned host_key" in results["sftp.host_key"].found
    assert "looks writable" in results["sftp.archive_dir"].found
    # read-only: nothing was moved or created
    assert sorted(p.name for p in sshd.local_path("outbound").iterdir()) == ["a.csv", "b.csv", "readme.txt"]
    assert list(sshd.local_path("archive").iterdir()) == []


def test_a_wrong_host_key_fails_naming_both_fingerprints(
    sshd: SshdServer, make_connection: ConnectionFactory, settings: StampliFusionSettings
) -> None:
    conn_id = make_connection("stampli_wrong_key", host_key=WRONG_HOST_KEY)
    results = run(conn_id, settings)
    assert list(results) == ["sftp.reachable", "sftp.host_key"]
    host_key = results["sftp.host_key"]
    assert host_key.status is CheckStatus.FAIL
    server_key = paramiko.Ed25519Key(data=base64.b64decode(sshd.host_key_line.split()[1]))
    pinned_key = paramiko.Ed25519Key(data=base64.b64decode(WRONG_HOST_KEY.split()[1]))
    assert f"presented ssh-ed25519 {server_key.fingerprint}" in host_key.found
    assert (
        f"Expected (host_key extra of connection 'stampli_wrong_key'): ssh-ed25519 {pinned_key.fingerprint}"
        in (host_key.found)
    )
    assert "administrator" in host_key.fix


def test_no_pinned_host_key_fails_with_how_to_pin(
    make_connection: ConnectionFactory, settings: StampliFusionSettings
) -> None:
    conn_id = make_connection("stampli_no_key", host_key=None)
    host_key = run(conn_id, settings)["sftp.host_key"]
    assert host_key.status is CheckStatus.FAIL
    assert "not trusted" in host_key.found
    assert "ssh-keyscan" in host_key.fix


def test_an_unchecked_host_key_warns_with_the_key_to_confirm(
    sshd: SshdServer, make_connection: ConnectionFactory, settings: StampliFusionSettings
) -> None:
    conn_id = make_connection("stampli_unchecked", host_key=None, no_host_key_check="true")
    results = run(conn_id, settings)
    host_key = results["sftp.host_key"]
    assert host_key.status is CheckStatus.WARN
    assert "does not check the server's host key" in host_key.found
    assert sshd.host_key_line.split()[1] in host_key.fix
    assert results["sftp.outbound_dir"].status is CheckStatus.OK


def test_a_refused_login_names_the_account(
    make_connection: ConnectionFactory, settings: StampliFusionSettings, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger_ed25519"
    stranger.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh"))
    stranger.chmod(0o600)
    conn_id = make_connection("stampli_stranger", key_file=str(stranger))
    results = run(conn_id, settings)
    assert [r.status for r in results.values()] == [CheckStatus.OK, CheckStatus.OK, CheckStatus.FAIL], results
    assert "key_file" in results["sftp.login"].fix


def test_an_unreachable_server(make_connection: ConnectionFactory, settings: StampliFusionSettings) -> None:
    from tests.harness.ports import free_port

    conn_id = make_connection("stampli_nowhere")
    hook = StampliHook(conn_id, conn_retry_attempts=1)
    hook.port = free_port()
    [reachable] = check_sftp(hook, settings)
    assert (reachable.check, reachable.status) == ("sftp.reachable", CheckStatus.FAIL)
    assert "host and port" in reachable.fix


def test_missing_and_unusable_directories_are_named_with_the_setting_to_change(
    sshd: SshdServer, sftp_conn_id: str, settings: StampliFusionSettings
) -> None:
    sshd.local_path("archive").rmdir()
    sshd.local_path("error").chmod(0o555)
    sshd.local_path("outbound").chmod(0o000)
    settings = with_reference_data(settings, sshd.remote_path("no-such-inbound"))
    try:
        results = run(sftp_conn_id, settings)
    finally:
        sshd.local_path("outbound").chmod(0o755)
    outbound = results["sftp.outbound_dir"]
    assert outbound.status is CheckStatus.FAIL
    assert "permission denied" in outbound.found
    assert "list and read" in outbound.fix
    archive = results["sftp.archive_dir"]
    assert archive.status is CheckStatus.WARN
    assert "does not exist; the first file moved there creates it" in archive.found
    assert "sftp.archive_dir" in archive.fix
    error_dir = results["sftp.error_dir"]
    assert error_dir.status is CheckStatus.FAIL
    assert "not writable" in error_dir.found
    assert "mode 555" in error_dir.found
    inbound = results["sftp.inbound_dir"]
    assert inbound.status is CheckStatus.FAIL
    assert "reference_data.inbound_dir" in inbound.fix


def test_a_missing_export_directory_fails(
    sshd: SshdServer, sftp_conn_id: str, settings: StampliFusionSettings
) -> None:
    sshd.local_path("outbound").rmdir()
    outbound = run(sftp_conn_id, settings)["sftp.outbound_dir"]
    assert outbound.status is CheckStatus.FAIL
    assert "does not exist" in outbound.found
    assert "sftp.outbound_dir" in outbound.fix


def test_export_files_from_the_future_warn_about_the_servers_clock(
    sshd: SshdServer, sftp_conn_id: str, settings: StampliFusionSettings
) -> None:
    sshd.put_file("outbound/early.csv", "x", mtime=time.time() + 3600)
    clock = run(sftp_conn_id, settings)["sftp.clock"]
    assert clock.status is CheckStatus.WARN
    assert "early.csv" in clock.found
