"""Trigger that waits for complete Stampli export files on an SFTP server, for deferrable sensors.

:class:`StampliFileTrigger` runs in the triggerer. It lists the outbound directory with the
official provider's :class:`~airflow.providers.sftp.hooks.sftp.SFTPHookAsync` (asyncssh) every
``poke_interval`` seconds and applies the same completeness rule as the synchronous sensor
(:class:`~ml_connector_provider.hooks.stampli.ExportWatch`): a marker file next to the export, or an
export untouched for ``min_file_age`` seconds whose size and modification time did not change
since the trigger's previous listing.

Host keys are checked as the connection says: the async hook reads the ``host_key`` and
``known_hosts`` extras (and ``no_host_key_check``); an untrusted server ends the wait with an
error event that says how to pin its key.
"""

from __future__ import annotations

import asyncio
import posixpath
import stat as stat_module
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.triggers.base import BaseTrigger, TriggerEvent

from ml_connector_provider.extras import missing_extra
from ml_connector_provider.quiet_imports import asyncssh_dsa_annotations_quiet

try:
    with asyncssh_dsa_annotations_quiet():
        import asyncssh
        from airflow.providers.sftp.hooks.sftp import SFTPHookAsync
except ImportError as _err:
    raise missing_extra("sftp", "The Stampli (SFTP) trigger", _err) from _err

from ml_connector_provider.hooks.stampli import (
    HOST_KEY_HINT,
    ExportWatch,
    RemoteFile,
    check_watch_arguments,
    describe_sftp_error,
)

__all__ = ["DEFAULT_POKE_INTERVAL", "StampliFileTrigger", "remote_files"]

DEFAULT_POKE_INTERVAL = 60.0
"""Seconds between two listings while no export file is complete."""


def remote_files(directory: str, entries: Iterable[asyncssh.SFTPName]) -> list[RemoteFile]:
    """The regular files of an asyncssh directory listing (``.``, ``..`` and directories dropped).

    OpenSSH includes ``.`` and ``..`` in a listing; asyncssh hands them on as they come. An entry
    whose type the server did not send is kept as a file.

    :param directory: the listed directory (joined with each name into :attr:`RemoteFile.path`).
    :param entries: what ``SFTPClient.readdir`` returned.
    """
    files: list[RemoteFile] = []
    for entry in entries:
        name = entry.filename.decode() if isinstance(entry.filename, bytes) else str(entry.filename)
        if name in (".", ".."):
            continue
        attrs = entry.attrs
        if attrs.permissions is not None and not stat_module.S_ISREG(attrs.permissions):
            continue
        files.append(
            RemoteFile(
                name=name,
                path=posixpath.join(directory, name),
                size=int(attrs.size or 0),
                mtime=float(attrs.mtime or 0),
            )
        )
    return sorted(files, key=lambda f: f.name)


class StampliFileTrigger(BaseTrigger):
    """Fire once the directory holds at least one complete export file.

    Events (one, then the trigger ends):

    * ``{"status": "success", "files": ["a.csv", "b.csv"]}``: the complete files' names, oldest
      first;
    * ``{"status": "error", "message": "…"}``: the server could not be used (unknown or wrong
      host key, refused login, unreachable server, missing connection). No secrets in it.

    A directory that does not exist (yet) is logged and waited for.

    :param sftp_conn_id: the ``sftp`` Airflow connection (read when the trigger runs).
    :param path: the remote directory Stampli exports to.
    :param file_pattern: fnmatch pattern of export files.
    :param marker_suffix: when set, a file is complete once ``<name><suffix>`` exists.
    :param min_file_age: seconds since the last modification before a file is complete (without
        a marker).
    :param poke_interval: seconds between two listings.
    """

    def __init__(
        self,
        *,
        sftp_conn_id: str,
        path: str,
        file_pattern: str = "*.csv",
        marker_suffix: str | None = None,
        min_file_age: float = 60,
        poke_interval: float = DEFAULT_POKE_INTERVAL,
    ) -> None:
        super().__init__()
        check_watch_arguments(
            path=path, file_pattern=file_pattern, marker_suffix=marker_suffix, min_file_age=min_file_age
        )
        if (
            isinstance(poke_interval, bool)
            or not isinstance(poke_interval, int | float)
            or poke_interval <= 0
        ):
            raise ValueError(f"poke_interval must be a positive number of seconds, not {poke_interval!r}")
        self.sftp_conn_id = sftp_conn_id
        self.path = path
        self.file_pattern = file_pattern
        self.marker_suffix = marker_suffix
        self.min_file_age = float(min_file_age)
        self.poke_interval = float(poke_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and constructor arguments (no secrets: the connection is read at run time)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "sftp_conn_id": self.sftp_conn_id,
                "path": self.path,
                "file_pattern": self.file_pattern,
                "marker_suffix": self.marker_suffix,
                "min_file_age": self.min_file_age,
                "poke_interval": self.poke_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """List the directory until a file is complete (success event) or the server fails (error event)."""
        yield TriggerEvent(await self._wait())

    async def _wait(self) -> dict[str, Any]:
        try:
            conn = await get_async_connection(self.sftp_conn_id, hook=SFTPHookAsync)
            extras = await get_async_extra_dejson(conn)
        except Exception as error:  # noqa: BLE001 - reported in the event, the task decides
            return self._error(
                f"cannot use SFTP connection {self.sftp_conn_id!r}: {describe_sftp_error(error)}"
            )
        secrets = (
            conn.password,
            extras.get("private_key"),
            extras.get("private_key_passphrase"),
            extras.get("passphrase"),
        )
        where = f"SFTP server {conn.host}:{conn.port or 22} (connection {self.sftp_conn_id!r})"
        hook = SFTPHookAsync(sftp_conn_id=self.sftp_conn_id)
        watch = ExportWatch(self.path, self.file_pattern, self.min_file_age, self.marker_suffix)
        while True:
            try:
                entries = await hook.read_directory(self.path)
            except asyncssh.HostKeyNotVerifiable as error:
                return self._error(
                    f"{where} is not trusted ({describe_sftp_error(error, secrets)}): its host key is "
                    f"unknown or differs from the pinned one. To trust it, {HOST_KEY_HINT}."
                )
            except Exception as error:  # noqa: BLE001 - reported in the event, the task decides
                return self._error(
                    f"listing {self.path!r} on {where} failed: {describe_sftp_error(error, secrets)}"
                )
            if entries is None:
                self.log.info(
                    "Directory %r does not exist on %s yet; looking again in %.1fs.",
                    self.path,
                    where,
                    self.poke_interval,
                )
                watch.previous = None
            elif names := watch.look(remote_files(self.path, entries), now=time.time(), log=self.log):
                return {"status": "success", "files": names}
            await asyncio.sleep(self.poke_interval)

    @staticmethod
    def _error(message: str) -> dict[str, Any]:
        return {"status": "error", "message": message}
