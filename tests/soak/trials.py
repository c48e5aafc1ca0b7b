"""Randomised kill, race and fault trials of one integration's streams, and their invariant.

A trial is fully determined by ``(integration, kind, seed)``: the seed picks the stream, the input
data, where the worker is killed, which faults hit which routes. Every trial:

1. resets the stand-ins and seeds random input (:mod:`tests.soak.integrations`), with a fresh
   SQLite ledger file;
2. runs the stream in worker processes (:mod:`tests.soak.worker`) under the trial's disturbance:

   ``kill``
       the worker is SIGKILLed after a random delay, or right after its k-th target write returned
       and before the ledger commit; it is then retried as Airflow would retry the task instance
       (same lease owner, next try number) after the retry delay, until the run completes.
   ``race``
       two workers of two DAG runs of the stream start together, with a lease TTL shorter than a
       batch takes (the target's writes are slowed down); the one that finds the lease held waits
       the retry delay and tries again. Sometimes the holder is frozen (SIGSTOP) for longer than
       the TTL, so the other takes the lease over, then thawed: it must write nothing more.
   ``faults``
       a random mix of the stand-ins' faults (429 with Retry-After, 5xx, connections dropped
       mid-answer, latency, answers lost after the write was done) at random places and counts;
       failed tries are retried.

3. re-runs (dead letters made due, a new DAG run) until the target is complete, and checks the
   invariant: the target holds every expected record exactly once with equal amounts, nothing
   else; every dead letter has a reason; no write began under a lease already taken over; the
   stream was never blocked longer than the lease TTL plus one retry delay.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ml_connector_sandbox.faults import FaultRule

from ml_connector_provider.ledger import Ledger
from tests.soak.integrations import Check, Expected, FaultTarget, SoakIntegration
from tests.soak.worker import EXIT_OK, Job

KINDS = ("kill", "race", "faults")
RETRY_DELAY = 0.2
"""Seconds between a failed try and the next (Airflow's ``retry_delay``, shortened)."""
LEASE_WAIT = 0.1
"""Seconds a worker that found the lease held waits before trying again."""
MAX_TRIES = 12
MAX_RUNS = 6
WORKER_TIMEOUT = 100.0
"""Seconds a try may take before the trial counts it as hung (longer than the payments stream's
shortest ``import_timeout``, 60 s, which a try may rightly wait out)."""
FAULT_FREE_AFTER = 8
"""Tries after which the faults of a fault trial are cleared (they are finite anyway)."""


@dataclass
class TrialResult:
    """The outcome and figures of one trial."""

    integration: str
    kind: str
    seed: int
    stream: str = ""
    variant: str = ""
    records: int = 0
    passed: bool = False
    duplicates: int = 0
    missing: int = 0
    unexpected: int = 0
    amount_mismatches: int = 0
    dead_letters: int = 0
    dead_letters_without_reason: int = 0
    late_writes: int = 0
    blocked_seconds: float = 0.0
    blocked_limit: float = 0.0
    handover_seconds: float = 0.0
    reruns: int = 0
    kills: int = 0
    lease_waits: int = 0
    freezes: int = 0
    faults_applied: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def replay_command(integration: str, kind: str, seed: int) -> str:
    """The one-line command that runs exactly this trial again."""
    return f"python -m tests.soak --integration {integration} --kinds {kind} --replay {seed}"


class _Events:
    """The trial's event file: workers append to it, the runner appends its own and reads it back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND)

    def __call__(self, event: str, **fields: Any) -> float:
        now = time.time()
        os.write(self.fd, (json.dumps({"ev": event, "t": now, "label": "runner", **fields}) + "\n").encode())
        return now

    def read(self) -> list[dict[str, Any]]:
        events = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        return sorted(events, key=lambda e: e["t"])

    def close(self) -> None:
        os.close(self.fd)


class TrialRunner:
    """Runs trials of one integration against its stand-ins (started once, reset per trial).

    :param integration: the integration's soak harness (started by :meth:`start`).
    :param workdir: where ledgers and event files go.
    """

    def __init__(self, integration: SoakIntegration, workdir: Path | None = None) -> None:
        self.integration = integration
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"mlc-soak-{integration.name}-"))
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["tests.soak.worker"])
        self.mp = context
        self._env: dict[str, str] = {}

    def start(self) -> None:
        self.integration.start()
        self._env = self.integration.env()

    def stop(self) -> None:
        self.integration.stop()

    # -- workers -----------------------------------------------------------------------------------

    def _launch(self, job: Job) -> Any:
        from tests.soak.worker import main

        # Daemonic: if the runner stops (Ctrl+C, SIGTERM), multiprocessing ends the workers with it.
        process = self.mp.Process(target=main, args=(job,), daemon=True)
        process.start()
        return process

    def _job(self, trial: _Trial, run_id: str, try_number: int, **kwargs: Any) -> Job:
        stream = kwargs.pop("stream", trial.stream)
        return Job(
            integration=self.integration.name,
            stream=stream,
            tenant=self.integration.tenant,
            run_id=run_id,
            try_number=try_number,
            ledger_url=trial.ledger_url,
            env=self._env,
            settings=self.integration.settings(),
            sync=trial.sync
            if stream == trial.stream
            else {**trial.base_sync, **self.integration.sync_for(stream)},
            events=str(trial.events.path),
            log=str(trial.log),
            **kwargs,
        )

    def _run_to_completion(
        self,
        trial: _Trial,
        run_id: str,
        *,
        label: str,
        kill_plan: list[tuple[str, float]] | None = None,
        on_try: Callable[[int], None] | None = None,
        stream: str | None = None,
    ) -> int:
        """Run tries of one task instance until one succeeds; returns the number of tries.

        :param kill_plan: per try, ``("write", k)`` (kill right after the k-th write returned) or
            ``("delay", seconds)`` (SIGKILL from outside after that long), in order.
        """
        plan = list(kill_plan or [])
        wanted = time.time()
        for try_number in range(1, MAX_TRIES + 1):
            if on_try is not None:
                on_try(try_number)
            how = plan.pop(0) if plan else None
            job = self._job(
                trial,
                run_id,
                try_number,
                label=label,
                stream=stream or trial.stream,
                kill_after_write=int(how[1]) if how and how[0] == "write" else None,
                lease_wait=LEASE_WAIT,
                wanted=wanted,
            )
            process = self._launch(job)
            if how and how[0] == "delay":
                process.join(how[1])
                if process.is_alive():
                    os.kill(process.pid, signal.SIGKILL)
                    trial.events("killed", pid=process.pid, label=label, stream=job.stream)
            process.join(WORKER_TIMEOUT)
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
                process.join()
                trial.problems.append(
                    f"{label} try {try_number} of {job.stream} hung for {WORKER_TIMEOUT:g}s and was killed: "
                    "the stream was blocked"
                )
                trial.events("exit", pid=process.pid, label=label, stream=job.stream, code=process.exitcode)
                return try_number
            ended = trial.events(
                "exit", pid=process.pid, label=label, stream=job.stream, code=process.exitcode
            )
            if process.exitcode == EXIT_OK:
                return try_number
            wanted = ended
            time.sleep(RETRY_DELAY)
        trial.problems.append(f"{label}: no try of {MAX_TRIES} succeeded")
        return MAX_TRIES

    # -- trials ------------------------------------------------------------------------------------

    def run_trial(self, kind: str, seed: int) -> TrialResult:
        """Run one trial; never raises for an invariant violation (see the result)."""
        started = time.perf_counter()
        rng = random.Random(f"{self.integration.name}/{kind}/{seed}")
        result = TrialResult(self.integration.name, kind, seed)
        trial = _Trial(self, rng, kind, seed)
        result.stream = trial.stream
        mark = time.perf_counter()

        def phase(name: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            result.phases[name] = round(now - mark, 3)
            mark = now

        try:
            expected = self.integration.prepare(rng, trial.stream, seed)
            phase("prepare")
            for prerequisite in self.integration.before_run(trial.stream):
                self._run_to_completion(trial, f"pre__{seed}", label="prerequisite", stream=prerequisite)
                self.integration.after_prerequisite(rng, expected, prerequisite, seed)
            phase("prerequisites")
            result.records = len(expected.records) + len(expected.dead)
            runs = {"kill": self._kill, "race": self._race, "faults": self._faults}[kind]
            result.variant, launched = runs(trial, rng)
            phase("trial")
            check, extra_runs = self._complete(trial, expected)
            phase("complete")
            result.reruns = launched + extra_runs
            self._judge(trial, result, check)
            phase("judge")
        except Exception as error:
            trial.problems.append(f"the trial itself failed: {type(error).__name__}: {error}")
        finally:
            trial.close()
        result.problems = trial.problems
        result.passed = not trial.problems
        result.seconds = round(time.perf_counter() - started, 3)
        return result

    def _kill(self, trial: _Trial, rng: random.Random) -> tuple[str, int]:
        kills = 1 if rng.random() < 0.75 else 2
        plan: list[tuple[str, float]] = []
        for _ in range(kills):
            if rng.random() < 0.6:
                plan.append(("write", float(rng.randint(1, 3))))
            else:
                plan.append(("delay", rng.uniform(0.05, 0.5)))
        variant = "+".join("after-write" if how == "write" else "delay" for how, _ in plan)
        tries = self._run_to_completion(trial, f"kill__{trial.seed}", label="worker", kill_plan=plan)
        return variant, tries - 1

    def _race(self, trial: _Trial, rng: random.Random) -> tuple[str, int]:
        target = self.integration.slow_write_for(trial.stream)
        # A lease shorter than a batch takes: a few target writes are slowed down beyond the TTL,
        # so the holder keeps its lease only through its heartbeat.
        ttl = round(rng.uniform(0.6, 1.0), 3)
        trial.sync["lease_ttl"] = ttl
        self.integration.system(target.system).faults.add(
            FaultRule.slow(
                ttl * rng.uniform(1.1, 1.4),
                path=target.path,
                method=target.method,
                skip=rng.randint(0, 2),
                times=rng.randint(1, 2),
            )
        )
        freeze = rng.random() < 0.35
        tries: dict[str, int] = {}
        import threading

        def racer(name: str) -> None:
            tries[name] = self._run_to_completion(trial, f"race_{name}__{trial.seed}", label=name)

        threads = [threading.Thread(target=racer, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        if freeze:
            self._freeze_holder(trial, rng)
        for thread in threads:
            thread.join()
        trial.faults_applied += sum(
            int(r["applied"]) for r in self.integration.system(target.system).faults.status()
        )
        self.integration.system(target.system).faults.clear()
        return ("freeze" if freeze else "plain"), sum(tries.values()) - 2

    def _freeze_holder(self, trial: _Trial, rng: random.Random) -> None:
        """SIGSTOP the lease holder for longer than the TTL once it has started writing, then SIGCONT."""
        deadline = time.time() + 20
        holder = None
        while time.time() < deadline and holder is None:
            time.sleep(0.02)
            events = trial.events.read()
            starts = [e for e in events if e["ev"] == "write_start"]
            if starts:
                holder = starts[-1]["pid"]
        if holder is None:
            return
        time.sleep(rng.uniform(0.0, 0.3))
        ttl = float(trial.sync["lease_ttl"])
        try:
            os.kill(holder, signal.SIGSTOP)
        except ProcessLookupError:
            return
        trial.events("frozen", pid=holder)
        time.sleep(ttl * rng.uniform(1.3, 1.8))
        trial.events("thawed", pid=holder)
        with contextlib.suppress(ProcessLookupError):
            os.kill(holder, signal.SIGCONT)

    def _faults(self, trial: _Trial, rng: random.Random) -> tuple[str, int]:
        kinds: list[str] = []
        targets = self.integration.targets_for(trial.stream)
        for _ in range(rng.randint(1, 5)):
            target = rng.choice(targets)
            common = (
                ("429", "5xx", "drop", "latency", "lost_answer")
                if target.write
                else ("429", "5xx", "drop", "latency")
            )
            own = self.integration.fault_kinds(target)
            kind = rng.choice((*common, *own))
            kinds.append(kind)
            rule = self.integration.make_fault(rng, kind, _where(rng, target)) if kind in own else None
            self.integration.system(target.system).faults.add(rule or _fault(rng, kind, target))
        system_names = {t.system for t in targets}

        def applied() -> int:
            return sum(
                int(rule["applied"])
                for name in system_names
                for rule in self.integration.system(name).faults.status()
            )

        def clear_late(try_number: int) -> None:
            self.integration.on_try(try_number)
            if try_number == FAULT_FREE_AFTER:
                trial.faults_applied += applied()
                for name in system_names:
                    self.integration.system(name).faults.clear()

        tries = self._run_to_completion(trial, f"faults__{trial.seed}", label="worker", on_try=clear_late)
        trial.faults_applied += applied()
        for name in system_names:
            self.integration.system(name).faults.clear()
        return "+".join(sorted(set(kinds))), tries - 1

    # -- completion and the invariant ----------------------------------------------------------------

    def _complete(self, trial: _Trial, expected: Expected) -> tuple[Check, int]:
        """Re-run (dead letters due now, a new DAG run) until the target is complete."""
        ledger = Ledger(trial.ledger_url)
        try:
            check = self.integration.check(expected, ledger)
            runs = 0
            while not check.complete and runs < MAX_RUNS:
                runs += 1
                ledger.retry_dead_letters_now(
                    tenant=self.integration.tenant, integration=self.integration.name
                )
                self._run_to_completion(trial, f"rerun{runs}__{trial.seed}", label=f"rerun{runs}")
                check = self.integration.check(expected, ledger)
            trial.dead_letters = len(
                ledger.list_dead_letters(
                    tenant=self.integration.tenant, integration=self.integration.name, stream=trial.stream
                )
            )
            return check, runs
        finally:
            ledger.dispose()

    def _judge(self, trial: _Trial, result: TrialResult, check: Check) -> None:
        result.duplicates = check.duplicates
        result.missing = check.missing
        result.unexpected = check.unexpected
        result.amount_mismatches = check.amount_mismatches
        result.dead_letters_without_reason = check.dead_letters_without_reason
        result.dead_letters = trial.dead_letters
        trial.problems.extend(check.problems)
        events = trial.events.read()
        result.kills = sum(1 for e in events if e["ev"] in ("kill", "killed"))
        result.lease_waits = sum(1 for e in events if e["ev"] == "lease_held")
        result.freezes = sum(1 for e in events if e["ev"] == "frozen")
        result.faults_applied = trial.faults_applied
        late = late_writes(events)
        result.late_writes = len(late)
        trial.problems.extend(late)
        trial.problems.extend(own_lease_held(events))
        result.handover_seconds = round(handover_seconds(events), 3)
        blocked = blocked_seconds(events)
        result.blocked_seconds = round(blocked, 3)
        result.blocked_limit = round(float(trial.sync["lease_ttl"]) + RETRY_DELAY, 3)
        if blocked > result.blocked_limit:
            trial.problems.append(
                f"the stream was blocked {blocked:.2f}s, more than the lease TTL + one retry delay "
                f"({result.blocked_limit:.2f}s)"
            )


class _Trial:
    """The state of one trial: its stream, sync options, ledger file, events, problems."""

    def __init__(self, runner: TrialRunner, rng: random.Random, kind: str, seed: int) -> None:
        self.seed = seed
        self.stream = rng.choice(runner.integration.streams)
        #: The sync options of the prerequisite streams' runs, and of the stream under trial.
        self.base_sync: dict[str, Any] = {
            "lag": 0,
            "overlap": 600,
            "batch_size": rng.randint(1, 3),
            "lease_ttl": rng.choice((2.0, 2.5, 3.0)),
        }
        self.sync = {**self.base_sync, **runner.integration.sync_for(self.stream)}
        directory = runner.workdir
        name = f"{runner.integration.name}-{kind}-{seed}"
        ledger_file = directory / f"{name}.db"
        ledger_file.unlink(missing_ok=True)
        self.ledger_file = ledger_file
        self.ledger_url = f"sqlite:///{ledger_file}"
        ledger = Ledger(self.ledger_url)
        ledger.migrate()
        ledger.dispose()
        self.events = _Events(directory / f"{name}.events")
        self.log = directory / f"{name}.log"
        self.log.unlink(missing_ok=True)
        self.problems: list[str] = []
        self.dead_letters = 0
        self.faults_applied = 0

    def close(self) -> None:
        self.events.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.ledger_file}{suffix}").unlink(missing_ok=True)
        if not self.problems and not os.environ.get("SOAK_KEEP"):
            self.events.path.unlink(missing_ok=True)
            self.log.unlink(missing_ok=True)


def _where(rng: random.Random, target: FaultTarget) -> dict[str, Any]:
    """Which requests a fault rule hits: the target's route, after a random few, a random few times."""
    return {
        "path": target.path,
        "method": target.method,
        "skip": rng.randint(0, 6),
        "times": rng.randint(1, 3),
    }


def _fault(rng: random.Random, kind: str, target: FaultTarget) -> FaultRule:
    where = _where(rng, target)
    if kind == "429":
        return FaultRule.rate_limit(retry_after=rng.choice((0, 0.1, 0.3)), **where)
    if kind == "5xx":
        return FaultRule.error(rng.choice((500, 502, 503, 504)), **where)
    if kind == "drop":
        return FaultRule.disconnect(**where)
    if kind == "latency":
        return FaultRule.slow(rng.uniform(0.05, 0.4), **where)
    # The write is done, its answer never arrives: the connection drops mid-answer, or a gateway
    # answers 500/502/503/504 instead. A 503 is included: the edge in front of a Fusion pod answers
    # it in maintenance and overload, and nothing confirms it never does so after the pod acted, so
    # the Fusion connection repeats a non-idempotent POST only after a 429. Not 429: it says the
    # request was not processed (RFC 6585), which Stripe and Fusion both honour.
    if rng.random() < 0.5:
        return FaultRule.disconnect(process=True, **where)
    return FaultRule.error(rng.choice((500, 502, 503, 504)), process=True, **where)


def late_writes(events: list[dict[str, Any]]) -> list[str]:
    """Target writes begun under a fencing token after a newer token had been handed out."""
    problems = []
    leases = [(e["t"], e["stream"], e["token"]) for e in events if e["ev"] == "lease"]
    for write in (e for e in events if e["ev"] == "write_start"):
        newer = [
            token
            for t, stream, token in leases
            if stream == write["stream"] and t < write["t"] and token > (write["token"] or 0)
        ]
        if newer:
            problems.append(
                f"{write['label']} (pid {write['pid']}) began a write of {write['ids']} under lease token "
                f"{write['token']} after token {max(newer)} was taken"
            )
    return problems


def own_lease_held(events: list[dict[str, Any]]) -> list[str]:
    """Tries that found the lease held by their own task instance (an earlier, dead try): a retry
    must take its lease back at once."""
    return [
        f"{e['label']} try {e['try']} found its own task instance's lease held: {e['error']}"
        for e in events
        if e["ev"] == "lease_held" and e.get("own")
    ]


def handover_seconds(events: list[dict[str, Any]]) -> float:
    """The longest time from a worker's death (killed, or failed) to the next try holding the lease
    of the same stream: the retry delay, the new process's start and the lease's take-over."""
    worst = 0.0
    died: dict[str, float] = {}
    for event in events:
        stream = event.get("stream")
        if event["ev"] in ("kill", "killed", "error") and stream:
            died.setdefault(stream, event["t"])
        elif event["ev"] == "lease" and stream in died:
            worst = max(worst, event["t"] - died.pop(stream))
    return worst


def blocked_seconds(events: list[dict[str, Any]]) -> float:
    """The longest time a stream stood still while a worker was asking for its lease.

    A stream stands still from the moment its lease holder stops working (gives the lease back,
    is killed, or is frozen) until the next worker takes the lease, counted from that worker's
    first attempt to take it if that came later (the retry delay and the start of a new process
    are not the lease's doing; :func:`handover_seconds` includes them).
    """
    streams = {e["stream"] for e in events if e.get("stream")}
    worst = 0.0
    for stream in streams:
        worst = max(worst, _blocked_in([e for e in events if e.get("stream") in (stream, None)]))
    return worst


def _blocked_in(events: list[dict[str, Any]]) -> float:
    worst = 0.0
    holder_pid: int | None = None
    stopped: float | None = None
    wanted: dict[int, float] = {}
    for event in events:
        kind = event["ev"]
        if kind == "attempt":
            wanted.setdefault(event["pid"], event["t"])
        elif kind == "lease":
            if stopped is not None:
                since = max(stopped, wanted.get(event["pid"], event["t"]))
                worst = max(worst, event["t"] - since)
            holder_pid, stopped = event["pid"], None
        elif kind in ("released", "kill", "killed", "frozen", "exit") and event.get("pid") == holder_pid:
            if stopped is None:
                stopped = event["t"]
            if kind == "exit":
                holder_pid = None
        elif kind == "thawed" and event.get("pid") == holder_pid:
            stopped = None
    return worst
