"""Benchmark: memory and speed of parsing Stampli export files (``parse_export``) by file size.

For each size (10 MB and 200 MB by default) a deterministic export in the default template is
written to a temporary directory: invoices of 1 to 5 lines over a few hundred vendors, quoted
descriptions (some with commas, quotes or line breaks), a byte-order mark and CRLF line ends, about
one invoice in 40 with a line written further down the file (rows of an invoice need not be
next to each other) and about one in 100 whose lines do not add up (a group with problems).

Each file is parsed in a fresh interpreter that consumes every group and discards it: once
without tracing, for the wall time, rows/s and the peak RSS (``getrusage`` ``ru_maxrss``, with the
RSS after the imports to tell the parse's own growth), then once under ``tracemalloc`` for the
peak of Python allocations (tracing slows the parse down; ``--no-heap`` skips it). The ratios
compare the largest file to the smallest.

Usage::

    .venv/bin/python benchmarks/stampli_parse.py [--sizes-mb 10,200] [--no-heap] [--json] [--smoke]
        [--results-dir DIR]

Prints one table (or the JSON document with ``--json``) and writes ``stampli_parse.json`` in the
results directory (``benchmarks/results/`` by default). ``--smoke`` parses two tiny files; its
results go to a temporary directory unless ``--results-dir`` names one. Figures are measurements
of this machine, never pass/fail criteria.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ml_connector_sandbox.stampli import HEADER  # the default template's columns, as Stampli lists them

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULT_FILE = "stampli_parse.json"
SMOKE_SIZES_MB = "0.05,0.2"
_WORDS = [
    "office",
    "supplies",
    "paper",
    "toner",
    "cleaning",
    "services",
    "repairs",
    "freight",
    "consulting",
    "software",
    "licence",
    "maintenance",
    "catering",
    "travel",
    "hotel",
    "fuel",
    "parts",
    "equipment",
    "rental",
    "utilities",
    "electricity",
    "water",
    "telephone",
    "internet",
    "security",
    "training",
    "marketing",
    "printing",
    "postage",
    "courier",
    "insurance",
    "legal",
]
_CURRENCIES = (("USD", 2), ("USD", 2), ("USD", 2), ("EUR", 2), ("GBP", 2), ("JPY", 0))


def _description(rng: random.Random) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 8))).capitalize()
    roll = rng.random()
    if roll < 0.05:
        text += ", " + rng.choice(_WORDS)
    elif roll < 0.07:
        text += f' "{rng.choice(_WORDS)}"'
    elif roll < 0.08:
        text += "\n" + rng.choice(_WORDS)
    return text


def _amount(minor: int, places: int) -> str:
    if places == 0:
        return str(minor)
    return f"{minor // 10**places}.{minor % 10**places:0{places}d}"


def generate(path: Path, target_bytes: int, seed: int = 20261121) -> dict[str, int]:
    """Write a realistic export of about ``target_bytes`` bytes to ``path``.

    :returns: the rows (data rows, header excluded), invoices and bytes written.
    """
    rng = random.Random(seed)
    vendors = [(str(1000 + n), f"Vendor {n} {rng.choice(_WORDS).capitalize()} Co.") for n in range(400)]
    rows = invoices = 0
    held: list[tuple[int, list[str]]] = []  # (invoice number at which to write, row)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    with path.open("wb") as file:
        size = file.write(b"\xef\xbb\xbf")

        def flush() -> int:
            data = buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            return file.write(data)

        while size < target_bytes:
            invoices += 1
            vendor_id, vendor = rng.choice(vendors)
            currency, places = rng.choice(_CURRENCIES)
            day = 1 + invoices % 28
            line_count = rng.choice((1, 1, 2, 2, 3, 3, 4, 5))
            amounts = [rng.randint(100, 500_000) for _ in range(line_count)]
            total = sum(amounts) + (1 if rng.random() < 0.01 else 0)
            header = [
                f"STP-{invoices:08d}",
                f"INV-{invoices:08d}",
                vendor_id,
                vendor,
                "",
                f"2026-11-{day:02d}",
                f"2026-12-{day:02d}",
                currency,
                _amount(total, places),
                f"PO-{rng.randint(1, 99999):05d}" if rng.random() < 0.3 else "",
                _description(rng),
                "Net 30" if rng.random() < 0.5 else "",
            ]
            lines = [
                [
                    *header,
                    str(number),
                    _description(rng),
                    _amount(amount, places),
                    f"01-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}-0000-000",
                    str(rng.randint(100, 999)) if rng.random() < 0.5 else "",
                ]
                for number, amount in enumerate(amounts, start=1)
            ]
            if line_count > 1 and rng.random() < 0.025:
                # The last line of this invoice comes a few invoices later in the file.
                held.append((invoices + rng.randint(1, 50), lines.pop()))
            writer.writerows(lines)
            rows += len(lines)
            while held and held[0][0] <= invoices:
                writer.writerow(held.pop(0)[1])
                rows += 1
            size += flush()
        for _, row in held:
            writer.writerow(row)
            rows += 1
        size += flush()
    return {"rows": rows, "invoices": invoices, "bytes": size}


def _rss_mib() -> float:
    import resource

    # ru_maxrss is in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def measure(path: Path, *, trace: bool) -> dict[str, Any]:
    """Parse ``path`` in this (fresh) interpreter, consuming and discarding every group."""
    import tracemalloc

    from ml_connector_provider.integrations.stampli_fusion.csv_export import parse_export
    from ml_connector_provider.integrations.stampli_fusion.settings import FileTemplate

    template = FileTemplate(max_rows=100_000_000)
    rss_before = _rss_mib()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    groups = invoices = rows = 0
    with path.open("rb") as file, parse_export(file, file_name=path.name, template=template) as parsed:
        for group in parsed:
            groups += 1
            invoices += group.invoice is not None
            rows += len(group.rows)
    seconds = time.perf_counter() - started
    heap_peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    return {
        "seconds": round(seconds, 3),
        "rows": rows,
        "groups": groups,
        "valid_invoices": invoices,
        "rows_per_s": round(rows / seconds) if seconds else None,
        "rss_before_mib": rss_before,
        "rss_peak_mib": _rss_mib(),
        "heap_peak_mib": None if heap_peak is None else round(heap_peak / 2**20, 2),
    }


def _child(path: Path, *, trace: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(path)]
    if trace:
        command.append("--trace")
    # The child imports the provider of this checkout (and its sandbox), whatever is installed.
    paths = [str(HERE.parent), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=path.parent, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"parsing {path.name} failed:\n{result.stderr[-4000:]}")
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def run_size(size_mb: float, workdir: Path, *, heap: bool) -> dict[str, Any]:
    """Generate the export of ``size_mb`` MB and measure its parse in fresh interpreters."""
    path = workdir / f"export_{size_mb:g}mb.csv"
    started = time.perf_counter()
    written = generate(path, int(size_mb * 1_000_000))
    generate_s = time.perf_counter() - started
    plain = _child(path, trace=False)
    traced = _child(path, trace=True) if heap else None
    path.unlink()
    return {
        "size_mb": size_mb,
        "bytes": written["bytes"],
        "rows": plain["rows"],
        "groups": plain["groups"],
        "valid_invoices": plain["valid_invoices"],
        "generate_s": round(generate_s, 2),
        "seconds": plain["seconds"],
        "rows_per_s": plain["rows_per_s"],
        "rss_before_mib": plain["rss_before_mib"],
        "rss_peak_mib": plain["rss_peak_mib"],
        "rss_growth_mib": round(plain["rss_peak_mib"] - plain["rss_before_mib"], 1),
        "heap_peak_mib": traced["heap_peak_mib"] if traced else None,
        "traced_seconds": traced["seconds"] if traced else None,
    }


def ratios(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The largest file's figures divided by the smallest's."""
    if len(results) < 2:
        return {}
    small, large = min(results, key=lambda r: r["bytes"]), max(results, key=lambda r: r["bytes"])

    def ratio(key: str) -> float | None:
        if not small.get(key) or large.get(key) is None:
            return None
        return round(large[key] / small[key], 3)

    return {
        "of": f"{large['size_mb']:g} MB / {small['size_mb']:g} MB",
        "bytes": ratio("bytes"),
        "rss_peak": ratio("rss_peak_mib"),
        "rss_growth": ratio("rss_growth_mib"),
        "heap_peak": ratio("heap_peak_mib"),
        "seconds": ratio("seconds"),
    }


COLUMNS = [
    ("size_mb", "size (MB)", "{:g}"),
    ("rows", "rows", "{:d}"),
    ("groups", "invoices", "{:d}"),
    ("seconds", "parse (s)", "{:.2f}"),
    ("rows_per_s", "rows/s", "{:d}"),
    ("rss_before_mib", "RSS import (MiB)", "{:.1f}"),
    ("rss_peak_mib", "RSS peak (MiB)", "{:.1f}"),
    ("rss_growth_mib", "RSS growth (MiB)", "{:.1f}"),
    ("heap_peak_mib", "traced peak (MiB)", "{:.2f}"),
]


def table(results: list[dict[str, Any]], ratio: dict[str, Any]) -> str:
    """Format results (and the ratios) as a Markdown table."""

    def cell(value: Any, fmt: str) -> str:
        return "n/a" if value is None else fmt.format(value)

    lines = [
        "| " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|" + "|".join("---:" for _ in COLUMNS) + "|",
        *("| " + " | ".join(cell(r[key], fmt) for key, _, fmt in COLUMNS) + " |" for r in results),
    ]
    if ratio:
        lines.append(
            f"\nratio {ratio['of']}: bytes {ratio['bytes']}, RSS peak {ratio['rss_peak']}, "
            f"RSS growth {ratio['rss_growth']}, traced peak {ratio['heap_peak']}, time {ratio['seconds']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes-mb", default="10,200", help="comma-separated file sizes in MB (%(default)s)")
    parser.add_argument(
        "--heap",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also parse each file under tracemalloc, for the heap peak (default: yes)",
    )
    parser.add_argument("--smoke", action="store_true", help=f"two tiny files ({SMOKE_SIZES_MB} MB)")
    parser.add_argument("--json", action="store_true", help="print the JSON document instead of the table")
    parser.add_argument(
        "--results-dir",
        type=Path,
        help=f"directory of {RESULT_FILE} (default: benchmarks/results, or a temporary one with --smoke)",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        print(json.dumps(measure(args.child, trace=args.trace)))
        return 0

    sizes = [float(s) for s in (SMOKE_SIZES_MB if args.smoke else args.sizes_mb).split(",") if s.strip()]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlc-bench-stampli-") as tmp:
        results = [run_size(size, Path(tmp), heap=args.heap) for size in sizes]
    ratio = ratios(results)
    document = {
        "benchmark": "stampli_parse",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "smoke": args.smoke,
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "options": {"sizes_mb": sizes, "heap": args.heap},
        "results": results,
        "ratio": ratio,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.results_dir is not None:
        results_dir: Path = args.results_dir
    elif args.smoke:
        results_dir = Path(tempfile.mkdtemp(prefix="mlc-bench-smoke-"))
    else:
        results_dir = RESULTS_DIR
    output = results_dir / RESULT_FILE
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(table(results, ratio))
        print(f"\nwritten to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
