"""The integration SDKs are optional extras; a missing one says which extra to install.

Each test runs Python or Airflow's CLI in a child process where the extra's libraries cannot be
imported (tests/install/conftest.py), which is what a core-only install looks like to the code.
`make compat` does the same with real installs into stock Airflow.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from ml_connector_provider.extras import (
    EXTRA_MODULES,
    INTEGRATION_EXTRAS,
    install_hint,
    missing_extras,
    missing_extras_problems,
)
from ml_connector_provider.integrations import registry
from tests.install.conftest import REPO_ROOT, run_without

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# What each extra makes absent when it is not installed. The SFTP provider's distribution stays
# registered in this environment (Airflow reads its metadata), so its modules are left importable
# up to their own `import paramiko` / `import asyncssh`, which fail; `make compat` covers a real
# install without it.
ABSENT = {"stripe": ["stripe"], "sftp": ["paramiko", "asyncssh"]}
MODULES = {
    "stripe": [
        "ml_connector_provider.hooks.stripe",
        "ml_connector_provider.sensors.stripe",
        "ml_connector_provider.triggers.stripe",
    ],
    "sftp": [
        "ml_connector_provider.hooks.stampli",
        "ml_connector_provider.sensors.stampli",
        "ml_connector_provider.triggers.stampli",
    ],
}


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


class TestDeclared:
    def test_core_carries_no_integration_sdk(self) -> None:
        core = _names(PYPROJECT["project"]["dependencies"])

        assert core.isdisjoint({"stripe", "paramiko", "asyncssh", "apache-airflow-providers-sftp"})

    @pytest.mark.parametrize(
        ("extra", "distributions"),
        [("stripe", {"stripe"}), ("sftp", {"apache-airflow-providers-sftp", "paramiko", "asyncssh"})],
    )
    def test_each_extra_brings_its_sdks(self, extra: str, distributions: set[str]) -> None:
        assert _names(PYPROJECT["project"]["optional-dependencies"][extra]) == distributions

    def test_all_and_test_pull_every_extra(self) -> None:
        extras = PYPROJECT["project"]["optional-dependencies"]
        [everything] = [Requirement(r) for r in extras["all"]]
        [of_tests] = [
            Requirement(r) for r in extras["test"] if Requirement(r).name == "ml-connector-provider"
        ]

        assert everything.name == "ml-connector-provider"
        assert everything.extras >= set(EXTRA_MODULES)
        assert of_tests.extras == {"all"}

    def test_every_integration_names_its_extras(self) -> None:
        assert set(INTEGRATION_EXTRAS) == set(registry())
        assert {e for extras in INTEGRATION_EXTRAS.values() for e in extras} == set(EXTRA_MODULES)


@pytest.mark.parametrize("extra", sorted(MODULES))
def test_a_module_of_a_missing_extra_names_the_pip_line(extra: str, tmp_path: Path) -> None:
    code = (
        "import importlib, sys\n"
        "from airflow.exceptions import AirflowOptionalProviderFeatureException\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except AirflowOptionalProviderFeatureException as err:\n"
        "        print(name, '|', err)\n"
    )
    result = run_without(ABSENT[extra], ["-c", code, *MODULES[extra]], tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert [line.split(" | ")[0] for line in lines] == MODULES[extra]
    for line in lines:
        assert f"[{extra}]" in line
        assert install_hint(extra) in line


def test_airflow_providers_hooks_works_without_any_extra(tmp_path: Path) -> None:
    absent = [m for modules in ABSENT.values() for m in modules]
    hooks = run_without(absent, ["providers", "hooks", "-o", "json"], tmp_path, airflow=True)

    assert hooks.returncode == 0, hooks.stderr[-3000:]
    ours = {
        h["connection_type"]: h["class"]
        for h in json.loads(hooks.stdout)
        if h["package_name"] == "ml-connector-provider"
    }
    # The core's hooks (Oracle Fusion, NetSuite) need no extra.
    assert ours == {
        "oracle_fusion": "ml_connector_provider.hooks.oracle_fusion.OracleFusionHook",
        "netsuite": "ml_connector_provider.hooks.netsuite.NetSuiteHook",
    }
    # Airflow logs an optional feature at debug level and an unexpected import failure as a warning
    # (the SSH and SFTP providers' own hooks fail here, as paramiko is absent); neither may name us.
    warnings = [
        line for line in (hooks.stdout + hooks.stderr).splitlines() if "Exception when importing" in line
    ]
    assert not [line for line in warnings if "ml_connector_provider" in line or "ml-connector" in line]


def test_missing_extras_sees_what_is_installed() -> None:
    # The test environment has every extra (.[test] pulls [all]).
    assert all(missing_extras(integration) == [] for integration in INTEGRATION_EXTRAS)
    assert missing_extras_problems([("acme", "fusion_stripe"), ("acme", "stampli_fusion")]) == []


@pytest.mark.parametrize(("integration", "extra"), [("fusion_stripe", "stripe"), ("stampli_fusion", "sftp")])
def test_missing_extras_names_tenant_integration_and_pip_line(
    integration: str, extra: str, tmp_path: Path
) -> None:
    code = (
        "import sys\n"
        "from ml_connector_provider.extras import missing_extras_problems\n"
        "print('\\n'.join(missing_extras_problems([('acme', sys.argv[1])])))\n"
    )
    result = run_without(ABSENT[extra], ["-c", code, integration], tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == (
        f"tenant 'acme', integration {integration!r}: the optional extra [{extra}] is not installed; "
        f"{install_hint(extra)}"
    )


def test_validate_warns_when_an_enabled_integrations_extra_is_missing(tmp_path: Path) -> None:
    config = tmp_path / "tenants.yaml"
    config.write_text(
        "version: 1\n"
        "tenants:\n"
        "  - id: acme\n"
        "    integrations:\n"
        "      fusion_stripe:\n"
        "        connections: {fusion: acme_fusion, stripe: acme_stripe}\n"
        "  - id: globex\n"
        "    enabled: false\n"
        "    integrations:\n"
        "      fusion_stripe:\n"
        "        connections: {fusion: globex_fusion, stripe: globex_stripe}\n"
    )
    code = "import sys\nfrom ml_connector_provider.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    result = run_without(ABSENT["stripe"], ["-c", code, "validate", str(config), "--json"], tmp_path)

    # The file is valid (exit 0); the environment lacks what acme's enabled integration needs.
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    expected = (
        "tenant 'acme', integration 'fusion_stripe': the optional extra [stripe] is not installed; "
        f"{install_hint('stripe')}"
    )
    assert document["missing_extras"] == [expected]  # globex is disabled: not named
    assert f"warning: {expected}" in result.stderr.splitlines()
