"""The Fusion and Stripe stand-ins in a process of their own, and the benchmark's handle on them.

Run as a script (``python benchmarks/_stripe_bench/standins.py``), this module starts both
stand-ins with :class:`~ml_connector_sandbox.runner.SandboxRunner`, prints one JSON line with their
URLs and Airflow connections, and serves until its standard input closes. The connector runs in
other processes, so the memory it uses is its own.

The process adds one route of its own to the Fusion stand-in, ``POST /__sandbox__/bench/customers``,
which creates or changes many AR customers at once. The stand-in's admin route
(``POST /__sandbox__/fusion/customers``) looks each row up in the whole table and numbers new rows
by scanning it, so seeding grows with the square of the size (10,000 customers took 144 s on
2 cores, every further 1,000 about 2.7 s more than the previous 1,000). The bench route stores
each row through the same ``AdfService.admin_upsert`` (same checks, defaults and who columns) but
finds the existing row by key in a dictionary, so it takes linear time. Rows must carry every id
(:func:`customer_row` does).

:func:`started` starts and stops that process; :class:`StandIns` drives the stand-ins' admin API
over HTTP (reset, Stripe settings, request logs, seeding, paying invoices), from the benchmark's
process or from a connector's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ADMIN = "/__sandbox__"
BULK_CUSTOMERS_PATH = f"{ADMIN}/bench/customers"
SEED_CHUNK = 5_000
"""Customers per bulk request (the stand-in holds its state lock while it stores a chunk)."""

FIRST_SITE_USE_ID = 400_000_000_000
"""``BillToSiteUseId`` of generated customer 0 (the stand-in's own seed uses 3000000471120xx)."""
BUSINESS_UNIT = "US1 Business Unit"


# -- generated Fusion data ---------------------------------------------------------------------------


def customer_row(index: int, version: int = 0) -> dict[str, Any]:
    """Fusion AR customer bill-to site number ``index``, as it is at ``version`` (0 when created;
    each later version changes the e-mail address and the second address line, so its Stripe
    payload changes too). Every id is given, as the bulk route requires."""
    email = f"ap+{index}@customer{index:06d}.example.com"
    if version:
        email = f"billing.v{version}+{index}@customer{index:06d}.example.com"
    name = f"Benchmark Customer {index:06d} Holdings LLC"
    return {
        "BillToSiteUseId": FIRST_SITE_USE_ID + index,
        "BillToSiteNumber": str(700_000 + index),
        "AccountNumber": str(800_000 + index),
        "AccountId": FIRST_SITE_USE_ID + 500_000_000 + index,
        "AccountName": name,
        "CustomerName": name,
        "CustomerId": FIRST_SITE_USE_ID + 600_000_000 + index,
        "Status": "A",
        "BusinessUnit": BUSINESS_UNIT,
        "CurrencyCode": "USD",
        "EmailAddress": email,
        "TaxpayerIdentificationNumber": f"{10 + index % 89:02d}-{index % 10_000_000:07d}",
        "AddressLine1": f"{100 + index % 9_000} Market Street",
        "AddressLine2": f"Suite {100 + version * 1_000 + index % 900}",
        "City": "Austin",
        "State": "TX",
        "PostalCode": f"{78_701 + index % 50}",
        "Country": "US",
        "TotalOpenReceivablesForSite": 0,
        "TotalTransactionsDueForSite": 0,
    }


def invoice_row(index: int, customer: Mapping[str, Any], lines: int, today: datetime) -> dict[str, Any]:
    """A complete USD Fusion AR invoice of ``customer`` with ``lines`` lines."""
    return {
        "TransactionNumber": f"BENCH-{index:06d}",
        "TransactionSource": "Manual",
        "TransactionType": "Invoice",
        "BusinessUnit": BUSINESS_UNIT,
        "BillToCustomerNumber": customer["AccountNumber"],
        "BillToCustomerName": customer["CustomerName"],
        "BillToSite": customer["BillToSiteNumber"],
        "InvoiceCurrencyCode": "USD",
        "TransactionDate": today.date().isoformat(),
        "DueDate": (today + timedelta(days=30)).date().isoformat(),
        "receivablesInvoiceLines": [
            {
                "LineNumber": n,
                "Description": f"Service line {n} of invoice {index}",
                "Quantity": n,
                "UnitSellingPrice": 125.5 + index % 7,
            }
            for n in range(1, lines + 1)
        ],
    }


# -- the stand-ins' process ---------------------------------------------------------------------------


def add_bulk_customers_route(fusion: Any) -> None:
    """Serve ``POST /__sandbox__/bench/customers`` (a JSON list of customer rows) on ``fusion``."""
    from fastapi import Body

    @fusion.app.post(BULK_CUSTOMERS_PATH, include_in_schema=False)
    def bulk_customers(rows: list[dict[str, Any]] = Body(...)) -> dict[str, int]:  # noqa: B008
        return {"stored": store_customers(fusion, rows)}


def store_customers(fusion: Any, rows: Sequence[Mapping[str, Any]]) -> int:
    """Create or change Fusion customer rows (matched by ``BillToSiteUseId``) in linear time."""
    from ml_connector_sandbox.systems.fusion.customers import CUSTOMER_RESOURCE_NAME, format_site_address

    name, key = CUSTOMER_RESOURCE_NAME, "BillToSiteUseId"
    with fusion.state as db:
        items: list[dict[str, Any]] = db.setdefault(name, [])
        by_key = {item.get(key): item for item in items}
        for values in rows:
            given = dict(values)
            existing = by_key.get(given[key])
            given.setdefault("BillToSiteAddress", format_site_address({**(existing or {}), **given}))
            # admin_upsert looks the row up in the list it is given: give it only this row.
            scratch: dict[str, Any] = {name: [] if existing is None else [existing]}
            fusion.service.admin_upsert(scratch, name, given)
            if existing is None:
                [stored] = scratch[name]
                items.append(stored)
                by_key[stored[key]] = stored
    return len(rows)


def serve() -> int:
    """Start both stand-ins, print their URLs and connections, serve until stdin closes."""
    from ml_connector_sandbox.runner import SandboxRunner
    from ml_connector_sandbox.systems.fusion import FusionSandbox
    from ml_connector_sandbox.systems.stripe import StripeSandbox

    fusion = FusionSandbox()
    add_bulk_customers_route(fusion)
    with SandboxRunner([fusion, StripeSandbox()], startup_timeout=30.0) as runner:
        described = {
            name: {"url": runner.url(name), "connection": runner.system(name).connection(runner.url(name))}
            for name in runner.names
        }
        print(json.dumps(described), flush=True)
        for _ in sys.stdin:  # until the benchmark closes our stdin (or kills us)
            pass
    return 0


# -- the benchmark's handle --------------------------------------------------------------------------


class StandIns:
    """The benchmark's handle on running stand-ins: where they are and their admin API.

    :param info: what :func:`serve` printed (system → ``url`` and ``connection``).
    """

    def __init__(self, info: Mapping[str, Any]) -> None:
        self.info = {name: dict(value) for name, value in info.items()}
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    # -- where they are -------------------------------------------------------------------------

    def url(self, system: str) -> str:
        return str(self.info[system]["url"])

    def connection(self, system: str) -> dict[str, Any]:
        return dict(self.info[system]["connection"])

    def airflow_env(self, conn_ids: Mapping[str, str]) -> dict[str, str]:
        """``AIRFLOW_CONN_<ID>`` variables (JSON) for the given system → connection id."""
        return {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(self.connection(s)) for s, cid in conn_ids.items()}

    def describe(self) -> dict[str, Any]:
        """What a connector process needs to reach the stand-ins (JSON-ready)."""
        return dict(self.info)

    # -- admin API --------------------------------------------------------------------------------

    def _call(self, method: str, system: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, self.url(system) + path, timeout=600, **kwargs)
        response.raise_for_status()
        return response.json()

    def reset(self, *systems: str) -> None:
        """Back to the seed: state, settings, tokens, faults, request log."""
        for system in systems or ("fusion", "stripe"):
            self._call("POST", system, f"{ADMIN}/reset")

    def stripe_settings(self, **changes: Any) -> dict[str, Any]:
        """Change the Stripe stand-in's settings (partial); returns them all."""
        result: dict[str, Any] = self._call("POST", "stripe", f"{ADMIN}/stripe/settings", json=changes)
        return result

    def request_log(self, system: str) -> list[dict[str, Any]]:
        """The stand-in's request log (its last 10,000 requests), oldest first."""
        result: list[dict[str, Any]] = self._call("GET", system, f"{ADMIN}/requests")
        return result

    def clear_request_log(self, *systems: str) -> None:
        for system in systems or ("fusion", "stripe"):
            self._call("DELETE", system, f"{ADMIN}/requests")

    def seed_customers(self, rows: Iterable[Mapping[str, Any]]) -> float:
        """Create or change Fusion customers through the bulk route; returns the seconds taken."""
        started = time.perf_counter()
        chunk: list[Mapping[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= SEED_CHUNK:
                self._call("POST", "fusion", BULK_CUSTOMERS_PATH, json=chunk)
                chunk = []
        if chunk:
            self._call("POST", "fusion", BULK_CUSTOMERS_PATH, json=chunk)
        return time.perf_counter() - started

    def seed_invoices(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Create Fusion AR invoices through the stand-in's admin route; returns them as stored."""
        result: list[dict[str, Any]] = self._call(
            "POST", "fusion", f"{ADMIN}/fusion/invoices", json=list(rows)
        )
        return result

    def fusion_customers(self) -> list[dict[str, Any]]:
        """Every Fusion customer row, as stored."""
        path = f"{ADMIN}/fusion/resources/receivablesCustomerAccountSiteActivities"
        result: list[dict[str, Any]] = self._call("GET", "fusion", path)
        return result

    def stripe_invoice_ids(self) -> list[str]:
        """Ids of the Stripe stand-in's invoices (from its state dump)."""
        state = self._call("GET", "stripe", f"{ADMIN}/state")
        return [str(i) for i, invoice in state["invoices"].items() if not invoice.get("deleted")]

    def pay_invoice(self, invoice_id: str) -> None:
        """Pay a Stripe invoice as a customer does on its hosted page."""
        self._call("POST", "stripe", f"{ADMIN}/stripe/invoices/{invoice_id}/pay", json={})


@contextmanager
def started(log_path: Path, env: Mapping[str, str]) -> Iterator[StandIns]:
    """Start the stand-ins' process (standard error to ``log_path``) for the ``with`` block.

    :param env: its environment (``PYTHONPATH`` naming this checkout).
    """
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=dict(env),
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the stand-ins did not start:\n{log_path.read_text()[-4000:]}")
            standins = StandIns(json.loads(line))
            try:
                yield standins
            finally:
                standins.close()
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def now() -> datetime:
    return datetime.now(UTC)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(serve())
