"""The command line of the soak trials (``python -m tests.soak``) and its report."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tests.soak.integrations import INTEGRATIONS
from tests.soak.trials import KINDS, TrialResult, TrialRunner, replay_command

COLUMNS = (
    ("trials", "trials"),
    ("passed", "passed"),
    ("duplicates", "dup"),
    ("missing", "missing"),
    ("amount_mismatches", "amount≠"),
    ("dead_letters_without_reason", "dl no reason"),
    ("late_writes", "late writes"),
    ("max_blocked_seconds", "max blocked s"),
    ("max_handover_seconds", "death→lease s"),
    ("reruns", "re-runs"),
    ("kills", "kills"),
    ("lease_waits", "lease waits"),
    ("freezes", "freezes"),
    ("faults_applied", "faults hit"),
    ("seconds_per_trial", "s/trial"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak",
        description="Randomised kill / race / fault trials of each integration against the stand-ins.",
    )
    parser.add_argument("--integration", default="all", choices=[*INTEGRATIONS, "all"])
    parser.add_argument(
        "--trials", type=int, default=25, help="trials per integration (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=None, help="first trial seed (default: from the clock)")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="comma-separated trial kinds (default: %(default)s)"
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the results here")
    parser.add_argument(
        "--replay",
        type=int,
        default=None,
        metavar="SEED",
        help="run exactly the trial of this seed (one kind)",
    )
    return parser


def trial_plan(kinds: Sequence[str], trials: int, seed: int) -> list[tuple[str, int]]:
    """``trials`` trials, the kinds taking turns, with consecutive seeds from ``seed``."""
    return [(kinds[i % len(kinds)], seed + i) for i in range(trials)]


def summarise(results: Iterable[TrialResult]) -> dict[str, dict[str, dict[str, Any]]]:
    """Figures per integration and kind."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for result in results:
        row = table.setdefault(result.integration, {}).setdefault(
            result.kind,
            {
                "trials": 0,
                "passed": 0,
                "duplicates": 0,
                "missing": 0,
                "unexpected": 0,
                "amount_mismatches": 0,
                "dead_letters": 0,
                "dead_letters_without_reason": 0,
                "late_writes": 0,
                "max_blocked_seconds": 0.0,
                "max_handover_seconds": 0.0,
                "reruns": 0,
                "kills": 0,
                "lease_waits": 0,
                "freezes": 0,
                "faults_applied": 0,
                "seconds": 0.0,
            },
        )
        row["trials"] += 1
        row["passed"] += int(result.passed)
        for name in (
            "duplicates",
            "missing",
            "unexpected",
            "amount_mismatches",
            "dead_letters",
            "dead_letters_without_reason",
            "late_writes",
            "reruns",
            "kills",
            "lease_waits",
            "freezes",
            "faults_applied",
        ):
            row[name] += getattr(result, name)
        row["max_blocked_seconds"] = max(row["max_blocked_seconds"], result.blocked_seconds)
        row["max_handover_seconds"] = max(row["max_handover_seconds"], result.handover_seconds)
        row["seconds"] += result.seconds
    for kinds in table.values():
        for row in kinds.values():
            row["seconds"] = round(row["seconds"], 2)
            row["seconds_per_trial"] = round(row["seconds"] / row["trials"], 3) if row["trials"] else 0.0
    return table


def print_table(table: dict[str, dict[str, dict[str, Any]]], out: TextIO) -> None:
    headers = ["integration", "kind", *(title for _, title in COLUMNS)]
    rows = [
        [integration, kind, *(_cell(row[name]) for name, _ in COLUMNS)]
        for integration, kinds in table.items()
        for kind, row in kinds.items()
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), file=out)
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)), file=out)


def _cell(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: the stand-ins stop, the workers are ended


def main(argv: Sequence[str] | None = None, *, out: TextIO = sys.stdout) -> int:
    """Run the trials the arguments ask for; returns the exit code (1: an invariant was violated)."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        print(
            f"unknown trial kind(s): {', '.join(unknown) or '(none)'}; use {', '.join(KINDS)}",
            file=sys.stderr,
        )
        return 2
    names = list(INTEGRATIONS) if args.integration == "all" else [args.integration]
    if args.replay is not None:
        if len(kinds) != 1:
            print("--replay needs exactly one --kinds", file=sys.stderr)
            return 2
        plan = [(kinds[0], args.replay)]
        seed = args.replay
    else:
        seed = args.seed if args.seed is not None else int(time.time()) % 1_000_000 * 1000
        plan = trial_plan(kinds, args.trials, seed)
    print(
        f"soak: {len(plan)} trial(s) per integration, kinds {','.join(kinds)}, seed {seed}",
        file=out,
        flush=True,
    )
    results = run(names, plan, out=out)
    table = summarise(results)
    print(file=out)
    print_table(table, out)
    failures = [r for r in results if not r.passed]
    total = len(results)
    print(
        f"\n{total} trial(s), {total - len(failures)} passed, {len(failures)} failed; "
        f"{sum(r.seconds for r in results) / max(total, 1):.2f}s per trial",
        file=out,
    )
    for failure in failures:
        print(
            f"FAILED {failure.integration} {failure.kind} seed {failure.seed} ({failure.stream}, {failure.variant})",
            file=out,
        )
        for problem in failure.problems[:10]:
            print(f"    {problem}", file=out)
        print(f"    replay: {replay_command(failure.integration, failure.kind, failure.seed)}", file=out)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "created": datetime.now(UTC).isoformat(),
            "seed": seed,
            "kinds": kinds,
            "trials_per_integration": len(plan),
            "summary": table,
            "failures": [
                {**r.as_dict(), "replay": replay_command(r.integration, r.kind, r.seed)} for r in failures
            ],
            "trials": [r.as_dict() for r in results],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"results: {args.json}", file=out)
    return 1 if failures else 0


def run(
    names: Sequence[str], plan: Sequence[tuple[str, int]], *, out: TextIO | None = None
) -> list[TrialResult]:
    """Run ``plan`` against each integration (its stand-ins started once); returns every result."""
    results: list[TrialResult] = []
    for name in names:
        runner = TrialRunner(INTEGRATIONS[name]())
        runner.start()
        try:
            for index, (kind, seed) in enumerate(plan, start=1):
                result = runner.run_trial(kind, seed)
                results.append(result)
                if out is not None and (not result.passed or index % 25 == 0 or index == len(plan)):
                    status = "ok" if result.passed else "FAILED"
                    print(
                        f"  {name} {index}/{len(plan)} {kind} seed {seed}: {status} ({result.seconds:.2f}s)",
                        file=out,
                        flush=True,
                    )
        finally:
            runner.stop()
    return results
