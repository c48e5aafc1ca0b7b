"""Resolving defaults, tenant overrides and integration overrides into one entry per DAG."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest

from ml_connector_provider.config import (
    SyncOptions,
    TenantIntegration,
    dag_id_for,
    effective_tenant_integrations,
    load_config,
    parse_config,
)
from ml_connector_provider.config.schema import validate_schedule
from ml_connector_provider.engine.spec import StreamSpec
from ml_connector_provider.integrations import get_integration
from tests.unit.config.helpers import GL, use_stand_in_streams

CONNECTIONS = {"fusion": "f_conn", "stripe": "s_conn"}
ALL_STREAMS = ("customers", "invoices", "payments", "subscriptions")

#: ``GL`` with every defaulted field filled in, as ``model_dump(mode="json")`` gives it.
GL_RESOLVED: dict[str, Any] = {
    "ledger_id": "300000046975971",
    "ledger_name": "US Primary Ledger",
    "data_access_set_id": "300000046975980",
    "journal_source": "Spreadsheet",
    "journal_category": "Receipts",
    "cash_clearing_account": "101-000-11250-000-000",
    "ar_suspense_account": "101-000-12990-000-000",
    "fee_account": "101-000-65110-000-000",
    "subscription_revenue_account": None,
    "segment_delimiter": "-",
    "import_timeout": 1800,
    "poll_interval": 10.0,
    "hold_timeout": 900,
}
#: The ``onboarding`` settings a tenant gets when it gives none.
ONBOARDING_DEFAULTS: dict[str, Any] = {"enabled": True, "rules": ["email", "name_country"], "links": {}}


def _one(
    integration: dict[str, Any] | None = None,
    *,
    defaults: dict[str, Any] | None = None,
    tenant: dict[str, Any] | None = None,
    **kwargs: Any,
) -> TenantIntegration:
    data: dict[str, Any] = {
        "version": 1,
        "tenants": [
            {
                "id": "acme",
                **(tenant or {}),
                "integrations": {"fusion_stripe": {"connections": CONNECTIONS, **(integration or {})}},
            }
        ],
    }
    if defaults is not None:
        data["defaults"] = defaults
    (item,) = effective_tenant_integrations(parse_config(data), **kwargs)
    return item


class TestExample:
    def test_example_entries(self, example_config: Path) -> None:
        items = effective_tenant_integrations(load_config(example_config))

        assert [(i.tenant_id, i.integration_id) for i in items] == [
            ("acme", "fusion_stripe"),
            ("acme", "stampli_fusion"),
            ("acme", "stripe_netsuite"),
            ("globex", "fusion_stripe"),
            ("globex", "stampli_fusion"),
            ("initech", "fusion_stripe"),
        ]
        assert [i.dag_id for i in items] == [
            "mlc__acme__fusion_stripe",
            "mlc__acme__stampli_fusion",
            "mlc__acme__stripe_netsuite",
            "mlc__globex__fusion_stripe",
            "mlc__globex__stampli_fusion",
            "mlc__initech__fusion_stripe",
        ]
        # Safe to copy: every DAG of the example is created paused.
        assert [i.enabled for i in items] == [False, False, False, False, False, False]
        assert [i.paused_at_creation for i in items] == [True, True, True, True, True, True]
        assert [(i.tenant_enabled, i.integration_enabled) for i in items] == [
            (False, True),
            (False, True),
            (False, False),
            (False, True),
            (False, True),
            (False, True),
        ]
        assert [i.schedule for i in items] == [
            "*/10 * * * *",
            "*/15 * * * *",
            "*/15 * * * *",
            "*/15 * * * *",
            "*/15 * * * *",
            None,
        ]
        assert [i.connections for i in items] == [
            {"fusion": "acme_fusion", "stripe": "acme_stripe"},
            {"fusion": "acme_fusion", "stampli": "acme_stampli_sftp"},
            {"stripe": "acme_stripe", "netsuite": "acme_netsuite"},
            {"fusion": "globex_fusion", "stripe": "globex_stripe"},
            {"fusion": "globex_fusion", "stampli": "globex_stampli_sftp"},
            {"fusion": "initech_fusion", "stripe": "initech_stripe"},
        ]
        # acme and globex give settings.gl, so payments and subscriptions run by default; initech
        # gives none and turns invoices off. Only acme gives settings.reference_data.
        assert [i.streams for i in items] == [
            ALL_STREAMS,
            ("invoices", "reference_data"),
            ("customers", "invoices", "refunds"),
            ALL_STREAMS,
            ("invoices",),
            ("customers",),
        ]

    def test_example_acme(self, example_config: Path) -> None:
        acme = effective_tenant_integrations(load_config(example_config))[0]

        assert acme.tenant_name == "ACME Corp"
        assert acme.owner == "finance-ops"
        assert acme.owner_links == {
            "data-platform": "mailto:data-platform@example.com",
            "finance-ops": "https://wiki.example.com/finance-ops",
        }
        assert acme.timezone == "America/New_York"
        assert acme.start_date == pendulum.datetime(2026, 1, 1, tz="America/New_York")
        assert acme.retries == 3
        assert acme.retry_delay == timedelta(seconds=60)
        assert acme.retry_exponential_backoff == 2.0
        assert acme.max_retry_delay == timedelta(seconds=1800)
        assert acme.ledger_conn_id == "ml_connector_ledger"
        assert acme.streams == ALL_STREAMS
        assert acme.sync == {
            "overlap": 300,
            "lag": 60,
            "batch_size": 50,
            "initial_lookback": 2592000,
            "max_window": None,
            "initial_start": None,
            "dead_letter_limit": 500,
            "lease_ttl": 300,
            "on_dead_letters": "succeed",
        }
        assert acme.settings == {
            "business_units": ["US1 Business Unit"],
            "customer_metadata_prefix": "fusion_",
            "invoice_mode": "automatic",
            "email_invoices": True,
            "default_days_until_due": 30,
            "past_due_date": "postpone",
            "past_due_days": 7,
            "onboarding": ONBOARDING_DEFAULTS,
            "gl": {
                **GL_RESOLVED,
                "subscription_revenue_account": "101-000-40100-000-000",
                "poll_interval": 5.0,
            },
        }

    def test_example_globex_gl_defaults_filled(self, example_config: Path) -> None:
        globex = effective_tenant_integrations(load_config(example_config))[3]

        assert globex.tenant_id == "globex"
        assert globex.settings == {
            "business_units": [],
            "customer_metadata_prefix": "fusion_",
            "invoice_mode": "automatic",
            "email_invoices": True,
            "default_days_until_due": 30,
            "past_due_date": "postpone",
            "past_due_days": 7,
            "onboarding": ONBOARDING_DEFAULTS,
            "gl": GL_RESOLVED,
        }

    def test_sorted_by_tenant_then_integration(self) -> None:
        data = {
            "version": 1,
            "tenants": [
                {"id": tid, "integrations": {"fusion_stripe": {"connections": CONNECTIONS}}}
                for tid in ["zeta", "alpha", "mid"]
            ],
        }

        items = effective_tenant_integrations(parse_config(data))

        assert [i.tenant_id for i in items] == ["alpha", "mid", "zeta"]


class TestSchedule:
    def test_integration_default(self) -> None:
        assert _one().schedule == get_integration("fusion_stripe").default_schedule

    def test_file_default(self) -> None:
        assert _one(defaults={"schedule": "@hourly"}).schedule == "@hourly"

    def test_tenant_over_file(self) -> None:
        assert _one(defaults={"schedule": "@hourly"}, tenant={"schedule": "@daily"}).schedule == "@daily"

    def test_integration_over_tenant(self) -> None:
        item = _one(
            {"schedule": "0 6 * * *"}, defaults={"schedule": "@hourly"}, tenant={"schedule": "@daily"}
        )

        assert item.schedule == "0 6 * * *"

    def test_explicit_null_is_manual(self) -> None:
        assert _one({"schedule": None}, tenant={"schedule": "@daily"}).schedule is None

    def test_null_at_file_level_inherits(self) -> None:
        assert _one(defaults={"schedule": None}).schedule == "*/15 * * * *"

    @pytest.mark.parametrize("value", [" @hourly ", "  */5 * * * *"])
    def test_schedule_is_stripped(self, value: str) -> None:
        assert validate_schedule(value) == value.strip()


class TestOverrides:
    def test_sync_merges_key_by_key(self) -> None:
        item = _one(
            {"sync": {"batch_size": 25}},
            defaults={"sync": {"overlap": 900, "lag": 30, "max_window": 3600}},
            tenant={"sync": {"lag": 0, "max_window": None}},
        )

        assert item.sync == {
            **SyncOptions().model_dump(),
            "overlap": 900,
            "lag": 0,
            "batch_size": 25,
            "max_window": None,
            "on_dead_letters": "succeed",
        }

    def test_initial_start_read_in_tenant_timezone(self) -> None:
        item = _one(tenant={"timezone": "Europe/Paris", "sync": {"initial_start": "2026-03-01"}})

        assert item.sync["initial_start"] == "2026-03-01T00:00:00+01:00"

    def test_tenant_overrides_defaults(self) -> None:
        item = _one(
            defaults={"owner": "platform", "retries": 5, "retry_delay": 30, "retry_exponential_backoff": 3.0},
            tenant={"owner": "acme-team", "retries": 0, "retry_exponential_backoff": 0},
        )

        assert (item.owner, item.retries, item.retry_delay, item.retry_exponential_backoff) == (
            "acme-team",
            0,
            timedelta(seconds=30),
            0.0,
        )

    def test_max_retry_delay_null_removes_bound(self) -> None:
        assert _one(defaults={"max_retry_delay": 600}).max_retry_delay == timedelta(seconds=600)
        assert (
            _one(defaults={"max_retry_delay": 600}, tenant={"max_retry_delay": None}).max_retry_delay is None
        )
        assert _one(defaults={"max_retry_delay": None}).max_retry_delay is None

    def test_ledger_conn_id_resolution(self) -> None:
        assert _one().ledger_conn_id == "ml_connector_ledger"
        assert _one(default_ledger_conn_id="from_airflow_cfg").ledger_conn_id == "from_airflow_cfg"
        assert _one(
            defaults={"ledger_conn_id": "file_ledger"}, default_ledger_conn_id="x"
        ).ledger_conn_id == ("file_ledger")
        assert _one(
            defaults={"ledger_conn_id": "file_ledger"}, tenant={"ledger_conn_id": "acme_ledger"}
        ).ledger_conn_id == ("acme_ledger")

    @pytest.mark.parametrize(
        ("start", "tz", "expected"),
        [
            ("2026-02-03", "UTC", pendulum.datetime(2026, 2, 3, tz="UTC")),
            ("2026-02-03", "Asia/Tokyo", pendulum.datetime(2026, 2, 3, tz="Asia/Tokyo")),
            ("2026-02-03T06:30:00", "Europe/Paris", pendulum.datetime(2026, 2, 3, 6, 30, tz="Europe/Paris")),
            (
                "2026-02-03T06:30:00+00:00",
                "Europe/Paris",
                pendulum.datetime(2026, 2, 3, 7, 30, tz="Europe/Paris"),
            ),
        ],
    )
    def test_start_date_is_aware(self, start: str, tz: str, expected: pendulum.DateTime) -> None:
        item = _one(tenant={"start_date": start, "timezone": tz})

        assert item.start_date == expected
        assert item.start_date.tzinfo is not None
        assert str(item.start_date.tzinfo) == tz

    def test_settings_defaults_filled_as_json(self) -> None:
        assert _one().settings == {
            "business_units": [],
            "customer_metadata_prefix": "fusion_",
            "invoice_mode": "automatic",
            "email_invoices": True,
            "default_days_until_due": 30,
            "past_due_date": "postpone",
            "past_due_days": 7,
            "onboarding": ONBOARDING_DEFAULTS,
            "gl": None,
        }

    def test_gl_defaults_filled_as_json(self) -> None:
        item = _one({"settings": {"gl": GL, "invoice_mode": "on_demand", "email_invoices": False}})

        assert item.settings["gl"] == GL_RESOLVED
        assert (item.settings["invoice_mode"], item.settings["email_invoices"]) == ("on_demand", False)


class TestEnabled:
    @pytest.mark.parametrize(
        ("tenant_enabled", "integration_enabled", "expected"),
        [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
    )
    def test_enabled_needs_both(
        self, tenant_enabled: bool, integration_enabled: bool, expected: bool
    ) -> None:
        item = _one({"enabled": integration_enabled}, tenant={"enabled": tenant_enabled})

        assert item.enabled is expected
        assert item.paused_at_creation is not expected
        assert (item.tenant_enabled, item.integration_enabled) == (tenant_enabled, integration_enabled)

    def test_streams_in_spec_order(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_stand_in_streams(
            monkeypatch,
            StreamSpec("a", "A", "fusion", "stripe", "not.built.Stream"),
            StreamSpec("b", "B", "fusion", "stripe", "not.built.Stream", default_enabled=False),
            StreamSpec("c", "C", "stripe", "fusion", "not.built.Stream"),
            StreamSpec("d", "D", "stripe", "fusion", "not.built.Stream"),
        )

        item = _one({"streams": {"d": True, "b": {"enabled": True}, "c": False}})

        assert item.streams == ("a", "b", "d")


class TestRequiredSettings:
    """payments and subscriptions need ``settings.gl``: on by default only once it is given."""

    def test_minimal_tenant_without_gl(self) -> None:
        assert _one().streams == ("customers", "invoices")

    def test_gl_enables_every_stream(self) -> None:
        assert _one({"settings": {"gl": GL}}).streams == ALL_STREAMS

    def test_explicit_null_gl_is_not_given(self) -> None:
        assert _one({"settings": {"gl": None}}).streams == ("customers", "invoices")

    def test_disabled_with_gl(self) -> None:
        item = _one({"settings": {"gl": GL}, "streams": {"payments": False}})

        assert item.streams == ("customers", "invoices", "subscriptions")

    def test_explicitly_enabled_with_gl(self) -> None:
        item = _one(
            {"settings": {"gl": GL}, "streams": {"payments": True, "subscriptions": {"enabled": True}}}
        )

        assert item.streams == ALL_STREAMS

    def test_only_the_gl_streams(self) -> None:
        item = _one({"settings": {"gl": GL}, "streams": {"customers": False, "invoices": {"enabled": False}}})

        assert item.streams == ("payments", "subscriptions")

    def test_every_required_setting_must_be_given(self, monkeypatch: pytest.MonkeyPatch) -> None:
        use_stand_in_streams(
            monkeypatch,
            StreamSpec("a", "A", "fusion", "stripe", "not.built.Stream"),
            StreamSpec(
                "two",
                "Two",
                "stripe",
                "fusion",
                "not.built.Stream",
                requires_settings=("gl", "business_units"),
            ),
            StreamSpec(
                "off",
                "Off",
                "stripe",
                "fusion",
                "not.built.Stream",
                default_enabled=False,
                requires_settings=("gl",),
            ),
        )

        assert _one({"settings": {"gl": GL}}).streams == ("a",)
        assert _one({"settings": {"business_units": ["US1"]}}).streams == ("a",)
        assert _one({"settings": {"gl": GL, "business_units": ["US1"]}}).streams == ("a", "two")
        # A stream off by default stays off when its settings are given, until it is enabled.
        assert _one({"settings": {"gl": GL}, "streams": {"off": True}}).streams == ("a", "off")


def test_dag_id_for() -> None:
    assert dag_id_for("acme", "fusion_stripe") == "mlc__acme__fusion_stripe"


def test_parse_does_not_mutate_input() -> None:
    data = {
        "version": 1,
        "tenants": [{"id": "acme", "integrations": {"fusion_stripe": {"connections": dict(CONNECTIONS)}}}],
    }
    before = copy.deepcopy(data)

    effective_tenant_integrations(parse_config(data))

    assert data == before
