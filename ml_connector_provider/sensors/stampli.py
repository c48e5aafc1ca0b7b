"""Sensor that waits for complete Stampli export files in an SFTP directory.

:class:`StampliFileSensor` succeeds once the outbound directory holds at least one complete
export file, and returns (and pushes to XCom) the names of the complete files. It lists the
directory through :class:`~ml_connector_provider.hooks.stampli.StampliHook` at each poke, or
defers to :class:`~ml_connector_provider.triggers.stampli.StampliFileTrigger` and frees its worker
slot. Both decide with :class:`~ml_connector_provider.hooks.stampli.ExportWatch`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, BaseSensorOperator, PokeReturnValue, conf

from ml_connector_provider.hooks.stampli import ExportWatch, StampliHook, check_watch_arguments
from ml_connector_provider.triggers.stampli import StampliFileTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["StampliFileSensor"]


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class StampliFileSensor(BaseSensorOperator):
    """Wait until a Stampli outbound directory holds at least one complete export file.

    A file matching ``file_pattern`` is complete when

    * ``marker_suffix`` is set and the marker ``<name><marker_suffix>`` exists next to it; or
    * otherwise, it was last modified at least ``min_file_age`` seconds ago and (from the second
      look on) its size and modification time are the same as at the previous look.

    Names starting with ``.`` (uploads in flight) and marker files are never export files.
    Stampli documents neither its file naming nor when an export is complete (UNCONFIRMED), hence
    these two rules.

    The sensor returns, and pushes to XCom, the names of the complete files, oldest first, e.g.
    ``["ap_export_20260601T120000.csv"]``.

    In poke mode the sensor remembers the previous listing between pokes of one try (so a file
    must also be unchanged between two pokes); in ``mode="reschedule"`` each poke starts afresh and
    only the age counts. With ``deferrable=True`` it checks once on the worker, then hands the
    wait to :class:`~ml_connector_provider.triggers.stampli.StampliFileTrigger`, which lists the
    directory every ``poke_interval`` seconds in the triggerer. ``timeout`` bounds the wait in both
    modes. A directory that does not exist yet counts as "nothing yet"; an untrusted host key, a
    refused login or an unreachable server fails the task.

    .. seealso:: ``docs/sensors.md``

    :param sftp_conn_id: the ``sftp`` Airflow connection of the Stampli server.
    :param path: the remote outbound directory (templated).
    :param file_pattern: fnmatch pattern of export files (templated), ``*.csv`` by default.
    :param marker_suffix: suffix of marker files, e.g. ``.done``; ``None``: no markers.
    :param min_file_age: seconds since a file's last modification before it counts as complete
        (without a marker).
    :param deferrable: wait in the triggerer instead of a worker slot (default: the
        ``[operators] default_deferrable`` setting, read when the sensor is built).
    :param poke_interval: seconds between two listings, in both modes (60 by default).
    """

    template_fields: Sequence[str] = ("path", "file_pattern")
    ui_color = "#4c9aff"

    def __init__(
        self,
        *,
        path: str,
        sftp_conn_id: str = StampliHook.default_conn_name,
        file_pattern: str = "*.csv",
        marker_suffix: str | None = None,
        min_file_age: float = 60,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_watch_arguments(
            path=path, file_pattern=file_pattern, marker_suffix=marker_suffix, min_file_age=min_file_age
        )
        self.sftp_conn_id = sftp_conn_id
        self.path = path
        self.file_pattern = file_pattern
        self.marker_suffix = marker_suffix
        self.min_file_age = float(min_file_age)
        if deferrable is None:
            deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
        self.deferrable = deferrable
        self._watch: ExportWatch | None = None  # made at the first poke, from the rendered fields

    @cached_property
    def hook(self) -> StampliHook:
        """The SFTP hook (built on first use: nothing is read when the DAG is parsed)."""
        return StampliHook(self.sftp_conn_id)

    def _check_rendered(self) -> None:
        for name in ("path", "file_pattern"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or _is_template(value):
                raise AirflowException(f"{name} {value!r} is not a usable value after rendering")

    def poke(self, context: Context) -> PokeReturnValue:
        """List the directory once; done when at least one export file is complete."""
        self._check_rendered()
        if self._watch is None:
            self._watch = ExportWatch(self.path, self.file_pattern, self.min_file_age, self.marker_suffix)
        try:
            listing = self.hook.list_files(self.path)
        except FileNotFoundError as error:
            self.log.info("%s; waiting for it.", error)
            self._watch.previous = None
            return PokeReturnValue(is_done=False)
        names = self._watch.look(listing, now=time.time(), log=self.log)
        return PokeReturnValue(is_done=True, xcom_value=names) if names else PokeReturnValue(is_done=False)

    def execute(self, context: Context) -> Any:
        """Poke as usual, or (deferrable) check once and defer to :class:`StampliFileTrigger`."""
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=StampliFileTrigger(
                sftp_conn_id=self.sftp_conn_id,
                path=self.path,
                file_pattern=self.file_pattern,
                marker_suffix=self.marker_suffix,
                min_file_age=self.min_file_age,
                poke_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[str]:
        """Interpret the trigger's event: the complete files' names, or fail with the trigger's message."""
        if not event:
            raise AirflowException("The Stampli file trigger ended without an event.")
        if event.get("status") != "success":
            raise AirflowException(
                f"Waiting for Stampli files failed: {event.get('message') or 'no reason given'}"
            )
        names = [str(name) for name in event.get("files") or []]
        self.log.info("%d complete export file(s) in %r: %s", len(names), self.path, names)
        return names
