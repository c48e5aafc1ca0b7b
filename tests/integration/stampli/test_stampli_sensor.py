"""StampliFileSensor and StampliFileTrigger against OpenSSH's sshd.

The sensor pokes through the real hook (paramiko); the trigger runs its real async loop
(``asyncio.run``) with the official ``SFTPHookAsync`` (asyncssh). Connections come from
``AIRFLOW_CONN_*`` variables.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException, TaskDeferred
from ml_connector_sandbox.sftp import SftpSandbox

from ml_connector_provider.hooks.stampli import HostKeyVerificationError, StampliHook
from ml_connector_provider.sensors.stampli import StampliFileSensor
from ml_connector_provider.triggers.stampli import StampliFileTrigger
from tests.harness.connections import export_connection
from tests.harness.sshd import SshdServer
from tests.integration.stampli.conftest import ConnectionFactory

if TYPE_CHECKING:
    from airflow.sdk import Context

NO_CONTEXT = cast("Context", {})
TRIGGER_PATH = "ml_connector_provider.triggers.stampli.StampliFileTrigger"
WRONG_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK7vNkPVhzdA3QiyHJBDfKvFPyeJXzywFXw2EO2Fr8LV"


def sensor(**kwargs: Any) -> StampliFileSensor:
    kwargs.setdefault("task_id", "wait_for_stampli_files")
    kwargs.setdefault("path", "/outbound")
    return StampliFileSensor(**kwargs)


def poke(task: StampliFileSensor) -> PokeReturnValue:
    return task.poke(NO_CONTEXT)


def import_string(classpath: str) -> Any:
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)


async def first_event(trigger: StampliFileTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return cast("dict[str, Any]", event.payload)
    raise AssertionError("the trigger ended without an event")


def run_trigger(trigger: StampliFileTrigger, timeout: float = 30.0) -> dict[str, Any]:
    """Drive ``trigger.run()`` to its first event, as the triggerer would."""
    return asyncio.run(asyncio.wait_for(first_event(trigger), timeout))


def age(seconds: float) -> float:
    """The POSIX time ``seconds`` ago."""
    return time.time() - seconds


# -- poke mode ------------------------------------------------------------------------------------


def test_too_new_then_aged_then_stable(sshd: SshdServer, sftp_conn_id: str, outbound: str) -> None:
    path = sshd.put_file("outbound/ap_1.csv", b"a,b\n", mtime=age(5))
    task = sensor(sftp_conn_id=sftp_conn_id, path=outbound, min_file_age=60)

    assert poke(task).is_done is False  # 5 s old
    sshd.set_mtime(path, age(600))
    second = poke(task)  # old enough now, but its mtime changed since the previous poke
    third = poke(task)

    assert second.is_done is False
    assert third.is_done is True
    assert third.xcom_value == ["ap_1.csv"]


def test_aged_files_on_the_first_poke_oldest_first(
    sshd: SshdServer, sftp_conn_id: str, outbound: str
) -> None:
    sshd.put_file("outbound/b.csv", b"b", mtime=age(300))
    sshd.put_file("outbound/a.csv", b"a", mtime=age(200))
    sshd.put_file("outbound/young.csv", b"y", mtime=age(1))
    sshd.put_file("outbound/.c.csv", b"c", mtime=age(900))
    sshd.put_file("outbound/notes.txt", b"n", mtime=age(900))
    sshd.mkdir("outbound/old.csv")  # a directory, not a file

    result = poke(sensor(sftp_conn_id=sftp_conn_id, path=outbound, min_file_age=60))

    assert result.is_done is True
    assert result.xcom_value == ["b.csv", "a.csv"]


def test_a_growing_file_is_not_reported(sshd: SshdServer, sftp_conn_id: str, outbound: str) -> None:
    old = age(3600)
    sshd.put_file("outbound/ap_1.csv", b"line 1\n", mtime=age(5))
    task = sensor(sftp_conn_id=sftp_conn_id, path=outbound, min_file_age=60)
    assert poke(task).is_done is False  # too young
    # The exporter appends, and its clock says the file is old (the mtime is preserved).
    sshd.put_file("outbound/ap_1.csv", b"line 1\nline 2\n", mtime=old)

    assert poke(task).is_done is False  # old enough, but it grew since the previous poke
    final = poke(task)
    assert final.is_done is True
    assert final.xcom_value == ["ap_1.csv"]


def test_poke_mode_execute_returns_the_names(sshd: SshdServer, sftp_conn_id: str, outbound: str) -> None:
    sshd.put_file("outbound/ap_1.csv", b"a", mtime=age(120))
    task = sensor(sftp_conn_id=sftp_conn_id, path=outbound, deferrable=False, poke_interval=0.05, timeout=30)

    assert task.execute(NO_CONTEXT) == ["ap_1.csv"]


def test_marker_mode(sshd: SshdServer, sftp_conn_id: str, outbound: str) -> None:
    sshd.put_file("outbound/old.csv", b"o", mtime=age(86400))
    sshd.put_file("outbound/new.csv", b"n", mtime=age(0))
    task = sensor(sftp_conn_id=sftp_conn_id, path=outbound, marker_suffix=".done", min_file_age=60)

    assert poke(task).is_done is False  # old but unmarked; new and unmarked
    sshd.put_file("outbound/new.csv.done", b"")
    result = poke(task)

    assert result.is_done is True
    assert result.xcom_value == ["new.csv"]


def test_missing_directory_means_not_yet(sshd: SshdServer, sftp_conn_id: str) -> None:
    task = sensor(sftp_conn_id=sftp_conn_id, path=sshd.remote_path("outbound"), min_file_age=0)

    assert poke(task).is_done is False
    sshd.put_file("outbound/ap_1.csv", b"a")
    assert poke(task).xcom_value == ["ap_1.csv"]


def test_rendered_template_fields(sshd: SshdServer, sftp_conn_id: str, outbound: str) -> None:
    sshd.put_file("outbound/ap_20260601.csv", b"a", mtime=age(120))
    sshd.put_file("outbound/ap_20260602.csv", b"a", mtime=age(120))
    task = sensor(sftp_conn_id=sftp_conn_id, path="{{ params.dir }}", file_pattern="ap_{{ ds_nodash }}.csv")
    assert StampliFileSensor.template_fields == ("path", "file_pattern")

    with pytest.raises(AirflowException, match="not a usable value after rendering"):
        poke(task)
    task.path, task.file_pattern = outbound, "ap_20260602.csv"
    assert poke(task).xcom_value == ["ap_20260602.csv"]


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Kolkata"])
def test_file_age_does_not_depend_on_the_worker_time_zone(
    zone: str, sshd: SshdServer, sftp_conn_id: str, outbound: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read as local time and taken for UTC, a 30 s old file would look 8 h old in Los Angeles
    # (ready too early), and a 2 min old file 5.5 h in the future in Kolkata (never ready).
    sshd.put_file("outbound/young.csv", b"y", mtime=age(30))
    sshd.put_file("outbound/aged.csv", b"a", mtime=age(120))
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert time.localtime().tm_gmtoff != 0
        result = poke(sensor(sftp_conn_id=sftp_conn_id, path=outbound, min_file_age=60))
        event = run_trigger(
            StampliFileTrigger(sftp_conn_id=sftp_conn_id, path=outbound, min_file_age=60, poke_interval=0.05)
        )
    finally:
        monkeypatch.undo()
        time.tzset()

    assert result.xcom_value == ["aged.csv"]
    assert event == {"status": "success", "files": ["aged.csv"]}


def test_wrong_host_key_fails_the_poke(make_connection: ConnectionFactory, outbound: str) -> None:
    task = sensor(sftp_conn_id=make_connection("stampli_wrong", host_key=WRONG_HOST_KEY), path=outbound)
    task.hook = StampliHook(task.sftp_conn_id, conn_retry_attempts=1)

    with pytest.raises(HostKeyVerificationError, match="does not match the expected one"):
        poke(task)


# -- deferrable mode ------------------------------------------------------------------------------


def test_deferrable_defers_when_nothing_is_ready(sshd: SshdServer, sftp_conn_id: str, outbound: str) -> None:
    sshd.put_file("outbound/ap_1.csv", b"a", mtime=age(5))
    task = sensor(
        sftp_conn_id=sftp_conn_id,
        path=outbound,
        file_pattern="ap_*.csv",
        marker_suffix=None,
        min_file_age=90,
        deferrable=True,
        poke_interval=30,
        timeout=3600,
    )

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(NO_CONTEXT)

    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(hours=1)
    trigger = deferred.value.trigger
    assert isinstance(trigger, StampliFileTrigger)
    assert trigger.serialize() == (
        TRIGGER_PATH,
        {
            "sftp_conn_id": sftp_conn_id,
            "path": outbound,
            "file_pattern": "ap_*.csv",
            "marker_suffix": None,
            "min_file_age": 90.0,
            "poke_interval": 30.0,
        },
    )


def test_deferrable_returns_at_once_when_files_are_ready(
    sshd: SshdServer, sftp_conn_id: str, outbound: str
) -> None:
    sshd.put_file("outbound/ap_1.csv", b"a", mtime=age(120))

    assert sensor(sftp_conn_id=sftp_conn_id, path=outbound, deferrable=True).execute(NO_CONTEXT) == [
        "ap_1.csv"
    ]


def test_deferral_round_trip_through_the_trigger(sshd: SshdServer, sftp_conn_id: str, outbound: str) -> None:
    task = sensor(
        sftp_conn_id=sftp_conn_id, path=outbound, min_file_age=0.5, deferrable=True, poke_interval=0.05
    )
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(NO_CONTEXT)
    classpath, kwargs = deferred.value.trigger.serialize()
    trigger = import_string(classpath)(**json.loads(json.dumps(kwargs)))
    sshd.put_file("outbound/ap_1.csv", b"a,b\n")

    files = task.execute_complete(NO_CONTEXT, event=run_trigger(trigger))

    assert files == ["ap_1.csv"]


def test_execute_complete_errors() -> None:
    task = sensor()

    with pytest.raises(AirflowException, match="Waiting for Stampli files failed: listing failed: boom"):
        task.execute_complete(NO_CONTEXT, event={"status": "error", "message": "listing failed: boom"})
    with pytest.raises(AirflowException, match="without an event"):
        task.execute_complete(NO_CONTEXT, event=None)
    assert task.execute_complete(NO_CONTEXT, event={"status": "success", "files": ["a.csv"]}) == ["a.csv"]


@pytest.mark.parametrize("setting", [True, False])
def test_deferrable_default_follows_the_operators_setting(
    setting: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(setting))

    assert sensor().deferrable is setting
    assert sensor(deferrable=not setting).deferrable is (not setting)


def test_constructor_does_no_io() -> None:
    task = sensor(sftp_conn_id="stampli_defined_nowhere")

    assert "hook" not in task.__dict__
    with pytest.raises(AirflowNotFoundException, match="stampli_defined_nowhere"):
        poke(task)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"path": ""}, "path", id="no-path"),
        pytest.param({"file_pattern": ""}, "file_pattern", id="no-pattern"),
        pytest.param({"marker_suffix": ""}, "marker_suffix", id="empty-marker"),
        pytest.param({"marker_suffix": "a/b"}, "marker_suffix", id="slash-marker"),
        pytest.param({"min_file_age": -1}, "min_file_age", id="negative-age"),
    ],
)
def test_sensor_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sensor(**kwargs)


# -- the trigger ----------------------------------------------------------------------------------


def test_trigger_waits_for_a_stable_file(sshd: SshdServer, sftp_conn_id: str, outbound: str) -> None:
    """OpenSSH lists ``.`` and ``..``; dot-files, directories and young files are skipped."""
    sshd.put_file("outbound/.ap_0.csv.part", b"p", mtime=age(900))
    sshd.mkdir("outbound/archive")
    trigger = StampliFileTrigger(
        sftp_conn_id=sftp_conn_id, path=outbound, file_pattern="*", min_file_age=2, poke_interval=0.05
    )

    async def scenario() -> dict[str, Any]:
        waiting = asyncio.create_task(first_event(trigger))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        sshd.put_file("outbound/ap_1.csv", b"a,b\n")
        return await asyncio.wait_for(waiting, 30)

    started = time.monotonic()
    event = asyncio.run(scenario())

    assert event == {"status": "success", "files": ["ap_1.csv"]}
    # 0.3 s before the file, then 2 s of age by the server's whole-second mtime (>= 1 s really).
    assert time.monotonic() - started >= 1.3


def test_trigger_waits_for_a_missing_directory(sshd: SshdServer, sftp_conn_id: str) -> None:
    trigger = StampliFileTrigger(
        sftp_conn_id=sftp_conn_id,
        path=sshd.remote_path("outbound"),
        marker_suffix=".done",
        min_file_age=3600,
        poke_interval=0.05,
    )

    async def scenario() -> dict[str, Any]:
        waiting = asyncio.create_task(first_event(trigger))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        sshd.put_file("outbound/ap_1.csv", b"a")
        await asyncio.sleep(0.3)
        assert not waiting.done()  # no marker yet
        sshd.put_file("outbound/ap_1.csv.done", b"")
        return await asyncio.wait_for(waiting, 30)

    assert asyncio.run(scenario()) == {"status": "success", "files": ["ap_1.csv"]}


def test_trigger_error_event_for_a_wrong_host_key(
    sshd: SshdServer, make_connection: ConnectionFactory, outbound: str
) -> None:
    sshd.put_file("outbound/ap_1.csv", b"a", mtime=age(600))
    conn_id = make_connection("stampli_wrong", host_key=WRONG_HOST_KEY)

    event = run_trigger(StampliFileTrigger(sftp_conn_id=conn_id, path=outbound, poke_interval=0.05))

    assert event["status"] == "error"
    assert (
        f"SFTP server 127.0.0.1:{sshd.port} (connection 'stampli_wrong') is not trusted" in event["message"]
    )
    assert "HostKeyNotVerifiable" in event["message"]
    assert "host_key extra" in event["message"]


def test_trigger_error_event_for_an_unknown_host(
    sshd: SshdServer, make_connection: ConnectionFactory, outbound: str
) -> None:
    conn_id = make_connection("stampli_unknown", host_key=None)

    event = run_trigger(StampliFileTrigger(sftp_conn_id=conn_id, path=outbound, poke_interval=0.05))

    assert event["status"] == "error"
    assert "is not trusted" in event["message"]


def test_trigger_error_event_names_no_password(
    sshd: SshdServer, make_connection: ConnectionFactory, outbound: str
) -> None:
    password = "Trigger-Pa55word-hidden"
    conn_id = make_connection("stampli_password", key_file=None, password=password)

    event = run_trigger(StampliFileTrigger(sftp_conn_id=conn_id, path=outbound, poke_interval=0.05))

    assert event["status"] == "error"
    assert event["message"].startswith(f"listing {outbound!r} on SFTP server")
    assert "PermissionDenied" in event["message"]
    assert password not in event["message"]


def test_trigger_error_event_for_a_missing_connection() -> None:
    event = run_trigger(StampliFileTrigger(sftp_conn_id="stampli_defined_nowhere", path="/outbound"))

    assert event["status"] == "error"
    assert event["message"].startswith("cannot use SFTP connection 'stampli_defined_nowhere'")


def test_trigger_serialize_round_trip() -> None:
    trigger = StampliFileTrigger(
        sftp_conn_id="acme_stampli",
        path="/outbound",
        file_pattern="ap_*.csv",
        marker_suffix=".done",
        min_file_age=30,
        poke_interval=15,
    )

    classpath, kwargs = trigger.serialize()
    rebuilt = import_string(classpath)(**json.loads(json.dumps(kwargs)))

    assert classpath == TRIGGER_PATH
    assert type(rebuilt) is StampliFileTrigger
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "sftp_conn_id": "acme_stampli",
        "path": "/outbound",
        "file_pattern": "ap_*.csv",
        "marker_suffix": ".done",
        "min_file_age": 30.0,
        "poke_interval": 15.0,
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        # The checks it shares with the sensor are listed with the sensor's test.
        pytest.param({"path": ""}, "path", id="no-path"),
        pytest.param({"min_file_age": -5}, "min_file_age", id="negative-age"),
        pytest.param({"poke_interval": 0}, "poke_interval", id="zero-interval"),
    ],
)
def test_trigger_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    arguments: dict[str, Any] = {"sftp_conn_id": "x", "path": "/outbound", **kwargs}
    with pytest.raises(ValueError, match=match):
        StampliFileTrigger(**arguments)


def test_sensor_and_trigger_against_the_sandbox_server(
    sftp_sandbox: SftpSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's server: password login, host key pinned on a non-standard port, chrooted paths."""
    outbound = sftp_sandbox.root / "outbound"
    outbound.mkdir(exist_ok=True)
    for child in outbound.iterdir():
        child.unlink()
    (outbound / "ap_1.csv").write_bytes(b"a,b\n")
    os.utime(outbound / "ap_1.csv", (age(600), age(600)))
    (outbound / "ap_2.csv").write_bytes(b"a,b\n")
    conn_id = export_connection(monkeypatch, "stampli_sandbox", sftp_sandbox.connection())

    event = run_trigger(StampliFileTrigger(sftp_conn_id=conn_id, path="/outbound", poke_interval=0.05))
    result = poke(sensor(sftp_conn_id=conn_id, path="/outbound"))

    assert event == {"status": "success", "files": ["ap_1.csv"]}
    assert result.xcom_value == ["ap_1.csv"]
