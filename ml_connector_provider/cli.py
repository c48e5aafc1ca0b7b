"""The ``ml-connector`` command line: validate configs, read the ledger, match a tenant's existing
Stripe customers (onboarding), start the sandbox and the demo.

The sandbox and the demo live in the separate ``ml-connector-sandbox`` distribution; this module
never imports it. ``ml-connector sandbox`` and ``ml-connector demo`` run it as
``python -m ml_connector_sandbox`` in a child process, or say how to install it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from ml_connector_provider.ledger import Ledger

log = logging.getLogger(__name__)


# -- errors, times ----------------------------------------------------------------------------


class CliError(Exception):
    """An error the command reports as one line on standard error, exiting with ``code``.

    :param message: what went wrong and, where possible, what to do (no secrets).
    :param code: the exit code (1: not found or failed, 2: bad usage).
    """

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class NotFound(CliError):
    """Something named on the command line does not exist: ``not found: …``, exit code 1."""

    def __init__(self, what: str) -> None:
        super().__init__(f"not found: {what}", 1)


TIME_FORMS = (
    "an ISO 8601 date or time (2026-05-01, 2026-05-01T08:30, 2026-05-01T08:30+02:00; UTC when no "
    "zone is given), a time ago (30m, 12h, 1d, 2w; also s for seconds), now, today or yesterday"
)
"""The forms every option taking a time accepts (see :func:`parse_time`)."""

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """Read a time given on the command line, as an aware UTC ``datetime``.

    Accepts ISO 8601 dates (midnight UTC) and date-times (UTC when they carry no zone, else
    converted to UTC), a time ago as a number and a unit (``30m``, ``12h``, ``1d``, ``2w``; ``s``
    for seconds), ``now``, ``today`` and ``yesterday`` (midnight UTC).

    :param text: what the user typed.
    :param now: the current time (default: the clock), for relative forms.
    :raises ValueError: for anything else, naming the accepted forms (:data:`TIME_FORMS`).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    value = text.strip().lower()
    midnight = datetime.combine(now.date(), time(), tzinfo=UTC)
    if value == "now":
        return now
    if value == "today":
        return midnight
    if value == "yesterday":
        return midnight - timedelta(days=1)
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        try:
            return now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise ValueError(f"invalid time {text!r}: too far back") from None
    raw = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            return datetime.combine(date.fromisoformat(raw), time(), tzinfo=UTC)
        except ValueError:
            raise ValueError(f"invalid time {text!r}: not a calendar date; use {TIME_FORMS}") from None
    if re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d", raw):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ValueError(f"invalid time {text!r}: use {TIME_FORMS}")


def time_arg(text: str) -> datetime:
    """:func:`parse_time` as an argparse ``type``: a bad time is a usage error (exit code 2)
    naming the option and the accepted forms."""
    try:
        return parse_time(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: use a whole number of at least 1")
    return value


def _window_check(args: argparse.Namespace) -> None:
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if since is not None and until is not None and until <= since:
        raise CliError(f"--until ({until.isoformat()}) must be after --since ({since.isoformat()})", code=2)


def table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO, *, wide: bool = False
) -> None:
    """Print rows as a plain aligned text table.

    :param wide: print every cell whole (default: cells longer than 80 characters are cut).
    """
    if not rows:
        out.write("(none)\n")
        return
    cells = [[_cell(row.get(col), None if wide else 80) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    out.write("  ".join(col.ljust(widths[i]) for i, col in enumerate(columns)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in cells:
        out.write("  ".join(value.ljust(widths[i]) for i, value in enumerate(r)).rstrip() + "\n")


def _cell(value: Any, limit: int | None = 80) -> str:
    """A table cell: one line of at most ``limit`` characters (``None``: no limit), control and
    text-direction characters (from record text: a terminal would run escape sequences) written
    as ``\\uXXXX``."""
    from ml_connector_provider.formats.text import escape_invisible

    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    text = escape_invisible(str(value))
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _dump(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2, default=_json_default, sort_keys=False) + "\n")


def _ledger(args: argparse.Namespace) -> Ledger:
    """Open (and migrate) the ledger the command names; any failure is one line, without the
    password of the URL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from ml_connector_provider.ledger import Ledger

    if args.ledger_url:
        try:
            shown = make_url(args.ledger_url).render_as_string(hide_password=True)
        except ArgumentError:
            raise CliError(
                "--ledger-url is not a database URL (e.g. sqlite:////path/ledger.db or "
                "postgresql+psycopg2://user:password@host:5432/db)",
                code=2,
            ) from None
    else:
        shown = f"the ledger of Airflow connection {args.ledger_conn_id or '(default)'}"
    try:
        ledger = (
            Ledger(args.ledger_url)
            if args.ledger_url
            else Ledger.from_airflow(
                args.ledger_conn_id, named_by="the --ledger-conn-id option" if args.ledger_conn_id else None
            )
        )
    except Exception as exc:
        raise CliError(f"cannot open {shown}: {_one_line(exc)}") from exc
    try:
        ledger.migrate()
    except Exception as exc:
        ledger.dispose()
        raise CliError(f"cannot open the ledger {ledger.url_for_display}: {_one_line(exc)}") from exc
    return ledger


def _one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message (for a database
    error, of the driver's message, which names no password)."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__


# -- validate ---------------------------------------------------------------------------------


def _load_config(path: str | Path, code: int = 1) -> Any:
    """The tenant config at ``path``, or :class:`CliError` naming the file (and the tenant and
    field when the file is readable YAML)."""
    from ml_connector_provider.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as err:
        raise CliError(str(err), code) from None


def known_tenant(config: Any, path: str | Path, tenant: str | None) -> None:
    """Raise :class:`NotFound` when ``tenant`` is given and is not a tenant of ``config``."""
    if tenant is None:
        return
    ids = [t.id for t in config.tenants]
    if tenant not in ids:
        raise NotFound(f"tenant {tenant!r} in {path} (its tenants: {', '.join(ids) or 'none'})")


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    """Validate a tenant file and list its DAGs; with ``--connections``, also check that every
    Airflow connection an enabled integration names exists and has the type it needs."""
    from ml_connector_provider.config import effective_tenant_integrations
    from ml_connector_provider.extras import missing_extras_problems

    config = _load_config(args.config)
    known_tenant(config, args.config, args.tenant)
    integrations = [ti for ti in effective_tenant_integrations(config) if args.tenant in (None, ti.tenant_id)]
    rows = [
        {
            "dag_id": ti.dag_id,
            "tenant": ti.tenant_id,
            "integration": ti.integration_id,
            "schedule": ti.schedule or "(manual)",
            "paused at creation": "yes" if ti.paused_at_creation else "no",
            "streams": ", ".join(ti.streams),
            "enabled": ti.enabled,
            "connections": [
                {"role": role, "conn_id": conn_id, "conn_type": ti.spec.connection_roles[role]}
                for role, conn_id in ti.connections.items()
            ],
        }
        for ti in integrations
    ]
    checked = connection_checks(integrations) if args.connections else None
    problems = [c for c in checked or [] if c["status"] != "ok"]
    # The file is valid either way; an enabled integration whose extra this environment lacks
    # would fail its tasks here, so say so (a warning: validate may run where Airflow does not).
    missing_extras = missing_extras_problems(
        (ti.tenant_id, ti.integration_id) for ti in integrations if ti.enabled
    )
    if args.json:
        document: dict[str, Any] = {"valid": True, "dags": rows, "missing_extras": missing_extras}
        if checked is not None:
            document["connections"] = checked
        _dump(document, out)
    else:
        out.write(f"{args.config}: valid, {len(config.tenants)} tenant(s), {len(rows)} DAG(s)\n")
        table(rows, ["dag_id", "schedule", "paused at creation", "streams"], out)
        if checked is not None:
            out.write("\nAirflow connections of the enabled integrations\n")
            table(checked, ["tenant", "integration", "role", "conn_id", "conn_type", "status", "found"], out)
    for message in missing_extras:
        sys.stderr.write(f"warning: {message}\n")
    for problem in problems:
        sys.stderr.write(f"{problem['tenant']}/{problem['integration']}: {problem['fix']}\n")
    return 1 if problems else 0


def connection_type(conn_id: str) -> str | None:
    """The type of Airflow connection ``conn_id``, ``None`` when it does not exist (looked up as
    :func:`airflow_lookups` says)."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id).conn_type or ""
    except AirflowNotFoundException:
        return None


PROCESS_CONTEXT_VAR = "_AIRFLOW_PROCESS_CONTEXT"
"""How Airflow's SDK tells its server components (which read the metadata database) from others."""


@contextlib.contextmanager
def airflow_lookups() -> Iterator[None]:
    """While the block runs, look Airflow connections up as Airflow's own commands and servers do:
    the configured secrets backend, ``AIRFLOW_CONN_*`` variables, then the metadata database
    (where ``airflow connections add`` and the UI put them). Outside a task, Airflow's SDK skips
    the database unless the process says it is a server component; a command would otherwise miss
    the ledger connection and fall back to the SQLite file. Nothing changes when the variable is
    already set."""
    if os.environ.get(PROCESS_CONTEXT_VAR):
        yield
        return
    os.environ[PROCESS_CONTEXT_VAR] = "server"
    try:
        yield
    finally:
        os.environ.pop(PROCESS_CONTEXT_VAR, None)


def connection_checks(integrations: Iterable[Any]) -> list[dict[str, Any]]:
    """For each enabled tenant integration, whether each Airflow connection it names exists
    (looked up the way tasks look it up: secrets backends, ``AIRFLOW_CONN_*`` variables, the
    metadata database) and has the type the integration declares. Never reads out secrets.

    :return: one dict per connection: tenant, integration, role, conn_id, conn_type (expected),
        status (``ok``, ``missing``, ``wrong type``), found (the type found) and fix.
    """
    checks: list[dict[str, Any]] = []
    seen: dict[str, str | None] = {}
    for ti in integrations:
        if not ti.enabled:
            continue
        for role, conn_id in ti.connections.items():
            expected = ti.spec.connection_roles[role]
            if conn_id not in seen:
                seen[conn_id] = connection_type(conn_id)
            found = seen[conn_id]
            create = f"airflow connections add {conn_id} --conn-type {expected} ... "
            if conn_id.replace("_", "").isalnum() and conn_id.isascii():  # '.', '-': no variable
                create += f"(or set AIRFLOW_CONN_{conn_id.upper()}; see docs/connections.md)"
            else:
                create += "(see docs/connections.md)"
            if found is None:
                status, fix = (
                    "missing",
                    f"connection {conn_id!r} ({role}) does not exist; create it: {create}",
                )
            elif found.replace("-", "_") != expected.replace("-", "_"):
                status = "wrong type"
                fix = (
                    f"connection {conn_id!r} ({role}) has type {found!r}, the integration needs "
                    f"{expected!r}; delete it and create it again: {create}"
                )
            else:
                status, fix = "ok", ""
            checks.append(
                {
                    "tenant": ti.tenant_id,
                    "integration": ti.integration_id,
                    "role": role,
                    "conn_id": conn_id,
                    "conn_type": expected,
                    "status": status,
                    "found": found or "",
                    "fix": fix,
                }
            )
    return checks


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Probe each enabled tenant integration's real systems, read-only, through its connections.

    The report groups the findings by tenant and integration: each with its status, what was
    found and, when it is not ok, what to change (in full, never cut). ``--json`` prints only the
    JSON document on standard output. Exit status 1 when any finding is a failure.
    """
    import inspect

    from ml_connector_provider.checks import CheckResult, CheckStatus
    from ml_connector_provider.config import effective_tenant_integrations
    from ml_connector_provider.engine.spec import import_object

    config = _load_config(args.config)
    known_tenant(config, args.config, args.tenant)
    rows: list[dict[str, str]] = []
    for ti in effective_tenant_integrations(config):
        if not ti.enabled or ti.spec.checks is None:
            continue
        if args.tenant and ti.tenant_id != args.tenant:
            continue
        if args.integration and ti.integration_id != args.integration:
            continue
        run_checks = import_object(ti.spec.checks)
        settings = ti.spec.settings_model.model_validate(ti.settings)
        options: dict[str, Any] = {}
        if "streams" in inspect.signature(run_checks).parameters:
            options["streams"] = tuple(ti.streams)
        try:
            # Hooks log through Airflow's logging, which prints to standard output: keep that
            # free for the report (``--json`` output stays parseable).
            with stdout_to_stderr():
                results: list[CheckResult] = run_checks(ti.connections, settings, **options)
        except Exception as exc:  # noqa: BLE001 - one tenant's unreachable system must not hide the others
            results = [
                CheckResult(
                    f"{ti.integration_id}.connect",
                    CheckStatus.FAIL,
                    f"{type(exc).__name__}: {exc}",
                    "check the tenant's Airflow connections (ml-connector never prints their secrets)",
                )
            ]
        rows.extend(
            {"tenant": ti.tenant_id, "integration": ti.integration_id, **r.as_dict()} for r in results
        )
    if args.json:
        _dump({"checks": rows}, out)
    elif rows:
        _check_report(rows, out)
    else:
        out.write("No enabled integration of this config has checks to run.\n")
    return 1 if any(row["status"] == CheckStatus.FAIL.value for row in rows) else 0


def _check_report(rows: Sequence[Mapping[str, str]], out: TextIO) -> None:
    """The findings of ``check``, grouped by tenant and integration, then a count per status."""
    from ml_connector_provider.formats.text import escape_invisible

    width = max(len(row["check"]) for row in rows)
    group: tuple[str, str] | None = None
    for row in rows:
        if (row["tenant"], row["integration"]) != group:
            group = (row["tenant"], row["integration"])
            out.write(f"{'' if row is rows[0] else chr(10)}tenant {group[0]} · {group[1]}\n")
        out.write(
            f"  {row['status'].upper():<4}  {row['check']:<{width}}  {escape_invisible(row['found'])}\n"
        )
        if row["fix"]:
            out.write(f"  {'':<4}  {'':<{width}}  fix: {escape_invisible(row['fix'])}\n")
    counts = {status: sum(1 for row in rows if row["status"] == status) for status in ("ok", "warn", "fail")}
    out.write(f"\n{counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failure(s)\n")


# -- onboard ----------------------------------------------------------------------------------


def tenant_config_path(given: str | None) -> Path | None:
    """The tenant file a command reads: ``given``, else ``$ML_CONNECTOR_CONFIG``, else Airflow's
    ``[ml_connector] tenant_config_path``; ``None`` when nothing names one."""
    from ml_connector_provider.dag_factory import CONFIG_ENV_VAR, CONFIG_OPTION, CONFIG_SECTION

    if given:
        return Path(given)
    from_env = os.environ.get(CONFIG_ENV_VAR, "").strip()
    if from_env:
        return Path(from_env)
    from airflow.providers.common.compat.sdk import conf

    from_conf = (conf.get(CONFIG_SECTION, CONFIG_OPTION, fallback=None) or "").strip()
    return Path(from_conf) if from_conf and from_conf != "None" else None


def _flush_stdout() -> None:
    for stream in (sys.stdout, sys.__stdout__):
        if stream is not None:
            stream.flush()


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send what is printed to standard output while the block runs to standard error, the file
    descriptor included: Airflow's log handlers keep the standard output they were configured
    with, and a command's ``--json`` document must be all that standard output carries."""
    _flush_stdout()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (an embedding without a console)
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _flush_stdout()
        os.dup2(saved, 1)
        os.close(saved)


def cmd_onboard(args: argparse.Namespace, out: TextIO) -> int:
    """Match one tenant's Fusion customer sites with its existing Stripe customers; print the plan
    and, with ``--apply``, write the links into the ledger. Exit code 1 when a site is ambiguous."""
    from ml_connector_provider.config import ConfigError, effective_tenant_integrations, load_config
    from ml_connector_provider.engine.types import RunRef, StreamKey, utcnow
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
    from ml_connector_provider.hooks.stripe import StripeHook
    from ml_connector_provider.integrations.fusion_stripe.onboarding import (
        OnboardingResult,
        apply_onboarding,
        plan_onboarding,
        plan_to_json,
        render_plan,
    )
    from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings
    from ml_connector_provider.ledger.runs import LeaseHeld

    path = tenant_config_path(args.config)
    if path is None:
        sys.stderr.write("name the tenant file with --config (or set ML_CONNECTOR_CONFIG)\n")
        return 2
    try:
        config = load_config(path)
    except ConfigError as err:
        sys.stderr.write(f"{err}\n")
        return 2
    known_tenant(config, path, args.tenant)
    found = [
        ti
        for ti in effective_tenant_integrations(config)
        if ti.tenant_id == args.tenant and ti.integration_id == "fusion_stripe"
    ]
    if not found:
        sys.stderr.write(f"{path}: tenant {args.tenant!r} has no fusion_stripe integration\n")
        return 2
    ti = found[0]
    settings = FusionStripeSettings.model_validate(ti.settings)
    key = StreamKey(ti.tenant_id, ti.integration_id, "customers")
    run = RunRef(f"onboard-{utcnow():%Y%m%dT%H%M%SZ}", 1) if args.apply else None
    fusion = OracleFusionHook(ti.connections["fusion"])
    stripe = StripeHook(ti.connections["stripe"])
    result: OnboardingResult | None = None
    try:
        # Hooks and Airflow log to standard output: keep that for the plan (``--json`` stays parseable).
        with stdout_to_stderr():
            if run is None:
                plan = plan_onboarding(fusion, stripe, settings)
            else:
                ledger = _ledger(args)
                try:
                    # The lease keeps the customers task from writing links while these are decided.
                    with ledger.lease(key, owner=f"ml-connector {run.run_id}", ttl=timedelta(minutes=30)):
                        plan = plan_onboarding(fusion, stripe, settings, ledger=ledger, key=key)
                        result = apply_onboarding(plan, ledger, key, run)
                finally:
                    ledger.dispose()
    except LeaseHeld as err:
        sys.stderr.write(f"{key} is running ({err}); try again once it has finished\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - one line an operator can act on, not a traceback
        sys.stderr.write(f"onboarding {args.tenant} failed: {type(exc).__name__}: {exc}\n")
        return 2
    finally:
        fusion.close()
    code = 1 if plan.ambiguous else 0
    if args.json:
        document: dict[str, Any] = {
            "tenant": ti.tenant_id,
            "applied": result is not None,
            "run_id": run.run_id if run else None,
            **plan_to_json(plan, verbose=args.verbose),
        }
        if result is not None:
            document["ledger"] = {
                "linked": [m.site_use_id for m in result.linked],
                "kept": [{"site_use_id": m.site_use_id, "stripe_id": target} for m, target in result.kept],
            }
        _dump(document, out)
        return code
    mode = "applied" if result is not None else "dry run, nothing written"
    out.write(f"Onboarding plan of tenant {ti.tenant_id} (fusion_stripe customers; {mode})\n")
    if not settings.onboarding.enabled:
        out.write(
            "Note: onboarding.enabled is false, so the customers stream does not run this pass itself.\n"
        )
    out.write(render_plan(plan, verbose=args.verbose))
    if result is not None and run is not None:
        out.write(
            f"\nWrote {len(result.linked)} link(s) into the ledger (run {run.run_id}); "
            f"{len(result.kept)} site(s) the ledger had linked already were left as they were.\n"
        )
    else:
        out.write("\nNothing was written. Run again with --apply to write the links into the ledger.\n")
    return code


# -- sandbox / demo ---------------------------------------------------------------------------

SANDBOX_PACKAGE = "ml_connector_sandbox"
"""The import name of the ``ml-connector-sandbox`` distribution (looked up, never imported)."""

DEMO_CONFIG = Path(__file__).parent / "config" / "tenants.demo.yaml"
"""The demo's default tenant config, shipped with the package: the documented example
(``tenants.example.yaml``, whose DAGs are all created paused) with tenants acme and globex enabled."""


def sandbox_missing_message(command: str) -> str:
    """What ``ml-connector <command>`` prints when the sandbox distribution is not installed."""
    return (
        f"ml-connector {command} needs the sandbox (local stand-ins of the external systems), "
        "which is not installed.\n"
        "Install it with:\n"
        "    pip install 'ml-connector-provider[sandbox]'\n"
        "or, from a checkout of the ml-connector repository:\n"
        "    pip install -e ./sandbox\n"
    )


def run_sandbox(command: str, argv: Sequence[str], stdout: TextIO | None = None) -> int:
    """Run ``python -m ml_connector_sandbox *argv`` in a child process and return its exit code.

    The child shares the terminal: Ctrl+C reaches it directly, and a SIGTERM sent to this
    process is passed on, so the stand-ins always stop with the command. When the sandbox is
    not installed, print what to install and return 1.

    :param command: the ``ml-connector`` sub-command, for the message.
    :param argv: arguments for ``python -m ml_connector_sandbox``.
    :param stdout: the child's standard output (default: this process's).
    """
    if importlib.util.find_spec(SANDBOX_PACKAGE) is None:
        sys.stderr.write(sandbox_missing_message(command))
        return 1
    target: TextIO | None = None
    if stdout is not None:
        stdout.flush()
        with contextlib.suppress(AttributeError, OSError, ValueError):  # no descriptor: inherit ours
            stdout.fileno()
            target = stdout
    child = subprocess.Popen([sys.executable, "-m", SANDBOX_PACKAGE, *argv], stdout=target)
    forward = threading.current_thread() is threading.main_thread()
    if forward:
        previous = signal.signal(signal.SIGTERM, lambda signum, _frame: child.send_signal(signum))
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:
                continue  # the child got the same SIGINT from the terminal and is stopping
    finally:
        if forward:
            signal.signal(signal.SIGTERM, previous)
        if child.poll() is None:
            child.kill()
            child.wait()


def cmd_sandbox(args: argparse.Namespace, out: TextIO) -> int:
    argv: list[str] = []
    if args.systems:
        argv += ["--systems", args.systems]
    if args.port_base:
        argv += ["--port-base", str(args.port_base)]
    if args.json:
        argv.append("--json")
    return run_sandbox("sandbox", argv, out)


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    argv = ["demo", "--config", args.config or str(DEMO_CONFIG)]
    if args.workdir:
        argv += ["--workdir", args.workdir]
    if args.json:
        argv.append("--json")
    return run_sandbox("demo", argv, out)


# -- audit ------------------------------------------------------------------------------------


def cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    """Query the audit trail; an explicit ``--record-id`` or ``--run-id`` that matches nothing is
    "not found" (exit code 1)."""
    _window_check(args)
    ledger = _ledger(args)
    try:
        rows = ledger.query_audit(
            tenant=args.tenant,
            integration=args.integration,
            stream=args.stream,
            record_id=args.record_id,
            action=args.action,
            run_id=args.run_id,
            since=args.since,
            until=args.until,
            limit=args.limit,
        )
    finally:
        ledger.dispose()
    records = [
        {
            "time": r.created_at,
            "tenant": r.key.tenant,
            "integration": r.key.integration,
            "stream": r.key.stream,
            "action": r.action.value,
            "source": f"{r.source_system}:{r.source_id}",
            "label": r.source_label,
            "target": f"{r.target_system}:{r.target_id}" if r.target_id else None,
            "reason": r.reason,
            "run_id": r.run_id,
            "try": r.try_number,
        }
        for r in rows
    ]
    if args.json:
        _dump(records, out)
    else:
        table(
            records,
            ["time", "tenant", "integration", "stream", "action", "source", "target", "reason"],
            out,
            wide=args.wide,
        )
    if not records and (args.record_id or args.run_id):
        named = " and ".join(
            f"{name} {value!r}" for name, value in (("record", args.record_id), ("run", args.run_id)) if value
        )
        raise NotFound(f"no audit row of {named} matches the filters given")
    return 0


# -- dead letters -----------------------------------------------------------------------------

DEAD_LETTER_LIST_COLUMNS = [
    "id",
    "tenant",
    "integration",
    "stream",
    "kind",
    "source_id",
    "status",
    "attempts",
    "next_retry_at",
    "reason",
]
RESOLVED_COLUMNS = ["resolved_at", "resolution"]


def cmd_dead_letters(args: argparse.Namespace, out: TextIO) -> int:
    """List, retry or resolve dead letters. Ids that do not exist are named as "not found" (exit
    code 1) after the others were acted on."""
    _window_check(args)
    scope = {"tenant": args.tenant, "integration": args.integration, "stream": args.stream}
    if args.action != "list":
        if args.since or args.until:
            raise CliError(
                "--since/--until select what `dead-letters list` shows; retry and resolve take ids", 2
            )
        if args.action == "retry" and not args.ids and not any(scope.values()):
            raise CliError(
                "name dead-letter ids, or --tenant/--integration/--stream to retry all of a scope", 2
            )
        if args.action == "resolve" and (not args.ids or not (args.note or "").strip()):
            raise CliError("resolve needs dead-letter ids and --note explaining the resolution", 2)
    ledger = _ledger(args)
    try:
        if args.action == "list":
            status = None if args.status == "all" else args.status
            records = ledger.list_dead_letter_details(
                **scope,
                status=status,
                since=args.since,
                until=args.until,
                limit=args.limit,
                with_record=args.json,
            )
            if args.json:
                _dump(records, out)
            else:
                columns = DEAD_LETTER_LIST_COLUMNS + (RESOLVED_COLUMNS if args.status != "open" else [])
                table(records, columns, out, wide=args.wide)
            return 0
        ids: list[int] = list(dict.fromkeys(args.ids))
        known = {d.id: d for d in ledger.get_dead_letters(ids)} if ids else {}
        missing = [i for i in ids if i not in known]
        if args.action == "retry":
            if ids:
                count = ledger.retry_dead_letters_now(list(known), **scope) if known else 0
            else:
                count = ledger.retry_dead_letters_now(**scope)
            message = f"{count} dead letter(s) will be retried by the next run of their stream"
            skipped = [i for i, d in known.items() if d.status != "open"]
        else:
            note = f"{args.note.strip()} (by {args.by or _operator()})"
            count = ledger.resolve_dead_letters(list(known), note=note) if known else 0
            message = f"{count} dead letter(s) resolved"
            skipped = [i for i, d in known.items() if d.status != "open"]
    finally:
        ledger.dispose()
    if skipped:
        message += f" ({', '.join(map(str, skipped))} already resolved, left as they are)"
    if args.json:
        _dump({"count": count, "not_found": missing, "already_resolved": skipped}, out)
    else:
        out.write(message + "\n")
    if missing:
        raise NotFound(f"dead letter(s) {', '.join(map(str, missing))}")
    return 0


def _operator() -> str:
    """The user running the command, for the record of a resolution."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name (a container without an /etc/passwd entry)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


# -- runs -------------------------------------------------------------------------------------

RUN_COLUMNS = [
    "run_id",
    "tenant",
    "integration",
    "stream",
    "status",
    "window",
    "started",
    "finished",
    "duration",
    "created",
    "updated",
    "skipped",
    "dead_lettered",
]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def run_record(state: Any) -> dict[str, Any]:
    """One run as ``runs`` prints it (``--json`` adds the summary and parameters as stored)."""
    run = state.run
    summary = run.summary or {}
    took = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    return {
        "run_id": run.run_id,
        "tenant": run.key.tenant,
        "integration": run.key.integration,
        "stream": run.key.stream,
        "status": state.status,
        "mode": run.mode,
        "window": f"{_cell(run.window.start)} – {_cell(run.window.end)}",
        "window_start": run.window.start,
        "window_end": run.window.end,
        "started": run.started_at,
        "finished": run.finished_at,
        "duration": _duration(took),
        "duration_seconds": took,
        "try": run.try_number,
        **{
            name: summary.get(name)
            for name in ("read", "created", "updated", "skipped", "unchanged", "dead_lettered")
        },
    }


def _query_runs(ledger: Ledger, args: argparse.Namespace, scope: Mapping[str, Any]) -> list[Any]:
    states = ledger.query_runs(
        **scope,
        run_id=args.run_id,
        since=args.since,
        until=args.until,
        status=getattr(args, "status", None),
        limit=args.limit,
    )
    if args.run_id and not states:
        raise NotFound(f"run {args.run_id!r} (no stream run of it matches the filters given)")
    return states


def cmd_runs(args: argparse.Namespace, out: TextIO) -> int:
    """List stream runs, newest first: status, window, times and counts."""
    _window_check(args)
    ledger = _ledger(args)
    scope = {"tenant": args.tenant, "integration": args.integration, "stream": args.stream}
    try:
        states = _query_runs(ledger, args, scope)
    finally:
        ledger.dispose()
    records = [run_record(state) for state in states]
    if args.json:
        _dump(
            [
                {
                    **{k: v for k, v in rec.items() if k not in ("window", "duration")},
                    "summary": state.run.summary,
                    "params": state.run.params,
                }
                for rec, state in zip(records, states, strict=True)
            ],
            out,
        )
    else:
        table(records, RUN_COLUMNS, out, wide=True)
    return 0


# -- report -----------------------------------------------------------------------------------

RECORD_COLUMNS = ["tenant", "stream", "action", "source", "label", "target", "reason"]
DEAD_LETTER_COLUMNS = ["tenant", "stream", "source", "attempts", "reason"]


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    """Runs per stream, the audit trail of what moved and the open dead letters."""
    _window_check(args)
    ledger = _ledger(args)
    scope = {"tenant": args.tenant, "integration": args.integration, "stream": args.stream}
    try:
        args.status = None
        runs = [state.run for state in _query_runs(ledger, args, scope)]
        streams = [
            summary_row(r.key.tenant, r.key.integration, r.key.stream, r.run_id, r.summary) for r in runs
        ]
        streams.sort(key=lambda r: (r["tenant"], r["integration"], str(r["run_id"]), r["stream"]))
        records = [
            {
                "tenant": a.key.tenant,
                "stream": f"{a.key.integration}/{a.key.stream}",
                "action": a.action.value,
                "source": f"{a.source_system}:{a.source_id}",
                "label": a.source_label,
                "target": f"{a.target_system}:{a.target_id}" if a.target_id else "",
                "reason": a.reason,
            }
            for a in reversed(
                ledger.query_audit(
                    **scope, run_id=args.run_id, since=args.since, until=args.until, limit=args.limit
                )
            )
        ]
        dead_letters = [
            {
                "tenant": d["tenant"],
                "stream": f"{d['integration']}/{d['stream']}",
                "source": d["source_id"],
                "attempts": d["attempts"],
                "reason": d["reason"],
            }
            for d in ledger.list_dead_letter_details(
                **scope, status="open", since=args.since, until=args.until, limit=args.limit
            )
        ]
    finally:
        ledger.dispose()
    if args.json:
        _dump({"streams": streams, "records": records, "dead_letters": dead_letters}, out)
        return 0
    out.write("What moved, per stream\n")
    table(streams, SUMMARY_COLUMNS, out)
    out.write("\nRecords (audit trail)\n")
    table(records, RECORD_COLUMNS, out, wide=args.wide)
    if dead_letters:
        out.write("\nOpen dead letters (retried on later runs; see `ml-connector dead-letters list`)\n")
        table(dead_letters, DEAD_LETTER_COLUMNS, out, wide=args.wide)
    return 0


SUMMARY_COLUMNS = [
    "tenant",
    "integration",
    "stream",
    "run_id",
    "read",
    "created",
    "updated",
    "skipped",
    "unchanged",
    "dead_lettered",
]


def summary_row(
    tenant: str, integration: str, stream: str, run_id: str, summary: Mapping[str, Any] | None
) -> dict[str, Any]:
    summary = summary or {}
    row: dict[str, Any] = {"tenant": tenant, "integration": integration, "stream": stream, "run_id": run_id}
    for column in SUMMARY_COLUMNS[4:]:
        row[column] = summary.get(column, "-" if not summary else 0)
    return row


# -- parser -----------------------------------------------------------------------------------


def _ledger_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ledger")
    group.add_argument(
        "--ledger-conn-id",
        default=None,
        help="Airflow connection naming the ledger database (default: Airflow's [ml_connector] "
        "ledger_conn_id option, else ml_connector_ledger)",
    )
    group.add_argument("--ledger-url", help="SQLAlchemy URL of the ledger (overrides --ledger-conn-id)")


def _scope_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", help="only this tenant")
    parser.add_argument("--integration", help="only this integration")
    parser.add_argument("--stream", help="only this stream")


def _window_args(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--since", type=time_arg, metavar="TIME", help=f"only {what} at or after TIME ({TIME_FORMS})"
    )
    parser.add_argument("--until", type=time_arg, metavar="TIME", help=f"only {what} before TIME")


def _wide_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wide", action="store_true", help="print long cells (reasons) whole, not cut at 80")


def version_text() -> str:
    """``ml-connector --version``: the provider's version, and the sandbox's when it is installed
    (read from the installed distributions' metadata, never by importing the sandbox)."""
    from importlib import metadata

    from ml_connector_provider import __version__

    try:
        provider = metadata.version("ml-connector-provider")
    except metadata.PackageNotFoundError:
        provider = __version__
    text = f"ml-connector-provider {provider}"
    try:
        text += f"\nml-connector-sandbox {metadata.version('ml-connector-sandbox')}"
    except metadata.PackageNotFoundError:
        text += "\nml-connector-sandbox not installed"
    return text


class _VersionAction(argparse.Action):
    """``--version``, computed when asked for (not at every start)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        sys.stdout.write(version_text() + "\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the traceback of an unexpected error",
    )
    parser = argparse.ArgumentParser(
        prog="ml-connector",
        description="ml-connector: finance-system sync for Apache Airflow.",
        parents=[common],
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the provider's (and the sandbox's) version"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    p = command("validate", help="validate a tenant YAML file and list the DAGs it yields")
    p.add_argument("config", help="path of the tenant YAML file")
    p.add_argument("--tenant", help="only this tenant (not found: exit code 1)")
    p.add_argument(
        "--connections",
        action="store_true",
        help="also check that each Airflow connection an enabled integration names exists and has "
        "the type it needs (exit code 1 naming each one missing or wrong, and how to create it)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = command(
        "check",
        help="probe each tenant's real systems read-only and say what to change (e.g. Fusion GL import)",
    )
    p.add_argument("config", help="path of the tenant YAML file")
    p.add_argument("--tenant", help="only this tenant")
    p.add_argument("--integration", help="only this integration")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)

    p = command(
        "onboard",
        help="match a tenant's Fusion customer sites with the customers its Stripe account already has "
        "(dry run unless --apply; exit code 1 when a match is ambiguous)",
    )
    p.add_argument("--tenant", required=True, help="the tenant whose fusion_stripe customers are matched")
    p.add_argument(
        "--config",
        help="tenant YAML (default: $ML_CONNECTOR_CONFIG, else Airflow's [ml_connector] tenant_config_path)",
    )
    p.add_argument(
        "--apply", action="store_true", help="write the links into the ledger (default: write nothing)"
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="also list the Stripe customers left alone and the Fusion sites not synced",
    )
    p.add_argument("--json", action="store_true")
    _ledger_args(p)
    p.set_defaults(func=cmd_onboard)

    p = command(
        "sandbox",
        help="run the sandbox stand-ins of the external systems, the SFTP server included "
        "(needs ml-connector-provider[sandbox])",
    )
    p.add_argument("--systems", help="comma-separated system names (default: all, e.g. fusion,stripe,sftp)")
    p.add_argument("--port-base", type=int, help="first port to use (default: free ports)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sandbox)

    p = command(
        "demo",
        help="run every integration end to end on the sandbox and print what moved "
        "(needs ml-connector-provider[sandbox])",
    )
    p.add_argument("--config", help="tenant YAML (default: the bundled example)")
    p.add_argument("--workdir", help="where the throwaway Airflow home goes (default: a temporary directory)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = command("audit", help="query the audit trail")
    _scope_args(p)
    p.add_argument("--record-id", help="a source or target id (matching nothing: exit code 1)")
    p.add_argument("--action", choices=["created", "updated", "skipped", "dead_lettered"])
    p.add_argument("--run-id", help="an Airflow run id (matching nothing: exit code 1)")
    _window_args(p, "rows recorded")
    p.add_argument("--limit", type=positive_int, default=200)
    _wide_arg(p)
    p.add_argument("--json", action="store_true")
    _ledger_args(p)
    p.set_defaults(func=cmd_audit)

    p = command("dead-letters", help="list, retry or resolve dead letters")
    p.add_argument("action", choices=["list", "retry", "resolve"])
    p.add_argument("ids", nargs="*", type=int, help="dead-letter ids (retry, resolve)")
    _scope_args(p)
    p.add_argument(
        "--status",
        choices=["open", "resolved", "all"],
        default="open",
        help="list: which dead letters (default: open; resolved and all add when and how each was resolved)",
    )
    _window_args(p, "dead letters last changed")
    p.add_argument("--note", help="why the dead letters are resolved (resolve)")
    p.add_argument(
        "--by",
        metavar="NAME",
        help="who resolves them, kept with the note (resolve; default: the user running the command)",
    )
    p.add_argument("--limit", type=positive_int, default=1000)
    _wide_arg(p)
    p.add_argument("--json", action="store_true")
    _ledger_args(p)
    p.set_defaults(func=cmd_dead_letters)

    from ml_connector_provider.ledger.runs import RUN_STATUSES

    p = command("runs", help="list stream runs: status, window, start, duration and counts")
    _scope_args(p)
    p.add_argument("--run-id", help="only the stream runs of this Airflow run id (none: exit code 1)")
    p.add_argument(
        "--status",
        choices=RUN_STATUSES,
        help="running; succeeded; partial (finished, some records dead-lettered); failed (did not finish)",
    )
    _window_args(p, "runs started")
    p.add_argument("--limit", type=positive_int, default=50)
    p.add_argument("--json", action="store_true")
    _ledger_args(p)
    p.set_defaults(func=cmd_runs)

    p = command("report", help="runs per stream, the audit trail of what moved and the open dead letters")
    _scope_args(p)
    p.add_argument("--run-id", help="only this Airflow run id (none: exit code 1)")
    _window_args(p, "runs, rows and dead letters")
    p.add_argument("--limit", type=positive_int, default=10_000, help="at most this many rows per section")
    _wide_arg(p)
    p.add_argument("--json", action="store_true")
    _ledger_args(p)
    p.set_defaults(func=cmd_report)
    return parser


@contextlib.contextmanager
def command_output() -> Iterator[TextIO]:
    """Yield the stream a command writes its result to, while anything else written to standard
    output (Airflow's log handlers, warnings, libraries; Python objects and the file descriptor)
    goes to standard error: a ``--json`` document is all that standard output carries."""
    stdout = sys.stdout
    try:
        fd = stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a captured or embedded stream
        fd = -1
    if fd != 1:
        with contextlib.redirect_stdout(sys.stderr):
            yield stdout
        return
    stdout.flush()
    out = os.fdopen(os.dup(1), "w", encoding=stdout.encoding or "utf-8", errors="replace")
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield out
    finally:
        out.flush()
        _flush_stdout()
        os.dup2(out.fileno(), 1)
        out.close()


def main(argv: Iterable[str] | None = None) -> int:
    """Run ``ml-connector``: the exit code is 0 on success, 1 when something named was not found
    or a check failed, 2 for bad usage; an error is one line on standard error (``--debug`` adds
    the traceback of an unexpected one)."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    debug = getattr(args, "debug", False)
    try:
        with command_output() as out:
            # The sandbox and the demo run in a child process, which looks nothing up itself.
            lookups = contextlib.nullcontext() if args.func in (cmd_sandbox, cmd_demo) else airflow_lookups()
            with lookups:
                result: int = args.func(args, out)
    except KeyboardInterrupt:
        return 130
    except CliError as err:
        sys.stderr.write(f"ml-connector {args.command}: {err}\n")
        return err.code
    except Exception as exc:
        if debug:
            raise
        sys.stderr.write(
            f"ml-connector {args.command}: {_one_line(exc)} (run with --debug for the traceback)\n"
        )
        return 1
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
