"""``ml-connector onboard``: arguments, the tenant file it reads, and its failures (the plans
themselves are tested against the stand-ins in tests/integration/fusion_stripe)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ml_connector_provider.cli import build_parser, main, stdout_to_stderr, tenant_config_path

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "tenants.example.yaml"


def test_help_names_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["onboard", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--tenant",
        "--config",
        "--apply",
        "--json",
        "--verbose",
        "--ledger-url",
        "--ledger-conn-id",
    ):
        assert option in text


def test_tenant_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["onboard"])
    assert exit_info.value.code == 2
    assert "--tenant" in capsys.readouterr().err


def test_the_tenant_file_comes_from_the_option_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CONNECTOR_CONFIG", str(tmp_path / "env.yaml"))
    assert tenant_config_path(str(tmp_path / "given.yaml")) == tmp_path / "given.yaml"
    assert tenant_config_path(None) == tmp_path / "env.yaml"
    monkeypatch.delenv("ML_CONNECTOR_CONFIG")
    monkeypatch.setenv("AIRFLOW__ML_CONNECTOR__TENANT_CONFIG_PATH", str(tmp_path / "conf.yaml"))
    assert tenant_config_path(None) == tmp_path / "conf.yaml"


def test_without_a_tenant_file(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ML_CONNECTOR_CONFIG", raising=False)
    monkeypatch.delenv("AIRFLOW__ML_CONNECTOR__TENANT_CONFIG_PATH", raising=False)
    assert main(["onboard", "--tenant", "acme"]) == 2
    assert "name the tenant file with --config" in capsys.readouterr().err


def test_an_unknown_tenant_is_not_found(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["onboard", "--tenant", "nobody", "--config", str(EXAMPLE)]) == 1
    assert capsys.readouterr().err == (
        f"ml-connector onboard: not found: tenant 'nobody' in {EXAMPLE} (its tenants: acme, globex, initech)\n"
    )


def test_an_invalid_tenant_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "tenants.yaml"
    bad.write_text(
        "version: 1\ntenants:\n  - id: acme\n    integrations:\n      fusion_stripe:\n"
        "        connections: {fusion: f, stripe: s}\n        settings:\n"
        "          onboarding: {links: {'1': acct_1}}\n"
    )
    assert main(["onboard", "--tenant", "acme", "--config", str(bad)]) == 2
    assert "not a Stripe customer id" in capsys.readouterr().err


def test_unreachable_systems_fail_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("ACME_FUSION", "ACME_STRIPE"):
        monkeypatch.delenv(f"AIRFLOW_CONN_{name}", raising=False)
    assert main(["onboard", "--tenant", "acme", "--config", str(EXAMPLE), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("onboarding acme failed: ")
    # The first connection the pass needs (Stripe's: its customers are listed first) is named.
    assert "acme_stripe" in captured.err


def test_stdout_to_stderr_moves_the_file_descriptor_too(capfd: pytest.CaptureFixture[str]) -> None:
    with stdout_to_stderr():
        print("from python")
        os.write(1, b"from the descriptor\n")
        sys.stdout.flush()
    print("after")
    captured = capfd.readouterr()
    assert captured.out == "after\n"
    assert captured.err == "from python\nfrom the descriptor\n"
