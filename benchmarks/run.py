"""Run every benchmark and collect their results.

Usage::

    .venv/bin/python benchmarks/run.py [--only dag_parse] [--json]

Each benchmark is a script in this folder with a ``main(argv) -> int`` that prints a table (or
JSON with ``--json``) and writes ``benchmarks/results/<name>.json``. This runner calls them in
turn and writes ``benchmarks/results/summary.json`` with every result. Figures are measurements
of this machine, never pass/fail criteria.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BENCHMARKS = ["dag_parse"]


def _load(name: str) -> object:
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", HERE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the ml-connector benchmarks.")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only these")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    summary: dict[str, object] = {}
    status = 0
    for name in args.only or BENCHMARKS:
        if not args.json:
            print(f"== {name} ==", flush=True)
        code = _load(name).main(["--json"] if args.json else [])  # type: ignore[attr-defined]
        status = status or code
        result_file = RESULTS / f"{name}.json"
        if result_file.exists():
            summary[name] = json.loads(result_file.read_text())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if not args.json:
        print(f"results: {RESULTS / 'summary.json'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
