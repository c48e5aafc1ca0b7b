"""``on_dead_letters`` in the tenant file: resolved integration ← tenant ← defaults, handed to the
sync task with the sync options, and bad values reported naming the file, tenant and field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.config.test_config_effective import _one
from tests.unit.config.test_config_loader import ACME_FS, VALID, WriteConfig, _load_error, _with


def test_default_is_succeed() -> None:
    item = _one()
    assert item.on_dead_letters == "succeed"
    assert item.sync["on_dead_letters"] == "succeed"


@pytest.mark.parametrize(
    ("defaults", "tenant", "integration", "expected"),
    [
        ({"on_dead_letters": "fail"}, {}, {}, "fail"),
        ({"on_dead_letters": "fail"}, {"on_dead_letters": {"max_count": 3}}, {}, {"max_count": 3}),
        (
            {"on_dead_letters": "fail"},
            {"on_dead_letters": {"max_count": 3}},
            {"on_dead_letters": {"max_ratio": 0.05}},
            {"max_ratio": 0.05},
        ),
        ({}, {"on_dead_letters": "fail"}, {"on_dead_letters": "succeed"}, "succeed"),
        ({}, {}, {"on_dead_letters": {"max_count": 0, "max_ratio": 1}}, {"max_count": 0, "max_ratio": 1.0}),
    ],
)
def test_integration_wins_over_tenant_over_defaults(
    defaults: dict[str, Any], tenant: dict[str, Any], integration: dict[str, Any], expected: Any
) -> None:
    item = _one(integration, defaults=defaults, tenant=tenant)
    assert item.on_dead_letters == expected
    assert item.sync["on_dead_letters"] == expected


def _acme(value: Any) -> dict[str, Any]:
    return _with(lambda d: d["tenants"][0]["integrations"]["fusion_stripe"].update(on_dead_letters=value))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            _with(lambda d: d["tenants"][1].update(on_dead_letters="explode")),
            "tenant 'globex': on_dead_letters: must be 'succeed', 'fail' or a "
            "threshold such as {max_count: 10} or {max_ratio: 0.05}, got 'explode'",
            id="tenant-unknown-word",
        ),
        pytest.param(
            _acme({"max_ratio": 5}),
            ACME_FS + "on_dead_letters: max_ratio must be between 0 and 1, got 5.0",
            id="integration-ratio",
        ),
        pytest.param(
            _acme({"max_count": -1}),
            ACME_FS + "on_dead_letters: max_count must not be negative, got -1",
            id="integration-count",
        ),
        pytest.param(
            _acme({"max_cuont": 3}),
            ACME_FS + "on_dead_letters: unknown key(s) max_cuont; use max_count and/or max_ratio",
            id="integration-typo",
        ),
        pytest.param(
            _acme({}),
            ACME_FS + "on_dead_letters: a threshold needs max_count, max_ratio or both",
            id="integration-empty-threshold",
        ),
        pytest.param(
            _with(lambda d: d.update(defaults={"on_dead_letters": {"max_count": "ten"}})),
            "defaults.on_dead_letters: max_count must be a whole number, got 'ten'",
            id="defaults-count-type",
        ),
    ],
)
def test_bad_values_name_the_tenant_and_field(write_config: WriteConfig, content: Any, expected: str) -> None:
    path, error = _load_error(write_config, content)
    assert error.messages == (f"{path}: {expected}",)


def test_valid_file_unchanged() -> None:
    # The base file of the error cases has no on_dead_letters and stays valid.
    assert "on_dead_letters" not in VALID["tenants"][0]
