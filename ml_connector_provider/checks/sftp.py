"""Checks of the Stampli SFTP server, for a first connection with the tenant's real account.

Nothing is written, renamed or created: the probes connect, stat and list. What is probed:

* ``sftp.reachable`` — the server answers on its host and port (from an integration's checks, it
  also fails when the tenant's SFTP connection cannot be used);
* ``sftp.host_key`` — the key the server presents is the pinned one (connection extra
  ``host_key``, or the worker's ``known_hosts``); a different key fails, naming both fingerprints;
  a connection that does not check the key warns, with the presented key to confirm and pin;
* ``sftp.login`` — the account may log in;
* ``sftp.outbound_dir`` — the export directory exists and can be listed, and how many files
  match ``file_pattern`` now;
* ``sftp.archive_dir``, ``sftp.error_dir`` (and ``sftp.inbound_dir`` when reference data is
  exported) — each exists and looks writable from its owner and mode bits; when the server's
  answer cannot tell, the check says so (only a write would);
* ``sftp.clock`` — export files dated in the future (the server's clock ahead of the worker's),
  which would wait longer than ``min_file_age``. File times are not a reliable clock otherwise: no
  skew is computed from them.
"""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ml_connector_provider.checks import CheckResult, CheckStatus

if TYPE_CHECKING:
    from ml_connector_provider.hooks.stampli import RemoteDirectory, StampliHook
    from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings

__all__ = ["FUTURE_FILE_SECONDS", "check_sftp"]

FUTURE_FILE_SECONDS = 300.0
"""A file modified more than this far in the worker's future is reported by ``sftp.clock``."""


def _fingerprint(key: object) -> str:
    return f"{getattr(key, 'get_name', lambda: '?')()} {getattr(key, 'fingerprint', '?')}"


def check_sftp(
    hook: StampliHook, settings: StampliFusionSettings, *, now: datetime | None = None
) -> list[CheckResult]:
    """Probe the tenant's SFTP server for what the Stampli streams use; read-only.

    :param hook: the tenant's Stampli hook.
    :param settings: the tenant's ``stampli_fusion`` settings (directories, file pattern).
    :param now: the worker's clock (tests); default: now.
    """
    from ml_connector_provider.hooks.stampli import (
        HOST_KEY_HINT,
        HostKeyVerificationError,
        SftpAuthenticationError,
        SftpConnectionError,
        SftpUnreachableError,
        login_directory_owner,
    )

    conn = hook.sftp_conn_id
    server = f"{hook.remote_host}:{hook.port}"
    results: list[CheckResult] = []
    try:
        with hook.get_managed_conn() as sftp:
            presented = sftp.get_channel().get_transport().get_remote_server_key()
            owner = login_directory_owner(hook)
            results.append(CheckResult("sftp.reachable", CheckStatus.OK, f"SFTP server {server} answers"))
            results.append(_host_key_result(hook, presented, HOST_KEY_HINT))
            results.append(CheckResult("sftp.login", CheckStatus.OK, f"logged in as {hook.username!r}"))
            results.extend(_directory_results(hook, settings, owner, now or datetime.now(UTC)))
    except SftpUnreachableError as error:
        results.append(
            CheckResult(
                "sftp.reachable",
                CheckStatus.FAIL,
                str(error),
                f"check the host and port of connection {conn!r} and that the workers may reach the server "
                "(firewall, allow-listed IP addresses)",
            )
        )
    except HostKeyVerificationError as error:
        results.append(CheckResult("sftp.reachable", CheckStatus.OK, f"SFTP server {server} answers"))
        expected = _fingerprint(hook.host_key) if hook.host_key is not None else None
        if expected is None:
            results.append(
                CheckResult("sftp.host_key", CheckStatus.FAIL, str(error), f"to trust it, {HOST_KEY_HINT}")
            )
        else:
            results.append(
                CheckResult(
                    "sftp.host_key",
                    CheckStatus.FAIL,
                    f"{error} Expected (host_key extra of connection {conn!r}): {expected}.",
                    "confirm the server's current key with its administrator before changing the "
                    f"host_key extra of connection {conn!r}; until then, do not connect",
                )
            )
    except SftpAuthenticationError as error:
        results.append(CheckResult("sftp.reachable", CheckStatus.OK, f"SFTP server {server} answers"))
        results.append(CheckResult("sftp.host_key", CheckStatus.OK, "the server's host key was accepted"))
        results.append(
            CheckResult(
                "sftp.login",
                CheckStatus.FAIL,
                str(error),
                f"check the login and the password, key_file or private_key of connection {conn!r} with "
                "the server's administrator (is the account's public key installed?)",
            )
        )
    except SftpConnectionError as error:
        results.append(
            CheckResult("sftp.reachable", CheckStatus.FAIL, str(error), f"check connection {conn!r}")
        )
    return results


def _host_key_result(hook: StampliHook, presented: object, hint: str) -> CheckResult:
    seen = _fingerprint(presented)
    if hook.no_host_key_check:
        line = f"{getattr(presented, 'get_name', lambda: '?')()} {getattr(presented, 'get_base64', lambda: '?')()}"
        return CheckResult(
            "sftp.host_key",
            CheckStatus.WARN,
            f"connection {hook.sftp_conn_id!r} does not check the server's host key (no_host_key_check); "
            f"the server presented {seen}",
            f"confirm that fingerprint with the server's administrator, then set the host_key extra to "
            f"{line!r} and remove no_host_key_check",
        )
    if getattr(hook, "allow_host_key_change", False):
        return CheckResult(
            "sftp.host_key",
            CheckStatus.WARN,
            f"the server presented {seen}, but connection {hook.sftp_conn_id!r} sets allow_host_key_change, "
            "so a different key would be accepted without a word",
            "remove allow_host_key_change from the connection's extras",
        )
    where = "the pinned host_key" if hook.host_key is not None else "the worker's known_hosts"
    return CheckResult("sftp.host_key", CheckStatus.OK, f"the server presented {seen}, matching {where}")


def _writable(directory: RemoteDirectory, owner: int | None) -> bool | None:
    """Whether the account may create files in ``directory``, as far as its mode bits tell."""
    if directory.mode is None:
        return None
    if directory.mode & 0o222 == 0:
        return False
    if directory.mode & 0o002:
        return True
    if owner is not None and directory.uid == owner:
        return bool(directory.mode & 0o200)
    return None


def _directory_results(
    hook: StampliHook, settings: StampliFusionSettings, owner: int | None, now: datetime
) -> list[CheckResult]:
    from ml_connector_provider.hooks.stampli import is_export_candidate, probe_directory

    sftp = settings.sftp
    results: list[CheckResult] = []
    outbound = probe_directory(hook, sftp.outbound_dir)
    if not outbound.exists:
        results.append(
            CheckResult(
                "sftp.outbound_dir",
                CheckStatus.FAIL,
                f"the export directory {sftp.outbound_dir!r} does not exist on the server",
                "ask Stampli or the server's administrator where the exports are written, and set the "
                "tenant's sftp.outbound_dir to it",
            )
        )
    elif outbound.files is None:
        reason = str(outbound.error) if outbound.error else f"{sftp.outbound_dir!r} is not a directory"
        results.append(
            CheckResult(
                "sftp.outbound_dir",
                CheckStatus.FAIL,
                f"the export directory cannot be listed: {reason}",
                f"ask the server's administrator to let {hook.username!r} list and read {sftp.outbound_dir!r}",
            )
        )
    else:
        matching = [
            f
            for f in outbound.files
            if is_export_candidate(f.name, pattern=sftp.file_pattern, marker_suffix=sftp.marker_suffix)
        ]
        results.append(
            CheckResult(
                "sftp.outbound_dir",
                CheckStatus.OK,
                f"{sftp.outbound_dir!r} can be listed: {len(matching)} of its {len(outbound.files)} file(s) "
                f"match {sftp.file_pattern!r}",
            )
        )
        future = [f.name for f in matching if f.mtime - now.timestamp() > FUTURE_FILE_SECONDS]
        if future:
            results.append(
                CheckResult(
                    "sftp.clock",
                    CheckStatus.WARN,
                    f"{len(future)} export file(s) are dated more than {FUTURE_FILE_SECONDS:.0f} s in the "
                    f"worker's future ({', '.join(future[:3])}): the server's clock is ahead, and these "
                    "files wait longer than min_file_age",
                    "synchronise the server's and the workers' clocks (NTP)",
                )
            )
    moves = [
        ("sftp.archive_dir", sftp.archive_dir, "sftp.archive_dir"),
        ("sftp.error_dir", sftp.error_dir, "sftp.error_dir"),
    ]
    for check, path, setting in moves:
        results.append(_target_directory(hook, check, path, setting, owner, creates=True))
    if settings.reference_data is not None:
        inbound = settings.reference_data.inbound_dir
        results.append(
            _target_directory(
                hook, "sftp.inbound_dir", inbound, "reference_data.inbound_dir", owner, creates=False
            )
        )
    return results


def _target_directory(
    hook: StampliHook, check: str, path: str, setting: str, owner: int | None, *, creates: bool
) -> CheckResult:
    """A directory files are moved or written into."""
    from ml_connector_provider.hooks.stampli import probe_directory

    found = probe_directory(hook, path, list_files=False)
    user = hook.username
    if not found.exists:
        parent = posixpath.dirname(path)
        if creates:
            return CheckResult(
                check,
                CheckStatus.WARN,
                f"{path!r} does not exist; the first file moved there creates it, if {user!r} may create "
                f"directories in {parent!r} (not tried: the check writes nothing)",
                f"create {path!r} for {user!r}, or set the tenant's {setting} to an existing directory",
            )
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"{path!r} does not exist on the server",
            f"ask Stampli which directory it imports from and set the tenant's {setting} to it",
        )
    if found.error is not None:
        return CheckResult(
            check,
            CheckStatus.FAIL,
            str(found.error),
            f"ask the server's administrator to give {user!r} write access to {path!r}",
        )
    if not found.is_dir:
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"{path!r} exists but is not a directory",
            f"set the tenant's {setting} to a directory",
        )
    writable = _writable(found, owner)
    if writable is None:
        return CheckResult(
            check,
            CheckStatus.WARN,
            f"{path!r} exists; whether {user!r} may write there cannot be known without writing (the "
            "server does not say who the account is, or sends no mode bits)",
            f"confirm with the server's administrator that {user!r} may create and rename files in {path!r}",
        )
    if not writable:
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"{path!r} exists but is not writable by {user!r} (mode {found.mode:o})",
            f"ask the server's administrator to give {user!r} write access to {path!r}",
        )
    return CheckResult(
        check, CheckStatus.OK, f"{path!r} exists and looks writable by {user!r} (mode {found.mode:o})"
    )
