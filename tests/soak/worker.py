"""One try of one stream task, in a worker process of its own (so a trial can SIGKILL it).

The trial runner starts :func:`main` in a fresh process (forked from a server that imported this
module once, so a try starts in milliseconds), the way Airflow runs one try of a
:class:`~ml_connector_provider.operators.sync.SyncStreamOperator` task: the stream is built from
the tenant's settings and the Airflow connections in the environment, and run by the real
:class:`~ml_connector_provider.engine.core.SyncEngine` on the trial's ledger, as the lease owner
of its task instance. Nothing of the provider is replaced; the worker only *observes*:

* every lease it takes and gives back, with the fencing token;
* every batch it hands to the stream's ``write`` (start and end, under which token);
* when the job asks for it, the worker SIGKILLs itself right after the k-th ``write`` returned,
  that is after the target accepted the batch and before the ledger commit recorded it.

Observations go, one JSON object a line, to the job's event file with ``os.write`` (in the
kernel before the next instruction, so a SIGKILL loses none of them).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# The streams and their hooks are imported here, once, in the fork server (see tests.soak.trials):
# every try then starts without paying for the imports.
import ml_connector_provider.integrations.fusion_stripe.streams
import ml_connector_provider.integrations.stampli_fusion.streams
import ml_connector_provider.integrations.stripe_netsuite.streams  # noqa: F401
from ml_connector_provider.engine.context import StreamContext, build_stream
from ml_connector_provider.engine.core import RunRequest, SyncEngine, SyncOptions, describe_error, lease_owner
from ml_connector_provider.engine.types import RunRef, StreamKey, WriteItem, WriteResult
from ml_connector_provider.integrations import get_integration
from ml_connector_provider.ledger import LeaseHeld, Ledger

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_LEASE_HELD = 3
DAG_ID_PREFIX = "mlc__soak__"
LEASE_WAIT_LIMIT = 90.0
"""Seconds a worker waits at most for a lease held by another run."""


@dataclass(frozen=True)
class Job:
    """One try of one stream task.

    :param integration: integration id.
    :param stream: stream name.
    :param tenant: tenant id.
    :param run_id: the DAG run (with ``stream``, the task instance, hence the lease owner).
    :param try_number: which try of the task instance this is.
    :param ledger_url: the trial's ledger.
    :param env: environment to set first (``AIRFLOW_CONN_*`` of the stand-ins).
    :param settings: the tenant's integration settings.
    :param sync: the ``sync`` options (seconds).
    :param events: the file the observations are appended to.
    :param kill_after_write: SIGKILL this process right after this many ``write`` calls returned.
    :param label: free text put on every event (which worker of the trial this is).
    :param params: the DAG run's params.
    :param lease_wait: when another run holds the lease, wait this long and try again (until
        :data:`LEASE_WAIT_LIMIT`); ``0``: give up at once (exit :data:`EXIT_LEASE_HELD`).
    :param log: the file the process's standard output and error go to.
    :param wanted: since when (POSIX seconds) this task instance wants to run: when it was started,
        or when its previous try died (recorded with the ``start`` event).
    """

    integration: str
    stream: str
    tenant: str
    run_id: str
    try_number: int
    ledger_url: str
    env: Mapping[str, str]
    settings: Mapping[str, Any]
    sync: Mapping[str, Any]
    events: str
    kill_after_write: int | None = None
    label: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    lease_wait: float = 0.0
    wanted: float | None = None
    log: str | None = None

    @property
    def run(self) -> RunRef:
        """The run reference Airflow would give this try."""
        return RunRef(
            self.run_id,
            try_number=self.try_number,
            dag_id=f"{DAG_ID_PREFIX}{self.integration}",
            task_id=self.stream,
        )

    @property
    def key(self) -> StreamKey:
        """The stream's ledger key."""
        return StreamKey(self.tenant, self.integration, self.stream)


class _Recorder:
    """Appends events to the job's file, each with the time, the process and the job's label."""

    def __init__(self, job: Job) -> None:
        self.fd = os.open(job.events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.base = {
            "pid": os.getpid(),
            "label": job.label,
            "try": job.try_number,
            "run": job.run_id,
            "stream": job.stream,
        }
        self.token: int | None = None

    def __call__(self, event: str, **fields: Any) -> None:
        line = json.dumps({"ev": event, "t": time.time(), **self.base, **fields}, default=str)
        os.write(self.fd, (line + "\n").encode())


def _instrument(job: Job, ledger: Ledger, stream: Any, record: _Recorder) -> None:
    """Observe the leases and target writes of this try (and kill it where the job says)."""
    original_lease = ledger.lease

    @contextmanager
    def lease(*args: Any, **kwargs: Any) -> Iterator[Any]:
        taken = False
        try:
            with original_lease(*args, **kwargs) as held:
                taken = True
                record.token = held.token
                record("lease", token=held.token)
                yield held
        finally:
            if taken:
                record("released", token=record.token)

    ledger.lease = lease  # type: ignore[method-assign]

    original_write = stream.write
    calls = 0

    def write(items: Sequence[WriteItem]) -> Sequence[WriteResult]:
        nonlocal calls
        record("write_start", token=record.token, ids=[i.record.id for i in items])
        results = original_write(items)
        calls += 1
        record("write_end", token=record.token, ids=[i.record.id for i in items])
        if job.kill_after_write is not None and calls >= job.kill_after_write:
            record("kill", after_write=calls)
            os.kill(os.getpid(), signal.SIGKILL)
        return results

    stream.write = write


def run_job(job: Job) -> int:
    """Run one try; returns the exit code (see ``EXIT_*``)."""
    os.environ.update(job.env)
    record = _Recorder(job)
    record("start", wanted=job.wanted)
    ledger = Ledger(job.ledger_url)
    try:
        spec = get_integration(job.integration)
        settings = spec.settings_model.model_validate(dict(job.settings))
        stream = build_stream(
            StreamContext(
                tenant_id=job.tenant,
                integration=spec,
                stream=job.stream,
                connections={role: f"soak_{role}" for role in spec.connection_roles},
                settings=settings,
                ledger=ledger,
                params=dict(job.params),
            )
        )
        _instrument(job, ledger, stream, record)
        engine = SyncEngine(ledger, SyncOptions.from_mapping(job.sync))
        owner = lease_owner(job.run)
        deadline = time.monotonic() + LEASE_WAIT_LIMIT
        try:
            while True:
                record("attempt")
                try:
                    summary = engine.run(job.key, stream, job.run, RunRequest(), owner=owner)
                    break
                except LeaseHeld as held:
                    record("lease_held", error=str(held), own=held.owner == owner)
                    if job.lease_wait <= 0 or time.monotonic() > deadline:
                        raise
                    time.sleep(job.lease_wait)
        finally:
            stream.close()
    except LeaseHeld:
        return EXIT_LEASE_HELD
    except Exception as error:
        record("error", error=describe_error(error))
        return EXIT_FAILED
    finally:
        ledger.dispose()
    record("done", summary=summary.as_dict())
    return EXIT_OK


def main(job: Job) -> None:
    """Process entry point: run the try and exit with its code (no clean-up handlers)."""
    if job.log:
        out = os.open(job.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
    logging.basicConfig(level=logging.INFO)
    code = EXIT_FAILED
    try:
        code = run_job(job)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
