"""The two integrations under soak: their stand-ins, seeded input data, and what the target must hold.

Each :class:`SoakIntegration` starts its stand-ins once (:meth:`~SoakIntegration.start`), and per
trial resets them, seeds random input from the trial's random generator
(:meth:`~SoakIntegration.prepare`) and afterwards compares the target with the expected records
(:meth:`~SoakIntegration.check`): every expected record exactly once, with equal amounts (or equal
data, for customers), nothing else, and the invalid inputs as dead letters with a reason.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ml_connector_sandbox.faults import FaultRule
from ml_connector_sandbox.runner import SandboxRunner, airflow_conn_env_var

from ml_connector_provider.ledger import Ledger

log = logging.getLogger(__name__)


@dataclass
class Expected:
    """What a trial's target must hold once every run is complete.

    :param stream: the stream under trial.
    :param records: target key → the amount (or data) it must carry, for every valid input.
    :param dead: source ids of the invalid inputs, each to end as an open dead letter.
    :param before: the target keys the stand-in held before the trial (seed data, left alone).
    """

    stream: str
    records: dict[str, Any]
    dead: set[str] = field(default_factory=set)
    before: Counter[str] = field(default_factory=Counter)


@dataclass
class Check:
    """The invariant's figures for one trial (all zero: it holds)."""

    duplicates: int = 0
    missing: int = 0
    unexpected: int = 0
    amount_mismatches: int = 0
    dead_letters_without_reason: int = 0
    expected_dead_letters_missing: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Nothing missing and every invalid input dead-lettered: no further run is needed."""
        return self.missing == 0 and self.expected_dead_letters_missing == 0

    @property
    def violations(self) -> int:
        return (
            self.duplicates
            + self.missing
            + self.unexpected
            + self.amount_mismatches
            + self.dead_letters_without_reason
            + self.expected_dead_letters_missing
            + len(self.problems)
        )


@dataclass(frozen=True)
class FaultTarget:
    """A route of a stand-in that a fault rule may hit."""

    system: str
    path: str
    method: str
    write: bool  # the target write itself (a lost answer there means the write happened)


class SoakIntegration:
    """Base of the integrations' soak harness."""

    name = ""
    tenant = "soak"
    streams: tuple[str, ...] = ()
    #: Routes of the stand-ins for the fault trials.
    fault_targets: tuple[FaultTarget, ...] = ()
    #: The route a race trial slows down so that a batch outlasts the lease.
    slow_write: FaultTarget

    def __init__(self) -> None:
        self.runner: SandboxRunner | None = None
        self.home = Path(tempfile.mkdtemp(prefix=f"mlc-soak-{self.name}-home-"))

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        shutil.rmtree(self.home, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """The worker's environment: Airflow connections ``soak_<role>`` to the stand-ins."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def before_run(self, stream: str) -> list[str]:
        """Streams to run once, cleanly, before the one under trial (its prerequisites)."""
        return []

    def sync_for(self, stream: str) -> dict[str, Any]:
        """``sync`` options of ``stream`` beyond the trial's (default: none)."""
        return {}

    def targets_for(self, stream: str) -> tuple[FaultTarget, ...]:
        """The routes the fault trials of ``stream`` may hit."""
        return self.fault_targets

    def slow_write_for(self, stream: str) -> FaultTarget:
        """The route a race trial of ``stream`` slows down."""
        return self.slow_write

    def fault_kinds(self, target: FaultTarget) -> tuple[str, ...]:
        """Fault kinds of this integration's own, next to the common ones (default: none)."""
        return ()

    def make_fault(self, rng: random.Random, kind: str, where: dict[str, Any]) -> FaultRule | None:
        """The rule of one of :meth:`fault_kinds` at ``where`` (path, method, skip, times)."""
        return None

    def on_try(self, try_number: int) -> None:
        """Called before every try of the stream under a fault trial (default: nothing)."""

    def prepare(self, rng: random.Random, stream: str, trial: int) -> Expected:
        raise NotImplementedError

    def after_prerequisite(self, rng: random.Random, expected: Expected, done: str, trial: int) -> None:
        """Seed what needs the results of the prerequisite stream ``done`` (default: nothing)."""

    def check(self, expected: Expected, ledger: Ledger) -> Check:
        raise NotImplementedError

    def system(self, name: str) -> Any:
        assert self.runner is not None
        return self.runner.system(name)

    @staticmethod
    def dead_letter_checks(
        check: Check, expected: Expected, ledger: Ledger, tenant: str, integration: str
    ) -> None:
        rows = ledger.list_dead_letters(tenant=tenant, integration=integration, stream=expected.stream)
        open_ids = set()
        for row in rows:
            open_ids.add(row.source_id)
            if not (row.reason or "").strip():
                check.dead_letters_without_reason += 1
                check.problems.append(f"dead letter {row.source_id} has no reason")
        missing = sorted(expected.dead - open_ids)
        check.expected_dead_letters_missing += len(missing)
        if missing:
            check.problems.append(f"invalid input not dead-lettered: {', '.join(missing)}")


# -- fusion_stripe --------------------------------------------------------------------------------

SITE_KEY = "fusion_bill_to_site_use_id"
TRANSACTION_KEY = "fusion_transaction_id"
NAMES = ("Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel", "Ironwood", "Juniper")
SUFFIXES = ("Supply Co.", "Logistics LLC", "Partners Inc.", "Holdings", "Trading GmbH", "& Sons")


class FusionStripe(SoakIntegration):
    """Oracle Fusion AR → Stripe: the customers and invoices streams, against both stand-ins."""

    name = "fusion_stripe"
    streams = ("customers", "invoices", "payments")
    fault_targets = (
        FaultTarget("fusion", "receivablesCustomerAccountSiteActivities", "GET", False),
        FaultTarget("fusion", "receivablesInvoices", "GET", False),
        FaultTarget("stripe", "^/v1/customers", "GET", False),
        FaultTarget("stripe", "^/v1/invoices", "GET", False),
        FaultTarget("stripe", "^/v1/customers", "POST", True),
        FaultTarget("stripe", "^/v1/invoices", "POST", True),
        FaultTarget("stripe", "^/v1/invoiceitems", "POST", True),
    )
    payment_targets = (
        FaultTarget("stripe", "^/v1/events", "GET", False),
        FaultTarget("stripe", "^/v1/(payment_intents|charges|invoices|refunds)", "GET", False),
        FaultTarget("fusion", "erpintegrations", "GET", False),
        FaultTarget("fusion", "journalBatches", "GET", False),
        FaultTarget("fusion", "erpintegrations", "POST", True),
    )
    slow_write = FaultTarget("stripe", "^/v1/(customers|invoices|invoiceitems)", "POST", True)

    def sync_for(self, stream: str) -> dict[str, Any]:
        # The payments stream's first window starts a day back: within Stripe's event retention,
        # so it reads the Events API as it does in steady state.
        return {"initial_lookback": 86400} if stream == "payments" else {}

    def targets_for(self, stream: str) -> tuple[FaultTarget, ...]:
        return self.payment_targets if stream == "payments" else self.fault_targets

    def slow_write_for(self, stream: str) -> FaultTarget:
        if stream == "payments":
            return FaultTarget("fusion", "erpintegrations", "POST", True)
        return self.slow_write

    def start(self) -> None:
        self.runner = SandboxRunner(["fusion", "stripe"]).start()
        self._scheduler_stop = threading.Event()
        self._scheduler = threading.Thread(target=self._run_ess_scheduler, name="soak-ess", daemon=True)
        self._scheduler.start()

    def stop(self) -> None:
        if getattr(self, "_scheduler", None) is not None:
            self._scheduler_stop.set()
            self._scheduler.join(5)
        super().stop()

    def _run_ess_scheduler(self) -> None:
        """Advance the Fusion stand-in's ESS requests one step every tenth of a second.

        Fusion's scheduler runs a submitted import whether or not anyone asks for its status; the
        stand-in advances its requests only on status reads (``ml_connector_sandbox.systems.fusion.gl``).
        Without this, the import of a worker killed right after submitting would never run, and
        the writer's search for its batches (``targets/fusion_gl.py``, "Evidence") would wait out
        ``import_timeout``, which no real tenant sees.
        """
        while not self._scheduler_stop.wait(0.1):
            runner = self.runner
            if runner is None:
                return
            try:
                fusion: Any = runner.system("fusion")
                fusion.journal_import.run(ticks=1)
            except Exception:
                log.warning("the ESS scheduler's tick failed; ticking on", exc_info=True)

    def env(self) -> dict[str, str]:
        assert self.runner is not None
        stripe = self.system("stripe").connection(self.runner.url("stripe"))
        # The stand-in has no rate limit of its own: pace far above test mode's 25/s, so a trial
        # spends its time on the disturbance, not on waiting for the limiter.
        stripe.setdefault("extra", {}).update(rate_limit=1000, search_rate_limit=1000)
        return {
            **self.runner.airflow_env({"fusion": "soak_fusion"}),
            airflow_conn_env_var("soak_stripe"): json.dumps(stripe),
            "HOME": str(self.home),
        }

    def settings(self) -> dict[str, Any]:
        return {"business_units": ["US1 Business Unit"], "gl": dict(GL_SETTINGS)}

    def before_run(self, stream: str) -> list[str]:
        return {"customers": [], "invoices": ["customers"], "payments": ["customers", "invoices"]}[stream]

    def prepare(self, rng: random.Random, stream: str, trial: int) -> Expected:
        assert self.runner is not None
        self.runner.reset_all()
        fusion = self.system("fusion")
        if stream == "customers":
            return self._seed_customers(rng, fusion, trial)
        # Invoices: only the trial's own, for the seeded customers (synced first, cleanly).
        with fusion.state as db:
            db["receivablesInvoices"] = []
        return Expected(stream, {})

    def _seed_customers(self, rng: random.Random, fusion: Any, trial: int) -> Expected:
        invalid: set[str] = set()
        for index in range(rng.randint(3, 12)):
            name = f"{rng.choice(NAMES)} {rng.choice(SUFFIXES)} {trial}-{index}"
            bad = rng.random() < 0.15
            row = fusion.upsert_customer(
                CustomerName=name,
                AccountNumber=f"9{trial % 100000:05d}{index:02d}",
                EmailAddress=f"ap{index}@t{trial}.example.com" if rng.random() < 0.8 else None,
                City="Springfield",
                Country="Germany" if bad else rng.choice(("US", "DE", "GB", "FR")),
            )
            if bad:
                invalid.add(str(row["BillToSiteUseId"]))
        records = {
            str(site["BillToSiteUseId"]): (site["CustomerName"], site.get("EmailAddress") or None)
            for site in fusion.customers()
            if site.get("Status", "A") == "A"
            and site.get("BusinessUnit") == "US1 Business Unit"
            and str(site["BillToSiteUseId"]) not in invalid
        }
        return Expected("customers", records, dead=invalid)

    def after_prerequisite(self, rng: random.Random, expected: Expected, done: str, trial: int) -> None:
        if done == "customers":
            self._seed_invoices(rng, expected if expected.stream == "invoices" else Expected("", {}), trial)
        elif done == "invoices" and expected.stream == "payments":
            self._pay_invoices(rng, expected)

    def _pay_invoices(self, rng: random.Random, expected: Expected) -> None:
        """Customers pay a random share of the Stripe invoices (at least one)."""
        stripe = self.system("stripe")
        invoices = [i for i in stripe.invoices() if i.get("status") == "open"]
        paid = rng.sample(invoices, k=rng.randint(1, len(invoices))) if invoices else []
        for invoice in paid:
            stripe.pay_invoice(invoice["id"])
        paid_ids = {i["id"] for i in paid}
        intents = {p["id"]: p for p in stripe.payment_intents()}
        for payment in stripe.invoice_payments():
            if payment.get("invoice") not in paid_ids:
                continue
            intent = intents[payment["payment"]["payment_intent"]]
            expected.records[f"Stripe {intent['id']}"] = Decimal(intent["amount"]) / 100

    def _seed_invoices(self, rng: random.Random, expected: Expected, trial: int) -> None:
        fusion = self.system("fusion")
        sites = [
            s
            for s in fusion.customers()
            if s.get("Status") == "A" and s.get("BusinessUnit") == "US1 Business Unit"
        ]
        for index in range(rng.randint(3, 10)):
            site = rng.choice(sites)
            lines = [
                {
                    "Description": f"Item {n}",
                    "Quantity": rng.randint(1, 4),
                    "UnitSellingPrice": float(Decimal(rng.randint(100, 250_000)) / 100),
                }
                for n in range(1 if rng.random() < 0.12 else rng.randint(1, 3))
            ]
            bad = not lines
            row = fusion.upsert_invoice(
                {
                    "TransactionNumber": f"SOAK-{trial}-{index}",
                    "BillToCustomerNumber": site["AccountNumber"],
                    "BillToSite": site["BillToSiteNumber"],
                    "BusinessUnit": "US1 Business Unit",
                    "InvoiceCurrencyCode": "USD",
                    "InvoiceStatus": "Complete",
                    "PaymentTerms": "30 Net",
                },
                lines,
            )
            transaction_id = str(row["CustomerTransactionId"])
            if bad:
                expected.dead.add(transaction_id)
            else:
                expected.records[transaction_id] = round(Decimal(str(row["EnteredAmount"])) * 100)

    def check(self, expected: Expected, ledger: Ledger) -> Check:
        check = Check()
        stripe = self.system("stripe")
        if expected.stream == "customers":
            found: dict[str, list[dict[str, Any]]] = {}
            for customer in stripe.customers():
                site = (customer.get("metadata") or {}).get(SITE_KEY)
                if site is not None:
                    found.setdefault(str(site), []).append(customer)
            for site, (name, email) in expected.records.items():
                held = found.get(site, [])
                if not held:
                    check.missing += 1
                    check.problems.append(f"site {site}: no Stripe customer")
                    continue
                if len(held) > 1:
                    check.duplicates += len(held) - 1
                    check.problems.append(
                        f"site {site}: {len(held)} Stripe customers {[c['id'] for c in held]}"
                    )
                if any(c.get("name") != name or (c.get("email") or None) != email for c in held):
                    check.amount_mismatches += 1
                    check.problems.append(f"site {site}: Stripe customer data differs from Fusion's")
            extra = sorted(set(found) - set(expected.records))
            check.unexpected += len(extra)
            if extra:
                check.problems.append(f"Stripe customers of sites not expected: {', '.join(extra)}")
        elif expected.stream == "payments":
            self._check_journals(expected, check)
        else:
            invoices: dict[str, list[dict[str, Any]]] = {}
            for invoice in stripe.invoices():
                transaction = (invoice.get("metadata") or {}).get(TRANSACTION_KEY)
                if transaction is not None:
                    invoices.setdefault(str(transaction), []).append(invoice)
            for transaction, amount in expected.records.items():
                held = invoices.get(transaction, [])
                if not held:
                    check.missing += 1
                    check.problems.append(f"invoice {transaction}: not in Stripe")
                    continue
                if len(held) > 1:
                    check.duplicates += len(held) - 1
                    check.problems.append(f"invoice {transaction}: {len(held)} Stripe invoices")
                if any(i.get("amount_due") != amount or i.get("status") != "open" for i in held):
                    check.amount_mismatches += 1
                    check.problems.append(
                        f"invoice {transaction}: Stripe has "
                        f"{[(i.get('amount_due'), i.get('status')) for i in held]}, Fusion {amount} (cents)"
                    )
            extra = sorted(set(invoices) - set(expected.records))
            check.unexpected += len(extra)
            if extra:
                check.problems.append(f"Stripe invoices not expected: {', '.join(extra)}")
            # Sending e-mails the customer: at most once per invoice, whatever was retried.
            sent = Counter(e["data"]["object"]["id"] for e in stripe.events("invoice.sent"))
            for invoice_id, times in sorted(sent.items()):
                if times > 1:
                    check.duplicates += times - 1
                    check.problems.append(f"Stripe invoice {invoice_id} was e-mailed {times} times")
        self.dead_letter_checks(check, expected, ledger, self.tenant, self.name)
        return check

    def _check_journals(self, expected: Expected, check: Check) -> None:
        """One balanced journal per payment, crediting AR suspense with the payment's amount."""
        batches: dict[str, list[dict[str, Any]]] = {}
        for batch in self.system("fusion").journal_batches():
            batches.setdefault(re.sub(r" G\d+;.*$", "", batch["BatchName"]), []).append(batch)
        ar_account = GL_SETTINGS["ar_suspense_account"]
        for name, amount in expected.records.items():
            held = batches.get(name, [])
            if not held:
                check.missing += 1
                check.problems.append(f"journal {name}: not in Fusion")
                continue
            if len(held) > 1:
                check.duplicates += len(held) - 1
                check.problems.append(f"journal {name}: {len(held)} batches in Fusion")
            for batch in held:
                lines = [line for header in batch["journalHeaders"] for line in header["journalLines"]]
                debit = sum(Decimal(str(line.get("EnteredDr") or 0)) for line in lines)
                credit = sum(Decimal(str(line.get("EnteredCr") or 0)) for line in lines)
                ar = sum(
                    Decimal(str(line.get("EnteredCr") or 0))
                    for line in lines
                    if line.get("AccountCombination") == ar_account
                )
                if debit != credit or ar != amount:
                    check.amount_mismatches += 1
                    check.problems.append(
                        f"journal {name}: debits {debit}, credits {credit}, AR credit {ar}; the payment {amount}"
                    )
        extra = sorted(set(batches) - set(expected.records))
        check.unexpected += len(extra)
        if extra:
            check.problems.append(f"journals not expected: {', '.join(extra)}")


GL_SETTINGS: Mapping[str, Any] = {
    "ledger_id": "300000046975971",
    "ledger_name": "US Primary Ledger",
    "data_access_set_id": "300000046975980",
    "journal_source": "Stripe",
    "cash_clearing_account": "101-000-11250-000-000",
    "ar_suspense_account": "101-000-12990-000-000",
    "fee_account": "101-000-65110-000-000",
    "subscription_revenue_account": "101-000-40100-000-000",
    "poll_interval": 0.05,
    # The shortest wait allowed for an import whose submission was never confirmed (a worker killed
    # between recording the attempt and reading Fusion's answer) before importing it again.
    "import_timeout": 60,
}
"""The general ledger settings of the payments stream (the stand-in's seeded ledger and accounts)."""


# -- stampli_fusion -------------------------------------------------------------------------------

#: Seeded Fusion suppliers with a single pay site, and an expense account (cost centre in segment 2).
SUPPLIERS = (
    ("1001", "Crestline Office Supply Co.", "101-000-61100-000-000"),
    ("1004", "Trailhead Travel Management", "101-000-64200-000-000"),
)
COST_CENTERS = ("110", "120")
OLD_FILE_AGE = 600.0


class StampliFusion(SoakIntegration):
    """Stampli export files on the real OpenSSH SFTP server → Fusion AP invoices on the stand-in."""

    name = "stampli_fusion"
    streams = ("invoices",)
    fault_targets = (
        FaultTarget("fusion", "suppliers", "GET", False),
        FaultTarget("fusion", "accountCombinationsLOV", "GET", False),
        FaultTarget("fusion", "/invoices$", "GET", False),
        FaultTarget("fusion", "/invoices$", "POST", True),
    )
    slow_write = FaultTarget("fusion", "/invoices$", "POST", True)

    def __init__(self) -> None:
        super().__init__()
        self.sshd: Any = None

    def start(self) -> None:
        from tests.harness.sshd import SshdServer

        self.runner = SandboxRunner(["fusion"]).start()
        self.sshd = SshdServer()
        self.sshd.start()

    def stop(self) -> None:
        if self.sshd is not None:
            self.sshd.stop()
            self.sshd = None
        super().stop()

    @property
    def root(self) -> Path:
        return Path(self.sshd.data_dir) / "tenant"

    def env(self) -> dict[str, str]:
        assert self.runner is not None
        return {
            **self.runner.airflow_env({"fusion": "soak_fusion"}),
            airflow_conn_env_var("soak_stampli"): json.dumps(self.sshd.connection()),
            "HOME": str(self.home),
        }

    def settings(self) -> dict[str, Any]:
        root = self.root
        return {
            "business_unit": "US1 Business Unit",
            "sftp": {
                "outbound_dir": f"{root}/outbound",
                "archive_dir": f"{root}/archive",
                "error_dir": f"{root}/error",
                "min_file_age": 30,
            },
        }

    def prepare(self, rng: random.Random, stream: str, trial: int) -> Expected:
        from ml_connector_sandbox.stampli import Invoice, Line, render

        assert self.runner is not None
        self.runner.reset_all()
        self.sshd.clear()
        for name in ("outbound", "archive", "error"):
            self.sshd.mkdir(str(self.root / name))
        before = Counter(self._ap_keys())
        expected = Expected(stream, {}, before=before)
        today = datetime.now(UTC).date()
        old = time.time() - OLD_FILE_AGE
        number = 0
        for file_index in range(rng.randint(1, 3)):
            invoices = []
            for _ in range(rng.randint(1, 5)):
                number += 1
                vendor, vendor_name, account = rng.choice(SUPPLIERS)
                cents = [rng.randint(100, 500_000) for _ in range(rng.randint(1, 3))]
                lines = tuple(
                    Line(f"Item {n}", f"{Decimal(c) / 100:.2f}", account, rng.choice(COST_CENTERS))
                    for n, c in enumerate(cents, start=1)
                )
                total = Decimal(sum(cents)) / 100
                invoice_number = f"SK{trial}-{number}"
                flaw = rng.random()
                if flaw < 0.07:  # the header disagrees with its lines
                    amount = f"{total + 1:.2f}"
                    expected.dead.add(f"{vendor}/{invoice_number}")
                elif flaw < 0.12:  # a vendor Fusion does not know
                    vendor, vendor_name = "2099", "Nobody Known Ltd"
                    amount = f"{total:.2f}"
                    expected.dead.add(f"{vendor}/{invoice_number}")
                else:
                    amount = f"{total:.2f}"
                    expected.records[f"{vendor}/{invoice_number}"] = total
                invoices.append(
                    Invoice(
                        f"STP-{number}",
                        invoice_number,
                        vendor,
                        vendor_name,
                        rng.randint(1, 20),
                        amount,
                        "Soak",
                        lines,
                    )
                )
            self.sshd.put_file(
                str(self.root / "outbound" / f"STAMPLI_{trial}_{file_index}.csv"),
                render(invoices, today, bom=rng.random() < 0.3, crlf=rng.random() < 0.7),
                mtime=old - file_index,
            )
        return expected

    def _ap_keys(self) -> list[str]:
        return [f"{i['SupplierNumber']}/{i['InvoiceNumber']}" for i in self.system("fusion").ap_invoices()]

    def check(self, expected: Expected, ledger: Ledger) -> Check:
        check = Check()
        by_key: dict[str, list[dict[str, Any]]] = {}
        for invoice in self.system("fusion").ap_invoices():
            by_key.setdefault(f"{invoice['SupplierNumber']}/{invoice['InvoiceNumber']}", []).append(invoice)
        for key, amount in expected.records.items():
            held = by_key.get(key, [])
            if not held:
                check.missing += 1
                check.problems.append(f"AP invoice {key}: not in Fusion")
                continue
            if len(held) > 1:
                check.duplicates += len(held) - 1
                check.problems.append(f"AP invoice {key}: {len(held)} in Fusion")
            if any(Decimal(str(i["InvoiceAmount"])) != amount for i in held):
                check.amount_mismatches += 1
                check.problems.append(
                    f"AP invoice {key}: Fusion has {[i['InvoiceAmount'] for i in held]}, the export {amount}"
                )
        extra = sorted(
            k for k, held in by_key.items() if k not in expected.records and len(held) > expected.before[k]
        )
        check.unexpected += len(extra)
        if extra:
            check.problems.append(f"AP invoices not expected: {', '.join(extra)}")
        self.dead_letter_checks(check, expected, ledger, self.tenant, self.name)
        if check.complete:
            left = sorted(p.name for p in (self.root / "outbound").iterdir())
            if left:
                check.problems.append(f"files left in outbound after the runs completed: {', '.join(left)}")
        return check


# -- stripe_netsuite ------------------------------------------------------------------------------

#: The seeded NetSuite service items (stand-in seed: 201, 202) the trial's Stripe products map to;
#: a third product of each trial maps to none (its charges are dead-lettered "unmapped product").
SOAK_ITEMS = ("201", "202")
FEE_ITEM = "204"
NETSUITE_REST = "^/services/rest/record/v1/"
#: NetSuite's answer when the account's concurrency limit is reached (contract B9): 429, or 400
#: on some accounts, never with ``Retry-After``.
CONCURRENCY_BODY = {
    "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
    "title": "Bad Request",
    "status": 429,
    "o:errorDetails": [
        {
            "detail": "Concurrent request limit exceeded. Request blocked.",
            "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
        }
    ],
}
#: A REST call with an expired token (contract B8): 401 ``INVALID_LOGIN``.
EXPIRED_TOKEN_BODY = {
    "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2",
    "title": "Unauthorized",
    "status": 401,
    "o:errorDetails": [{"detail": "Invalid login attempt.", "o:errorCode": "INVALID_LOGIN"}],
}


class StripeNetSuite(SoakIntegration):
    """Stripe charges, subscription invoices and refunds → NetSuite invoices, payments and credit memos.

    The invariant, per Stripe object: exactly one NetSuite invoice (``externalId`` ``stripe-<ch_|in_>``)
    whose total is what Stripe charged net of its fee (in both amount modes: in
    ``gross_with_fee_line`` the gross line less the fee line), exactly one customer payment
    (``stripe-pay-…``) for that total, leaving nothing open; per refund exactly one credit memo
    (``stripe-re_…``) crediting the revenue in the share refunded (a full refund all of it; a
    partial one within the one minor unit the exact split may round); charges of an unmapped
    product are dead letters with a reason.
    """

    name = "stripe_netsuite"
    streams = ("invoices", "refunds")
    fault_targets = (
        FaultTarget("stripe", "^/v1/events", "GET", False),
        FaultTarget("stripe", "^/v1/(payment_intents|charges|invoices|balance_transactions)", "GET", False),
        FaultTarget("netsuite", "^/services/rest/query/v1/suiteql", "POST", False),
        FaultTarget("netsuite", NETSUITE_REST + "(customer|invoice)/", "GET", False),
        FaultTarget("netsuite", NETSUITE_REST + "customer/eid:", "PUT", True),
        FaultTarget("netsuite", NETSUITE_REST + "invoice/eid:", "PUT", True),
        FaultTarget("netsuite", NETSUITE_REST + "customerPayment/eid:", "PUT", True),
        FaultTarget("stripe", "^/v1/(payment_intents|invoices)/[^/]+$", "POST", True),
    )
    refund_targets = (
        FaultTarget("stripe", "^/v1/events", "GET", False),
        FaultTarget("stripe", "^/v1/(refunds|charges|payment_intents)", "GET", False),
        FaultTarget("netsuite", NETSUITE_REST + "invoice/", "GET", False),
        FaultTarget("netsuite", NETSUITE_REST + "creditMemo/eid:", "PUT", True),
    )
    slow_write = FaultTarget(
        "netsuite", NETSUITE_REST + "(invoice|customerPayment|creditMemo)/eid:", "PUT", True
    )

    def __init__(self) -> None:
        super().__init__()
        self.amount_mode = "net"
        self.items: dict[str, str] = {}
        self.sales: dict[str, dict[str, Any]] = {}

    def start(self) -> None:
        self.runner = SandboxRunner(["stripe", "netsuite"]).start()

    def env(self) -> dict[str, str]:
        assert self.runner is not None
        stripe = self.system("stripe").connection(self.runner.url("stripe"))
        stripe.setdefault("extra", {}).update(rate_limit=1000, search_rate_limit=1000)
        return {
            **self.runner.airflow_env({"netsuite": "soak_netsuite"}),
            airflow_conn_env_var("soak_stripe"): json.dumps(stripe),
            "HOME": str(self.home),
        }

    def settings(self) -> dict[str, Any]:
        return {
            "subsidiary_id": "1",
            "currencies": {"USD": "1", "EUR": "2", "JPY": "3"},
            "create_customers": True,
            "items": dict(self.items),
            "amount_mode": self.amount_mode,
            "fee_item": FEE_ITEM,
            "unmapped_retry_after": 60,
        }

    def sync_for(self, stream: str) -> dict[str, Any]:
        # Every stream's first window (the prerequisite's too) starts an hour back: within
        # Stripe's event retention, so it reads the Events API as it does in steady state.
        return {"initial_lookback": 3600}

    def targets_for(self, stream: str) -> tuple[FaultTarget, ...]:
        return self.refund_targets if stream == "refunds" else self.fault_targets

    def slow_write_for(self, stream: str) -> FaultTarget:
        return self.slow_write

    def before_run(self, stream: str) -> list[str]:
        return ["invoices"] if stream == "refunds" else []

    def fault_kinds(self, target: FaultTarget) -> tuple[str, ...]:
        """NetSuite's own refusals next to the common faults: the concurrency limit (429 and its
        400 variant, contract B9) and an expired token (401 ``INVALID_LOGIN``, B8)."""
        if target.system != "netsuite":
            return ()
        return ("concurrency_429", "concurrency_400", "token_expired")

    def make_fault(self, rng: random.Random, kind: str, where: dict[str, Any]) -> FaultRule | None:
        if kind in ("concurrency_429", "concurrency_400"):
            status = 429 if kind == "concurrency_429" else 400
            return FaultRule.error(status, body={**CONCURRENCY_BODY, "status": status}, **where)
        if kind == "token_expired":
            return FaultRule.error(
                401,
                body=EXPIRED_TOKEN_BODY,
                headers={"WWW-Authenticate": 'Bearer realm="1234567_SB1", error="invalid_token"'},
                **where,
            )
        return None

    def on_try(self, try_number: int) -> None:
        """Every issued NetSuite token expires before a retried try (a try killed mid-run left its
        token behind; the stand-in answers 401 to it, contract B8)."""
        if try_number > 1:
            self.system("netsuite").tokens.expire_all()

    # -- seeding -----------------------------------------------------------------------------------

    def _client(self) -> Any:
        import stripe

        logging.getLogger("stripe").setLevel(logging.WARNING)
        assert self.runner is not None
        key = self.system("stripe").secret_key
        return stripe.StripeClient(
            key, base_addresses={"api": self.runner.url("stripe")}, max_network_retries=0
        )

    def prepare(self, rng: random.Random, stream: str, trial: int) -> Expected:
        assert self.runner is not None
        self.runner.reset_all()
        self.amount_mode = rng.choice(("net", "gross_with_fee_line"))
        self.sales = {}
        client = self._client()
        products = [client.v1.products.create(params={"name": f"Soak plan {n}"}).id for n in range(3)]
        self.items = dict(zip(products[:2], SOAK_ITEMS, strict=True))
        unmapped_product = products[2]
        customers = [
            client.v1.customers.create(
                params={"name": f"{rng.choice(NAMES)} {rng.choice(SUFFIXES)} {trial}-{n}"}
            ).id
            for n in range(rng.randint(1, 3))
        ]
        expected = Expected(stream, {})
        for index in range(rng.randint(2, 6)):
            currency = rng.choice(("usd", "usd", "eur", "jpy"))
            amount = rng.randint(50, 900_000) if currency != "jpy" else rng.randint(50, 90_000)
            unmapped = rng.random() < 0.12
            product = unmapped_product if unmapped else rng.choice(products[:2])
            intent = client.v1.payment_intents.create(
                params={
                    "amount": amount,
                    "currency": currency,
                    "customer": rng.choice(customers),
                    "payment_method": "pm_card_visa",
                    "confirm": True,
                    "metadata": {"product": product, "soak": f"{trial}-{index}"},
                }
            )
            charge_id = str(client.v1.payment_intents.retrieve(intent.id).latest_charge)
            fee = self._fee(client, charge_id)
            if unmapped:
                if stream == "invoices":
                    expected.dead.add(intent.id)
                continue
            self.sales[charge_id] = {"intent": intent.id, "amount": amount, "fee": fee, "currency": currency}
            if stream == "invoices":
                expected.records[f"stripe-{charge_id}"] = (amount, fee, currency)
        if rng.random() < 0.4:
            self._subscription(rng, client, customers[0], expected if stream == "invoices" else None)
        return expected

    @staticmethod
    def _fee(client: Any, charge_id: str) -> int:
        """Stripe's fee on a charge, in minor units (its balance transaction's ``fee``)."""
        charge = client.v1.charges.retrieve(charge_id, params={"expand": ["balance_transaction"]})
        return int(charge.balance_transaction.fee)

    def _subscription(
        self, rng: random.Random, client: Any, customer: str, expected: Expected | None
    ) -> None:
        product = rng.choice(list(self.items))
        price = client.v1.prices.create(
            params={
                "currency": "usd",
                "unit_amount": rng.randint(500, 50_000),
                "recurring": {"interval": "month"},
                "product": product,
            }
        )
        subscription = client.v1.subscriptions.create(
            params={
                "customer": customer,
                "items": [{"price": price.id, "quantity": rng.randint(1, 4)}],
                "default_payment_method": "pm_card_visa",
            }
        )
        self.system("stripe").advance_subscription(subscription.id)
        for invoice in client.v1.invoices.list(params={"subscription": subscription.id}).data:
            if invoice.status != "paid":
                continue
            fee = 0
            for payment in self.system("stripe").invoice_payments():
                if payment.get("invoice") == invoice.id:
                    intent = client.v1.payment_intents.retrieve(payment["payment"]["payment_intent"])
                    fee += self._fee(client, str(intent.latest_charge))
            if expected is not None:
                expected.records[f"stripe-{invoice.id}"] = (invoice.amount_paid, fee, "usd")

    def after_prerequisite(self, rng: random.Random, expected: Expected, done: str, trial: int) -> None:
        if done != "invoices" or expected.stream != "refunds":
            return
        client = self._client()
        charges = list(self.sales)
        for charge_id in rng.sample(charges, k=rng.randint(1, len(charges))) if charges else []:
            sale = self.sales[charge_id]
            full = rng.random() < 0.5
            amount = sale["amount"] if full else rng.randint(1, sale["amount"] - 1)
            params: dict[str, Any] = {"payment_intent": sale["intent"]}
            if not full:
                params["amount"] = amount
            refund = client.v1.refunds.create(params=params)
            expected.records[f"stripe-{refund.id}"] = (charge_id, amount)

    # -- the invariant -----------------------------------------------------------------------------

    def _by_eid(self, type_name: str, check: Check) -> dict[str, dict[str, Any]]:
        held: dict[str, list[dict[str, Any]]] = {}
        for record in self.system("netsuite").records(type_name):
            eid = record.get("externalId")
            if eid:
                held.setdefault(str(eid), []).append(record)
        out = {}
        for eid, records in held.items():
            if len(records) > 1:
                check.duplicates += len(records) - 1
                check.problems.append(
                    f"NetSuite {type_name} {eid}: {len(records)} records {[r['id'] for r in records]}"
                )
            out[eid] = records[0]
        return out

    @staticmethod
    def _minor(value: Any, currency: str) -> int:
        exponent = 0 if currency == "jpy" else 2
        return int(Decimal(str(value)).scaleb(exponent))

    def check(self, expected: Expected, ledger: Ledger) -> Check:
        check = Check()
        invoices = self._by_eid("invoice", check)
        payments = self._by_eid("customerPayment", check)
        memos = self._by_eid("creditMemo", check)
        if expected.stream == "refunds":
            self._check_memos(expected, check, invoices, memos)
        else:
            self._check_invoices(expected, check, invoices, payments)
            if memos:
                check.unexpected += len(memos)
                check.problems.append(f"credit memos without a refund: {sorted(memos)}")
        self.dead_letter_checks(check, expected, ledger, self.tenant, self.name)
        if check.missing:
            for row in ledger.list_dead_letters(tenant=self.tenant, integration=self.name):
                if row.source_id not in expected.dead:
                    check.problems.append(f"dead letter {row.key.stream}/{row.source_id}: {row.reason}")
        return check

    def _check_invoices(
        self,
        expected: Expected,
        check: Check,
        invoices: dict[str, dict[str, Any]],
        payments: dict[str, dict[str, Any]],
    ) -> None:
        for eid, (amount, fee, currency) in expected.records.items():
            invoice = invoices.get(eid)
            if invoice is None:
                check.missing += 1
                check.problems.append(f"invoice {eid}: not in NetSuite")
                continue
            lines = [self._minor(line["amount"], currency) for line in invoice["item"]["items"]]
            total = self._minor(invoice["total"], currency)
            wanted = [amount - fee] if self.amount_mode == "net" else [amount, -fee]
            if eid.startswith("stripe-in_"):
                wanted_total, lines_ok = amount - fee, sum(lines) == amount - fee
            else:
                wanted_total, lines_ok = amount - fee, lines == [w for w in wanted if w != 0]
            if total != wanted_total or not lines_ok:
                check.amount_mismatches += 1
                check.problems.append(
                    f"invoice {eid} ({self.amount_mode}): NetSuite lines {lines} total {total}, "
                    f"Stripe {amount} less fee {fee} ({currency}, minor units)"
                )
            payment = payments.get("stripe-pay-" + eid.removeprefix("stripe-"))
            if payment is None:
                check.missing += 1
                check.problems.append(f"invoice {eid}: no customer payment")
            elif self._minor(payment["payment"], currency) != wanted_total:
                check.amount_mismatches += 1
                check.problems.append(f"payment of {eid}: {payment['payment']}, the invoice {total}")
            if Decimal(str(invoice.get("amountRemaining", 0))) != 0:
                check.amount_mismatches += 1
                check.problems.append(f"invoice {eid}: {invoice.get('amountRemaining')} still open")
        extra = sorted(set(invoices) - set(expected.records))
        check.unexpected += len(extra)
        if extra:
            check.problems.append(f"NetSuite invoices not expected: {', '.join(extra)}")
        extra_pay = sorted(
            p for p in payments if "stripe-" + p.removeprefix("stripe-pay-") not in expected.records
        )
        check.unexpected += len(extra_pay)
        if extra_pay:
            check.problems.append(f"NetSuite payments not expected: {', '.join(extra_pay)}")

    def _check_memos(
        self,
        expected: Expected,
        check: Check,
        invoices: dict[str, dict[str, Any]],
        memos: dict[str, dict[str, Any]],
    ) -> None:
        for eid, (charge_id, refunded) in expected.records.items():
            memo = memos.get(eid)
            if memo is None:
                check.missing += 1
                check.problems.append(f"credit memo {eid}: not in NetSuite")
                continue
            sale = self.sales[charge_id]
            currency = sale["currency"]
            invoice = invoices.get(f"stripe-{charge_id}")
            if invoice is None or str((memo.get("createdFrom") or {}).get("id")) != str(invoice["id"]):
                check.amount_mismatches += 1
                check.problems.append(f"credit memo {eid}: not created from the invoice of {charge_id}")
                continue
            revenue = sum(
                self._minor(line["amount"], currency)
                for line in invoice["item"]["items"]
                if str(line["item"]["id"]) != FEE_ITEM
            )
            credit = sum(self._minor(line["amount"], currency) for line in memo["item"]["items"])
            exact = Decimal(revenue * refunded) / sale["amount"]
            ok = credit == revenue if refunded == sale["amount"] else abs(credit - exact) < 1
            if not ok:
                check.amount_mismatches += 1
                check.problems.append(
                    f"credit memo {eid}: credits {credit}; revenue {revenue} × {refunded}/{sale['amount']} "
                    f"= {exact} ({currency}, minor units)"
                )
        extra = sorted(set(memos) - set(expected.records))
        check.unexpected += len(extra)
        if extra:
            check.problems.append(f"NetSuite credit memos not expected: {', '.join(extra)}")


INTEGRATIONS: Mapping[str, type[SoakIntegration]] = {
    FusionStripe.name: FusionStripe,
    StampliFusion.name: StampliFusion,
    StripeNetSuite.name: StripeNetSuite,
}
