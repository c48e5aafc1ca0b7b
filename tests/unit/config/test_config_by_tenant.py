"""One tenant's mistake stays that tenant's: the valid tenants are kept, the others' problems listed.

``load_config_by_tenant`` is what the DAG file uses; ``load_config`` (``ml-connector validate`` and
the other commands) still refuses the file on any problem.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_connector_provider.config import (
    ConfigError,
    PartialConfig,
    effective_tenant_integrations,
    load_config,
    load_config_by_tenant,
    parse_config_by_tenant,
)

WriteConfig = Callable[..., Path]


def _tenant(tenant_id: str, **integration: Any) -> dict[str, Any]:
    return {
        "id": tenant_id,
        "integrations": {
            "fusion_stripe": {
                "connections": {"fusion": f"{tenant_id}_fusion", "stripe": f"{tenant_id}_stripe"},
                **integration,
            }
        },
    }


THREE: dict[str, Any] = {
    "version": 1,
    "tenants": [_tenant("acme"), _tenant("globex"), _tenant("initech")],
}


def _with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(THREE)
    change(data)
    return data


def _write(write_config: WriteConfig, data: dict[str, Any]) -> Path:
    return write_config(yaml.safe_dump(data, sort_keys=False))


def _misspelt_key(data: dict[str, Any]) -> None:
    # "schedul" for "schedule", under globex only.
    data["tenants"][1]["integrations"]["fusion_stripe"]["schedul"] = "@daily"


class TestValidTenantsKept:
    def test_a_valid_file_has_no_problems(self, write_config: WriteConfig) -> None:
        loaded = load_config_by_tenant(_write(write_config, THREE))

        assert loaded.ok
        assert loaded.problems == ()
        assert loaded.skipped_tenants == ()
        assert loaded.error("tenants.yaml") is None
        assert [t.id for t in loaded.config.tenants] == ["acme", "globex", "initech"]

    def test_a_misspelt_key_leaves_out_only_its_tenant(self, write_config: WriteConfig) -> None:
        path = _write(write_config, _with(_misspelt_key))

        loaded = load_config_by_tenant(path)

        assert [t.id for t in loaded.config.tenants] == ["acme", "initech"]
        assert [item.dag_id for item in effective_tenant_integrations(loaded.config)] == [
            "mlc__acme__fusion_stripe",
            "mlc__initech__fusion_stripe",
        ]
        assert not loaded.ok
        assert loaded.skipped_tenants == ("'globex'",)
        (problem,) = loaded.problems
        assert (problem.tenant_index, problem.tenant_id, problem.path, problem.message) == (
            1,
            "globex",
            "integrations.fusion_stripe.schedul",
            "unknown field",
        )
        error = loaded.error(str(path))
        assert error is not None
        assert error.messages == (
            f"{path}: tenant 'globex': integrations.fusion_stripe.schedul: unknown field",
        )

    def test_the_valid_tenants_keep_the_files_defaults(self, write_config: WriteConfig) -> None:
        data = _with(_misspelt_key)
        data["defaults"] = {"owner": "finance", "retries": 7, "sync": {"overlap": 120}}

        loaded = load_config_by_tenant(_write(write_config, data))

        assert loaded.config.defaults.owner == "finance"
        assert [
            (i.owner, i.retries, i.sync["overlap"]) for i in effective_tenant_integrations(loaded.config)
        ] == [
            ("finance", 7, 120),
            ("finance", 7, 120),
        ]

    def test_every_problem_of_every_broken_tenant_is_kept_in_file_order(self) -> None:
        def break_two(data: dict[str, Any]) -> None:
            data["tenants"][0]["integrations"]["fusion_stripe"]["connections"].pop("stripe")
            data["tenants"][0]["retries"] = -1
            data["tenants"][2]["integrations"]["fusion_stripe"]["streams"] = {"refunds": True}
            data["tenants"].append({"name": "No id"})
            data["tenants"].append(_tenant("umbrella"))

        loaded = parse_config_by_tenant(_with(break_two), source="t.yaml")

        assert [t.id for t in loaded.config.tenants] == ["globex", "umbrella"]
        assert loaded.skipped_tenants == ("'acme'", "'initech'", "#4")
        assert [p.render("t.yaml") for p in loaded.problems] == [
            "t.yaml: tenant 'acme': retries: Input should be greater than or equal to 0",
            "t.yaml: tenant 'acme': integrations.fusion_stripe.connections: missing role 'stripe' "
            "(the id of an Airflow connection of type 'stripe')",
            "t.yaml: tenant 'initech': integrations.fusion_stripe.streams.refunds: unknown stream 'refunds' "
            "(streams of fusion_stripe: customers, invoices, payments, subscriptions)",
            "t.yaml: tenant #4: id: required field is missing",
        ]
        assert isinstance(loaded, PartialConfig)

    def test_every_tenant_broken_leaves_no_tenant(self) -> None:
        def break_all(data: dict[str, Any]) -> None:
            for tenant in data["tenants"]:
                tenant["enabeld"] = False

        loaded = parse_config_by_tenant(_with(break_all))

        assert loaded.config.tenants == []
        assert loaded.skipped_tenants == ("'acme'", "'globex'", "'initech'")


class TestFileLevelProblemsRefuseTheFile:
    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            pytest.param(
                lambda d: d.update(defaults={"retries": "many"}),
                "defaults.retries: Input should be a valid integer, unable to parse string as an integer",
                id="defaults",
            ),
            pytest.param(lambda d: d.update(version=2), "version: Input should be 1", id="version"),
            pytest.param(
                lambda d: d["tenants"].append(_tenant("acme")),
                "tenant 'acme': id: duplicate tenant id (already used by tenant #1)",
                id="duplicate-id",
            ),
            pytest.param(
                lambda d: d.update(tenants={"acme": {}}),
                "tenants: Input should be a valid list",
                id="tenants-not-a-list",
            ),
        ],
    )
    def test_refused_with_every_problem(
        self, write_config: WriteConfig, change: Callable[[dict[str, Any]], None], expected: str
    ) -> None:
        def both(data: dict[str, Any]) -> None:
            _misspelt_key(data)
            change(data)

        path = _write(write_config, _with(both))

        with pytest.raises(ConfigError) as info:
            load_config_by_tenant(path)

        messages = [m.removeprefix(f"{path}: ") for m in info.value.messages]
        assert expected in messages
        if isinstance(_with(both)["tenants"], list):
            # The tenant's own problem is listed too.
            assert "tenant 'globex': integrations.fusion_stripe.schedul: unknown field" in messages

    def test_yaml_syntax_error_refuses_the_file(self, write_config: WriteConfig) -> None:
        path = write_config("version: 1\ntenants:\n  - id: acme\n    id: globex\n")

        with pytest.raises(ConfigError, match="line 4: YAML syntax error: duplicate key 'id'"):
            load_config_by_tenant(path)

    def test_missing_file_refuses(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="cannot read the tenant configuration"):
            load_config_by_tenant(tmp_path / "nope.yaml")


class TestStrictLoadingUnchanged:
    def test_load_config_still_refuses_one_broken_tenant(self, write_config: WriteConfig) -> None:
        path = _write(write_config, _with(_misspelt_key))

        with pytest.raises(ConfigError) as info:
            load_config(path)

        assert info.value.messages == (
            f"{path}: tenant 'globex': integrations.fusion_stripe.schedul: unknown field",
        )

    def test_both_answers_come_from_one_parse_and_follow_changes(self, write_config: WriteConfig) -> None:
        path = _write(write_config, _with(_misspelt_key))
        first = load_config_by_tenant(path)
        assert load_config_by_tenant(path) is first
        with pytest.raises(ConfigError):
            load_config(path)

        stat = path.stat()
        path.write_text(yaml.safe_dump(THREE, sort_keys=False), encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

        assert load_config_by_tenant(path).ok
        assert [t.id for t in load_config(path).tenants] == ["acme", "globex", "initech"]
