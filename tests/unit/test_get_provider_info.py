"""Provider metadata: schema-valid, discoverable, and consistent with the package."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

# Importing the provider imports Airflow, which writes airflow.cfg under AIRFLOW_HOME; keep that
# out of the developer's home when this module is the first to import it.
if "airflow" not in sys.modules and not os.environ.get("AIRFLOW_HOME"):
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="mlc-airflow-home-")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import jsonschema
from packaging.utils import canonicalize_name

import ml_connector_provider
from ml_connector_provider.get_provider_info import get_provider_info

ENTRY_POINT_VALUE = "ml_connector_provider.get_provider_info:get_provider_info"
PACKAGE_DIR = Path(ml_connector_provider.__file__).parent
EXPECTED_CONNECTION_TYPES = ["oracle_fusion", "stripe", "netsuite"]
# The base class each listed module must define a subclass of.
KIND_BASES = {
    "hooks": "airflow.providers.common.compat.sdk.BaseHook",
    "operators": "airflow.sdk.BaseOperator",
    "sensors": "airflow.sdk.BaseSensorOperator",
    "triggers": "airflow.triggers.base.BaseTrigger",
}
# Parametrised over what get_provider_info() registers, so a new entry is checked without editing
# the tests; the expected list above pins what is registered.
REGISTERED_CONNECTION_TYPES = [c["connection-type"] for c in get_provider_info()["connection-types"]]
LISTED_MODULES = [
    pytest.param(kind, module, id=module)
    for kind in KIND_BASES
    for entry in get_provider_info().get(kind, [])
    for module in entry["python-modules"]
]
# Field names that hold credentials; every one of them must render as a password field
# (``token_url`` is an endpoint, not a token; ``private_key_file`` is the path of a key, not a key).
SECRET_NAME = re.compile(
    r"secret|password|passwd|private_key(?!_file)|token(?!_url)|api_key|apikey|passphrase"
)


def _airflow_schema(name: str) -> dict[str, Any]:
    import airflow

    schema: dict[str, Any] = json.loads((Path(airflow.__file__).parent / name).read_text())
    return schema


@pytest.fixture(scope="module")
def info() -> dict[str, Any]:
    return get_provider_info()


def _connection_types(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["connection-type"]: c for c in info["connection-types"]}


def _our_entry_point() -> importlib.metadata.EntryPoint:
    (entry_point,) = {
        ep
        for ep in importlib.metadata.entry_points(group="apache_airflow_provider")
        if ep.value == ENTRY_POINT_VALUE
    }
    return entry_point


class TestSchema:
    def test_valid_against_runtime_schema(self, info: dict[str, Any]) -> None:
        jsonschema.validate(info, _airflow_schema("provider_info.schema.json"))

    @pytest.mark.parametrize(
        "section", ["connection-types", "config", "integrations", "plugins", "sensors", "triggers"]
    )
    def test_sections_valid_against_provider_yaml_schema(self, info: dict[str, Any], section: str) -> None:
        # The stricter schema of provider.yaml also describes conn-fields and ui-field-behaviour.
        schema = _airflow_schema("provider.yaml.schema.json")
        section_schema = {"definitions": schema.get("definitions", {}), **schema["properties"][section]}

        jsonschema.validate(info[section], section_schema)

    def test_description_and_versions(self, info: dict[str, Any]) -> None:
        assert info["name"] == "ML Connector"
        assert info["description"]
        assert info["versions"][0] == ml_connector_provider.__version__


class TestDiscovery:
    def test_package_name_is_canonical_dist_name(self, info: dict[str, Any]) -> None:
        entry_point = _our_entry_point()
        assert entry_point.dist is not None
        dist_name = entry_point.dist.metadata["Name"]

        assert info["package-name"] == canonicalize_name(dist_name) == "ml-connector-provider"

    def test_entry_point_loads_this_function(self) -> None:
        assert _our_entry_point().load() is get_provider_info

    def test_dist_version_matches(self, info: dict[str, Any]) -> None:
        assert importlib.metadata.version(info["package-name"]) == ml_connector_provider.__version__

    def test_connection_types_unique_across_installed_providers(self, info: dict[str, Any]) -> None:
        ours = [c["connection-type"] for c in info["connection-types"]]
        others: set[str] = set()
        for entry_point in importlib.metadata.entry_points(group="apache_airflow_provider"):
            if entry_point.value == ENTRY_POINT_VALUE:
                continue
            other = entry_point.load()()
            others.update(c["connection-type"] for c in other.get("connection-types", []))

        assert ours == EXPECTED_CONNECTION_TYPES
        assert len(set(ours)) == len(ours)
        assert not set(ours) & others


class TestConnectionTypes:
    @pytest.mark.parametrize("conn_type", REGISTERED_CONNECTION_TYPES)
    def test_secret_fields_are_password_fields(self, info: dict[str, Any], conn_type: str) -> None:
        fields = _connection_types(info)[conn_type]["conn-fields"]

        secret_names = {name for name in fields if SECRET_NAME.search(name)}
        password_fields = {name for name, f in fields.items() if f["schema"].get("format") == "password"}

        assert secret_names == password_fields

    @pytest.mark.parametrize(
        ("conn_type", "secrets"),
        [
            ("oracle_fusion", {"client_secret"}),
            ("stripe", {"webhook_secret"}),
        ],
    )
    def test_declared_secrets(self, info: dict[str, Any], conn_type: str, secrets: set[str]) -> None:
        fields = _connection_types(info)[conn_type]["conn-fields"]

        assert {n for n, f in fields.items() if f["schema"].get("format") == "password"} == secrets

    @pytest.mark.parametrize("conn_type", REGISTERED_CONNECTION_TYPES)
    def test_shape(self, info: dict[str, Any], conn_type: str) -> None:
        conn = _connection_types(info)[conn_type]
        module, _, cls = conn["hook-class-name"].rpartition(".")

        assert module.startswith("ml_connector_provider.hooks.")
        assert cls.endswith("Hook")
        assert conn["hook-name"]
        behaviour = conn["ui-field-behaviour"]
        assert "schema" in behaviour["hidden-fields"]
        hidden = set(behaviour["hidden-fields"])
        assert not hidden & set(behaviour["relabeling"]), "relabelled fields must be visible"
        for name, field in conn["conn-fields"].items():
            assert re.fullmatch(r"[a-z][a-z0-9_]*", name)
            assert field["label"], name
            assert field.get("description"), name
            assert "null" in field["schema"]["type"], f"{name} must be optional in the form"
            if "enum" in field["schema"] and "default" in field["schema"]:
                assert field["schema"]["default"] in field["schema"]["enum"]

    @pytest.mark.parametrize("conn_type", REGISTERED_CONNECTION_TYPES)
    def test_hook_class_imports_and_matches(self, info: dict[str, Any], conn_type: str) -> None:
        from airflow.providers.common.compat.sdk import BaseHook

        conn = _connection_types(info)[conn_type]
        module_name, _, class_name = conn["hook-class-name"].rpartition(".")

        hook = getattr(importlib.import_module(module_name), class_name)

        assert isinstance(hook, type)
        assert issubclass(hook, BaseHook)
        assert hook.conn_type == conn_type
        assert hook.hook_name == conn["hook-name"]


class TestModules:
    def _listed(self, info: dict[str, Any], kind: str) -> list[str]:
        modules = [m for entry in info.get(kind, []) for m in entry["python-modules"]]
        assert modules, f"get_provider_info() lists no {kind}"
        return modules

    @pytest.mark.parametrize(("kind", "module_name"), LISTED_MODULES)
    def test_listed_module_exists_and_defines_its_kind(self, kind: str, module_name: str) -> None:
        assert importlib.util.find_spec(module_name) is not None, f"{module_name} does not exist"
        base_module, _, base_name = KIND_BASES[kind].rpartition(".")
        base = getattr(importlib.import_module(base_module), base_name)

        module = importlib.import_module(module_name)

        defined = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, base)
            and (obj.__module__ == module_name or obj.__module__.startswith(f"{module_name}."))
        ]
        assert defined, f"{module_name} is listed under {kind} but defines no {base_name} subclass"

    @pytest.mark.parametrize("kind", list(KIND_BASES))
    def test_listed_integration_names_exist(self, info: dict[str, Any], kind: str) -> None:
        names = {i["integration-name"] for i in info["integrations"]}
        listed = {entry["integration-name"] for entry in info.get(kind, [])}

        assert listed
        assert listed <= names

    def test_every_integration_is_used(self, info: dict[str, Any]) -> None:
        used = {entry["integration-name"] for kind in KIND_BASES for entry in info.get(kind, [])}

        assert {i["integration-name"] for i in info["integrations"]} == used

    @pytest.mark.parametrize("kind", list(KIND_BASES))
    def test_every_module_is_listed(self, info: dict[str, Any], kind: str) -> None:
        folder = PACKAGE_DIR / kind
        present = {
            f"ml_connector_provider.{kind}.{p.stem}"
            for p in folder.glob("*.py")
            if not p.name.startswith("_")
        } | {
            f"ml_connector_provider.{kind}.{p.parent.name}"
            for p in folder.glob("*/__init__.py")
            if not p.parent.name.startswith("_")
        }

        assert present
        assert present <= set(self._listed(info, kind)), "add the new modules to get_provider_info()"

    def test_operators_are_only_operator_modules(self, info: dict[str, Any]) -> None:
        assert self._listed(info, "operators") == ["ml_connector_provider.operators.sync"]

    def test_stripe_sensor_and_trigger_listed(self, info: dict[str, Any]) -> None:
        sensors = {"integration-name": "Stripe", "python-modules": ["ml_connector_provider.sensors.stripe"]}
        triggers = {"integration-name": "Stripe", "python-modules": ["ml_connector_provider.triggers.stripe"]}

        assert sensors in info["sensors"]
        assert triggers in info["triggers"]

    def test_trigger_classpath_is_in_a_listed_module(self, info: dict[str, Any]) -> None:
        from ml_connector_provider.triggers.stripe import StripeEventTrigger

        trigger = StripeEventTrigger(stripe_conn_id="stripe_default", event_types=["invoice.paid"], since=0)
        classpath, _ = trigger.serialize()
        module_name, _, class_name = classpath.rpartition(".")

        assert module_name in self._listed(info, "triggers")
        assert getattr(importlib.import_module(module_name), class_name) is StripeEventTrigger

    def test_plugin_class(self, info: dict[str, Any]) -> None:
        from airflow.providers.common.compat.sdk import AirflowPlugin

        (plugin,) = info["plugins"]
        module, _, name = plugin["plugin-class"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)

        assert issubclass(cls, AirflowPlugin)
        assert cls.name == plugin["name"] == "ml_connector"

    def test_plugin_entry_point_matches(self, info: dict[str, Any]) -> None:
        (entry_point,) = {
            ep for ep in importlib.metadata.entry_points(group="airflow.plugins") if ep.name == "ml_connector"
        }

        assert entry_point.value.replace(":", ".") == info["plugins"][0]["plugin-class"]


def _airflow_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``airflow <args>`` in a fresh interpreter with its own ``AIRFLOW_HOME``."""
    repo_root = str(PACKAGE_DIR.parent)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The same package as this test process, even when it is not the installed copy.
        "PYTHONPATH": os.pathsep.join(filter(None, [repo_root, os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


class TestAirflowCli:
    """What ``airflow providers …`` shows for this provider, as an operator would see it."""

    @pytest.fixture(scope="class")
    def cli(self, tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
        home = tmp_path_factory.mktemp("airflow-home")
        return {
            "hooks": _airflow_cli(home, "providers", "hooks", "-o", "json"),
            "list": _airflow_cli(home, "providers", "list", "-o", "json"),
        }

    @pytest.mark.parametrize("command", ["hooks", "list"])
    def test_runs_without_import_errors(
        self, cli: dict[str, subprocess.CompletedProcess[str]], command: str
    ) -> None:
        result = cli[command]

        assert result.returncode == 0, result.stderr[-2000:]
        assert "Error when importing" not in result.stdout + result.stderr

    def test_provider_listed(self, cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
        providers = {p["package_name"]: p for p in json.loads(cli["list"].stdout)}

        assert providers["ml-connector-provider"]["version"] == ml_connector_provider.__version__

    def test_every_connection_type_shows_its_hook(
        self, cli: dict[str, subprocess.CompletedProcess[str]], info: dict[str, Any]
    ) -> None:
        shown = {
            h["connection_type"]: h
            for h in json.loads(cli["hooks"].stdout)
            if h["package_name"] == "ml-connector-provider"
        }

        assert {t: h["class"] for t, h in shown.items()} == {
            c["connection-type"]: c["hook-class-name"] for c in info["connection-types"]
        }
        assert {t: h["hook_name"] for t, h in shown.items()} == {
            c["connection-type"]: c["hook-name"] for c in info["connection-types"]
        }


class TestConfigSection:
    def test_options(self, info: dict[str, Any]) -> None:
        options = info["config"]["ml_connector"]["options"]

        assert options["tenant_config_path"]["default"] is None
        assert options["ledger_conn_id"]["default"] == "ml_connector_ledger"
        assert all(o["version_added"] == "0.1.0" for o in options.values())


def test_version_compat_flags() -> None:
    from ml_connector_provider import version_compat

    assert version_compat.AIRFLOW_V_3_1_PLUS is True
    assert version_compat.get_base_airflow_version_tuple() >= (3, 1, 0)
    assert version_compat.AIRFLOW_V_3_3_PLUS is (version_compat.get_base_airflow_version_tuple() >= (3, 3, 0))
