"""Loading and validating the tenant file: every error names the file, the tenant and the field."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_connector_provider.config import ConfigError, TenantsConfig, load_config, parse_config
from tests.unit.config.helpers import GL

WriteConfig = Callable[..., Path]

STREAMS_OF_FUSION_STRIPE = "(streams of fusion_stripe: customers, invoices, payments, subscriptions)"

VALID: dict[str, Any] = {
    "version": 1,
    "tenants": [
        {
            "id": "acme",
            "name": "ACME Corp",
            "integrations": {
                "fusion_stripe": {
                    "schedule": "*/10 * * * *",
                    "connections": {"fusion": "acme_fusion", "stripe": "acme_stripe"},
                    "settings": {"business_units": ["US1"]},
                }
            },
        },
        {
            "id": "globex",
            "integrations": {
                "fusion_stripe": {"connections": {"fusion": "globex_fusion", "stripe": "globex_stripe"}}
            },
        },
    ],
}


def _with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    change(data)
    return data


def _acme_fs(data: dict[str, Any]) -> dict[str, Any]:
    integration: dict[str, Any] = data["tenants"][0]["integrations"]["fusion_stripe"]
    return integration


def _acme_gl(**changes: Any) -> Callable[[dict[str, Any]], None]:
    """A change giving acme's fusion_stripe a ``settings.gl`` block: ``GL`` updated with ``changes``
    (a value of ``...`` removes the field)."""

    def change(data: dict[str, Any]) -> None:
        gl = {**GL, **changes}
        _acme_fs(data)["settings"]["gl"] = {k: v for k, v in gl.items() if v is not ...}

    return change


def _load_error(write_config: WriteConfig, content: dict[str, Any] | str) -> tuple[Path, ConfigError]:
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return path, info.value


class TestValidFiles:
    def test_example_loads(self, example_config: Path) -> None:
        config = load_config(example_config)

        assert isinstance(config, TenantsConfig)
        assert [t.id for t in config.tenants] == ["acme", "globex", "initech"]
        assert [t.enabled for t in config.tenants] == [False, False, False]
        acme = config.tenants[0]
        assert acme.integrations["fusion_stripe"].connections == {
            "fusion": "acme_fusion",
            "stripe": "acme_stripe",
        }

    def test_minimal_file(self, write_config: WriteConfig) -> None:
        config = load_config(write_config("version: 1\n"))

        assert config.tenants == []
        assert config.defaults.owner == "data-platform"
        assert config.defaults.sync.overlap == 600

    def test_valid_dict(self) -> None:
        config = parse_config(copy.deepcopy(VALID), source="inline")

        assert [t.id for t in config.tenants] == ["acme", "globex"]

    def test_models_are_frozen(self) -> None:
        config = parse_config(copy.deepcopy(VALID))

        with pytest.raises(ValueError, match="frozen"):
            config.tenants[0].enabled = False  # type: ignore[misc]

    @pytest.mark.parametrize(
        "schedule",
        ["@hourly", "@daily", "@once", "@continuous", "0 6 * * 1-5", "*/5 * * * *", None],
        ids=str,
    )
    def test_schedules_accepted(self, schedule: str | None) -> None:
        data = _with(lambda d: _acme_fs(d).update(schedule=schedule))

        config = parse_config(data)

        assert config.tenants[0].integrations["fusion_stripe"].schedule == schedule

    def test_stream_shorthand(self) -> None:
        data = _with(lambda d: _acme_fs(d).update(streams={"customers": True}))

        config = parse_config(data)

        assert config.tenants[0].integrations["fusion_stripe"].streams["customers"].enabled is True

    def test_example_streams_and_gl(self, example_config: Path) -> None:
        acme, globex, initech = (t.integrations["fusion_stripe"] for t in load_config(example_config).tenants)

        assert {name: toggle.enabled for name, toggle in acme.streams.items()} == {
            "customers": True,
            "invoices": True,
        }
        assert acme.settings["gl"]["ledger_id"] == "300000046975971"
        assert globex.streams == {}
        assert globex.settings["gl"] == GL
        assert {name: toggle.enabled for name, toggle in initech.streams.items()} == {
            "customers": True,
            "invoices": False,
        }
        assert "gl" not in initech.settings


ACME_FS = "tenant 'acme': integrations.fusion_stripe."
NO_STREAM = "streams: no stream is enabled; set 'enabled: false' on the integration instead"


def _gl_required(stream: str) -> str:
    return (
        f"settings.gl: required by the stream {stream!r}, which is enabled explicitly; "
        "set it or disable the stream"
    )


def _acme_set(**fields: Any) -> Callable[[dict[str, Any]], None]:
    """A change setting ``fields`` on acme's fusion_stripe integration."""
    return lambda data: _acme_fs(data).update(**fields)


def _acme_case(case_id: str, change: Callable[[dict[str, Any]], None], expected: str) -> Any:
    """An error case of acme's fusion_stripe integration: ``expected`` follows its path prefix."""
    return pytest.param(_with(change), ACME_FS + expected, id=case_id)


def _every_stream_off_with_gl(data: dict[str, Any]) -> None:
    _acme_gl()(data)
    _acme_fs(data)["streams"] = dict.fromkeys(("customers", "invoices", "payments", "subscriptions"), False)


ERROR_CASES: list[Any] = [
    _acme_case(
        "missing-role",
        lambda d: _acme_fs(d)["connections"].pop("stripe"),
        "connections: missing role 'stripe' (the id of an Airflow connection of type 'stripe')",
    ),
    _acme_case(
        "unknown-role",
        lambda d: _acme_fs(d)["connections"].update(crm="acme_crm"),
        "connections.crm: unknown role 'crm' (roles of fusion_stripe: fusion, stripe)",
    ),
    _acme_case(
        "bad-conn-id",
        lambda d: _acme_fs(d)["connections"].update(stripe="acme stripe"),
        "connections.stripe: invalid value 'acme stripe' "
        r"(must match ^[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}$)",
    ),
    pytest.param(
        _with(lambda d: d["tenants"][1]["integrations"].update(netsuite_magic={"connections": {}})),
        "tenant 'globex': integrations.netsuite_magic: unknown integration 'netsuite_magic' "
        "(available: fusion_stripe, stampli_fusion, stripe_netsuite)",
        id="unknown-integration",
    ),
    _acme_case(
        "unknown-stream",
        _acme_set(streams={"refunds": {"enabled": True}}),
        f"streams.refunds: unknown stream 'refunds' {STREAMS_OF_FUSION_STRIPE}",
    ),
    # Without settings.gl, payments and subscriptions are off by default.
    _acme_case(
        "no-stream",
        _acme_set(streams={"customers": {"enabled": False}, "invoices": False}),
        NO_STREAM,
    ),
    _acme_case(
        "no-stream-with-gl",
        _every_stream_off_with_gl,
        NO_STREAM,
    ),
    _acme_case(
        "payments-without-gl",
        _acme_set(streams={"payments": True}),
        _gl_required("payments"),
    ),
    _acme_case(
        "subscriptions-without-gl",
        _acme_set(streams={"subscriptions": {"enabled": True}}),
        _gl_required("subscriptions"),
    ),
    _acme_case(
        "payments-with-null-gl",
        _acme_set(streams={"payments": True}, settings={"gl": None}),
        _gl_required("payments"),
    ),
    _acme_case(
        "gl-bad-account",
        _acme_gl(fee_account="101 000 65110"),
        "settings.gl.fee_account: invalid value '101 000 65110' "
        r"(must match ^[A-Za-z0-9]+([-.][A-Za-z0-9]+)*$)",
    ),
    _acme_case(
        "gl-missing-ledger-id", _acme_gl(ledger_id=...), "settings.gl.ledger_id: required field is missing"
    ),
    _acme_case(
        "gl-bad-ledger-id",
        _acme_gl(ledger_id="US-300"),
        r"settings.gl.ledger_id: invalid value 'US-300' (must match ^[0-9]+$)",
    ),
    _acme_case(
        "gl-same-accounts",
        _acme_gl(ar_suspense_account=GL["cash_clearing_account"]),
        "settings.gl: cash_clearing_account and ar_suspense_account must differ",
    ),
    _acme_case(
        "gl-delimiter",
        _acme_gl(segment_delimiter="/"),
        "settings.gl.segment_delimiter: Input should be '-' or '.'",
    ),
    _acme_case(
        "gl-import-timeout",
        _acme_gl(import_timeout=30),
        "settings.gl.import_timeout: Input should be greater than or equal to 60",
    ),
    _acme_case("gl-unknown-key", _acme_gl(ledger=1), "settings.gl.ledger: unknown field"),
    _acme_case(
        "gl-not-a-mapping",
        _acme_set(settings={"gl": "US Primary Ledger"}),
        "settings.gl: Input should be a valid dictionary or instance of GeneralLedgerSettings",
    ),
    _acme_case(
        "invoice-mode",
        _acme_set(settings={"invoice_mode": "manual"}),
        "settings.invoice_mode: Input should be 'automatic' or 'on_demand'",
    ),
    _acme_case(
        "days-until-due",
        _acme_set(settings={"default_days_until_due": 400}),
        "settings.default_days_until_due: Input should be less than or equal to 365",
    ),
    _acme_case(
        "bad-stream-toggle",
        _acme_set(streams={"customers": {"enabled": "yes please"}}),
        "streams.customers.enabled: Input should be a valid boolean, unable to interpret input",
    ),
    _acme_case(
        "bad-cron",
        _acme_set(schedule="61 * * * *"),
        "schedule: invalid cron expression '61 * * * *': [61 * * * *] is not acceptable, out of range",
    ),
    _acme_case(
        "cron-words",
        _acme_set(schedule="every hour"),
        "schedule: invalid cron expression 'every hour': "
        "Exactly 5, 6 or 7 columns has to be specified for iterator expression.",
    ),
    _acme_case(
        "bad-preset",
        _acme_set(schedule="@reboot"),
        "schedule: unknown schedule preset '@reboot' "
        "(allowed: @continuous, @daily, @hourly, @monthly, @once, @quarterly, @weekly, @yearly)",
    ),
    _acme_case(
        "settings-model",
        _acme_set(settings={"customer_metadata_prefix": "Fusion-"}),
        "settings.customer_metadata_prefix: invalid value 'Fusion-' (must match ^[a-z0-9_]{0,20}$)",
    ),
    _acme_case(
        "settings-type",
        _acme_set(settings={"business_units": "US1"}),
        "settings.business_units: Input should be a valid list",
    ),
    _acme_case(
        "settings-unknown-key", _acme_set(settings={"gl_acount": "1200"}), "settings.gl_acount: unknown field"
    ),
    _acme_case("integration-typo", _acme_set(shedule="@daily"), "shedule: unknown field"),
    _acme_case(
        "connections-missing",
        lambda d: _acme_fs(d).pop("connections"),
        "connections: required field is missing",
    ),
    _acme_case(
        "sync-null",
        _acme_set(sync={"overlap": None}),
        "sync.overlap: cannot be null; leave the key out to keep the inherited value",
    ),
    _acme_case(
        "sync-range",
        _acme_set(sync={"max_window": 30}),
        "sync.max_window: Input should be greater than or equal to 60",
    ),
    pytest.param(
        _with(lambda d: d["tenants"][1].update(timezone="Mars/Olympus_Mons")),
        "tenant 'globex': timezone: unknown time zone 'Mars/Olympus_Mons' "
        "(use an IANA name such as 'UTC' or 'Europe/Paris')",
        id="tenant-timezone",
    ),
    pytest.param(
        _with(lambda d: d["tenants"][1].update(start_date="first of may")),
        "tenant 'globex': start_date: invalid date 'first of may' (use YYYY-MM-DD or an ISO 8601 date-time)",
        id="tenant-start-date",
    ),
    pytest.param(
        _with(lambda d: d["tenants"][1].update(owner_links={"ops": "wiki/ops"})),
        "tenant 'globex': owner_links: owner link of 'ops' must be an http(s):// or mailto: URL, got 'wiki/ops'",
        id="owner-link",
    ),
    pytest.param(
        _with(lambda d: d["tenants"][1].update(retries=-1)),
        "tenant 'globex': retries: Input should be greater than or equal to 0",
        id="tenant-retries",
    ),
    pytest.param(
        _with(lambda d: d["tenants"][1].update(id="acme")),
        "tenant 'acme': id: duplicate tenant id (already used by tenant #1)",
        id="duplicate-id",
    ),
    pytest.param(
        _with(lambda d: d["tenants"][1].update(id="Globex-Inc")),
        "tenant #2: id: invalid value 'Globex-Inc' (must match ^[a-z][a-z0-9_]{0,39}$)",
        id="bad-id",
    ),
    pytest.param(
        _with(lambda d: d["tenants"][1].update(id="globex__eu")),
        "tenant 'globex__eu': id: must not contain '__' or end with '_' (DAG ids use '__' as a separator)",
        id="id-double-underscore",
    ),
    pytest.param(
        _with(lambda d: d["tenants"][1].pop("id")),
        "tenant #2: id: required field is missing",
        id="missing-id",
    ),
    pytest.param(
        _with(lambda d: d["tenants"][1].update(enabled="sometimes")),
        "tenant 'globex': enabled: Input should be a valid boolean, unable to interpret input",
        id="tenant-enabled",
    ),
    pytest.param(
        _with(lambda d: d["tenants"][1].update(paused=True)),
        "tenant 'globex': paused: unknown field",
        id="tenant-unknown-key",
    ),
    pytest.param(
        _with(lambda d: d.update(defaults={"sync": {"batch_size": 0}})),
        "defaults.sync.batch_size: Input should be greater than or equal to 1",
        id="defaults-sync",
    ),
    pytest.param(
        _with(lambda d: d.update(defaults={"retry_exponential_backoff": "fast"})),
        "defaults.retry_exponential_backoff: Input should be a valid number, unable to parse string as a number",
        id="defaults-backoff",
    ),
    pytest.param(
        _with(lambda d: d.update(version=2)),
        "version: Input should be 1",
        id="version",
    ),
    pytest.param(
        _with(lambda d: d.update(tenant=[])),
        "tenant: unknown field",
        id="top-level-typo",
    ),
    pytest.param(
        _with(lambda d: d.update(tenants={"acme": {}})),
        "tenants: Input should be a valid list",
        id="tenants-not-list",
    ),
    pytest.param("- version: 1\n", "expected a mapping at the top level, got list", id="top-level-list"),
    pytest.param("", "the file is empty; expected 'version' and 'tenants'", id="empty"),
    pytest.param(
        "version: 1\ntenants:\n  - id: acme\n   name: ACME\n",
        "line 4: YAML syntax error: did not find expected '-' indicator (column 4)",
        id="yaml-syntax",
    ),
    pytest.param(
        "version: 1\ntenants:\n  - id: acme\n    integrations: {}\n    id: acme2\n",
        "line 5: YAML syntax error: duplicate key 'id' (first defined on line 3) (column 5)",
        id="yaml-duplicate-key",
    ),
    pytest.param(
        "version: 1\ndefaults:\n  start_date: 2026-13-01\n",
        "YAML syntax error: month must be in 1..12",
        id="yaml-bad-date",
    ),
]


class TestErrors:
    @pytest.mark.parametrize(("content", "expected"), ERROR_CASES)
    def test_error_names_file_tenant_and_field(
        self, write_config: WriteConfig, content: dict[str, Any] | str, expected: str
    ) -> None:
        path, error = _load_error(write_config, content)

        assert error.messages == (f"{path}: {expected}",)
        assert str(error) == f"{path}: {expected}"
        assert error.source == str(path)

    def test_file_name_as_given(self, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
        path = write_config(yaml.safe_dump(_with(lambda d: _acme_fs(d)["connections"].pop("stripe"))))
        monkeypatch.chdir(path.parent.parent)
        relative = Path(path.parent.name) / path.name

        with pytest.raises(ConfigError) as info:
            load_config(relative)

        assert str(info.value).startswith(
            f"{relative}: tenant 'acme': integrations.fusion_stripe.connections:"
        )

    def test_missing_file(self, tmp_path: Path) -> None:
        path = tmp_path / "nope.yaml"

        with pytest.raises(ConfigError) as info:
            load_config(path)

        assert str(info.value) == f"{path}: cannot read the tenant configuration: No such file or directory"

    def test_every_problem_listed_in_file_order(self, write_config: WriteConfig) -> None:
        def break_everything(d: dict[str, Any]) -> None:
            d["defaults"] = {"timezone": "Nowhere/City"}
            _acme_fs(d)["connections"].pop("fusion")
            _acme_fs(d)["schedule"] = "* * *"
            d["tenants"][1]["integrations"]["fusion_stripe"]["streams"] = {"refunds": True}
            d["tenants"].append({"id": "initech", "integrations": {"fusion_cleo": {"connections": {}}}})
            d["tenants"].append({"name": "No id"})

        path, error = _load_error(write_config, _with(break_everything))

        assert [m.removeprefix(f"{path}: ") for m in error.messages] == [
            "defaults.timezone: unknown time zone 'Nowhere/City' (use an IANA name such as 'UTC' or 'Europe/Paris')",
            "tenant 'acme': integrations.fusion_stripe.schedule: invalid cron expression '* * *': "
            "Exactly 5, 6 or 7 columns has to be specified for iterator expression.",
            "tenant 'acme': integrations.fusion_stripe.connections: missing role 'fusion' "
            "(the id of an Airflow connection of type 'oracle_fusion')",
            "tenant 'globex': integrations.fusion_stripe.streams.refunds: unknown stream 'refunds' "
            f"{STREAMS_OF_FUSION_STRIPE}",
            "tenant 'initech': integrations.fusion_cleo: unknown integration 'fusion_cleo' (available: fusion_stripe, stampli_fusion, stripe_netsuite)",
            "tenant #4: id: required field is missing",
        ]
        assert [p.tenant_index for p in error.problems] == [None, 0, 0, 1, 2, 3]

    def test_problem_fields(self, write_config: WriteConfig) -> None:
        _, error = _load_error(write_config, _with(lambda d: _acme_fs(d)["connections"].pop("stripe")))

        (problem,) = error.problems
        assert problem.tenant_id == "acme"
        assert problem.tenant_index == 0
        assert problem.path == "integrations.fusion_stripe.connections"
        assert problem.line is None


class TestRequiredSettings:
    """A stream needing settings.gl that is enabled explicitly without it is a config error."""

    def test_one_problem_per_stream_in_stream_order(self, write_config: WriteConfig) -> None:
        def change(d: dict[str, Any]) -> None:
            d["tenants"][1]["integrations"]["fusion_stripe"]["streams"] = {
                "subscriptions": True,
                "payments": True,
            }

        path, error = _load_error(write_config, _with(change))

        assert error.messages == tuple(
            f"{path}: tenant 'globex': integrations.fusion_stripe.{_gl_required(stream)}"
            for stream in ("payments", "subscriptions")
        )

    def test_reported_with_the_other_problems(self, write_config: WriteConfig) -> None:
        def change(d: dict[str, Any]) -> None:
            _acme_fs(d)["connections"].pop("stripe")
            _acme_fs(d)["streams"] = {"payments": True}
            _acme_fs(d)["settings"]["default_days_until_due"] = -1

        _, error = _load_error(write_config, _with(change))

        assert [p.path for p in error.problems] == [
            "integrations.fusion_stripe.connections",
            "integrations.fusion_stripe.settings.gl",
            "integrations.fusion_stripe.settings.default_days_until_due",
        ]

    def test_disabled_without_gl_is_valid(self) -> None:
        data = _with(
            lambda d: _acme_fs(d).update(streams={"payments": False, "subscriptions": {"enabled": False}})
        )

        streams = parse_config(data).tenants[0].integrations["fusion_stripe"].streams

        assert {name: toggle.enabled for name, toggle in streams.items()} == {
            "payments": False,
            "subscriptions": False,
        }

    def test_payments_disabled_with_gl(self) -> None:
        from ml_connector_provider.config import effective_tenant_integrations

        def change(d: dict[str, Any]) -> None:
            _acme_gl()(d)
            _acme_fs(d)["streams"] = {"payments": False}

        acme = effective_tenant_integrations(parse_config(_with(change)))[0]

        assert acme.tenant_id == "acme"
        assert acme.streams == ("customers", "invoices", "subscriptions")

    def test_enabled_with_gl_is_valid(self) -> None:
        def change(d: dict[str, Any]) -> None:
            _acme_gl()(d)
            _acme_fs(d)["streams"] = {"payments": True, "subscriptions": True}

        integration = parse_config(_with(change)).tenants[0].integrations["fusion_stripe"]

        assert integration.settings["gl"] == GL


class TestSecrets:
    @pytest.mark.parametrize(
        ("settings", "path"),
        [
            ({"password": "hunter22"}, "password"),
            ({"client_secret": "abc"}, "client_secret"),
            ({"stripe_api_key": "sk_live_x"}, "stripe_api_key"),
            ({"apiKey": "x"}, "apiKey"),
            ({"Auth-Token": "x"}, "Auth-Token"),
            ({"refresh_token": "x"}, "refresh_token"),
            ({"sftp": {"private_key": "-----BEGIN"}}, "sftp.private_key"),
            ({"partners": [{"id": "p1", "as2_password": "x"}]}, "partners[0].as2_password"),
            ({"gl": {**GL, "api_token": "x"}}, "gl.api_token"),
        ],
        ids=lambda v: v if isinstance(v, str) else None,
    )
    def test_secret_keys_rejected(
        self, write_config: WriteConfig, settings: dict[str, Any], path: str
    ) -> None:
        data = _with(lambda d: _acme_fs(d).update(settings=settings))

        config_path, error = _load_error(write_config, data)

        expected = (
            f"{config_path}: tenant 'acme': integrations.fusion_stripe.settings.{path}: looks like a secret; "
            "secrets never go in the tenant file: store them in the Airflow connection named under "
            "'connections' (see docs/connections.md)"
        )
        assert expected in error.messages
        # The settings model's own complaint about the same key is not repeated.
        assert sum(f"settings.{path}:" in m for m in error.messages) == 1

    def test_secret_key_reported_alongside_schema_errors(self, write_config: WriteConfig) -> None:
        def change(d: dict[str, Any]) -> None:
            _acme_fs(d).update(schedule="bogus", settings={"webhook_secret": "whsec_x"})

        _, error = _load_error(write_config, _with(change))

        assert [p.path for p in error.problems] == [
            "integrations.fusion_stripe.schedule",
            "integrations.fusion_stripe.settings.webhook_secret",
        ]

    def test_ordinary_keys_accepted(self) -> None:
        data = _with(lambda d: _acme_fs(d).update(settings={"business_units": ["Tokyo"]}))

        assert parse_config(data).tenants[0].integrations["fusion_stripe"].settings == {
            "business_units": ["Tokyo"]
        }


class TestCache:
    def test_unchanged_file_is_not_parsed_again(self, write_config: WriteConfig) -> None:
        path = write_config(yaml.safe_dump(VALID))

        first = load_config(path)

        assert load_config(path) is first
        assert load_config(str(path)) is first

    def test_changed_file_is_parsed_again(self, write_config: WriteConfig) -> None:
        path = write_config(yaml.safe_dump(VALID))
        first = load_config(path)
        stat = path.stat()

        changed = _with(lambda d: d["tenants"][1].update(name="Globex Inc"))
        path.write_text(yaml.safe_dump(changed), encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        second = load_config(path)

        assert second is not first
        assert second.tenants[1].name == "Globex Inc"

    def test_same_size_new_mtime_is_parsed_again(self, write_config: WriteConfig) -> None:
        path = write_config("version: 1\ndefaults: {owner: aaaa}\n")
        first = load_config(path)
        stat = path.stat()

        path.write_text("version: 1\ndefaults: {owner: bbbb}\n", encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

        assert load_config(path).defaults.owner == "bbbb"
        assert first.defaults.owner == "aaaa"

    def test_invalid_file_is_not_cached(self, write_config: WriteConfig) -> None:
        path = write_config("version: 2\n")
        with pytest.raises(ConfigError):
            load_config(path)
        stat = path.stat()

        path.write_text("version: 1\n", encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

        assert load_config(path).version == 1

    def test_clear_cache(self, write_config: WriteConfig) -> None:
        from ml_connector_provider.config import clear_config_cache

        path = write_config(yaml.safe_dump(VALID))
        first = load_config(path)

        clear_config_cache()

        assert load_config(path) is not first

    def test_cache_is_bounded(self, write_config: WriteConfig) -> None:
        from ml_connector_provider.config import loader

        paths = [write_config("version: 1\n", name=f"t{i}.yaml") for i in range(loader._CACHE_SIZE + 3)]
        for path in paths:
            load_config(path)

        assert len(loader._cache) == loader._CACHE_SIZE
