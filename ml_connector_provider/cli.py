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
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from ml_connector_provider.ledger import Ledger


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    """Print rows as a plain aligned text table."""
    if not rows:
        out.write("(none)\n")
        return
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    out.write("  ".join(col.ljust(widths[i]) for i, col in enumerate(columns)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in cells:
        out.write("  ".join(value.ljust(widths[i]) for i, value in enumerate(r)).rstrip() + "\n")


def _cell(value: Any) -> str:
    """A table cell: one line of at most 80 characters, control and text-direction characters
    (from record text: a terminal would run escape sequences) written as ``\\uXXXX``."""
    from ml_connector_provider.formats.text import escape_invisible

    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    text = escape_invisible(str(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _dump(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, indent=2, default=_json_default, sort_keys=False) + "\n")


def _ledger(args: argparse.Namespace) -> Ledger:
    from ml_connector_provider.ledger import Ledger

    ledger = Ledger(args.ledger_url) if args.ledger_url else Ledger.from_airflow(args.ledger_conn_id)
    ledger.migrate()
    return ledger


# -- validate ---------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from ml_connector_provider.config import ConfigError, effective_tenant_integrations, load_config

    try:
        config = load_config(args.config)
    except ConfigError as err:
        sys.stderr.write(f"{err}\n")
        return 1
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
        for ti in effective_tenant_integrations(config)
    ]
    if args.json:
        _dump({"valid": True, "dags": rows}, out)
    else:
        out.write(f"{args.config}: valid, {len(config.tenants)} tenant(s), {len(rows)} DAG(s)\n")
        table(rows, ["dag_id", "schedule", "paused at creation", "streams"], out)
    return 0


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Probe each enabled tenant integration's real systems, read-only, through its connections."""
    import contextlib

    from ml_connector_provider.checks import CheckResult, CheckStatus
    from ml_connector_provider.config import ConfigError, effective_tenant_integrations, load_config
    from ml_connector_provider.engine.spec import import_object

    try:
        config = load_config(args.config)
    except ConfigError as err:
        sys.stderr.write(f"{err}\n")
        return 1
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
        try:
            # Hooks log through Airflow's logging, which prints to standard output: keep that
            # free for the report (``--json`` output stays parseable).
            with contextlib.redirect_stdout(sys.stderr):
                results: list[CheckResult] = run_checks(ti.connections, settings)
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
        table(rows, ["tenant", "integration", "check", "status", "found", "fix"], out)
    else:
        out.write("No enabled integration of this config has checks to run.\n")
    return 1 if any(row["status"] == CheckStatus.FAIL.value for row in rows) else 0


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


def run_sandbox(command: str, argv: Sequence[str]) -> int:
    """Run ``python -m ml_connector_sandbox *argv`` in a child process and return its exit code.

    The child shares the terminal: Ctrl+C reaches it directly, and a SIGTERM sent to this
    process is passed on, so the stand-ins always stop with the command. When the sandbox is
    not installed, print what to install and return 1.

    :param command: the ``ml-connector`` sub-command, for the message.
    :param argv: arguments for ``python -m ml_connector_sandbox``.
    """
    if importlib.util.find_spec(SANDBOX_PACKAGE) is None:
        sys.stderr.write(sandbox_missing_message(command))
        return 1
    child = subprocess.Popen([sys.executable, "-m", SANDBOX_PACKAGE, *argv])
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
    return run_sandbox("sandbox", argv)


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    argv = ["demo", "--config", args.config or str(DEMO_CONFIG)]
    if args.workdir:
        argv += ["--workdir", args.workdir]
    if args.json:
        argv.append("--json")
    return run_sandbox("demo", argv)


# -- audit ------------------------------------------------------------------------------------


def cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    ledger = _ledger(args)
    since = datetime.fromisoformat(args.since) if args.since else None
    rows = ledger.query_audit(
        tenant=args.tenant,
        integration=args.integration,
        stream=args.stream,
        record_id=args.record_id,
        action=args.action,
        run_id=args.run_id,
        since=since,
        limit=args.limit,
    )
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
            records, ["time", "tenant", "integration", "stream", "action", "source", "target", "reason"], out
        )
    return 0


# -- dead letters -----------------------------------------------------------------------------


def cmd_dead_letters(args: argparse.Namespace, out: TextIO) -> int:
    ledger = _ledger(args)
    scope = {"tenant": args.tenant, "integration": args.integration, "stream": args.stream}
    if args.action == "list":
        status = None if args.status == "all" else args.status
        rows = ledger.list_dead_letters(**scope, status=status, limit=args.limit)
        records = [
            {
                "id": d.id,
                "tenant": d.key.tenant,
                "integration": d.key.integration,
                "stream": d.key.stream,
                "source_id": d.source_id,
                "status": d.status,
                "attempts": d.attempts,
                "next_retry_at": d.next_retry_at,
                "reason": d.reason,
            }
            for d in rows
        ]
        if args.json:
            _dump(records, out)
        else:
            table(
                records,
                ["id", "tenant", "integration", "stream", "source_id", "attempts", "next_retry_at", "reason"],
                out,
            )
        return 0
    ids = [int(i) for i in args.ids]
    if args.action == "retry":
        if not ids and not any(scope.values()):
            sys.stderr.write(
                "name dead-letter ids, or --tenant/--integration/--stream to retry all of a scope\n"
            )
            return 2
        count = (
            ledger.retry_dead_letters_now(ids or None, **scope)
            if ids
            else ledger.retry_dead_letters_now(**scope)
        )
        message = f"{count} dead letter(s) will be retried by the next run of their stream"
    else:
        if not ids or not args.note:
            sys.stderr.write("resolve needs dead-letter ids and --note explaining the resolution\n")
            return 2
        count = ledger.resolve_dead_letters(ids, note=args.note)
        message = f"{count} dead letter(s) resolved"
    if args.json:
        _dump({"count": count}, out)
    else:
        out.write(message + "\n")
    return 0


# -- runs -------------------------------------------------------------------------------------


def cmd_runs(args: argparse.Namespace, out: TextIO) -> int:
    ledger = _ledger(args)
    rows = ledger.list_runs(
        tenant=args.tenant, integration=args.integration, stream=args.stream, limit=args.limit
    )
    records = [summary_row(r.key.tenant, r.key.integration, r.key.stream, r.run_id, r.summary) for r in rows]
    if args.json:
        _dump([{**rec, "window": r.window.as_dict()} for rec, r in zip(records, rows, strict=True)], out)
    else:
        table(records, SUMMARY_COLUMNS, out)
    return 0


# -- report -----------------------------------------------------------------------------------

RECORD_COLUMNS = ["tenant", "stream", "action", "source", "label", "target", "reason"]
DEAD_LETTER_COLUMNS = ["tenant", "stream", "source", "attempts", "reason"]


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    ledger = _ledger(args)
    scope = {"tenant": args.tenant, "integration": args.integration, "stream": args.stream}
    try:
        runs = ledger.list_runs(**scope, limit=args.limit)
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
            for a in reversed(ledger.query_audit(**scope, limit=args.limit))
        ]
        dead_letters = [
            {
                "tenant": d.key.tenant,
                "stream": f"{d.key.integration}/{d.key.stream}",
                "source": d.source_id,
                "attempts": d.attempts,
                "reason": d.reason,
            }
            for d in ledger.list_dead_letters(**scope, status="open", limit=args.limit)
        ]
    finally:
        ledger.dispose()
    if args.json:
        _dump({"streams": streams, "records": records, "dead_letters": dead_letters}, out)
        return 0
    out.write("What moved, per stream\n")
    table(streams, SUMMARY_COLUMNS, out)
    out.write("\nRecords (audit trail)\n")
    table(records, RECORD_COLUMNS, out)
    if dead_letters:
        out.write("\nOpen dead letters (retried on later runs; see `ml-connector dead-letters list`)\n")
        table(dead_letters, DEAD_LETTER_COLUMNS, out)
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
    parser.add_argument("--tenant")
    parser.add_argument("--integration")
    parser.add_argument("--stream")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ml-connector",
        description="ml-connector: finance-system sync for Apache Airflow.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate a tenant YAML file and list the DAGs it yields")
    p.add_argument("config", help="path of the tenant YAML file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "check",
        help="probe each tenant's real systems read-only and say what to change (e.g. Fusion GL import)",
    )
    p.add_argument("config", help="path of the tenant YAML file")
    p.add_argument("--tenant", help="only this tenant")
    p.add_argument("--integration", help="only this integration")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
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

    p = sub.add_parser(
        "sandbox",
        help="run the sandbox stand-ins of the external systems (needs ml-connector-provider[sandbox])",
    )
    p.add_argument("--systems", help="comma-separated system names (default: all)")
    p.add_argument("--port-base", type=int, help="first port to use (default: free ports)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser(
        "demo",
        help="run every integration end to end on the sandbox and print what moved "
        "(needs ml-connector-provider[sandbox])",
    )
    p.add_argument("--config", help="tenant YAML (default: the bundled example)")
    p.add_argument("--workdir", help="where the throwaway Airflow home goes (default: a temporary directory)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("audit", help="query the audit trail")
    _scope_args(p)
    p.add_argument("--record-id", help="a source or target id")
    p.add_argument("--action", choices=["created", "updated", "skipped", "dead_lettered"])
    p.add_argument("--run-id")
    p.add_argument("--since", help="ISO timestamp")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")
    _ledger_args(p)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("dead-letters", help="list, retry or resolve dead letters")
    p.add_argument("action", choices=["list", "retry", "resolve"])
    p.add_argument("ids", nargs="*", help="dead-letter ids (retry, resolve)")
    _scope_args(p)
    p.add_argument("--status", choices=["open", "resolved", "all"], default="open")
    p.add_argument("--note", help="why the dead letters are resolved (resolve)")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true")
    _ledger_args(p)
    p.set_defaults(func=cmd_dead_letters)

    p = sub.add_parser("runs", help="list stream runs with their windows and counts")
    _scope_args(p)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    _ledger_args(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "report", help="runs per stream, the audit trail of what moved and the open dead letters"
    )
    _scope_args(p)
    p.add_argument("--limit", type=int, default=10_000, help="at most this many rows per section")
    p.add_argument("--json", action="store_true")
    _ledger_args(p)
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        result: int = args.func(args, sys.stdout)
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
