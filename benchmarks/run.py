"""Run every benchmark and collect their results.

Usage::

    .venv/bin/python benchmarks/run.py [--only dag_parse] [--only stripe_sync] [--only stampli_parse]
                                       [--only stripe_netsuite]
                                       [--json] [--smoke] [--results-dir DIR]

Each benchmark is a script in this folder with a ``main(argv) -> int`` that accepts ``--json``,
``--smoke`` and ``--results-dir DIR``, prints a table (or JSON with ``--json``) and writes
``<DIR>/<name>.json``. This runner calls them in turn and writes ``<DIR>/summary.json`` with every
result; the directory is ``benchmarks/results/`` unless ``--results-dir`` names another.

``--smoke`` runs each benchmark once at a tiny size, to check that it still works (the test suite
does this); its results go to a new temporary directory unless ``--results-dir`` is given, so a
smoke run never replaces real figures. Figures are measurements of this machine, never pass/fail
criteria.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
BENCHMARKS = ["dag_parse", "stripe_sync", "stampli_parse", "stripe_netsuite"]


def _load(name: str) -> Any:
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
    parser.add_argument("--smoke", action="store_true", help="run each benchmark once at a tiny size")
    parser.add_argument(
        "--results-dir",
        type=Path,
        help="where the JSON results go (default: benchmarks/results, or a temporary one with --smoke)",
    )
    args = parser.parse_args(argv)
    if args.results_dir is not None:
        results_dir: Path = args.results_dir
    elif args.smoke:
        results_dir = Path(tempfile.mkdtemp(prefix="mlc-bench-smoke-"))
    else:
        results_dir = RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)

    options = ["--results-dir", str(results_dir)]
    if args.smoke:
        options.append("--smoke")
    if args.json:
        options.append("--json")
    summary: dict[str, object] = {}
    status = 0
    for name in args.only or BENCHMARKS:
        if not args.json:
            print(f"== {name} ==", flush=True)
        code: int = _load(name).main(options)
        status = status or code
        result_file = results_dir / f"{name}.json"
        if code == 0 and result_file.exists():
            summary[name] = json.loads(result_file.read_text(encoding="utf-8"))
    (results_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if not args.json:
        print(f"results: {results_dir / 'summary.json'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
