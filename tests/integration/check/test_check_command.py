"""``ml-connector check`` end to end on a tenant file whose connections point at every system its
integrations use at once: the Fusion and Stripe stand-ins over HTTP and OpenSSH's sshd. All ok on
the default systems; each way a system can differ is named with what to change; ``--json`` is pure
JSON on standard output; a failure exits 1; bad input ends in a message, not a traceback."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncssh
import paramiko
import pytest
from ml_connector_sandbox.systems.fusion.system import SCOPE_SUFFIX

from ml_connector_provider.cli import main
from tests.integration.check.conftest import FUSION_CONN, SFTP_CONN, STRIPE_CONN, Systems, tenant_file

RESTRICTED = "rk_test_51MlcSandboxRestricted0Key0001"
SFTP_CHECKS = {
    "sftp.reachable",
    "sftp.host_key",
    "sftp.login",
    "sftp.outbound_dir",
    "sftp.archive_dir",
    "sftp.error_dir",
}
GL_CHECKS = {
    "fusion.ess_job_status",
    "fusion.ess_descendants",
    "fusion.batch_prefix_filter",
    "fusion.journal_source",
    "fusion.journal_category",
}

Row = dict[str, str]
Finding = tuple[str, str, str]  # tenant, integration, check


def check_json(*args: str, capsys: pytest.CaptureFixture[str], exit_code: int) -> list[Row]:
    """Run ``ml-connector check ARGS --json``, assert its exit code, return its rows."""
    assert main(["check", *args, "--json"]) == exit_code
    rows: list[Row] = json.loads(capsys.readouterr().out)["checks"]  # nothing but the document
    return rows


def check_table(*args: str, capsys: pytest.CaptureFixture[str], exit_code: int) -> str:
    """Run ``ml-connector check ARGS`` (the table), assert its exit code, return standard output."""
    assert main(["check", *args]) == exit_code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return captured.out


def parse_table(text: str) -> dict[Finding, dict[str, str]]:
    """The table report read back: each finding's status, what was found and the fix, keyed by
    tenant, integration and check; asserts every finding that is not ok has a fix line."""
    findings: dict[Finding, dict[str, str]] = {}
    group: tuple[str, str] | None = None
    last: Finding | None = None
    for line in text.splitlines():
        if line.startswith("tenant "):
            tenant, integration = line.removeprefix("tenant ").split(" · ")
            group = (tenant, integration)
        elif line.strip().startswith("fix: "):
            assert last is not None, line
            findings[last]["fix"] = line.strip().removeprefix("fix: ")
        elif line.startswith("  ") and group is not None:
            status, check, found = line.split(maxsplit=2)
            last = (*group, check)
            findings[last] = {"status": status.lower(), "found": found, "fix": ""}
    for finding, row in findings.items():
        assert (row["status"] == "ok") == (row["fix"] == ""), (finding, row)
    return findings


def by_system(rows: list[Row], tenant: str, integration: str) -> dict[str, set[str]]:
    """The checks of one tenant integration, grouped by system (the check name's prefix)."""
    systems: dict[str, set[str]] = {}
    for row in rows:
        if (row["tenant"], row["integration"]) == (tenant, integration):
            systems.setdefault(row["check"].split(".")[0], set()).add(row["check"])
    return systems


def key_bytes(line: str) -> bytes:
    """The key of an OpenSSH public-key line (``ssh-ed25519 AAAA…``)."""
    return base64.b64decode(line.split()[1])


def test_json_report_of_systems_that_fit(
    systems: Systems, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tenant_file(tmp_path / "tenants.yaml", systems.sshd, invoices=False)
    rows = check_json(str(config), capsys=capsys, exit_code=0)
    assert {r["status"] for r in rows} == {"ok"}, [r for r in rows if r["status"] != "ok"]
    # globex's only integration is disabled: never probed.
    assert {(r["tenant"], r["integration"]) for r in rows} == {
        ("acme", "fusion_stripe"),
        ("acme", "stampli_fusion"),
    }
    stripe_side = by_system(rows, "acme", "fusion_stripe")
    stampli_side = by_system(rows, "acme", "stampli_fusion")
    assert set(stripe_side) == {"stripe", "fusion"}
    assert set(stampli_side) == {"sftp", "fusion"}
    # Only the enabled streams' needs: customers (the invoices stream is off, no GL settings).
    assert "fusion.changes.receivablesCustomerAccountSiteActivities" in stripe_side["fusion"]
    assert "fusion.resource.receivablesInvoices" not in stripe_side["fusion"]
    assert not GL_CHECKS & stripe_side["fusion"]
    assert "stripe.permission.customer" in stripe_side["stripe"]
    assert "stripe.permission.invoice" not in stripe_side["stripe"]
    assert {
        "fusion.resource.invoices",
        "fusion.in_filter.suppliers",
        "fusion.describe.accountCombinationsLOV",
    } <= stampli_side["fusion"]
    assert stampli_side["sftp"] == SFTP_CHECKS


def test_table_report_names_each_fusion_difference_and_exits_1(
    systems: Systems, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tenant_file(tmp_path / "tenants.yaml", systems.sshd)
    systems.switch_fusion(refused_operators=["in"], forbidden_resources=["accountCombinationsLOV"])
    out = check_table(
        str(config), "--tenant", "acme", "--integration", "stampli_fusion", capsys=capsys, exit_code=1
    )
    lines = out.splitlines()
    assert lines[0] == "tenant acme · stampli_fusion"
    assert not any("fusion_stripe" in line for line in lines)
    findings = parse_table(out)
    failed = {check: row for (_, _, check), row in findings.items() if row["status"] == "fail"}
    assert set(failed) == {
        "fusion.resource.accountCombinationsLOV",
        "fusion.in_filter.suppliers",
        "fusion.in_filter.invoices",
    }
    assert "rest_framework_version to 1" in failed["fusion.in_filter.suppliers"]["fix"]
    assert failed["fusion.resource.accountCombinationsLOV"]["fix"].startswith(
        "grant the integration user a role with the view privileges of accountCombinationsLOV"
    )
    assert all(row["status"] == "ok" for (_, _, check), row in findings.items() if check.startswith("sftp."))
    assert lines[-1] == f"{len(findings) - 3} ok, 0 warning(s), 3 failure(s)"


def test_an_unknown_tenant_or_a_bad_file_is_a_message_not_a_traceback(
    systems: Systems, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tenant_file(tmp_path / "tenants.yaml", systems.sshd)
    assert main(["check", str(config), "--tenant", "initech"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "ml-connector check: not found: tenant 'initech' in" in captured.err
    assert "Traceback" not in captured.err
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ntenants: [{id: acme, integrations: {fusion_stripe: {}}}]\n")
    assert main(["check", str(broken)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "broken.yaml" in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("integration", "system", "probed"),
    [
        ("fusion_stripe", "fusion", "stripe"),
        ("fusion_stripe", "stripe", "fusion"),
        ("stampli_fusion", "fusion", "sftp"),
        ("stampli_fusion", "sftp", "fusion"),
    ],
)
def test_a_missing_connection_is_one_failure_of_that_system(
    systems: Systems,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    integration: str,
    system: str,
    probed: str,
) -> None:
    """The tenant names a connection that does not exist for ``system``: one failure of that
    system, naming the connection and how to create it; the integration's other system is still
    probed, and passes."""
    names = {"fusion": FUSION_CONN, "stripe": STRIPE_CONN, "sftp": SFTP_CONN, system: "no_such_connection"}
    config = tenant_file(
        tmp_path / "tenants.yaml",
        systems.sshd,
        fusion=names["fusion"],
        stripe=names["stripe"],
        sftp=names["sftp"],
    )
    rows = check_json(str(config), "--integration", integration, capsys=capsys, exit_code=1)
    failed = [r for r in rows if r["status"] == "fail"]
    assert len(failed) == 1, failed
    [row] = failed
    assert row["check"].startswith(f"{system}."), row
    assert "'no_such_connection'" in row["found"]
    assert "create connection 'no_such_connection'" in row["fix"]
    assert {r["check"].split(".")[0] for r in rows if r["status"] == "ok"} == {probed}


def test_json_on_standard_output_is_the_document_alone_in_a_fresh_process(
    systems: Systems, tmp_path: Path
) -> None:
    """As a user pipes it into a JSON tool: a fresh interpreter, Airflow's logging configured as
    it is at the command line; the hooks' logs (Fusion's, paramiko's) go to standard error."""
    config = tenant_file(tmp_path / "tenants.yaml", systems.sshd)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom ml_connector_provider.cli import main\nsys.exit(main(sys.argv[1:]))\n",
            "check",
            str(config),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert {(row["integration"], row["status"]) for row in document["checks"]} == {
        ("fusion_stripe", "ok"),
        ("stampli_fusion", "ok"),
    }
    assert {row["check"].split(".")[0] for row in document["checks"]} == {"fusion", "stripe", "sftp"}
    assert f"Oracle Fusion connection {FUSION_CONN}" in proc.stderr  # the hook's log line, not on stdout
    assert "Authentication (publickey) successful" in proc.stderr  # paramiko's log line too


def test_the_journal_import_path_of_a_tenant_that_posts_to_the_ledger(
    systems: Systems, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tenant_file(tmp_path / "tenants.yaml", systems.sshd, gl=True)
    rows = check_json(str(config), "--integration", "fusion_stripe", capsys=capsys, exit_code=0)
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["check"] for r in rows} >= GL_CHECKS
    systems.fusion.configure_gl(execution_details_finder=False, scheduler_rest=False)
    out = check_table(str(config), "--integration", "fusion_stripe", capsys=capsys, exit_code=1)
    failed = {key[2]: row for key, row in parse_table(out).items() if row["status"] == "fail"}
    assert set(failed) == {"fusion.ess_descendants"}
    assert "HTTP 400" in failed["fusion.ess_descendants"]["found"]
    assert "HTTP 403" in failed["fusion.ess_descendants"]["found"]
    assert "grant the integration user access" in failed["fusion.ess_descendants"]["fix"]
    assert "client_secret" not in out
    assert systems.fusion.connection(systems.runner.url("fusion"))["extra"]["client_secret"] not in out


def test_a_restricted_stripe_key_without_a_permission_the_streams_use(
    systems: Systems, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a ``gl`` block the payment streams do not run: a key without Charges is enough, one
    without Invoices is not; the Fusion side is probed for the streams that run, not the journal
    writer's path."""
    systems.stripe.settings.restricted_keys = {RESTRICTED: {"customer": "write", "event": "read"}}
    systems.stripe_connection(password=RESTRICTED)
    config = tenant_file(tmp_path / "tenants.yaml", systems.sshd)
    rows = check_json(str(config), "--integration", "fusion_stripe", capsys=capsys, exit_code=1)
    assert {r["check"] for r in rows if r["status"] == "fail"} == {"stripe.permission.invoice"}
    checks = {r["check"] for r in rows}
    assert "stripe.permission.charge" not in checks
    assert not GL_CHECKS & checks
    assert "fusion.resource.receivablesInvoices" in checks
    systems.stripe.settings.restricted_keys = {
        RESTRICTED: {"customer": "write", "invoice": "write", "event": "read"}
    }
    out = check_table(str(config), "--integration", "fusion_stripe", capsys=capsys, exit_code=0)
    findings = parse_table(out)
    assert findings["acme", "fusion_stripe", "stripe.write_permissions"]["status"] == "warn"
    assert RESTRICTED not in out


def test_a_wrong_sftp_host_key_is_named_with_both_fingerprints(
    systems: Systems, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().split()
    systems.sftp_connection(host_key=f"{wrong[0]} {wrong[1]}")
    config = tenant_file(tmp_path / "tenants.yaml", systems.sshd)
    out = check_table(str(config), "--integration", "stampli_fusion", capsys=capsys, exit_code=1)
    findings = parse_table(out)
    sftp = {key[2]: row for key, row in findings.items() if key[2].startswith("sftp.")}
    assert {check: row["status"] for check, row in sftp.items()} == {
        "sftp.reachable": "ok",
        "sftp.host_key": "fail",
    }
    server = paramiko.Ed25519Key(data=key_bytes(systems.sshd.host_key_line))
    pinned = paramiko.Ed25519Key(data=key_bytes(f"{wrong[0]} {wrong[1]}"))
    assert server.fingerprint in sftp["sftp.host_key"]["found"]
    assert pinned.fingerprint in sftp["sftp.host_key"]["found"]
    assert "administrator" in sftp["sftp.host_key"]["fix"]
    # The Fusion side of the integration is probed as before.
    assert {row["status"] for key, row in findings.items() if key[2].startswith("fusion.")} == {"ok"}


def test_every_probe_passes_on_the_stand_ins_and_each_difference_is_named_with_its_fix(
    systems: Systems, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole "see if we fit" promise on one tenant file: two tenants, every integration and
    every system. On the default stand-ins every probe passes. Then the systems differ the way a
    real pod or server can — a finder missing, ``in`` not supported in ``q``, a wrong OAuth scope,
    a wrong SSH host key — and the same command names each difference, where it is, and what to
    change; nothing else fails."""
    initech = """\
  - id: initech
    integrations:
      fusion_stripe:
        connections: {fusion: initech_fusion, stripe: acme_stripe}
"""
    config = tenant_file(tmp_path / "tenants.yaml", systems.sshd, gl=True, extra_tenants=initech)
    systems.fusion_connection("initech_fusion")

    rows = check_json(str(config), capsys=capsys, exit_code=0)
    assert {(r["tenant"], r["integration"], r["check"].split(".")[0]) for r in rows} == {
        ("acme", "fusion_stripe", "stripe"),
        ("acme", "fusion_stripe", "fusion"),
        ("acme", "stampli_fusion", "sftp"),
        ("acme", "stampli_fusion", "fusion"),
        ("initech", "fusion_stripe", "stripe"),
        ("initech", "fusion_stripe", "fusion"),
    }
    assert [r for r in rows if r["status"] != "ok"] == []
    assert {r["check"] for r in rows if r["tenant"] == "acme"} >= GL_CHECKS
    out = check_table(str(config), capsys=capsys, exit_code=0)
    assert out.splitlines()[-1] == f"{len(rows)} ok, 0 warning(s), 0 failure(s)"

    # A pod without the finder the journal writer reads Import Journals' state with, and without
    # `in` lists in q; an SFTP server with another host key; a connection asking the wrong scope.
    settings = systems.switch_fusion(
        refused_operators=["in"], removed_finders=["erpintegrations.ESSJobStatusRF"]
    )
    assert (settings["refused_operators"], settings["removed_finders"]) == (
        ["in"],
        ["erpintegrations.ESSJobStatusRF"],
    )
    wrong_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().split()
    systems.sftp_connection(host_key=f"{wrong_key[0]} {wrong_key[1]}")
    wrong_scope = "urn:opc:resource:fa:instanceid=1234567"
    systems.fusion_connection("initech_fusion", scope=wrong_scope)

    out = check_table(str(config), capsys=capsys, exit_code=1)
    findings = parse_table(out)
    failed = {key: row for key, row in findings.items() if row["status"] == "fail"}
    in_filters = {key for key in failed if key[2].startswith("fusion.in_filter.") and key[0] == "acme"}
    assert in_filters == {
        ("acme", "fusion_stripe", "fusion.in_filter.receivablesCustomerAccountSiteActivities"),
        ("acme", "fusion_stripe", "fusion.in_filter.receivablesInvoices"),
        ("acme", "stampli_fusion", "fusion.in_filter.suppliers"),
        ("acme", "stampli_fusion", "fusion.in_filter.invoices"),
    }
    assert set(failed) == in_filters | {
        ("acme", "fusion_stripe", "fusion.ess_job_status"),
        ("acme", "stampli_fusion", "sftp.host_key"),
        ("initech", "fusion_stripe", "fusion.auth"),
    }
    # `in` not supported: what was refused, and the setting that avoids it.
    for key in in_filters:
        assert "refused an in (…) list in q (HTTP 400" in failed[key]["found"], failed[key]
        assert "rest_framework_version to 1" in failed[key]["fix"]
    # The finder missing: named, with what depends on it.
    finder = failed["acme", "fusion_stripe", "fusion.ess_job_status"]
    assert "ESSJobStatusRF" in finder["found"]
    assert "HTTP 400" in finder["found"]
    assert "Import Journals" in finder["fix"]
    # The wrong host key: both fingerprints, and whom to ask before changing the pin.
    host_key = failed["acme", "stampli_fusion", "sftp.host_key"]
    assert paramiko.Ed25519Key(data=key_bytes(systems.sshd.host_key_line)).fingerprint in host_key["found"]
    assert f"host_key extra of connection '{SFTP_CONN}'" in host_key["found"]
    assert "administrator" in host_key["fix"]
    # The wrong scope: the token request refused, and the scope to set.
    scope = failed["initech", "fusion_stripe", "fusion.auth"]
    assert "invalid_scope" in scope["found"]
    assert (
        f"set the connection extra scope to urn:opc:resource:fa:instanceid=<FA instance id>{SCOPE_SUFFIX}"
        in (scope["fix"])
    )
    assert f"'{wrong_scope}'" in scope["fix"]
    # What does not differ still passes: Stripe for both tenants, and nothing else was probed
    # behind a refused token or host key.
    assert {row["status"] for key, row in findings.items() if key[2].startswith("stripe.")} == {"ok"}
    assert [
        key[2] for key in findings if key[:2] == ("initech", "fusion_stripe") and key[2].startswith("fusion.")
    ] == ["fusion.auth"]
    counts: dict[str, Any] = {
        s: sum(1 for r in findings.values() if r["status"] == s) for s in ("ok", "warn", "fail")
    }
    assert out.splitlines()[-1] == f"{counts['ok']} ok, {counts['warn']} warning(s), {len(failed)} failure(s)"
